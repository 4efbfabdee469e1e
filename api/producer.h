/*
 * producer.h — the API's idempotent Kafka producer with waited sends.
 *
 * One librdkafka producer (enable.idempotence=true, acks=all) shared by
 * the request threads (POST /v1/journey) and the outbox relay.  Every
 * `kafka.*` config key is passed to librdkafka with the prefix removed;
 * message.timeout.ms defaults to 10 s (not librdkafka's 5 min) so that
 * a request waiting for its delivery report is answered in bounded time.
 * A thread polls the producer for delivery reports.
 *
 * Sends block until librdkafka reports the delivery of every message
 * (delivered, or failed after message.timeout.ms).  While no broker
 * connection is up (librdkafka's all-brokers-down event, then its
 * statistics every second, say so), aprod_send fails at once, so the
 * API can answer 503 without waiting out the timeout.
 * A fatal producer error (idempotence broken) latches: every later send
 * fails and aprod_failed() says so; the process should then exit and be
 * restarted, as the outbox keeps what was not sent.
 */
#ifndef SL_PRODUCER_H
#define SL_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "processor/config.h"
#include "processor/err.h"

typedef struct aprod aprod;

/* One message of a batch; the producer copies key and value. */
typedef struct aprod_msg {
	const char *topic;
	const char *key;
	size_t klen;
	const char *value;
	size_t vlen;
} aprod_msg;

/* Create and start polling.  SL_OK and *out, or SL_ECONFIG/SL_EKAFKA. */
int aprod_new(const sl_config *cfg, aprod **out, sl_errbuf *eb);

/* Flush (up to timeout_ms), stop polling and free.  NULL is a no-op. */
void aprod_free(aprod *p, int timeout_ms);

/*
 * Produce one message and wait for its delivery.  SL_OK once the
 * brokers acknowledged it; SL_EUNAVAIL when Kafka could not take it
 * (down, queue full, timed out); SL_EKAFKA for other failures.
 */
int aprod_send(aprod *p, const aprod_msg *m, sl_errbuf *eb);

/*
 * Produce n messages in order and wait for all delivery reports;
 * ok[i] is set to 1 for each delivered message, 0 otherwise.  Returns
 * SL_OK when all were delivered, else the first failure's code.  Does
 * not fail fast while brokers are down (meant for background relays).
 */
int aprod_send_batch(aprod *p, const aprod_msg *msgs, size_t n, char *ok,
		     sl_errbuf *eb);

/*
 * Give up on every message not yet delivered: their sends return at
 * once with SL_EUNAVAIL.  For shutting down while Kafka is down, so
 * that nobody waits out message.timeout.ms.
 */
void aprod_purge(aprod *p);

/* 1 after a fatal producer error. */
int aprod_failed(const aprod *p);

/* Counters for metrics. */
typedef struct aprod_stats {
	uint64_t delivered, failed;
	int brokers_down;
} aprod_stats;
void aprod_get_stats(aprod *p, aprod_stats *st);

#endif
