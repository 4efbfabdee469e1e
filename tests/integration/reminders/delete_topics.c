/*
 * delete_topics.c — delete the topics whose names start with a prefix
 * (librdkafka's admin API): tests/integration/60_reminders.sh removes
 * the changelog and dead-letter topics of its application ids (named
 * "<run id>-...") when it ends, so runs do not pile partitions up on a
 * shared broker.
 *
 *   delete_topics BOOTSTRAP PREFIX
 *
 * PREFIX must be at least 8 characters.  Prints "deleted=N"; exit 0, or
 * 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#define TIMEOUT_MS 30000

/* The names of the cluster's topics starting with prefix (malloc'ed). */
static int matching(rd_kafka_t *rk, const char *prefix, char ***names, int *n)
{
	const struct rd_kafka_metadata *md = NULL;
	size_t plen = strlen(prefix);

	*names = NULL;
	*n = 0;
	if (rd_kafka_metadata(rk, 1, NULL, &md, TIMEOUT_MS) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	*names = calloc((size_t)md->topic_cnt + 1, sizeof(**names));
	for (int i = 0; *names != NULL && i < md->topic_cnt; i++)
		if (strncmp(md->topics[i].topic, prefix, plen) == 0)
			(*names)[(*n)++] = strdup(md->topics[i].topic);
	rd_kafka_metadata_destroy(md);
	return *names == NULL ? -1 : 0;
}

int main(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_DeleteTopic_t **del = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	rd_kafka_t *rk = NULL;
	char errstr[256], **names = NULL;
	int n = 0, rc = 1;

	if (argc != 3 || strlen(argv[2]) < 8) {
		fprintf(stderr, "usage: delete_topics BOOTSTRAP PREFIX "
				"(8 characters or more)\n");
		rd_kafka_conf_destroy(conf);
		return 2;
	}
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "delete_topics: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "delete_topics: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	if (matching(rk, argv[2], &names, &n) != 0) {
		fprintf(stderr, "delete_topics: no metadata\n");
		goto out;
	}
	if (n == 0) {
		printf("deleted=0\n");
		rc = 0;
		goto out;
	}

	/* One request for all of them; each topic's result is checked. */
	del = calloc((size_t)n, sizeof(*del));
	q = rd_kafka_queue_new(rk);
	if (del == NULL || q == NULL)
		goto out;
	for (int i = 0; i < n; i++)
		del[i] = rd_kafka_DeleteTopic_new(names[i]);
	rd_kafka_DeleteTopics(rk, del, (size_t)n, NULL, q);
	ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 5000);
	if (ev == NULL || rd_kafka_event_error(ev)) {
		fprintf(stderr, "delete_topics: %s\n",
			ev ? rd_kafka_event_error_string(ev) : "timed out");
		goto out;
	}
	{
		const rd_kafka_DeleteTopics_result_t *res =
			rd_kafka_event_DeleteTopics_result(ev);
		size_t cnt = 0;
		const rd_kafka_topic_result_t **tr =
			rd_kafka_DeleteTopics_result_topics(res, &cnt);

		rc = 0;
		for (size_t i = 0; i < cnt; i++) {
			if (rd_kafka_topic_result_error(tr[i]) ==
			    RD_KAFKA_RESP_ERR_NO_ERROR)
				continue;
			fprintf(stderr, "delete_topics: %s: %s\n",
				rd_kafka_topic_result_name(tr[i]),
				rd_kafka_topic_result_error_string(tr[i]));
			rc = 1;
		}
		printf("deleted=%zu\n", cnt);
	}
out:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	if (del != NULL) {
		rd_kafka_DeleteTopic_destroy_array(del, (size_t)n);
		free(del);
	}
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	rd_kafka_destroy(rk);
	return rc;
}
