/*
 * mock_kafka.h — librdkafka's mock cluster for the unit tests that run
 * the processor on Kafka without a broker (test_runtime.c,
 * test_reminders.c).
 *
 * Header-only, because each tests/unit/test_*.c is a program of its
 * own.  The cluster lives inside the producer handle that made it: it
 * stops when the caller rd_kafka_destroy()s that handle.
 */
#ifndef SL_MOCK_KAFKA_H
#define SL_MOCK_KAFKA_H

#include <stddef.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/*
 * A producer (murmur2 partitioner, as the API's and the worker's) on a
 * new mock cluster of one broker: the handle, the cluster in *mc and
 * its bootstrap servers in `bootstraps` (n bytes); NULL on failure.
 */
static inline rd_kafka_t *mock_kafka_new(rd_kafka_mock_cluster_t **mc,
					 char *bootstraps, size_t n)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];
	rd_kafka_t *host;

	rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "partitioner", "murmur2_random", errstr,
			  sizeof(errstr));
	host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (host == NULL)
		return NULL;
	*mc = rd_kafka_handle_mock_cluster(host);
	snprintf(bootstraps, n, "%s", rd_kafka_mock_cluster_bootstraps(*mc));
	return host;
}

#endif
