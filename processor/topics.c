/* topics.c — topic creation through librdkafka's admin API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "processor/log.h"
#include "processor/topics.h"

/* How long the first metadata request may take. */
#define BROKER_WAIT_MS 10000

struct conf_apply {
	rd_kafka_conf_t *conf;
	sl_errbuf *eb;
};

static int apply_one(const char *key, const char *value, void *ud)
{
	struct conf_apply *ca = ud;
	char errstr[256];

	if (rd_kafka_conf_set(ca->conf, key, value, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK)
		return sl_errbuf_set(ca->eb, SL_ECONFIG, "kafka.%s: %s", key,
				     errstr);
	return SL_OK;
}

void sl_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
		     const char *buf)
{
	(void)rk;
	if (level <= 3)
		SL_ERROR("kafka", "%s: %s", fac, buf);
	else if (level == 4)
		SL_WARN("kafka", "%s: %s", fac, buf);
	else if (level <= 6)
		SL_INFO("kafka", "%s: %s", fac, buf);
	else
		SL_DEBUG("kafka", "%s: %s", fac, buf);
}

int sl_kafka_conf_apply(rd_kafka_conf_t *conf, const sl_config *cfg,
			sl_errbuf *eb)
{
	struct conf_apply ca = { conf, eb };

	rd_kafka_conf_set_log_cb(conf, sl_kafka_log_cb);
	return sl_config_each(cfg, "kafka.", apply_one, &ca);
}

int sl_topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	int n = SL_EKAFKA;

	if (rkt == NULL)
		return SL_ENOMEM;
	if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR &&
	    md->topic_cnt == 1) {
		if (md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
			n = md->topics[0].partition_cnt;
		else if (md->topics[0].err ==
			 RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			n = SL_ENOTFOUND;
	}
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return n;
}

static int wait_create(rd_kafka_t *rk, rd_kafka_queue_t *q, sl_errbuf *eb)
{
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **tr;
	rd_kafka_event_t *ev;
	size_t n;
	int rc = SL_OK;

	(void)rk;
	ev = rd_kafka_queue_poll(q, 30000);
	if (ev == NULL)
		return sl_errbuf_set(eb, SL_ETIMEOUT, "create topics: timeout");
	res = rd_kafka_event_CreateTopics_result(ev);
	if (res == NULL || rd_kafka_event_error(ev)) {
		rc = sl_errbuf_set(eb, SL_EKAFKA, "create topics: %s",
				   rd_kafka_event_error_string(ev));
		goto out;
	}
	tr = rd_kafka_CreateTopics_result_topics(res, &n);
	for (size_t i = 0; i < n; i++) {
		rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tr[i]);

		if (err == RD_KAFKA_RESP_ERR_NO_ERROR ||
		    err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			continue;
		rc = sl_errbuf_set(eb, SL_EKAFKA, "create topic %s: %s",
				   rd_kafka_topic_result_name(tr[i]),
				   rd_kafka_topic_result_error_string(tr[i]));
	}
out:
	rd_kafka_event_destroy(ev);
	return rc;
}

int sl_kafka_brokers_answer(rd_kafka_t *rk, const sl_config *cfg, sl_errbuf *eb)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;

	err = rd_kafka_metadata(rk, 0, NULL, &md, BROKER_WAIT_MS);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		return sl_errbuf_set(
			eb,
			err == RD_KAFKA_RESP_ERR__TRANSPORT ||
					err == RD_KAFKA_RESP_ERR__TIMED_OUT
				? SL_ETIMEOUT
				: SL_EKAFKA,
			"kafka brokers unreachable (%s) within %d s: %s",
			sl_config_get(cfg, "kafka.bootstrap.servers"),
			BROKER_WAIT_MS / 1000, rd_kafka_err2str(err));
	rd_kafka_metadata_destroy(md);
	return SL_OK;
}

int sl_topics_ensure(rd_kafka_t *rk, const sl_config *cfg,
		     const struct sl_topic_spec *specs, int n, sl_errbuf *eb)
{
	rd_kafka_NewTopic_t **nt = calloc((size_t)n + 1, sizeof(*nt));
	rd_kafka_queue_t *q = NULL;
	int64_t parts = 12, repl = 1;
	int count = 0, rc = SL_OK;
	char errstr[256];

	if (nt == NULL)
		return SL_ENOMEM;
	rc = sl_kafka_brokers_answer(rk, cfg, eb);
	if (rc != SL_OK)
		goto out;
	sl_config_int(cfg, "topic.partitions", &parts, NULL);
	sl_config_int(cfg, "topic.replication.factor", &repl, NULL);
	for (int i = 0; i < n; i++) {
		int have = sl_topic_partitions(rk, specs[i].name, 10000);
		int p = specs[i].partitions > 0 ? specs[i].partitions
						: (int)parts;

		if (have > 0)
			continue;
		nt[count] = rd_kafka_NewTopic_new(specs[i].name, p, (int)repl,
						  errstr, sizeof(errstr));
		if (nt[count] == NULL) {
			rc = sl_errbuf_set(eb, SL_EKAFKA, "topic %s: %s",
					   specs[i].name, errstr);
			goto out;
		}
		if (specs[i].compacted)
			rd_kafka_NewTopic_set_config(
				nt[count], "cleanup.policy", "compact");
		if (repl > 1)
			rd_kafka_NewTopic_set_config(
				nt[count], "min.insync.replicas", "2");
		count++;
	}
	if (count == 0)
		goto out;
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, nt, (size_t)count, NULL, q);
	rc = wait_create(rk, q, eb);
out:
	for (int i = 0; i < count; i++)
		rd_kafka_NewTopic_destroy(nt[i]);
	free(nt);
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	return rc;
}

int sl_topics_ensure_cfg(const sl_config *cfg,
			 const struct sl_topic_spec *specs, int n,
			 sl_errbuf *eb)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];
	rd_kafka_t *rk;
	int rc = sl_kafka_conf_apply(conf, cfg, eb);

	if (rc != SL_OK) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		return sl_errbuf_set(eb, SL_EKAFKA, "%s", errstr);
	}
	rc = sl_topics_ensure(rk, cfg, specs, n, eb);
	rd_kafka_destroy(rk);
	return rc;
}
