/*
 * topics.h — creating the topics an application needs.
 */
#ifndef SL_TOPICS_H
#define SL_TOPICS_H

#include <librdkafka/rdkafka.h>

#include "processor/config.h"
#include "processor/err.h"

struct sl_topic_spec {
	const char *name;
	int partitions; /* <= 0: topic.partitions from the config */
	int compacted;	/* cleanup.policy=compact */
};

/*
 * Create the topics that do not exist yet, through `rk` (any client
 * handle).  Existing topics are left as they are.  Replication factor
 * from topic.replication.factor.  SL_OK or SL_EKAFKA with eb set.
 */
int sl_topics_ensure(rd_kafka_t *rk, const sl_config *cfg,
		     const struct sl_topic_spec *specs, int n, sl_errbuf *eb);

/*
 * sl_topics_ensure through a short-lived producer made from cfg's kafka.*
 * keys, destroyed before returning: for a caller with no client of its
 * own.  SL_OK, SL_ECONFIG (a kafka.* key), or SL_EKAFKA with eb set.
 */
int sl_topics_ensure_cfg(const sl_config *cfg,
			 const struct sl_topic_spec *specs, int n,
			 sl_errbuf *eb);

/* Number of partitions of `topic`, or a negative SL_E* code. */
int sl_topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms);

/*
 * Apply every kafka.* key of the config to a librdkafka conf, and route
 * librdkafka's log lines through Sluice's log (sl_kafka_log_cb).
 * SL_OK or SL_ECONFIG naming the key.
 */
int sl_kafka_conf_apply(rd_kafka_conf_t *conf, const sl_config *cfg,
			sl_errbuf *eb);

/*
 * One metadata request (brokers only, 10 s), so an unreachable cluster
 * is reported at once and by address ("kafka brokers unreachable
 * (<bootstrap>) within 10 s: ..."), not as a timeout per later request.
 * sl_topics_ensure() starts with it.
 */
int sl_kafka_brokers_answer(rd_kafka_t *rk, const sl_config *cfg,
			    sl_errbuf *eb);

/* librdkafka's log callback: its syslog levels onto Sluice's log. */
void sl_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
		     const char *buf);

#endif
