/*
 * whatsapp.h — the whatsapp topology: send_reminder -> WhatsApp Cloud
 * API -> reminder_sent / reminder_failed on user_journey (SPEC
 * section 4).  The state machine is drawn at the top of whatsapp.c.
 *
 * Config keys, besides the client's (connectors/whatsapp.h):
 *	whatsapp.rate           messages a second per sending number (80)
 *	whatsapp.topic          source topic (send_reminder); created when
 *	                        missing and not send_reminder
 *	whatsapp.journey_topic  where outcomes go (user_journey)
 *	whatsapp.max_attempts   sends of one reminder before giving up (6)
 *	whatsapp.give_up_after  from queueing, before giving up (3h)
 *	whatsapp.keep           finished sends kept for dedup (8d)
 *	whatsapp.batch          most sends started per commit (64)
 *	whatsapp.max_in_flight  most sends awaiting a reply (256)
 *	whatsapp.auth_retry     after 190 and kin, one probe send this
 *	                        often (5m)
 *
 * The rate is per worker process: run the topology on one worker, or
 * set whatsapp.rate to the number's limit divided by the workers.
 */
#ifndef SL_TOPO_WHATSAPP_H
#define SL_TOPO_WHATSAPP_H

#include <stdint.h>
#include <stdio.h>

#include "connectors/whatsapp.h"
#include "processor/sl.h"

#define WS_STORE "wa_sends" /* reminder_id -> entry (JSON) */
#define WS_INDEX "wa_due"   /* what is due, sending or expiring */
#define WS_RID_MAX 200

/* Build the topology; SL_ECONFIG with eb on a bad key. */
int whatsapp_topology(const sl_config *cfg, sl_topology **out, sl_errbuf *eb);

/*
 * Prometheus text for the sender of this process: sends by outcome,
 * duplicates, throttles, pair limits, retries, the current rate and
 * whether sending is stopped for an authentication error.
 */
void whatsapp_write_metrics(FILE *f);

/* ---- the state machine, exposed for tests ------------------------ */

enum ws_state {
	WS_QUEUED = 0,
	WS_SENDING,
	WS_SENT,
	WS_FAILED,
	WS_RETRY_AT,
	WS_UNKNOWN,
};

struct ws_entry {
	enum ws_state state;
	char user_id[72];
	char phone[20];
	char lang[12];
	char local_date[16];
	char pincode[8];
	int32_t step;
	int32_t attempts;  /* sends that count toward max_attempts */
	int32_t pair_hits; /* 131056 replies */
	int64_t queued_at; /* ms, real time */
	int64_t due;	   /* QUEUED, RETRY_AT: not before (ms) */
	int64_t updated_at;
	char code[16]; /* the last error code: "131026", "network" */
	char wamid[128];
	char error[200];
};

struct ws_policy {
	int32_t max_attempts;
	int64_t give_up_ms;
	int64_t retry_base_ms; /* 5xx/network: base * 2^(attempts-1) */
	int64_t retry_max_ms;
	int64_t pair_base_ms; /* 131056: base * 4^(hits-1) */
	int64_t pair_max_ms;
};

enum ws_publish {
	WS_PUB_NONE = 0,
	WS_PUB_SENT,
	WS_PUB_FAILED,
};

const char *ws_state_name(enum ws_state s);
/* JSON text (malloc'ed) and back; SL_EPARSE for a foreign value. */
char *ws_entry_encode(const struct ws_entry *e);
int ws_entry_decode(const void *buf, size_t len, struct ws_entry *e);

/* QUEUED/RETRY_AT -> SENDING: one more attempt. */
void ws_mark_sending(struct ws_entry *e, int64_t now);
/*
 * The reply to a SENDING entry moves it on (see the diagram); `jitter`
 * in [0, 1) scales retry delays by 0.5 + jitter.  Returns what to
 * publish.
 */
enum ws_publish ws_apply(struct ws_entry *e, const wa_result *r,
			 const struct ws_policy *p, int64_t now, double jitter);
/* SENDING with no send in flight in this process -> UNKNOWN. */
void ws_mark_unknown(struct ws_entry *e, int64_t now);
/* Waiting too long since queued: FAILED "expired"; 1 when it was. */
int ws_expire(struct ws_entry *e, const struct ws_policy *p, int64_t now);

/*
 * The outcome event for user_journey (SPEC section 2) as JSON text
 * (malloc'ed): reminder_sent with message_id, or reminder_failed with
 * error_code and error; event_id derived from the reminder id and the
 * type, so a re-published outcome has the same event_id.
 */
char *ws_outcome_event(const char *reminder_id, const struct ws_entry *e,
		       enum ws_publish pub, int64_t now);

#endif
