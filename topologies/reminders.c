/*
 * reminders.c — one reminder per incomplete user per local date, at
 * reminder.at in reminder.timezone (SPEC section 4).
 *
 * A wall-clock punctuator ticks every few seconds on every journey task.
 * Its progress lives in the journey store under a reserved key, so it
 * moves with the partition and survives crashes:
 *
 *	          at <= now <= catchup_until,         scan finished
 *	  IDLE ---- today not done -----> SCANNING -------------> IDLE
 *	   |        (target := input end)   |  waits until the    (done
 *	   |                                |  input position     := today)
 *	   |                                |  >= target, then emits
 *	   |                                |  in slices of SLICE
 *	   +-- now > catchup_until, today not done: skip the day, log it
 *
 * A user gets a send_reminder record when, at the scan: started, not
 * opted out or suppressed, has a phone, fewer than max_per_user
 * reminders, none yet on this local date, idle >= min_idle.  Under
 * exactly_once, emitting and recording (reminders_sent,
 * last_reminder_day) are in one Kafka transaction, so a restart never
 * reminds twice for one date.  Under at_least_once a slice's reminders
 * are delivered (sl_ctx_flush) before its users are recorded: a crash
 * in between may send a reminder twice (send_reminder is deduplicated
 * on reminder_id), never lose one.  Entries idle longer than
 * give_up_after are deleted by the scan.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "processor/log.h"
#include "processor/timeutil.h"
#include "topologies/journey.h"

#define SLICE 2000
#define TICK_MS 5000
#define META_KEY "\0reminders"
#define META_KEY_LEN 10
#define NO_SCAN INT32_MIN

static const char *COMP = "reminders";

struct reminders {
	sl_tz *tz;
	int at_minute;
	int catchup_minute;
	int64_t min_idle_ms;
	int64_t give_up_ms;
	int64_t max_per_user;
	int deliver_first; /* at_least_once: see scan_slice() */
};

/* The punctuator's persisted progress (reserved key of the store). */
struct progress {
	int32_t done_day;
	int32_t scan_day;
	int64_t target;
	int64_t emitted;
	size_t resume_len;
	char resume[512];
};

static int load_progress(sl_store *st, struct progress *p)
{
	sl_bytes v;
	int rc = sl_store_get(st, META_KEY, META_KEY_LEN, &v);

	memset(p, 0, sizeof(*p));
	p->done_day = JS_NO_DAY;
	p->scan_day = NO_SCAN;
	if (rc == SL_ENOTFOUND)
		return SL_OK;
	if (rc != SL_OK)
		return rc;
	if (v.len < 24 || v.len - 24 > sizeof(p->resume))
		return SL_EPARSE;
	memcpy(&p->done_day, v.data, 4);
	memcpy(&p->scan_day, (const char *)v.data + 4, 4);
	memcpy(&p->target, (const char *)v.data + 8, 8);
	memcpy(&p->emitted, (const char *)v.data + 16, 8);
	p->resume_len = v.len - 24;
	memcpy(p->resume, (const char *)v.data + 24, p->resume_len);
	return SL_OK;
}

static int save_progress(sl_store *st, const struct progress *p)
{
	char buf[24 + sizeof(p->resume)];

	memcpy(buf, &p->done_day, 4);
	memcpy(buf + 4, &p->scan_day, 4);
	memcpy(buf + 8, &p->target, 8);
	memcpy(buf + 16, &p->emitted, 8);
	memcpy(buf + 24, p->resume, p->resume_len);
	return sl_store_put(st, META_KEY, META_KEY_LEN, buf,
			    24 + p->resume_len);
}

static void day_str(int32_t day, char *out)
{
	int y, m, d;

	sl_civil_from_days(day, &y, &m, &d);
	snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}

static int emit(sl_ctx *ctx, const char *user, size_t ulen,
		const struct journey_state *s, int32_t day, int64_t now)
{
	char date[11], id[128], user_buf[80], at[32];
	cJSON *o = cJSON_CreateObject();
	char *json;
	int rc;

	if (o == NULL || ulen >= sizeof(user_buf))
		goto fail;
	memcpy(user_buf, user, ulen);
	user_buf[ulen] = '\0';
	day_str(day, date);
	snprintf(id, sizeof(id), "%s:%s", user_buf, date);
	sl_time_format_rfc3339(now, at);
	cJSON_AddStringToObject(o, "reminder_id", id);
	cJSON_AddStringToObject(o, "user_id", user_buf);
	cJSON_AddStringToObject(o, "phone", s->phone);
	cJSON_AddStringToObject(o, "lang", s->lang);
	cJSON_AddStringToObject(o, "local_date", date);
	cJSON_AddStringToObject(o, "pincode", s->pincode);
	cJSON_AddNumberToObject(o, "step", s->step);
	cJSON_AddNumberToObject(o, "reminder_number", s->reminders_sent + 1);
	cJSON_AddStringToObject(o, "emitted_at", at);
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (json == NULL)
		return SL_ENOMEM;
	rc = sl_ctx_send(ctx, "send_reminder", user, ulen, json, strlen(json));
	free(json);
	return rc;
fail:
	cJSON_Delete(o);
	return SL_ENOMEM;
}

/* Record in the store that the user got the reminder of `day`. */
static int mark(sl_store *st, const sl_bytes *k, struct journey_state *s,
		int32_t day)
{
	unsigned char buf[JOURNEY_STATE_SIZE];

	s->reminders_sent++;
	s->last_reminder_day = day;
	journey_state_encode(s, buf);
	return sl_store_put(st, k->data, k->len, buf, sizeof(buf));
}

/*
 * Decide for one user; returns 1 when a reminder went out.  The user is
 * recorded as reminded here, unless r->deliver_first (the caller does).
 */
static int consider(sl_ctx *ctx, struct reminders *r, sl_store *st,
		    const sl_bytes *k, const sl_bytes *v, int32_t day,
		    int64_t now, int *rc)
{
	struct journey_state s;

	*rc = SL_OK;
	if (journey_state_decode(v->data, v->len, &s) != SL_OK)
		return 0;
	if (now - s.last_activity_ms > r->give_up_ms) {
		*rc = sl_store_delete(st, k->data, k->len);
		return 0;
	}
	if (!(s.flags & JS_STARTED) || (s.flags & JS_OPTED_OUT) ||
	    (s.flags & JS_SUPPRESSED) || s.phone[0] == '\0' ||
	    s.reminders_sent >= r->max_per_user ||
	    (s.last_reminder_day != JS_NO_DAY && s.last_reminder_day >= day) ||
	    now - s.last_activity_ms < r->min_idle_ms)
		return 0;
	*rc = emit(ctx, k->data, k->len, &s, day, now);
	if (*rc != SL_OK)
		return 0;
	if (r->deliver_first)
		return 1;
	*rc = mark(st, k, &s, day);
	return *rc == SL_OK;
}

struct entry {
	char key[512];
	size_t klen;
	unsigned char val[JOURNEY_STATE_SIZE];
	size_t vlen;
	int sent; /* a reminder went out in this slice */
};

/* Read up to SLICE entries after the resume key; copies them out. */
static int collect(sl_store *st, const struct progress *p, struct entry *out,
		   int *n)
{
	sl_store_iter *it = NULL;
	sl_bytes k, v;
	int rc;

	*n = 0;
	rc = sl_store_iter_new(st, p->resume_len ? p->resume : "\x01",
			       p->resume_len ? p->resume_len : 1, &it);
	while (rc == SL_OK && *n < SLICE) {
		int got = sl_store_iter_next(it, &k, &v);

		if (got <= 0) {
			rc = got;
			break;
		}
		if (k.len >= sizeof(out->key) || v.len > JOURNEY_STATE_SIZE)
			continue;
		memcpy(out[*n].key, k.data, k.len);
		out[*n].klen = k.len;
		memcpy(out[*n].val, v.data, v.len);
		out[*n].vlen = v.len;
		(*n)++;
	}
	sl_store_iter_free(it);
	return rc < 0 ? rc : SL_OK;
}

static int scan_slice(sl_ctx *ctx, struct reminders *r, sl_store *st,
		      struct progress *p, int64_t now)
{
	struct entry *es = malloc(SLICE * sizeof(*es));
	int n = 0, rc;

	if (es == NULL)
		return SL_ENOMEM;
	rc = collect(st, p, es, &n);
	for (int i = 0; i < n && rc == SL_OK; i++) {
		sl_bytes k = { es[i].key, es[i].klen };
		sl_bytes v = { es[i].val, es[i].vlen };

		es[i].sent =
			consider(ctx, r, st, &k, &v, p->scan_day, now, &rc);
		p->emitted += es[i].sent;
	}

	/*
	 * at_least_once: after a crash the store is restored with the
	 * changelog writes made since the last commit, but the reminders
	 * sent in that interval may never have reached the broker: users
	 * recorded as reminded whose reminder was lost (a kill -9 at the
	 * end of a scan lost all 50k in tests/integration/60_reminders.sh).
	 * So deliver this slice's reminders first (flushed and
	 * acknowledged), then record the users; the store commits at the
	 * next interval.
	 */
	if (rc == SL_OK && r->deliver_first) {
		int any = 0;

		for (int i = 0; i < n; i++)
			any |= es[i].sent;
		if (any)
			rc = sl_ctx_flush(ctx);
		for (int i = 0; i < n && rc == SL_OK; i++) {
			sl_bytes k = { es[i].key, es[i].klen };
			struct journey_state s;

			if (!es[i].sent)
				continue;
			rc = journey_state_decode(es[i].val, es[i].vlen, &s);
			if (rc == SL_OK)
				rc = mark(st, &k, &s, p->scan_day);
		}
	}
	if (rc == SL_OK && n == SLICE) {
		/* resume strictly after the last key: append a NUL byte */
		memcpy(p->resume, es[n - 1].key, es[n - 1].klen);
		p->resume[es[n - 1].klen] = '\0';
		p->resume_len = es[n - 1].klen + 1;
	} else if (rc == SL_OK) {
		char date[11];

		day_str(p->scan_day, date);
		SL_INFO(COMP,
			"reminders emitted date=%s partition=%d count=%" PRId64,
			date, (int)sl_ctx_partition(ctx), p->emitted);
		p->done_day = p->scan_day;
		p->scan_day = NO_SCAN;
		p->resume_len = 0;
	}
	free(es);
	if (rc == SL_OK)
		rc = save_progress(st, p);
	return rc != SL_OK ? rc : (p->scan_day != NO_SCAN ? SL_MORE : SL_OK);
}

static int tick(sl_ctx *ctx, int64_t now, void *ud)
{
	struct reminders *r = ud;
	sl_store *st = sl_ctx_store(ctx, JOURNEY_STORE);
	int64_t secs = sl_floor_div(now, 1000);
	int32_t today =
		(int32_t)sl_floor_div(secs + sl_tz_offset(r->tz, secs), 86400);
	int minute = sl_tz_local_minute(r->tz, secs);
	struct progress p;
	char date[11];
	int rc;

	rc = load_progress(st, &p);
	if (rc != SL_OK)
		return rc;
	if (p.scan_day != NO_SCAN) {
		/* Catch up to what the partition held at reminder time. */
		if (sl_ctx_input_position(ctx) < p.target)
			return SL_OK;
		return scan_slice(ctx, r, st, &p, now);
	}
	if (minute < r->at_minute ||
	    (p.done_day != JS_NO_DAY && p.done_day >= today))
		return SL_OK;
	day_str(today, date);
	if (minute > r->catchup_minute) {
		SL_WARN(COMP,
			"reminder window missed, skipping the day "
			"date=%s partition=%d",
			date, (int)sl_ctx_partition(ctx));
		p.done_day = today;
		return save_progress(st, &p);
	}
	rc = sl_ctx_input_end(ctx, &p.target);
	if (rc != SL_OK)
		return SL_OK; /* broker unreachable: try at the next tick */
	p.scan_day = today;
	p.emitted = 0;
	p.resume_len = 0;
	SL_INFO(COMP,
		"reminders due date=%s partition=%d catch_up_to=%" PRId64
		" position=%" PRId64,
		date, (int)sl_ctx_partition(ctx), p.target,
		sl_ctx_input_position(ctx));
	rc = save_progress(st, &p);
	return rc != SL_OK ? rc : SL_MORE;
}

static void reminders_free(void *p)
{
	struct reminders *r = p;

	sl_tz_free(r->tz);
	free(r);
}

int reminders_attach(sl_topology *t, const sl_config *cfg, sl_errbuf *eb)
{
	struct reminders *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL)
		return SL_ENOMEM;
	rc = sl_config_time_of_day(cfg, "reminder.at", &r->at_minute, eb);
	if (rc == SL_OK)
		rc = sl_config_time_of_day(cfg, "reminder.catchup_until",
					   &r->catchup_minute, eb);
	if (rc == SL_OK)
		rc = sl_config_duration_ms(cfg, "reminder.min_idle",
					   &r->min_idle_ms, eb);
	if (rc == SL_OK)
		rc = sl_config_duration_ms(cfg, "reminder.give_up_after",
					   &r->give_up_ms, eb);
	if (rc == SL_OK)
		rc = sl_config_int(cfg, "reminder.max_per_user",
				   &r->max_per_user, eb);
	if (rc == SL_OK)
		rc = sl_tz_load(sl_config_get(cfg, "reminder.timezone"), &r->tz,
				eb);
	if (rc == SL_OK) {
		const char *g = sl_config_get(cfg, "processing.guarantee");

		r->deliver_first = g == NULL || strcmp(g, "exactly_once") != 0;
	}
	if (rc == SL_OK)
		rc = sl_topology_output(t, "send_reminder");
	if (rc == SL_OK)
		rc = sl_topology_punctuate(t, "reminders", SL_PUNCT_WALL_CLOCK,
					   TICK_MS, tick, r);
	if (rc != SL_OK) {
		reminders_free(r);
		return rc;
	}
	return sl_topology_own(t, reminders_free, r);
}
