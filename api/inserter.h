/*
 * inserter.h — stores screenings in PostgreSQL in batches (group commit).
 *
 * Request threads hand a screening to ins_store() and wait; a few writer
 * threads take whatever is queued (up to max_batch rows) and store it
 * with one call of the SQL function sluice_store_screenings() (created
 * by `sluice migrate`): one round trip, one transaction and one WAL
 * flush for the whole batch, which is what lets the API go well past
 * one commit per request.  For each row the function writes, in that
 * transaction, the screening, its outbox event and its Idempotency-Key
 * (if any); a key seen before gives back the first answer instead and
 * writes nothing.  Keys are taken in sorted order so that concurrent
 * batches cannot deadlock on them.
 *
 * If a batch fails on an SQL error, its rows are retried one by one,
 * so one bad row does not fail the others.  A row that waited longer
 * than `max_wait_ms` in the queue is answered SL_ETIMEOUT unwritten,
 * so an overloaded or stalled database turns into quick 503s.
 */
#ifndef SL_INSERTER_H
#define SL_INSERTER_H

#include <stdint.h>

#include "api/pgpool.h"
#include "processor/err.h"

typedef struct ins_writer ins_writer;

/* One screening; strings are borrowed until ins_store returns. */
typedef struct ins_row {
	const char *screening_id, *event_id, *occurred_at;
	const char *user_id, *phone, *lang, *pincode, *channel;
	int score;
	const char *answers;  /* JSON object text, or NULL */
	const char *payload;  /* the outbox event */
	const char *idem_key; /* NULL when none; then hash and reply unused */
	const char *idem_hash;
	const char *reply; /* the 201 body, stored for replays */
} ins_row;

typedef struct ins_result {
	int inserted;	  /* 1 stored now; 0 the key's first answer below */
	char hash[65];	  /* request hash stored with the key */
	int status;	  /* its status */
	char *body;	  /* its body (malloc'ed; ins_result_clear) */
	char detail[512]; /* why, on failure */
} ins_result;

typedef struct ins_opts {
	pgpool *pool;	     /* borrowed; must outlive the writer */
	const char *topic;   /* outbox topic; copied */
	int writers;	     /* threads; 0 means 4 */
	int max_batch;	     /* rows per call; 0 means 64 */
	int64_t max_wait_ms; /* queueing limit; 0 means 2000 */
	int max_queue; /* rows waiting; beyond it SL_EUNAVAIL; 0 = 10000 */
	int notify;    /* NOTIFY the outbox channel in each batch */
} ins_opts;

/* Start the writers.  SL_OK and *out, or SL_ENOMEM. */
int ins_new(const ins_opts *opts, ins_writer **out);

/* Stop the writers (rows queued are answered first) and free. */
void ins_free(ins_writer *w);

/*
 * Store one screening and wait for the outcome.  SL_OK with *res
 * filled (inserted or replayed); SL_EUNAVAIL / SL_ETIMEOUT when the
 * database could not take it (nothing written); SL_EPG for an SQL
 * error of this row (detail in res->detail).
 */
int ins_store(ins_writer *w, const ins_row *row, ins_result *res);

void ins_result_clear(ins_result *res);

/* Batches and rows stored so far, for metrics. */
void ins_stats(ins_writer *w, uint64_t *batches, uint64_t *rows);

/* The SQL function the writers call, for `sluice migrate`. */
extern const char ins_function_sql[];
#define INS_FUNCTION_SIGNATURE "sluice_store_screenings(json,text,boolean)"

#endif
