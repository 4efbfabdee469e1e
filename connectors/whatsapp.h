/*
 * whatsapp.h — the WhatsApp Cloud API client: template messages, reply
 * classification, and the pacing that keeps a sending number inside
 * its throughput limit (connectors.md section 3).
 *
 * Three pieces, usable apart:
 *
 * - wa_bucket: a token bucket with an injected clock (every call takes
 *   `now_ms`): `rate` tokens a second, at most `burst` held, and never
 *   more than floor(rate) takes in any 1000 ms window, so a burst after
 *   an idle spell cannot push one second over the limit.
 * - wa_pacer: a wa_bucket plus the reaction to throughput errors
 *   (130429): halve the rate, pause everyone with a jittered backoff,
 *   then win the rate back a tenth at a time after each quiet spell.
 * - wa_client: builds the request, sends it with libcurl's multi
 *   interface (many in flight, keep-alive, timeouts) and hands back one
 *   classified wa_result per submitted message.  With no
 *   whatsapp.token it runs dry: the exact request (token redacted) is
 *   appended to <dry_run.dir>/whatsapp.jsonl and counts as sent, with
 *   the message id "dry-<n>".
 *
 * Config keys (all optional but the token and phone number id):
 *	whatsapp.token            bearer token; unset: dry run
 *	whatsapp.phone_number_id  the sending number's id
 *	whatsapp.url              API base, default https://graph.facebook.com
 *	whatsapp.version          Graph API version, default v21.0
 *	whatsapp.template.<lang>  template name for a language
 *	whatsapp.template_lang.<lang>  its language code (default <lang>)
 *	whatsapp.template.default name when no language has one
 *	                          (default "screening_reminder")
 *	whatsapp.fallback_lang    language used when the user's has no
 *	                          template (default "en")
 *	whatsapp.timeout          per request, default 15s
 *	whatsapp.connections      most parallel connections, default 32
 *
 * Threads: a wa_client, wa_bucket or wa_pacer belongs to one thread.
 * The token is never logged or written anywhere.
 */
#ifndef SL_WHATSAPP_H
#define SL_WHATSAPP_H

#include <stddef.h>
#include <stdint.h>

#include "processor/config.h"
#include "processor/err.h"

/* ---- pacing ------------------------------------------------------ */

typedef struct wa_bucket {
	double rate;  /* tokens a second now */
	double burst; /* most tokens held */
	double tokens;
	int64_t last_ms; /* when tokens were last refilled */
	int64_t *taken;	 /* ring of the last `cap` take times */
	int cap, head, n;
} wa_bucket;

/*
 * A bucket for at most `rate` (> 0) takes a second, starting with one
 * token at now_ms; burst is a tenth of a second's worth (at least 1).
 * SL_OK, SL_EINVAL or SL_ENOMEM.  Free with wa_bucket_free.
 */
int wa_bucket_init(wa_bucket *b, double rate, int64_t now_ms);
void wa_bucket_free(wa_bucket *b);
/* Change the rate (at most the initial one); tokens held are kept. */
void wa_bucket_set_rate(wa_bucket *b, double rate, int64_t now_ms);
/* How many takes would succeed now, one after the other. */
int wa_bucket_available(wa_bucket *b, int64_t now_ms);
/* 1 and one token taken, or 0 when none is available now. */
int wa_bucket_take(wa_bucket *b, int64_t now_ms);
/*
 * Milliseconds until a take can succeed (0: now).  A caller that sleeps
 * this long between takes sends at the full rate; one that polls
 * coarsely loses a little to the window, which never lets a take reuse
 * a slot less than 1000 ms after the take before it.
 */
int64_t wa_bucket_wait_ms(wa_bucket *b, int64_t now_ms);

typedef struct wa_pacer {
	wa_bucket bucket;
	double max_rate;
	int64_t paused_until; /* no sending before this (ms) */
	int64_t backoff_ms;   /* the last pause; doubles while throttled */
	int64_t calm_since;   /* last throttle or rate step */
	int64_t last_halved;
	unsigned seed; /* jitter */
} wa_pacer;

#define WA_PACER_RECOVER_MS 5000 /* quiet time before each rate step */
#define WA_PACER_MAX_BACKOFF_MS 60000

int wa_pacer_init(wa_pacer *p, double rate, int64_t now_ms);
void wa_pacer_free(wa_pacer *p);
/* Takes possible now: 0 while paused; wins rate back when calm. */
int wa_pacer_available(wa_pacer *p, int64_t now_ms);
int wa_pacer_take(wa_pacer *p, int64_t now_ms);
/* Milliseconds until a take can succeed, a pause included. */
int64_t wa_pacer_wait_ms(wa_pacer *p, int64_t now_ms);
/* 1 while paused after a throughput error. */
int wa_pacer_paused(const wa_pacer *p, int64_t now_ms);
/*
 * A throughput error (130429): pause everyone for a jittered backoff
 * (1 s, doubling up to 60 s while errors go on) and halve the rate (at
 * most once a second; never below 1/s).  Replies that arrive during a
 * pause answer sends from before it and change nothing.  After the
 * pause sending restarts with one token.
 */
void wa_pacer_throttled(wa_pacer *p, int64_t now_ms);
/* A message was accepted: the next throttle starts at 1 s again. */
void wa_pacer_accepted(wa_pacer *p, int64_t now_ms);
double wa_pacer_rate(const wa_pacer *p);

/* ---- replies ----------------------------------------------------- */

/* What to do after one send (connectors.md 3.3). */
enum wa_class {
	WA_SENT = 0,   /* accepted; wamid set */
	WA_THROTTLED,  /* 130429, 80007, 4: slow down for everyone */
	WA_PAIR_LIMIT, /* 131056: this recipient later, others go on */
	WA_PERMANENT,  /* 131026, 131050, 131049, other 4xx: give up */
	WA_TEMPLATE,   /* 132000, 132001, 132xxx: give up; config bug */
	WA_AUTH,       /* 190, 10, 200-299, 131031, 368, 131048: stop */
	WA_TRANSIENT,  /* 5xx, 131000, 1, 2, network: retry later */
};

const char *wa_class_name(enum wa_class c);

typedef struct wa_result {
	uint64_t tag; /* as given to wa_client_submit */
	enum wa_class cls;
	long http_status;  /* 0: no reply */
	int code;	   /* Cloud API error.code; 0 when none */
	int maybe_sent;	   /* no reply after the request went out */
	char wamid[128];   /* messages[0].id on WA_SENT */
	char message[320]; /* error message and details, or curl's */
} wa_result;

/*
 * Classify a reply: HTTP status and body.  A 2xx with messages[0].id
 * is WA_SENT; otherwise error.code decides, then the status (5xx and
 * 429 are retried, other 4xx are permanent).  r->tag is left alone.
 */
void wa_classify(long http_status, const char *body, size_t len, wa_result *r);

/* ---- the client -------------------------------------------------- */

typedef struct wa_message {
	const char *to;	      /* E.164 ("+919876543210") or digits */
	const char *lang;     /* the user's language ("hi") */
	const char *param;    /* the template's body parameter {{1}} */
	const char *callback; /* biz_opaque_callback_data, or NULL */
} wa_message;

typedef struct wa_client wa_client;

/* From the config; SL_ECONFIG with eb on a bad or missing value. */
int wa_client_new(const sl_config *cfg, wa_client **out, sl_errbuf *eb);
/* Abandons transfers in flight (their results are lost). */
void wa_client_free(wa_client *c);
int wa_client_dry(const wa_client *c);

/*
 * The template for a language: its name and language code, from
 * whatsapp.template.<lang>, else the fallback language's, else
 * whatsapp.template.default.  Strings live as long as the client.
 */
void wa_client_template(const wa_client *c, const char *lang, const char **name,
			const char **code);

/* "+91 98765-43210" -> "919876543210"; SL_EINVAL if not 8-15 digits. */
int wa_phone_digits(const char *phone, char *out, size_t n);

/*
 * The request body for m, as JSON text (malloc'ed, caller frees).
 * SL_EINVAL for a bad phone number, SL_ENOMEM.
 */
int wa_request_body(const wa_client *c, const wa_message *m, char **out);

/*
 * Start sending m; its wa_result comes back from wa_client_result with
 * `tag`.  Never blocks.  A dry-run client writes the request and has
 * the result ready at once.  SL_OK, or an error when nothing was
 * started (bad phone number: SL_EINVAL; dry-run file: SL_EIO).
 */
int wa_client_submit(wa_client *c, const wa_message *m, uint64_t tag);
/*
 * Move transfers along, waiting up to timeout_ms for activity (or just
 * sleeping that long when nothing is in flight).
 */
int wa_client_poll(wa_client *c, int timeout_ms);
/* 1 and *out set for a finished send, 0 when none is ready. */
int wa_client_result(wa_client *c, wa_result *out);
/* Sends submitted whose result has not been taken yet. */
size_t wa_client_pending(const wa_client *c);

#endif
