/*
 * group_at_end.c — commit a consumer group's offsets on a topic at the
 * topic's current end, as an application reset to "now" would, so that
 * a worker of a new application id reads only what is produced after.
 * tests/integration/60_reminders.sh builds it with cc and runs it before
 * producing a scenario's events: its workers then skip the shared
 * user_journey's history (other tests' and benchmarks' records).
 *
 *   group_at_end BOOTSTRAP GROUP TOPIC [BEHIND]
 *
 * With BEHIND, each partition's offset is BEHIND / partitions (rounded
 * up) before its end, or its start: the group's first worker begins
 * about BEHIND records behind.  Prints "partitions=N records_skipped=M
 * records_behind=K"; exit 0, or 1 with a message.  The group must have
 * no members (a worker of it not yet started).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>

#define TIMEOUT_MS 10000

static int partitions(rd_kafka_t *rk, const char *topic, int *n)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t err;

	*n = 0;
	if (t == NULL)
		return -1;
	err = rd_kafka_metadata(rk, 0, t, &md, TIMEOUT_MS);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
	    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
		*n = md->topics[0].partition_cnt;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
	return *n > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	rd_kafka_topic_partition_list_t *l = NULL;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk = NULL;
	rd_kafka_resp_err_t err;
	char errstr[256];
	int64_t skipped = 0, behind = 0, back = 0;
	int n = 0, rc = 1;

	if (argc != 4 && argc != 5) {
		fprintf(stderr,
			"usage: group_at_end BOOTSTRAP GROUP TOPIC [BEHIND]\n");
		rd_kafka_conf_destroy(conf);
		return 2;
	}
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "group.id", argv[2], errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "group_at_end: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	if (argc == 5)
		back = strtoll(argv[4], NULL, 10);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "group_at_end: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}

	/* Every partition's end (high watermark), less its share of back. */
	if (partitions(rk, argv[3], &n) != 0) {
		fprintf(stderr, "group_at_end: no topic %s\n", argv[3]);
		goto out;
	}
	l = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++) {
		int64_t lo = 0, hi = 0, off;

		err = rd_kafka_query_watermark_offsets(rk, argv[3], p, &lo, &hi,
						       TIMEOUT_MS);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "group_at_end: %s [%d]: %s\n", argv[3],
				p, rd_kafka_err2str(err));
			goto out;
		}
		off = hi - (back + n - 1) / n;
		if (off < lo)
			off = lo;
		rd_kafka_topic_partition_list_add(l, argv[3], p)->offset = off;
		skipped += off - lo;
		behind += hi - off;
	}

	/* A commit outside any assignment: the group must be empty. */
	err = rd_kafka_commit(rk, l, 0);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "group_at_end: commit for %s: %s\n", argv[2],
			rd_kafka_err2str(err));
		goto out;
	}
	printf("partitions=%d records_skipped=%" PRId64
	       " records_behind=%" PRId64 "\n",
	       n, skipped, behind);
	rc = 0;
out:
	if (l != NULL)
		rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return rc;
}
