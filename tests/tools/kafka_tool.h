/*
 * kafka_tool.h — what the test and benchmark programs that talk to
 * Kafka directly share (tests/tools/emit_probe.c,
 * tests/bench/journey_load.c): a monotonic clock in seconds and making
 * a librdkafka client from a list of settings, saying on stderr what
 * went wrong.
 *
 * Header-only, because each .c in tests/tools and tests/bench is a
 * program of its own; the functions are static inline, so a program
 * that leaves one unused gets no warning.  A client returned here
 * belongs to the caller (rd_kafka_destroy).
 */
#ifndef SL_KAFKA_TOOL_H
#define SL_KAFKA_TOOL_H

#include <stdio.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

/* Seconds on the monotonic clock, for rates and pacing. */
static inline double kt_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One librdkafka setting; a list of them ends with { NULL, NULL }. */
typedef struct kt_setting {
	const char *key, *value;
} kt_setting;

typedef void (*kt_dr_fn)(rd_kafka_t *rk, const rd_kafka_message_t *m,
			 void *opaque);

/*
 * A client of `type` with the settings `set`, delivery reports to `dr`
 * (NULL: none) with `opaque`.  NULL after printing "<prog>: <why>" on
 * stderr.
 */
static inline rd_kafka_t *kt_client(const char *prog, rd_kafka_type_t type,
				    const kt_setting *set, kt_dr_fn dr,
				    void *opaque)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	for (; set->key != NULL; set++) {
		if (rd_kafka_conf_set(conf, set->key, set->value, err,
				      sizeof(err)) != RD_KAFKA_CONF_OK) {
			fprintf(stderr, "%s: %s: %s\n", prog, set->key, err);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	if (dr != NULL)
		rd_kafka_conf_set_dr_msg_cb(conf, dr);
	rd_kafka_conf_set_opaque(conf, opaque);
	rk = rd_kafka_new(type, conf, err, sizeof(err));
	if (rk == NULL) {
		fprintf(stderr, "%s: %s\n", prog, err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

#endif
