/*
 * journey.c — tracks incomplete screenings per user (SPEC section 4).
 *
 *	screening_started   -> entry created/updated (phone, lang, pin code)
 *	screening_step      -> step and last activity updated
 *	screening_completed -> entry deleted (no more reminders)
 *	opted_out / opted_in -> flag set / cleared
 *	reminder_failed 131050 -> user suppressed
 * Invalid events are dead-lettered with the field and rule.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "processor/log.h"
#include "processor/timeutil.h"
#include "topologies/event.h"
#include "topologies/journey.h"

#define JS_VERSION 1

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void journey_state_encode(const struct journey_state *s,
			  unsigned char out[JOURNEY_STATE_SIZE])
{
	memset(out, 0, JOURNEY_STATE_SIZE);
	out[0] = JS_VERSION;
	out[1] = s->flags;
	out[2] = s->reminders_sent;
	put_u32(out + 3, (uint32_t)s->step);
	put_u64(out + 7, (uint64_t)s->started_at_ms);
	put_u64(out + 15, (uint64_t)s->last_activity_ms);
	put_u32(out + 23, (uint32_t)s->last_reminder_day);
	memcpy(out + 27, s->lang, 2);
	memcpy(out + 29, s->pincode, 6);
	memcpy(out + 35, s->phone, 16);
}

int journey_state_decode(const void *buf, size_t len, struct journey_state *s)
{
	const unsigned char *p = buf;

	if (len != JOURNEY_STATE_SIZE || p[0] != JS_VERSION)
		return SL_EPARSE;
	memset(s, 0, sizeof(*s));
	s->flags = p[1];
	s->reminders_sent = p[2];
	s->step = (int32_t)get_u32(p + 3);
	s->started_at_ms = (int64_t)get_u64(p + 7);
	s->last_activity_ms = (int64_t)get_u64(p + 15);
	s->last_reminder_day = (int32_t)get_u32(p + 23);
	memcpy(s->lang, p + 27, 2);
	memcpy(s->pincode, p + 29, 6);
	memcpy(s->phone, p + 35, 16);
	return SL_OK;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void copy_field(char *dst, size_t n, const char *src)
{
	if (src != NULL)
		snprintf(dst, n, "%s", src);
}

static int save(sl_store *st, const char *user, const struct journey_state *s)
{
	unsigned char buf[JOURNEY_STATE_SIZE];

	journey_state_encode(s, buf);
	return sl_store_put(st, user, strlen(user), buf, sizeof(buf));
}

static void touch(struct journey_state *s, int64_t at)
{
	if (at > s->last_activity_ms)
		s->last_activity_ms = at;
}

/* Apply one valid event (its fields in f) to the user's entry. */
static int apply(sl_store *st, const cJSON *ev, const ev_fields *f)
{
	const char *user = ev_str(f, EV_F_USER_ID);
	int64_t at = f->occurred_at_ms;
	struct journey_state s;
	sl_bytes v;
	int exists, rc;

	rc = sl_store_get(st, user, strlen(user), &v);
	if (rc != SL_OK && rc != SL_ENOTFOUND)
		return rc;
	exists = rc == SL_OK &&
		 journey_state_decode(v.data, v.len, &s) == SL_OK;
	if (!exists) {
		memset(&s, 0, sizeof(s));
		s.last_reminder_day = JS_NO_DAY;
	}

	switch (f->type) {
	case EV_SCREENING_STARTED:
		if (!(s.flags & JS_STARTED) || at < s.started_at_ms)
			s.started_at_ms = at;
		s.flags |= JS_STARTED;
		copy_field(s.phone, sizeof(s.phone), ev_str(f, EV_F_PHONE));
		copy_field(s.lang, sizeof(s.lang), ev_str(f, EV_F_LANG));
		copy_field(s.pincode, sizeof(s.pincode),
			   ev_str(f, EV_F_PINCODE));
		touch(&s, at);
		return save(st, user, &s);
	case EV_SCREENING_STEP: {
		const cJSON *step = f->m[EV_F_STEP];

		if (!exists)
			return SL_OK; /* no start seen: nothing to remind */
		if (cJSON_IsNumber(step) && step->valueint > s.step)
			s.step = step->valueint;
		touch(&s, at);
		return save(st, user, &s);
	}
	case EV_SCREENING_COMPLETED:
		return exists ? sl_store_delete(st, user, strlen(user)) : SL_OK;
	case EV_OPTED_OUT:
		s.flags |= JS_OPTED_OUT;
		touch(&s, at);
		return save(st, user, &s);
	case EV_OPTED_IN:
		if (!exists)
			return SL_OK;
		s.flags &= (uint8_t)~JS_OPTED_OUT;
		return save(st, user, &s);
	case EV_REMINDER_FAILED: {
		/* not a field of the schema: looked up here */
		const char *code = str(ev, "error_code");

		if (!exists || code == NULL || strcmp(code, "131050") != 0)
			return SL_OK;
		s.flags |= JS_SUPPRESSED;
		return save(st, user, &s);
	}
	default:
		/* reminder_sent: counted when the reminder was emitted. */
		return SL_OK;
	}
}

static int track(sl_ctx *ctx, const sl_record *rec, void *ud)
{
	sl_store *st = sl_ctx_store(ctx, JOURNEY_STORE);
	cJSON *ev = NULL;
	ev_fields f;
	ev_error err;
	int rc;

	(void)ud;
	/* ev lives in scratch memory until the next record (event.h) */
	ev_scratch_begin();
	rc = ev_parse_fields(rec->value.data, rec->value.len, &ev, &f, &err);
	ev_scratch_end();
	if (rc != SL_OK) {
		char reason[300];

		snprintf(reason, sizeof(reason), "%s%s%s",
			 err.field[0] ? err.field : "",
			 err.field[0] ? ": " : "", err.rule);
		return sl_ctx_dead_letter(ctx, rec, reason);
	}
	rc = apply(st, ev, &f);
	cJSON_Delete(ev);
	return rc;
}

/* The admin API's view of an entry (never the phone number). */
static char *render(const void *val, size_t len)
{
	struct journey_state s;
	char started[32], last[32], masked[24];
	cJSON *o;
	char *json;

	if (journey_state_decode(val, len, &s) != SL_OK)
		return NULL;
	o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	sl_time_format_rfc3339(s.started_at_ms, started);
	sl_time_format_rfc3339(s.last_activity_ms, last);
	cJSON_AddBoolToObject(o, "started", (s.flags & JS_STARTED) != 0);
	cJSON_AddBoolToObject(o, "opted_out", (s.flags & JS_OPTED_OUT) != 0);
	cJSON_AddBoolToObject(o, "suppressed", (s.flags & JS_SUPPRESSED) != 0);
	cJSON_AddStringToObject(o, "phone",
				sl_mask_phone(s.phone, masked, sizeof(masked)));
	cJSON_AddStringToObject(o, "lang", s.lang);
	cJSON_AddStringToObject(o, "pincode", s.pincode);
	cJSON_AddNumberToObject(o, "step", s.step);
	cJSON_AddStringToObject(o, "started_at", started);
	cJSON_AddStringToObject(o, "last_activity", last);
	cJSON_AddNumberToObject(o, "reminders_sent", s.reminders_sent);
	if (s.last_reminder_day != JS_NO_DAY) {
		char d[16];
		int y, m, dd;

		sl_civil_from_days(s.last_reminder_day, &y, &m, &dd);
		snprintf(d, sizeof(d), "%04d-%02d-%02d", y, m, dd);
		cJSON_AddStringToObject(o, "last_reminder_date", d);
	}
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return json;
}

int journey_topology(const sl_config *cfg, sl_topology **out, sl_errbuf *eb)
{
	sl_topology *t = sl_topology_new("journey");
	int rc;

	if (t == NULL)
		return SL_ENOMEM;
	/* before the app's threads start: they may use cJSON */
	ev_scratch_install();
	sl_topology_source(t, "user_journey");
	sl_topology_store(t, JOURNEY_STORE);
	sl_topology_store_render(t, JOURNEY_STORE, render);
	rc = sl_topology_step(t, "track", track, NULL);
	if (rc == SL_OK)
		rc = reminders_attach(t, cfg, eb);
	if (rc != SL_OK) {
		sl_topology_free(t);
		return rc;
	}
	*out = t;
	return SL_OK;
}
