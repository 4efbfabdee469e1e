/*
 * outbox.h — relays the PostgreSQL outbox table to Kafka.
 *
 * Writers insert a row into `outbox` (topic, key, payload) in the same
 * transaction as their data and, unless outbox.notify is false, notify
 * OUTBOX_CHANNEL (once per batch of screenings: NOTIFY serializes
 * commits, which costs ~15% of the API's throughput).  The relay is one
 * thread with its own connection (not from the pool) that LISTENs on
 * the channel, also wakes every interval and on outbox_wake() (how the
 * API process wakes its own relay, notification or not), and then, in
 * id order and in batches, takes unsent rows FOR UPDATE SKIP LOCKED,
 * produces them keyed by `key` and waits for delivery, marks the
 * delivered ones sent and commits.  If Kafka is down the batch's rows
 * stay unsent and are tried again, so nothing is lost; a row is sent
 * twice only if the process dies between delivery and commit.  Sent
 * rows are deleted after `retention_ms`.
 *
 * Several API processes may relay the same table: SKIP LOCKED gives
 * each its own rows.  Through PgBouncer in transaction mode LISTEN
 * does not work; the periodic wake still picks rows up (set
 * pg.listen_url to a direct URL to keep notifications).
 */
#ifndef SL_OUTBOX_H
#define SL_OUTBOX_H

#include <stdint.h>

#include "api/producer.h"
#include "processor/err.h"

#define OUTBOX_CHANNEL "sluice_outbox"

typedef struct outbox outbox;

typedef struct outbox_opts {
	const char *url;      /* connection for LISTEN and relaying; copied */
	int batch;	      /* rows per batch; 0 means 500 */
	int64_t interval_ms;  /* periodic wake; 0 means 1000 */
	int64_t retention_ms; /* keep sent rows this long; 0 means 1 h */
} outbox_opts;

/*
 * Start the relay thread.  It connects (and reconnects) on its own, so
 * a database that is down at start is not an error.  `prod` must
 * outlive the relay.  SL_OK and *out, or SL_ENOMEM.
 */
int outbox_start(const outbox_opts *opts, aprod *prod, outbox **out,
		 sl_errbuf *eb);

/* Wake the relay now (after committing an outbox row); cheap. */
void outbox_wake(outbox *ob);

/* Ask the relay to stop after the batch in flight; does not wait. */
void outbox_request_stop(outbox *ob);

/* Finish the batch in flight, stop the thread and free.  NULL: no-op. */
void outbox_stop(outbox *ob);

typedef struct outbox_stats {
	uint64_t relayed; /* rows produced and marked sent */
	uint64_t failed_batches;
	int64_t backlog; /* unsent rows at the last check; -1 unknown */
	double oldest_s; /* age of the oldest unsent row then */
	int connected;
} outbox_stats;
void outbox_get_stats(outbox *ob, outbox_stats *st);

#endif
