/*
 * idem.h — an in-memory Idempotency-Key store for POST /v1/journey.
 *
 * The journey endpoint writes nothing to PostgreSQL (SPEC 5), so its
 * idempotency keys live in this process: a bounded table of the first
 * answer per key, oldest evicted first, entries expiring after `ttl_ms`.
 * A retry reaching another API process, or this one after a restart,
 * is not recognised (its event is then produced again with a new
 * event_id unless the client sent one; sinks deduplicate on event_id).
 *
 * A key moves: absent ──idem_begin──> pending ──idem_finish──> done
 * (idem_abort returns a pending key to absent).  Thread-safe.
 */
#ifndef SL_IDEM_H
#define SL_IDEM_H

#include <stddef.h>
#include <stdint.h>

typedef struct idem_cache idem_cache;

enum idem_state {
	IDEM_NEW,      /* reserved for the caller: finish or abort it */
	IDEM_REPLAY,   /* done before with the same request: *status, *body */
	IDEM_MISMATCH, /* done or pending with a different request hash */
	IDEM_BUSY,     /* pending with the same request */
};

/* A cache of at most cap keys; NULL on out of memory. */
idem_cache *idem_new(size_t cap, int64_t ttl_ms);
void idem_free(idem_cache *c);

/*
 * Look key up with the request's hash.  On IDEM_REPLAY *status and
 * *body (malloc'ed, caller frees) hold the first answer.
 */
enum idem_state idem_begin(idem_cache *c, const char *key, const char *hash,
			   int *status, char **body);

/* Store the answer of a key reserved by idem_begin (copies body). */
void idem_finish(idem_cache *c, const char *key, int status, const char *body);

/* Forget a key reserved by idem_begin (the request failed: retry ok). */
void idem_abort(idem_cache *c, const char *key);

/* Number of keys held. */
size_t idem_count(idem_cache *c);

#endif
