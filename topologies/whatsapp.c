/*
 * whatsapp.c — send each reminder once through the WhatsApp Cloud API.
 *
 * Store "wa_sends" holds one entry per reminder_id.  Its life:
 *
 *  send_reminder           refill: due, room       reply
 *  (a known id  +--------+ in the ready queue +---------+ 200 +------+
 *   is ignored)>| QUEUED |------------------->| SENDING |---->| SENT |
 *               +--------+ written, then      +---------+     +------+
 *                 ^    ^   sl_ctx_commit(),    | | | |
 *    130429, 190  |    |   then POST at its    | | | | 131026, 131050,
 *    (uncounted) -+----|-- token --------------+ | | | 132xxx, 4xx
 *                      |                         | | +------------+
 *                      | due  +----------+       | |              v
 *                      +------| RETRY_AT |<------+ |         +--------+
 *                             +----------+ 131056: |         | FAILED |
 *                                  |       4^n s;  |         +--------+
 *                                  |       5xx and |              ^
 *                                  |       network:|              |
 *                                  |       2^n s   |              |
 *                                  +-- attempts or give_up_after -+
 *                                      used up (also from QUEUED)
 *
 *   SENDING with no flight in this process (after a    +---------+
 *   crash, a move of the partition, a rolled-back  --->| UNKNOWN |
 *   commit), found by the sweep                        +---------+
 *
 * What holds in each state:
 * - QUEUED, RETRY_AT: not sent, or answered with a retryable error;
 *   index key D|due|id in store "wa_due" says from when.
 * - SENDING: durable (sl_ctx_commit) before the POST; index key S|id.
 *   At most one POST per SENDING.  In memory it is a flight: ready
 *   (waiting for its token), then submitted, then done (answered).
 *   Ready flights go back to QUEUED when a 130429 pauses sending or a
 *   190 stops it.
 * - SENT, FAILED, UNKNOWN: final; the outcome goes to user_journey in
 *   the same commit; index key X|expiry|id removes the entry after
 *   whatsapp.keep, so a duplicate send_reminder is ignored until then.
 *
 * UNKNOWN is never re-sent: the request may have reached WhatsApp.  It
 * is published as reminder_failed with error_code "unknown" and error
 * "outcome unknown after crash"; there is no reconciliation.
 * TODO: reconcile UNKNOWN through status webhooks (they carry
 * biz_opaque_callback_data = reminder_id) once a webhook receiver
 * exists.
 *
 * Who moves what: queue_step() creates QUEUED.  tick(), a wall-clock
 * punctuator on each task, applies replies, sweeps SENDING entries
 * without a flight into UNKNOWN (at a task's first tick and every 5 s),
 * expires old entries, refills the ready queue (one commit per refill)
 * and posts ready flights as the pacer hands out tokens, sleeping up to
 * MAX_WAIT_MS for the next one; it returns SL_MORE while flights wait,
 * so sends are spaced evenly.  The pacer (a token bucket, halved on
 * 130429) and the client are shared by the tasks of the process: one
 * per sending number.
 *
 * Times kept in entries are real wall-clock milliseconds, not the
 * worker's injectable clock: the API's limits run on real time.
 *
 * TODO: 5xx and network errors are retried as the issue asks, though a
 * timeout after the request went out (maybe_sent) may have delivered
 * it; the Cloud API has no idempotency key, so such a retry can
 * duplicate a message.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/evp.h>

#include "processor/clock.h"
#include "processor/log.h"
#include "processor/timeutil.h"
#include "processor/topics.h"
#include "topologies/event.h"
#include "topologies/whatsapp.h"

#define TICK_MS 20
#define IX_KEY_MAX (1 + 8 + WS_RID_MAX)
#define SCAN_MAX 1024	   /* index keys read per step of a tick */
#define MAX_IN_FLIGHT 1000 /* < SCAN_MAX: a sweep always sees past them */
#define EXPIRE_MAX 256
#define SWEEP_EVERY_MS 5000
#define STALE_FLIGHT_MS 600000
#define PROGRESS_LOG_MS 10000

static const char *COMP = "whatsapp";

/* ---- metrics ----------------------------------------------------- */

static struct {
	atomic_llong queued;
	atomic_llong duplicates;
	atomic_llong sent;
	atomic_llong failed;
	atomic_llong unknown;
	atomic_llong expired;
	atomic_llong stale;
	atomic_llong throttled;
	atomic_llong pair_limited;
	atomic_llong retries;
	atomic_llong template_errors;
	atomic_llong auth_errors;
	atomic_llong in_flight;
	atomic_llong rate_milli;
	atomic_int auth_stopped;
} stats;

static void count(atomic_llong *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void whatsapp_write_metrics(FILE *f)
{
	static const char *const outcomes[] = { "sent", "failed", "unknown",
						"expired" };
	atomic_llong *vals[] = { &stats.sent, &stats.failed, &stats.unknown,
				 &stats.expired };

	fprintf(f, "# TYPE sluice_whatsapp_sends_total counter\n");
	for (int i = 0; i < 4; i++)
		fprintf(f, "sluice_whatsapp_sends_total{outcome=\"%s\"} %lld\n",
			outcomes[i], (long long)atomic_load(vals[i]));
	fprintf(f,
		"# TYPE sluice_whatsapp_queued_total counter\n"
		"sluice_whatsapp_queued_total %lld\n"
		"# TYPE sluice_whatsapp_duplicates_total counter\n"
		"sluice_whatsapp_duplicates_total %lld\n"
		"# TYPE sluice_whatsapp_stale_total counter\n"
		"sluice_whatsapp_stale_total %lld\n"
		"# TYPE sluice_whatsapp_throttled_total counter\n"
		"sluice_whatsapp_throttled_total %lld\n"
		"# TYPE sluice_whatsapp_pair_limited_total counter\n"
		"sluice_whatsapp_pair_limited_total %lld\n"
		"# TYPE sluice_whatsapp_retries_total counter\n"
		"sluice_whatsapp_retries_total %lld\n"
		"# TYPE sluice_whatsapp_template_errors_total counter\n"
		"sluice_whatsapp_template_errors_total %lld\n"
		"# TYPE sluice_whatsapp_auth_errors_total counter\n"
		"sluice_whatsapp_auth_errors_total %lld\n"
		"# TYPE sluice_whatsapp_in_flight gauge\n"
		"sluice_whatsapp_in_flight %lld\n"
		"# TYPE sluice_whatsapp_rate gauge\n"
		"sluice_whatsapp_rate %.3f\n"
		"# TYPE sluice_whatsapp_auth_stopped gauge\n"
		"sluice_whatsapp_auth_stopped %d\n",
		(long long)atomic_load(&stats.queued),
		(long long)atomic_load(&stats.duplicates),
		(long long)atomic_load(&stats.stale),
		(long long)atomic_load(&stats.throttled),
		(long long)atomic_load(&stats.pair_limited),
		(long long)atomic_load(&stats.retries),
		(long long)atomic_load(&stats.template_errors),
		(long long)atomic_load(&stats.auth_errors),
		(long long)atomic_load(&stats.in_flight),
		(double)atomic_load(&stats.rate_milli) / 1000.0,
		atomic_load(&stats.auth_stopped));
}

/* ---- entries ----------------------------------------------------- */

static const char *const state_names[] = {
	[WS_QUEUED] = "QUEUED",	    [WS_SENDING] = "SENDING",
	[WS_SENT] = "SENT",	    [WS_FAILED] = "FAILED",
	[WS_RETRY_AT] = "RETRY_AT", [WS_UNKNOWN] = "UNKNOWN",
};
#define NSTATES (sizeof(state_names) / sizeof(*state_names))

const char *ws_state_name(enum ws_state s)
{
	return (unsigned)s < NSTATES ? state_names[s] : "?";
}

static int state_from_name(const char *s, enum ws_state *out)
{
	for (unsigned i = 0; s != NULL && i < NSTATES; i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum ws_state)i;
			return SL_OK;
		}
	}
	return SL_EPARSE;
}

/* Copy src into dst (n bytes), cut at a UTF-8 character boundary. */
static void copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (len >= n) {
		len = n - 1;
		while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v[0] != '\0')
		cJSON_AddStringToObject(o, k, v);
}

char *ws_entry_encode(const struct ws_entry *e)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "state", ws_state_name(e->state));
	add_str(o, "user_id", e->user_id);
	add_str(o, "phone", e->phone);
	add_str(o, "lang", e->lang);
	add_str(o, "local_date", e->local_date);
	add_str(o, "pincode", e->pincode);
	cJSON_AddNumberToObject(o, "step", e->step);
	cJSON_AddNumberToObject(o, "attempts", e->attempts);
	cJSON_AddNumberToObject(o, "pair_hits", e->pair_hits);
	cJSON_AddNumberToObject(o, "queued_at", (double)e->queued_at);
	cJSON_AddNumberToObject(o, "due", (double)e->due);
	cJSON_AddNumberToObject(o, "updated_at", (double)e->updated_at);
	add_str(o, "code", e->code);
	add_str(o, "wamid", e->wamid);
	add_str(o, "error", e->error);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void get_str(const cJSON *o, const char *k, char *dst, size_t n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	copy(dst, n, cJSON_IsString(v) ? v->valuestring : "");
}

static int64_t get_num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

int ws_entry_decode(const void *buf, size_t len, struct ws_entry *e)
{
	cJSON *o = cJSON_ParseWithLength(buf, len);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");
	int rc;

	memset(e, 0, sizeof(*e));
	rc = state_from_name(cJSON_IsString(st) ? st->valuestring : NULL,
			     &e->state);
	if (rc == SL_OK) {
		get_str(o, "user_id", e->user_id, sizeof(e->user_id));
		get_str(o, "phone", e->phone, sizeof(e->phone));
		get_str(o, "lang", e->lang, sizeof(e->lang));
		get_str(o, "local_date", e->local_date, sizeof(e->local_date));
		get_str(o, "pincode", e->pincode, sizeof(e->pincode));
		get_str(o, "code", e->code, sizeof(e->code));
		get_str(o, "wamid", e->wamid, sizeof(e->wamid));
		get_str(o, "error", e->error, sizeof(e->error));
		e->step = (int32_t)get_num(o, "step");
		e->attempts = (int32_t)get_num(o, "attempts");
		e->pair_hits = (int32_t)get_num(o, "pair_hits");
		e->queued_at = get_num(o, "queued_at");
		e->due = get_num(o, "due");
		e->updated_at = get_num(o, "updated_at");
	}
	cJSON_Delete(o);
	return rc;
}

/* ---- transitions ------------------------------------------------- */

void ws_mark_sending(struct ws_entry *e, int64_t now)
{
	e->state = WS_SENDING;
	e->attempts++;
	e->updated_at = now;
}

void ws_mark_unknown(struct ws_entry *e, int64_t now)
{
	e->state = WS_UNKNOWN;
	e->updated_at = now;
	snprintf(e->code, sizeof(e->code), "unknown");
	snprintf(e->error, sizeof(e->error), "outcome unknown after crash");
}

int ws_expire(struct ws_entry *e, const struct ws_policy *p, int64_t now)
{
	if ((e->state != WS_QUEUED && e->state != WS_RETRY_AT) ||
	    now - e->queued_at <= p->give_up_ms)
		return 0;
	e->state = WS_FAILED;
	e->updated_at = now;
	snprintf(e->code, sizeof(e->code), "expired");
	snprintf(e->error, sizeof(e->error),
		 "not sent within whatsapp.give_up_after (%d attempts)",
		 (int)e->attempts);
	return 1;
}

/* base * factor^(n-1), at most max. */
static int64_t grow(int64_t base, int factor, int n, int64_t max)
{
	int64_t d = base;

	for (int i = 1; i < n && d < max; i++)
		d *= factor;
	return d < max ? d : max;
}

static enum ws_publish retry_or_fail(struct ws_entry *e,
				     const struct ws_policy *p, int64_t now,
				     int64_t delay)
{
	char why[sizeof(e->error) + 40];

	if (e->attempts >= p->max_attempts ||
	    now + delay - e->queued_at > p->give_up_ms) {
		snprintf(why, sizeof(why), "gave up after %d attempts: %s",
			 (int)e->attempts, e->error);
		copy(e->error, sizeof(e->error), why);
		e->state = WS_FAILED;
		return WS_PUB_FAILED;
	}
	e->state = WS_RETRY_AT;
	e->due = now + delay;
	return WS_PUB_NONE;
}

static void set_error(struct ws_entry *e, const wa_result *r)
{
	if (r->code != 0)
		snprintf(e->code, sizeof(e->code), "%d", r->code);
	else if (r->http_status != 0)
		snprintf(e->code, sizeof(e->code), "http_%ld", r->http_status);
	else
		snprintf(e->code, sizeof(e->code), "network");
	copy(e->error, sizeof(e->error), r->message);
}

enum ws_publish ws_apply(struct ws_entry *e, const wa_result *r,
			 const struct ws_policy *p, int64_t now, double jitter)
{
	int64_t d;

	e->updated_at = now;
	if (r->cls == WA_SENT) {
		e->state = WS_SENT;
		e->code[0] = '\0';
		copy(e->wamid, sizeof(e->wamid), r->wamid);
		copy(e->error, sizeof(e->error), r->message);
		return WS_PUB_SENT;
	}
	set_error(e, r);
	switch (r->cls) {
	case WA_THROTTLED:
	case WA_AUTH:
		/* Not the message's fault: queue again, uncounted. */
		if (e->attempts > 0)
			e->attempts--;
		e->state = WS_QUEUED;
		e->due = now;
		return WS_PUB_NONE;
	case WA_PAIR_LIMIT:
		e->pair_hits++;
		d = grow(p->pair_base_ms, 4, e->pair_hits, p->pair_max_ms);
		return retry_or_fail(e, p, now,
				     (int64_t)((double)d * (0.5 + jitter)));
	case WA_TRANSIENT:
		d = grow(p->retry_base_ms, 2, e->attempts, p->retry_max_ms);
		return retry_or_fail(e, p, now,
				     (int64_t)((double)d * (0.5 + jitter)));
	default: /* WA_PERMANENT, WA_TEMPLATE */
		e->state = WS_FAILED;
		return WS_PUB_FAILED;
	}
}

/* ---- outcome events ---------------------------------------------- */

static void event_id(const char *type, const char *rid, char out[48])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char in[WS_RID_MAX + 64];
	int len;

	len = snprintf(in, sizeof(in), "whatsapp|%s|%s", type, rid);
	EVP_Digest(in, (size_t)len, md, &n, EVP_sha256(), NULL);
	memcpy(out, "wa-", 3);
	for (unsigned i = 0; i < 20 && i < n; i++)
		snprintf(out + 3 + 2 * i, 3, "%02x", md[i]);
}

char *ws_outcome_event(const char *reminder_id, const struct ws_entry *e,
		       enum ws_publish pub, int64_t now)
{
	const char *type = pub == WS_PUB_SENT ? "reminder_sent"
					      : "reminder_failed";
	cJSON *o = cJSON_CreateObject();
	char id[48], at[32];
	char *s;

	if (o == NULL)
		return NULL;
	event_id(type, reminder_id, id);
	sl_time_format_rfc3339(now, at);
	cJSON_AddStringToObject(o, "event_id", id);
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "user_id", e->user_id);
	cJSON_AddStringToObject(o, "occurred_at", at);
	cJSON_AddStringToObject(o, "reminder_id", reminder_id);
	add_str(o, "local_date", e->local_date);
	if (ev_valid_lang(e->lang))
		cJSON_AddStringToObject(o, "lang", e->lang);
	if (ev_valid_pincode(e->pincode))
		cJSON_AddStringToObject(o, "pincode", e->pincode);
	cJSON_AddStringToObject(o, "channel", "whatsapp");
	cJSON_AddNumberToObject(o, "attempts", e->attempts);
	if (pub == WS_PUB_SENT) {
		cJSON_AddStringToObject(o, "message_id", e->wamid);
	} else {
		cJSON_AddStringToObject(o, "error_code", e->code);
		cJSON_AddStringToObject(o, "error", e->error);
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* ---- the sender (one per topology, shared by its tasks) ---------- */

/*
 * A send of this process, from its SENDING commit to the reply being
 * recorded: first in the ready queue (durable, not yet posted), then
 * submitted, then done (reply or synthetic result) until its task's
 * tick applies it.  Every flight is on `flights`; ready ones also on
 * the ready queue.
 */
struct flight {
	struct flight *next;	   /* all flights */
	struct flight *next_ready; /* the ready queue */
	int32_t part;
	int32_t attempt; /* the entry's attempts when marked SENDING */
	int submitted;
	int done;
	int64_t done_mono;
	wa_result res;
	char phone[20];
	char lang[12];
	char param[16];
	char rid[WS_RID_MAX + 1];
};

/* Per partition of this process. */
struct part_state {
	int64_t next_sweep; /* mono; 0: sweep at the next tick */
};

struct wa_topo {
	wa_client *client;
	wa_pacer pacer;
	struct ws_policy pol;
	char *journey_topic;
	int64_t batch;
	int64_t max_inflight;
	int64_t keep_ms;
	int64_t auth_retry_ms;
	int auth_stopped;
	int64_t auth_probe_at; /* mono */
	struct flight *flights;
	struct flight *ready, **ready_tail;
	int64_t nready;
	int64_t inflight; /* submitted, no reply yet */
	unsigned seed;
	int64_t last_log;
	long long logged_sent, logged_failed;
	int64_t (*now)(void); /* real wall clock, for entries */
	struct part_state *parts;
	int32_t nparts;
	int32_t turn;	    /* the partition whose tick refills next */
	int64_t turn_since; /* mono */
	char (*rids)[WS_RID_MAX + 1]; /* SCAN_MAX index keys */
	int64_t *times;
};

static double jitter(struct wa_topo *w)
{
	return (double)rand_r(&w->seed) / ((double)RAND_MAX + 1.0);
}

/* ---- store helpers ----------------------------------------------- */

static size_t ix_key(char *out, char kind, int64_t t, const char *rid)
{
	size_t n = 0, rl = strlen(rid);

	out[n++] = kind;
	if (kind != 'S')
		for (int i = 7; i >= 0; i--)
			out[n++] =
				(char)(unsigned char)((uint64_t)t >> (8 * i));
	memcpy(out + n, rid, rl);
	return n + rl;
}

static int64_t ix_time(const unsigned char *k)
{
	uint64_t t = 0;

	for (int i = 1; i <= 8; i++)
		t = t << 8 | k[i];
	return (int64_t)t;
}

static int ix_put(sl_store *ix, char kind, int64_t t, const char *rid)
{
	char k[IX_KEY_MAX];

	return sl_store_put(ix, k, ix_key(k, kind, t, rid), "1", 1);
}

static int ix_del(sl_store *ix, char kind, int64_t t, const char *rid)
{
	char k[IX_KEY_MAX];
	int rc = sl_store_delete(ix, k, ix_key(k, kind, t, rid));

	return rc == SL_ENOTFOUND ? SL_OK : rc;
}

static int load(sl_store *st, const char *rid, struct ws_entry *e)
{
	sl_bytes v;
	int rc = sl_store_get(st, rid, strlen(rid), &v);

	return rc == SL_OK ? ws_entry_decode(v.data, v.len, e) : rc;
}

static int save(sl_store *st, const char *rid, const struct ws_entry *e)
{
	char *j = ws_entry_encode(e);
	int rc;

	if (j == NULL)
		return SL_ENOMEM;
	rc = sl_store_put(st, rid, strlen(rid), j, strlen(j));
	cJSON_free(j);
	return rc;
}

/* Save a final entry, index its expiry, publish its outcome. */
static int finish(sl_ctx *ctx, struct wa_topo *w, sl_store *st, sl_store *ix,
		  const char *rid, const struct ws_entry *e,
		  enum ws_publish pub, int64_t now)
{
	char *ev;
	int rc = save(st, rid, e);

	if (rc == SL_OK)
		rc = ix_put(ix, 'X', now + w->keep_ms, rid);
	if (rc != SL_OK || pub == WS_PUB_NONE)
		return rc;
	ev = ws_outcome_event(rid, e, pub, now);
	if (ev == NULL)
		return SL_ENOMEM;
	rc = sl_ctx_send(ctx, w->journey_topic, e->user_id, strlen(e->user_id),
			 ev, strlen(ev));
	cJSON_free(ev);
	if (pub == WS_PUB_SENT) {
		count(&stats.sent);
	} else if (e->state == WS_UNKNOWN) {
		count(&stats.unknown);
	} else {
		char masked[24];

		count(strcmp(e->code, "expired") == 0 ? &stats.expired
						      : &stats.failed);
		SL_INFO(COMP,
			"reminder failed reminder_id=%s phone=%s code=%s "
			"error=\"%s\"",
			rid, sl_mask_phone(e->phone, masked, sizeof(masked)),
			e->code, e->error);
	}
	return rc;
}

/* ---- input ------------------------------------------------------- */

static const char *json_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* NULL when the send_reminder record is usable, else why not. */
static const char *check_input(const cJSON *o)
{
	const char *rid = json_str(o, "reminder_id");
	const char *lang = json_str(o, "lang");

	if (!cJSON_IsObject(o))
		return "must be a JSON object";
	if (rid == NULL || rid[0] == '\0' || strlen(rid) > WS_RID_MAX ||
	    !ev_valid_utf8(rid, strlen(rid)))
		return "reminder_id: must be 1-200 bytes of UTF-8";
	if (!ev_valid_id(json_str(o, "user_id")))
		return "user_id: must be 1-64 characters";
	if (!ev_valid_phone(json_str(o, "phone")))
		return "phone: must be E.164";
	if (lang == NULL || lang[0] == '\0' || strlen(lang) >= 12)
		return "lang: must be a language code";
	return NULL;
}

/* emitted_at further than give_up_after from the worker's clock. */
static int stale(sl_ctx *ctx, const struct wa_topo *w, const cJSON *o)
{
	const char *at = json_str(o, "emitted_at");
	int64_t ms, age;

	if (at == NULL || sl_time_parse_rfc3339(at, &ms) != SL_OK)
		return 0;
	age = sl_ctx_now_ms(ctx) - ms;
	return age > w->pol.give_up_ms || -age > w->pol.give_up_ms;
}

static int queue_step(sl_ctx *ctx, const sl_record *rec, void *ud)
{
	struct wa_topo *w = ud;
	sl_store *st = sl_ctx_store(ctx, WS_STORE);
	sl_store *ix = sl_ctx_store(ctx, WS_INDEX);
	cJSON *o = cJSON_ParseWithLength(rec->value.data, rec->value.len);
	const char *why = o ? check_input(o) : "must be valid JSON";
	const cJSON *step;
	struct ws_entry e;
	const char *rid;
	sl_bytes v;
	int rc;

	if (why != NULL) {
		rc = sl_ctx_dead_letter(ctx, rec, why);
		goto out;
	}
	rid = json_str(o, "reminder_id");
	if (stale(ctx, w, o)) {
		/*
		 * Emitted too long ago (or ahead of our clock): an evening
		 * reminder must not go out hours late, nor history be re-sent
		 * by an application id reading send_reminder from its start.
		 */
		if (atomic_fetch_add(&stats.stale, 1) % 10000 == 0)
			SL_WARN(COMP,
				"stale reminder skipped reminder_id=%s "
				"(see sluice_whatsapp_stale_total)",
				rid);
		rc = SL_OK;
		goto out;
	}
	rc = sl_store_get(st, rid, strlen(rid), &v);
	if (rc == SL_OK) {
		count(&stats.duplicates);
		SL_DEBUG(COMP, "duplicate reminder ignored reminder_id=%s",
			 rid);
		goto out;
	}
	if (rc != SL_ENOTFOUND)
		goto out;

	memset(&e, 0, sizeof(e));
	e.state = WS_QUEUED;
	snprintf(e.user_id, sizeof(e.user_id), "%s", json_str(o, "user_id"));
	snprintf(e.phone, sizeof(e.phone), "%s", json_str(o, "phone"));
	snprintf(e.lang, sizeof(e.lang), "%s", json_str(o, "lang"));
	if (json_str(o, "local_date") != NULL)
		snprintf(e.local_date, sizeof(e.local_date), "%s",
			 json_str(o, "local_date"));
	if (ev_valid_pincode(json_str(o, "pincode")))
		snprintf(e.pincode, sizeof(e.pincode), "%s",
			 json_str(o, "pincode"));
	step = cJSON_GetObjectItemCaseSensitive(o, "step");
	e.step = cJSON_IsNumber(step) ? step->valueint : 0;
	e.queued_at = e.due = e.updated_at = w->now();
	rc = save(st, rid, &e);
	if (rc == SL_OK)
		rc = ix_put(ix, 'D', e.due, rid);
	if (rc == SL_OK)
		count(&stats.queued);
out:
	cJSON_Delete(o);
	return rc;
}

/* ---- replies ----------------------------------------------------- */

static struct flight *ready_pop(struct wa_topo *w)
{
	struct flight *f = w->ready;

	if (f == NULL)
		return NULL;
	w->ready = f->next_ready;
	if (w->ready == NULL)
		w->ready_tail = &w->ready;
	w->nready--;
	return f;
}

/* A flight ends without a reply of the API. */
static void settle(struct flight *f, enum wa_class cls, const char *why,
		   int64_t mono)
{
	f->done = 1;
	f->done_mono = mono;
	memset(&f->res, 0, sizeof(f->res));
	f->res.cls = cls;
	snprintf(f->res.message, sizeof(f->res.message), "%s", why);
}

/*
 * While sending is paused or stopped, ready flights go back to QUEUED
 * (as an uncounted throttle or auth result), so a crash then does not
 * leave unsent reminders looking like UNKNOWN ones.
 */
static void drain_ready(struct wa_topo *w, enum wa_class cls, int64_t mono)
{
	struct flight *f;

	while ((f = ready_pop(w)) != NULL)
		settle(f, cls, "not sent: sending paused", mono);
}

static void log_throttle(struct wa_topo *w, const wa_result *r, double was)
{
	if (wa_pacer_rate(&w->pacer) < was)
		SL_WARN(COMP,
			"throughput limit hit, slowing down code=%d "
			"rate=%.1f/s pause_ms=%" PRId64,
			r->code, wa_pacer_rate(&w->pacer), w->pacer.backoff_ms);
}

/* Take every finished send from the client; pacing reacts at once. */
static void harvest(struct wa_topo *w, int64_t mono)
{
	wa_result r;

	wa_client_poll(w->client, 0);
	while (wa_client_result(w->client, &r)) {
		struct flight *f = (struct flight *)(uintptr_t)r.tag;
		double was = wa_pacer_rate(&w->pacer);

		f->res = r;
		f->done = 1;
		f->done_mono = mono;
		w->inflight--;
		switch (r.cls) {
		case WA_SENT:
			wa_pacer_accepted(&w->pacer, mono);
			if (w->auth_stopped)
				SL_INFO(COMP, "sending resumed: the API "
					      "accepted a message again");
			w->auth_stopped = 0;
			break;
		case WA_THROTTLED:
			count(&stats.throttled);
			wa_pacer_throttled(&w->pacer, mono);
			log_throttle(w, &r, was);
			drain_ready(w, WA_THROTTLED, mono);
			break;
		case WA_AUTH:
			count(&stats.auth_errors);
			if (!w->auth_stopped)
				SL_ERROR(COMP,
					 "authentication or account error, "
					 "sending stopped code=%d "
					 "error=\"%s\" probe_every_ms=%" PRId64,
					 r.code, r.message, w->auth_retry_ms);
			else if (mono >= w->auth_probe_at - 1000)
				SL_WARN(COMP,
					"probe failed, sending still stopped "
					"code=%d error=\"%s\"",
					r.code, r.message);
			w->auth_stopped = 1;
			w->auth_probe_at = mono + w->auth_retry_ms;
			drain_ready(w, WA_AUTH, mono);
			break;
		case WA_TEMPLATE:
			count(&stats.template_errors);
			{
				const char *name, *code;

				wa_client_template(w->client, f->lang, &name,
						   &code);
				SL_ERROR(COMP,
					 "template problem (check the "
					 "whatsapp.template.* config) code=%d "
					 "template=%s language=%s error=\"%s\"",
					 r.code, name, code, r.message);
			}
			break;
		case WA_PAIR_LIMIT:
			count(&stats.pair_limited);
			break;
		default:
			break;
		}
	}
	atomic_store(&stats.in_flight, w->inflight);
	atomic_store(&stats.rate_milli,
		     (long long)(wa_pacer_rate(&w->pacer) * 1000));
	atomic_store(&stats.auth_stopped, w->auth_stopped);
}

/* One finished send of this task's partition: record the outcome. */
static int apply_one(sl_ctx *ctx, struct wa_topo *w, sl_store *st, sl_store *ix,
		     const struct flight *f, int64_t now)
{
	struct ws_entry e;
	enum ws_publish pub;
	int rc = load(st, f->rid, &e);

	if (rc == SL_ENOTFOUND || (rc == SL_OK && (e.state != WS_SENDING ||
						   e.attempts != f->attempt))) {
		SL_WARN(COMP,
			"late reply for a send no longer SENDING "
			"reminder_id=%s outcome=%s",
			f->rid, wa_class_name(f->res.cls));
		return SL_OK;
	}
	if (rc != SL_OK)
		return rc;
	pub = ws_apply(&e, &f->res, &w->pol, now, jitter(w));
	rc = ix_del(ix, 'S', 0, f->rid);
	if (rc != SL_OK)
		return rc;
	if (e.state == WS_QUEUED || e.state == WS_RETRY_AT) {
		if (e.state == WS_RETRY_AT)
			count(&stats.retries);
		rc = save(st, f->rid, &e);
		return rc == SL_OK ? ix_put(ix, 'D', e.due, f->rid) : rc;
	}
	return finish(ctx, w, st, ix, f->rid, &e, pub, now);
}

/* Apply this partition's finished sends; drop very old strays. */
static int apply_done(sl_ctx *ctx, struct wa_topo *w, sl_store *st,
		      sl_store *ix, int32_t part, int64_t now, int64_t mono)
{
	struct flight **pp = &w->flights;
	int rc = SL_OK;

	while (*pp != NULL && rc == SL_OK) {
		struct flight *f = *pp;

		if (!f->done || (f->part != part &&
				 mono - f->done_mono < STALE_FLIGHT_MS)) {
			pp = &f->next;
			continue;
		}
		if (f->part == part)
			rc = apply_one(ctx, w, st, ix, f, now);
		if (rc != SL_OK)
			break;
		*pp = f->next;
		free(f);
	}
	return rc;
}

/* ---- sweeping and expiring --------------------------------------- */

/* A reminder id is unique across partitions: no need to match those. */
static int in_flight_here(const struct wa_topo *w, const char *rid)
{
	for (const struct flight *f = w->flights; f != NULL; f = f->next)
		if (strcmp(f->rid, rid) == 0)
			return 1;
	return 0;
}

/* Copy up to max index keys of `kind` (times <= until) into rids. */
static int collect(sl_store *ix, char kind, int64_t until,
		   char (*rids)[WS_RID_MAX + 1], int64_t *times, int max,
		   int *n)
{
	sl_store_iter *it = NULL;
	sl_bytes k, v;
	size_t hdr = kind == 'S' ? 1 : 9;
	int rc, got;

	*n = 0;
	rc = sl_store_iter_new(ix, &kind, 1, &it);
	while (rc == SL_OK && *n < max) {
		const unsigned char *kb;

		got = sl_store_iter_next(it, &k, &v);
		if (got <= 0) {
			rc = got;
			break;
		}
		kb = k.data;
		if (k.len <= hdr || kb[0] != (unsigned char)kind)
			break;
		if (hdr == 9 && ix_time(kb) > until)
			break;
		if (k.len - hdr > WS_RID_MAX)
			continue;
		memcpy(rids[*n], kb + hdr, k.len - hdr);
		rids[*n][k.len - hdr] = '\0';
		times[*n] = hdr == 9 ? ix_time(kb) : 0;
		(*n)++;
	}
	sl_store_iter_free(it);
	return rc;
}

static struct part_state *part_state(struct wa_topo *w, int32_t part)
{
	struct part_state *n;

	if (part < 0)
		return NULL;
	if (part >= w->nparts) {
		n = realloc(w->parts, (size_t)(part + 1) * sizeof(*n));
		if (n == NULL)
			return NULL;
		memset(n + w->nparts, 0,
		       (size_t)(part + 1 - w->nparts) * sizeof(*n));
		w->parts = n;
		w->nparts = part + 1;
	}
	return &w->parts[part];
}

/* A task (re)starts here: look for SENDING leftovers at its first tick. */
static int task_init(sl_ctx *ctx, void *ud)
{
	struct part_state *ps = part_state(ud, sl_ctx_partition(ctx));

	if (ps != NULL)
		ps->next_sweep = 0;
	return SL_OK;
}

/*
 * SENDING entries with no flight in this process become UNKNOWN: at a
 * task's first tick (after a crash or a move) and every few seconds
 * (after a rolled-back commit).
 */
static int sweep(sl_ctx *ctx, struct wa_topo *w, sl_store *st, sl_store *ix,
		 int32_t part, int64_t now, int64_t mono)
{
	struct part_state *ps = part_state(w, part);
	int n, rc;

	if (ps == NULL)
		return SL_ENOMEM;
	if (mono < ps->next_sweep)
		return SL_OK;
	ps->next_sweep = mono + SWEEP_EVERY_MS;
	rc = collect(ix, 'S', 0, w->rids, w->times, SCAN_MAX, &n);
	for (int i = 0; i < n && rc == SL_OK; i++) {
		const char *rid = w->rids[i];
		struct ws_entry e;

		if (in_flight_here(w, rid))
			continue;
		rc = ix_del(ix, 'S', 0, rid);
		if (rc == SL_OK)
			rc = load(st, rid, &e);
		if (rc == SL_ENOTFOUND ||
		    (rc == SL_OK && e.state != WS_SENDING)) {
			rc = SL_OK; /* a stale index key */
			continue;
		}
		if (rc != SL_OK)
			break;
		SL_WARN(COMP,
			"send outcome unknown (found SENDING with no request "
			"in flight), not re-sending reminder_id=%s",
			rid);
		ws_mark_unknown(&e, now);
		rc = finish(ctx, w, st, ix, rid, &e, WS_PUB_FAILED, now);
	}
	if (n == SCAN_MAX)
		ps->next_sweep = 0; /* more than a scan: go on next tick */
	return rc;
}

/* Entries past whatsapp.keep leave the store. */
static int expire(struct wa_topo *w, sl_store *st, sl_store *ix, int64_t now,
		  int *more)
{
	int n, rc;

	rc = collect(ix, 'X', now, w->rids, w->times, EXPIRE_MAX, &n);
	for (int i = 0; i < n && rc == SL_OK; i++) {
		rc = sl_store_delete(st, w->rids[i], strlen(w->rids[i]));
		if (rc == SL_ENOTFOUND)
			rc = SL_OK;
		if (rc == SL_OK)
			rc = ix_del(ix, 'X', w->times[i], w->rids[i]);
	}
	if (n == EXPIRE_MAX)
		*more = 1;
	return rc;
}

/* ---- sending ----------------------------------------------------- */

#define READY_SPAN_MS 250 /* the ready queue holds this much sending */
#define TURN_MS 100	  /* a turn not taken in this time passes on */
#define MAX_WAIT_MS 15	  /* most a tick sleeps for the next token */

/*
 * Mark one due entry SENDING and make its flight; NULL when the entry
 * was stale or expired instead (or on error, in *rc).
 */
static struct flight *prepare(sl_ctx *ctx, struct wa_topo *w, sl_store *st,
			      sl_store *ix, int32_t part, const char *rid,
			      int64_t due, int64_t now, int *rc)
{
	struct ws_entry e;
	struct flight *f;

	*rc = ix_del(ix, 'D', due, rid);
	if (*rc == SL_OK)
		*rc = load(st, rid, &e);
	if (*rc == SL_ENOTFOUND ||
	    (*rc == SL_OK && e.state != WS_QUEUED && e.state != WS_RETRY_AT)) {
		*rc = SL_OK; /* a stale index key */
		return NULL;
	}
	if (*rc != SL_OK)
		return NULL;
	if (ws_expire(&e, &w->pol, now)) {
		*rc = finish(ctx, w, st, ix, rid, &e, WS_PUB_FAILED, now);
		return NULL;
	}
	ws_mark_sending(&e, now);
	*rc = save(st, rid, &e);
	if (*rc == SL_OK)
		*rc = ix_put(ix, 'S', 0, rid);
	f = *rc == SL_OK ? calloc(1, sizeof(*f)) : NULL;
	if (f == NULL) {
		*rc = *rc != SL_OK ? *rc : SL_ENOMEM;
		return NULL;
	}
	f->part = part;
	f->attempt = e.attempts;
	copy(f->rid, sizeof(f->rid), rid);
	copy(f->phone, sizeof(f->phone), e.phone);
	copy(f->lang, sizeof(f->lang), e.lang);
	snprintf(f->param, sizeof(f->param), "%d", (int)e.step);
	return f;
}

static void ready_push(struct wa_topo *w, struct flight *f)
{
	f->next = w->flights;
	w->flights = f;
	f->next_ready = NULL;
	*w->ready_tail = f;
	w->ready_tail = &f->next_ready;
	w->nready++;
}

/* Sends to add to the ready queue now. */
static int64_t refill_want(const struct wa_topo *w, int64_t mono)
{
	double rate = wa_pacer_rate(&w->pacer);
	int64_t low = (int64_t)(rate * READY_SPAN_MS / 2000) + 1;
	int64_t high = (int64_t)(rate * READY_SPAN_MS / 1000) + 1;
	int64_t room = w->max_inflight - w->inflight - w->nready;

	if (wa_pacer_paused(&w->pacer, mono) ||
	    (w->auth_stopped && mono < w->auth_probe_at) || w->nready >= low)
		return 0;
	if (w->auth_stopped)
		high = 1; /* one probe */
	high = high < w->batch ? high : w->batch;
	high -= w->nready;
	return high < room ? high : room;
}

/* Take due entries of this partition, mark them SENDING, commit. */
static int refill(sl_ctx *ctx, struct wa_topo *w, sl_store *st, sl_store *ix,
		  int32_t part, int64_t now, int64_t mono, int *more)
{
	struct flight *fs[256];
	int64_t want = refill_want(w, mono);
	int n, k = 0, rc;

	if (want <= 0)
		return SL_OK;
	/*
	 * Partitions take turns, so one with a long queue does not make
	 * the others wait until it is empty; a turn that is not taken
	 * (the partition is not here) passes on after TURN_MS.
	 */
	if (part != w->turn && mono - w->turn_since < TURN_MS)
		return SL_OK;
	w->turn = w->nparts > 0 ? (part + 1) % w->nparts : 0;
	w->turn_since = mono;
	if (want > 256)
		want = 256;
	rc = collect(ix, 'D', now, w->rids, w->times, (int)want, &n);
	for (int i = 0; i < n && rc == SL_OK; i++) {
		fs[k] = prepare(ctx, w, st, ix, part, w->rids[i], w->times[i],
				now, &rc);
		k += fs[k] != NULL;
	}
	if (rc == SL_OK && k > 0)
		rc = sl_ctx_commit(ctx); /* SENDING is durable before POST */
	if (rc != SL_OK) {
		for (int i = 0; i < k; i++)
			free(fs[i]);
		return rc; /* the app rolled back: nothing was sent */
	}
	for (int i = 0; i < k; i++)
		ready_push(w, fs[i]);
	if (n == want)
		*more = 1;
	return SL_OK;
}

static void submit(struct wa_topo *w, struct flight *f, int64_t mono)
{
	wa_message m = { .to = f->phone,
			 .lang = f->lang,
			 .param = f->param,
			 .callback = f->rid };
	int rc = wa_client_submit(w->client, &m, (uint64_t)(uintptr_t)f);

	f->submitted = 1;
	if (rc == SL_OK) {
		w->inflight++;
		return;
	}
	/* Nothing went out: a result of our own. */
	settle(f, rc == SL_EINVAL ? WA_PERMANENT : WA_TRANSIENT,
	       rc == SL_EINVAL ? "request not sent: bad phone number"
			       : "request not sent",
	       mono);
}

/*
 * Post ready flights as tokens come, sleeping (while libcurl moves
 * transfers) until the next one for at most MAX_WAIT_MS, so sends are
 * spaced evenly and the window never lags behind.
 */
static void send_ready(struct wa_topo *w)
{
	int64_t mono = sl_mono_ms(), deadline = mono + MAX_WAIT_MS;

	while (w->ready != NULL) {
		int64_t wait = wa_pacer_wait_ms(&w->pacer, mono);

		if (w->auth_stopped && mono < w->auth_probe_at)
			break;
		if (wait > 0) {
			if (mono + wait > deadline)
				break;
			wa_client_poll(w->client, (int)wait);
			mono = sl_mono_ms();
			continue;
		}
		if (!wa_pacer_take(&w->pacer, mono))
			break;
		if (w->auth_stopped)
			w->auth_probe_at = mono + w->auth_retry_ms;
		submit(w, ready_pop(w), mono);
		wa_client_poll(w->client, 0);
		mono = sl_mono_ms();
	}
	/* Push new connections' requests out before the tick ends. */
	for (int i = 0; i < 2 && w->inflight > 0; i++)
		wa_client_poll(w->client, 1);
}

static void progress_log(struct wa_topo *w, int64_t mono)
{
	long long sent = atomic_load(&stats.sent);
	long long failed = atomic_load(&stats.failed) +
			   atomic_load(&stats.unknown) +
			   atomic_load(&stats.expired);

	if (mono - w->last_log < PROGRESS_LOG_MS)
		return;
	w->last_log = mono;
	if (sent == w->logged_sent && failed == w->logged_failed)
		return;
	SL_INFO(COMP,
		"progress sent=%lld failed=%lld in_flight=%" PRId64
		" rate=%.1f/s%s",
		sent, failed, w->inflight, wa_pacer_rate(&w->pacer),
		w->auth_stopped ? " stopped=auth" : "");
	w->logged_sent = sent;
	w->logged_failed = failed;
}

static int tick(sl_ctx *ctx, int64_t clock_now, void *ud)
{
	struct wa_topo *w = ud;
	sl_store *st = sl_ctx_store(ctx, WS_STORE);
	sl_store *ix = sl_ctx_store(ctx, WS_INDEX);
	int32_t part = sl_ctx_partition(ctx);
	int64_t now = w->now(), mono = sl_mono_ms();
	int more = 0, rc;

	(void)clock_now;
	harvest(w, mono);
	rc = apply_done(ctx, w, st, ix, part, now, mono);
	if (rc == SL_OK)
		rc = sweep(ctx, w, st, ix, part, now, mono);
	if (rc == SL_OK)
		rc = expire(w, st, ix, now, &more);
	if (rc == SL_OK)
		rc = refill(ctx, w, st, ix, part, now, mono, &more);
	if (rc == SL_OK)
		send_ready(w);
	progress_log(w, mono);
	if (rc != SL_OK)
		return rc;
	/* Called again at once while sends wait for their tokens. */
	if (w->ready != NULL && !wa_pacer_paused(&w->pacer, sl_mono_ms()) &&
	    !(w->auth_stopped && sl_mono_ms() < w->auth_probe_at))
		more = 1;
	return more ? SL_MORE : SL_OK;
}

/* ---- admin view -------------------------------------------------- */

static char *render(const void *val, size_t len)
{
	struct ws_entry e;
	char masked[24];

	if (ws_entry_decode(val, len, &e) != SL_OK)
		return NULL;
	sl_mask_phone(e.phone, masked, sizeof(masked));
	copy(e.phone, sizeof(e.phone), masked);
	return ws_entry_encode(&e);
}

/* ---- building ---------------------------------------------------- */

static void topo_free(void *p)
{
	struct wa_topo *w = p;
	struct flight *f, *next;

	for (f = w->flights; f != NULL; f = next) {
		next = f->next;
		free(f);
	}
	wa_client_free(w->client);
	wa_pacer_free(&w->pacer);
	free(w->journey_topic);
	free(w->parts);
	free(w->rids);
	free(w->times);
	free(w);
}

/* Typed getters with a default when the key is unset. */
static int get_int(const sl_config *cfg, const char *key, int64_t def,
		   int64_t lo, int64_t hi, int64_t *out, sl_errbuf *eb)
{
	int rc = sl_config_int(cfg, key, out, eb);

	if (rc == SL_ENOTFOUND)
		*out = def;
	else if (rc != SL_OK)
		return rc;
	if (*out < lo || *out > hi)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "%s: must be from %" PRId64 " to %" PRId64,
				     key, lo, hi);
	return SL_OK;
}

static int get_dur(const sl_config *cfg, const char *key, int64_t def,
		   int64_t *out, sl_errbuf *eb)
{
	int rc = sl_config_duration_ms(cfg, key, out, eb);

	if (rc == SL_ENOTFOUND)
		*out = def;
	else if (rc != SL_OK)
		return rc;
	if (*out <= 0)
		return sl_errbuf_set(eb, SL_ECONFIG, "%s: must be positive",
				     key);
	return SL_OK;
}

static int configure(struct wa_topo *w, const sl_config *cfg, sl_errbuf *eb)
{
	const char *jt = sl_config_get(cfg, "whatsapp.journey_topic");
	double rate = 80;
	int64_t attempts = 6;
	int rc;

	rc = sl_config_double(cfg, "whatsapp.rate", &rate, eb);
	if (rc != SL_OK && rc != SL_ENOTFOUND)
		return rc;
	if (!(rate > 0) || rate > 100000)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "whatsapp.rate: must be > 0");
	rc = get_int(cfg, "whatsapp.max_attempts", 6, 1, 100, &attempts, eb);
	if (rc == SL_OK)
		rc = get_int(cfg, "whatsapp.batch", 64, 1, 256, &w->batch, eb);
	if (rc == SL_OK)
		rc = get_int(cfg, "whatsapp.max_in_flight", 256, 1,
			     MAX_IN_FLIGHT, &w->max_inflight, eb);
	if (rc == SL_OK)
		rc = get_dur(cfg, "whatsapp.give_up_after", 3 * 3600000LL,
			     &w->pol.give_up_ms, eb);
	if (rc == SL_OK)
		rc = get_dur(cfg, "whatsapp.keep", 8 * 86400000LL, &w->keep_ms,
			     eb);
	if (rc == SL_OK)
		rc = get_dur(cfg, "whatsapp.auth_retry", 300000,
			     &w->auth_retry_ms, eb);
	if (rc != SL_OK)
		return rc;
	w->pol.max_attempts = (int32_t)attempts;
	w->pol.retry_base_ms = 1000;
	w->pol.retry_max_ms = 300000;
	w->pol.pair_base_ms = 4000;
	w->pol.pair_max_ms = 900000;
	w->journey_topic = strdup(jt ? jt : "user_journey");
	if (w->journey_topic == NULL)
		return SL_ENOMEM;
	w->now = sl_real_ms;
	w->ready_tail = &w->ready;
	w->rids = calloc(SCAN_MAX, sizeof(*w->rids));
	w->times = calloc(SCAN_MAX, sizeof(*w->times));
	if (w->rids == NULL || w->times == NULL)
		return SL_ENOMEM;
	w->seed = (unsigned)sl_mono_ms();
	rc = wa_pacer_init(&w->pacer, rate, sl_mono_ms());
	if (rc != SL_OK)
		return sl_errbuf_set(eb, rc, "whatsapp: pacer");
	atomic_store(&stats.rate_milli, (long long)(rate * 1000));
	return wa_client_new(cfg, &w->client, eb);
}

/* A source other than send_reminder (tests) is created if missing. */
static int ensure_source(const sl_config *cfg, const char *topic, sl_errbuf *eb)
{
	struct sl_topic_spec spec = { topic, 0, 0 };

	if (strcmp(topic, "send_reminder") == 0)
		return SL_OK;
	return sl_topics_ensure_cfg(cfg, &spec, 1, eb);
}

int whatsapp_topology(const sl_config *cfg, sl_topology **out, sl_errbuf *eb)
{
	const char *src = sl_config_get(cfg, "whatsapp.topic");
	struct wa_topo *w = calloc(1, sizeof(*w));
	sl_topology *t = NULL;
	int rc;

	*out = NULL;
	if (w == NULL)
		return SL_ENOMEM;
	rc = configure(w, cfg, eb);
	if (rc == SL_OK)
		rc = ensure_source(cfg, src ? src : "send_reminder", eb);
	if (rc != SL_OK) {
		topo_free(w);
		return rc;
	}
	t = sl_topology_new("whatsapp");
	if (t == NULL) {
		topo_free(w);
		return SL_ENOMEM;
	}
	rc = sl_topology_own(t, topo_free, w);
	if (rc == SL_OK)
		rc = sl_topology_source(t, src ? src : "send_reminder");
	if (rc == SL_OK)
		rc = sl_topology_store(t, WS_STORE);
	if (rc == SL_OK)
		rc = sl_topology_store_render(t, WS_STORE, render);
	if (rc == SL_OK)
		rc = sl_topology_store(t, WS_INDEX);
	if (rc == SL_OK)
		rc = sl_topology_step(t, "queue", queue_step, w);
	if (rc == SL_OK)
		rc = sl_topology_on_task_init(t, task_init, w);
	if (rc == SL_OK)
		rc = sl_topology_punctuate(t, "send", SL_PUNCT_WALL_CLOCK,
					   TICK_MS, tick, w);
	if (rc != SL_OK) {
		sl_topology_free(t);
		return rc;
	}
	SL_INFO(COMP, "sender ready mode=%s rate=%.1f/s",
		wa_client_dry(w->client) ? "dry-run" : "live",
		wa_pacer_rate(&w->pacer));
	*out = t;
	return SL_OK;
}
