/*
 * meta.h — the Meta Conversions API sink (SPEC section 4, conversions).
 *
 * Each record that reaches the sink is a valid screening_completed
 * journey event (SPEC section 2).  The sink turns it into one Meta
 * server event, batches up to meta.batch_size (at most 1000) events
 * per request and POSTs them to
 *
 *	<meta.url>/<meta.api_version>/<meta.dataset_id>/events
 *
 * as a JSON body {"data": [...], "access_token": ..., "test_event_code":
 * ...}.  The token travels in the body (Meta's `access_token`
 * parameter), never in the URL, and is never logged.
 *
 * Config keys (read with sl_config_get; the defaults are the sink's):
 *	meta.url             Graph API base, e.g. https://graph.facebook.com;
 *	                     no default (no host is ever assumed)
 *	meta.api_version     "v21.0"
 *	meta.dataset_id      dataset (pixel) id, digits; no default
 *	meta.token           access token (secret); no default
 *	meta.test_event_code optional: routes events to Test Events
 *	meta.event_name      "Lead"
 *	meta.action_source   "system_generated"; "business_messaging" adds
 *	                     messaging_channel "whatsapp"
 *	meta.batch_size      1000 (1 to 1000)
 *	meta.timeout         "10s": one request, connect included
 *	meta.backoff         "1s": first retry delay; throttling waits at
 *	                     least 5x, setup errors 30x, all capped at 60x
 *	dry_run.dir          "dry-run"
 * Without meta.token or meta.dataset_id the sink runs dry: it appends
 * each request it would send, token replaced by "***", to
 * <dry_run.dir>/meta.jsonl.  With both but no meta.url, creating the
 * sink fails with SL_ECONFIG.
 *
 * One event (all hashes SHA-256, lowercase hex):
 *	event_name     meta.event_name
 *	event_time     occurred_at in Unix seconds; a future time becomes
 *	               the time of write()
 *	event_id       screening_id (Meta deduplicates on event_name +
 *	               event_id, so retries and replays do not count twice)
 *	action_source  meta.action_source (+ messaging_channel)
 *	user_data      ph [hash of the normalized phone], external_id [hash
 *	               of user_id trimmed and lowercased], country [hash of
 *	               "in"] for Indian numbers only, zp [hash of pincode]
 *	custom_data    score, lang
 * The pin code goes only hashed, as user_data.zp: Meta requires zp
 * hashed, and custom_data is sent as it is.
 *
 * Errors: Meta rejects a whole request when one event is bad, so
 * events Meta would refuse for age (older than CAPI_MAX_AGE_S when the
 * request is built) are dead-lettered before batching, and a request
 * Meta rejects for good has every one of its events dead-lettered with
 * Meta's message.  Transient failures hold the events and back off
 * with jitter; see the state diagram in meta.c.
 */
#ifndef SL_META_H
#define SL_META_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/httpc.h"
#include "processor/config.h"
#include "processor/err.h"
#include "processor/sl.h"

/*
 * A sink for the conversions topology.  SL_OK with *ops and *self
 * ready for sl_topology_sink_connector(), or SL_ECONFIG / SL_ENOMEM /
 * SL_EIO (dry-run file) with the reason in eb.
 */
int capi_sink_new(const sl_config *cfg, const sl_sink_ops **ops, void **self,
		  sl_errbuf *eb);

/* ---- internals, for unit tests, tools and the benchmark ---------- */

#define CAPI_MAX_BATCH 1000
/* Meta's limit is 7 days; an hour less leaves room for clocks and queues. */
#define CAPI_MAX_AGE_S (7 * 86400 - 3600)
#define CAPI_HASH_LEN 64

/*
 * Normalize a phone number the way Meta requires for `ph`: digits only,
 * leading zeros dropped, country code included.  An international
 * number ("+", or a "00" prefix) keeps its own country code; a national
 * one loses its trunk zeros and, when exactly 10 digits remain, gets
 * `cc` ("91" for India, "1" for the US) in front.  SL_OK with the
 * digits in out (n bytes, terminated), or SL_EINVAL when fewer than 7
 * or more than 15 digits result.
 */
int capi_normalize_phone(const char *in, const char *cc, char *out, size_t n);

/*
 * SHA-256 of len bytes as 64 lowercase hex digits and a NUL in out
 * (CAPI_HASH_LEN + 1 bytes).  SL_OK, or SL_ENOMEM when OpenSSL cannot
 * allocate (out is "" then).  Thread-safe.
 */
int capi_sha256_hex(const void *data, size_t len, char *out);

/*
 * external_id: `user_id` without leading and trailing white space,
 * ASCII letters lowercased, hashed.  SL_OK, SL_EINVAL when nothing is
 * left (or 256 bytes or more are), SL_ENOMEM.  out holds CAPI_HASH_LEN
 * + 1 bytes.
 */
int capi_hash_external_id(const char *user_id, char *out);

/* What every event of one sink shares. */
typedef struct capi_event_opts {
	const char *event_name;	   /* meta.event_name */
	const char *action_source; /* meta.action_source */
} capi_event_opts;

/*
 * Build one server event from `len` bytes of journey event JSON.
 * `now_s` is the wall clock in Unix seconds: a later occurred_at is
 * clamped to it.  Age is not judged here (the sink judges it when it
 * builds a request).  SL_OK with *out (free with cJSON_free), *out_len
 * and *event_time; SL_EINVAL with the reason ("field: rule") in why
 * for an event that cannot become a valid server event; SL_ENOMEM.
 * No personal data ever appears in `why`.
 */
int capi_encode_event(const capi_event_opts *o, const char *json, size_t len,
		      int64_t now_s, char **out, size_t *out_len,
		      int64_t *event_time, char *why, size_t why_len);

/* What a Graph API reply means for the events of the request. */
enum capi_class {
	CAPI_ACCEPTED,	/* 2xx: Meta has the events */
	CAPI_TRANSIENT, /* 5xx, network, codes 1 2, is_transient */
	CAPI_THROTTLED, /* 429, codes 4 17 32 613 80000-80014 */
	CAPI_PERMANENT, /* the request is bad (code 100 ...): dead-letter */
	CAPI_CONFIG,	/* our setup is bad (token 190, permissions, a 4xx
			   without a Graph error): hold and alert */
};

typedef struct capi_verdict {
	enum capi_class cls;
	long status;
	int code;	   /* error.code, 0 when absent */
	int subcode;	   /* error.error_subcode, 0 when absent */
	int is_transient;  /* error.is_transient: 1, 0, or -1 absent */
	long received;	   /* events_received of a 2xx, -1 when absent */
	char fbtrace[64];  /* error.fbtrace_id or "" */
	char message[400]; /* "message: error_user_msg" on one line */
} capi_verdict;

/* Classify a reply: HTTP status and body (`len` bytes, NUL-terminated). */
void capi_classify(long status, const char *body, size_t len, capi_verdict *v);

/* One HTTP exchange and the transport, as connectors/httpc.h has them. */
typedef httpc_reply capi_reply;
typedef httpc_post_fn capi_post_fn;

/* Replace the HTTP transport (tests); the sink must not be dry. */
void capi_sink_set_transport(void *self, capi_post_fn fn, void *ud);

/*
 * Replace the clocks (tests): fn returns Unix milliseconds and serves
 * both the event-age check and the backoff.
 */
typedef int64_t (*capi_clock_fn)(void *ud);
void capi_sink_set_clock(void *self, capi_clock_fn fn, void *ud);

typedef struct capi_stats {
	uint64_t requests;     /* requests sent (or written, when dry) */
	uint64_t events_sent;  /* events Meta accepted */
	uint64_t dead_letters; /* events dead-lettered */
	uint64_t stale;	       /* of those, too old for Meta */
	uint64_t transient;    /* requests that failed and were held */
} capi_stats;

void capi_sink_stats(void *self, capi_stats *out);
/* The most recent failure's message ("" if none); lives with the sink. */
const char *capi_sink_last_error(void *self);
int capi_sink_is_dry(void *self);
/* Milliseconds until the sink will send again (0: now). */
int64_t capi_sink_backoff_left_ms(void *self);

#endif
