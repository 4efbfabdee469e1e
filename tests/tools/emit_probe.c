/*
 * emit_probe.c — live journey events at a steady rate, and how long the
 * journey topology took to process each one (tests/bench/emission.sh:
 * live-event latency during the 7 PM emission, SPEC section 9).
 *
 *	emit_probe --brokers B --prefix P --users K --start AT
 *	emit_probe --brokers B --prefix P --users K --changelog T
 *		   --occurred-at AT --out FILE [--rate R]
 *		   [--max-seconds S] [--drain-seconds D]
 *
 * Users are "<P><i>", 0 <= i < K.  With --start, each gets one valid
 * screening_started (SPEC section 2: event_id, user_id, occurred_at AT,
 * an Indian mobile number, one of the nine languages, a pin code, a
 * channel) on --topic (default user_journey), keyed by user id with
 * librdkafka's murmur2 partitioner; the program exits once all are
 * acknowledged.  emission.sh preloads both its reminded users and its
 * probe users this way.
 *
 * Otherwise it produces screening_step events at R per second (default
 * 200) until SIGTERM or SIGINT (or --max-seconds), round-robin over the
 * users: probe n goes to user n % K with step 1 + n / K, so each
 * (user, step) names one probe, and the journey store's entry for the
 * user holds that step after the probe was processed.  Every journey
 * write goes to the store's changelog T, keyed by user id, with the
 * 56-byte entry as value (step: 4 bytes little-endian at offset 3, see
 * journey_state_encode), stamped by the worker's producer when it
 * processed the event.  The program reads T from its end (as it was
 * before the first probe) and matches each changelog record of a probe
 * user to its probe by step.  Latency = the changelog record's
 * timestamp - the probe's own Kafka timestamp (CreateTime, from the
 * delivery report): both are this machine's clock.
 *
 * After the stop it keeps reading T for up to D seconds (default 10)
 * until every delivered probe is matched.  FILE gets one line per
 * probe: "seq user step input_ts_ms changelog_ts_ms", the latter -1
 * when no changelog record was seen.  stdout gets one summary line of
 * key=value: produced, delivered, matched, p50_ms, p99_ms, max_ms.
 * Exit 0 when every probe was delivered, 1 otherwise, 2 on usage
 * errors.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "tests/tools/kafka_tool.h"

#define EP_STATE_SIZE 56
#define EP_STEP_OFFSET 3
#define EP_MAX_PARTS 1024

typedef struct ep_opts {
	const char *brokers;
	const char *topic;
	const char *prefix;
	const char *changelog;
	const char *start_at;
	const char *occurred_at;
	const char *out;
	long users;
	double rate;
	double max_seconds;
	double drain_seconds;
} ep_opts;

/* One probe: its input timestamp and its changelog record's. */
typedef struct ep_probe {
	int64_t in_ts; /* -1 until delivered */
	int64_t cl_ts; /* -1 until matched */
	int failed;
} ep_probe;

typedef struct ep_run {
	ep_probe *probes;
	size_t cap;
	size_t produced;
	size_t delivered;
	size_t matched;
	size_t failed;
} ep_run;

static volatile sig_atomic_t ep_stop;

static void ep_on_signal(int sig)
{
	(void)sig;
	ep_stop = 1;
}

/* ---- producing ----------------------------------------------------- */

static void ep_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
			   void *opaque)
{
	ep_run *r = opaque;
	size_t seq = (size_t)(uintptr_t)m->_private;
	rd_kafka_timestamp_type_t tstype;

	(void)rk;
	if (r == NULL || r->probes == NULL || seq >= r->cap)
		return; /* --start: counted by the flush */
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (r->failed++ == 0)
			fprintf(stderr, "emit_probe: delivery failed: %s\n",
				rd_kafka_err2str(m->err));
		r->probes[seq].failed = 1;
		return;
	}
	r->probes[seq].in_ts = rd_kafka_message_timestamp(m, &tstype);
	r->delivered++;
}

static rd_kafka_t *ep_producer(const ep_opts *o, ep_run *r, int bulk)
{
	/*
	 * Probes do not linger: a probe's timestamp is taken when it is
	 * produced, and time spent in this producer would count as the
	 * worker's.  Bulk (--start) batches like tests/bench/journey_load.
	 */
	const kt_setting set[] = {
		{ "bootstrap.servers", o->brokers },
		{ "partitioner", "murmur2_random" },
		{ "linger.ms", bulk ? "20" : "0" },
		{ "batch.num.messages", bulk ? "10000" : "1000" },
		{ "queue.buffering.max.messages", "1000000" },
		{ "enable.idempotence", "true" },
		{ NULL, NULL },
	};

	return kt_client("emit_probe", RD_KAFKA_PRODUCER, set, ep_on_delivery,
			 r);
}

static int ep_produce(rd_kafka_t *rk, const char *topic, const char *key,
		      const char *val, size_t seq)
{
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(
			rk, RD_KAFKA_V_TOPIC(topic),
			RD_KAFKA_V_KEY((void *)key, strlen(key)),
			RD_KAFKA_V_VALUE((void *)val, strlen(val)),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq),
			RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(rk, 10);
	}
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	fprintf(stderr, "emit_probe: produce: %s\n", rd_kafka_err2str(err));
	return -1;
}

/* The K probe users' screening_started, occurred_at AT. */
static int ep_start_users(const ep_opts *o)
{
	static const char *const langs[] = { "hi", "en", "bn", "te", "mr",
					     "ta", "gu", "kn", "ml" };
	rd_kafka_t *rk = ep_producer(o, NULL, 1);
	char key[128], val[512];
	int rc = 1;

	if (rk == NULL)
		return 1;
	for (long i = 0; i < o->users; i++) {
		snprintf(key, sizeof(key), "%s%ld", o->prefix, i);
		snprintf(val, sizeof(val),
			 "{\"event_id\":\"%s-start\",\"type\":"
			 "\"screening_started\",\"user_id\":\"%s\","
			 "\"occurred_at\":\"%s\",\"phone\":\"+91%ld%09ld\","
			 "\"lang\":\"%s\",\"pincode\":\"%ld\","
			 "\"channel\":\"whatsapp\"}",
			 key, key, o->start_at, 6 + i % 4, i % 1000000000,
			 langs[i % 9], 110001 + i % 700000);
		if (ep_produce(rk, o->topic, key, val, SIZE_MAX) != 0)
			goto out;
		rd_kafka_poll(rk, 0);
	}
	if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "emit_probe: flush timed out\n");
		goto out;
	}
	printf("started=%ld\n", o->users);
	rc = 0;
out:
	rd_kafka_destroy(rk);
	return rc;
}

/* ---- the changelog ------------------------------------------------- */

/*
 * A consumer of every partition of the changelog, from the end offsets
 * it has now (asked explicitly, so no probe's record can slip between
 * the assignment and the first fetch).
 */
static rd_kafka_t *ep_consumer(const ep_opts *o)
{
	const kt_setting set[] = {
		{ "bootstrap.servers", o->brokers },
		{ "group.id", "emit-probe-unused" },
		{ "enable.auto.commit", "false" },
		{ "fetch.wait.max.ms", "10" },
		{ NULL, NULL },
	};
	rd_kafka_topic_partition_list_t *l = NULL;
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_topic_t *rkt = NULL;
	rd_kafka_t *rk;
	int ok = 0;

	rk = kt_client("emit_probe", RD_KAFKA_CONSUMER, set, NULL, NULL);
	if (rk == NULL)
		return NULL;
	rkt = rd_kafka_topic_new(rk, o->changelog, NULL);
	if (rkt == NULL ||
	    rd_kafka_metadata(rk, 0, rkt, &md, 10000) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR ||
	    md->topic_cnt != 1 || md->topics[0].err ||
	    md->topics[0].partition_cnt < 1) {
		fprintf(stderr, "emit_probe: no topic %s\n", o->changelog);
		goto out;
	}
	l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (int p = 0; p < md->topics[0].partition_cnt; p++) {
		int64_t lo, hi;
		int32_t id = md->topics[0].partitions[p].id;

		if (rd_kafka_query_watermark_offsets(rk, o->changelog, id, &lo,
						     &hi, 10000) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "emit_probe: offsets of %s [%d]\n",
				o->changelog, (int)id);
			goto out;
		}
		rd_kafka_topic_partition_list_add(l, o->changelog, id)->offset =
			hi;
	}
	ok = rd_kafka_assign(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR;
out:
	if (l != NULL)
		rd_kafka_topic_partition_list_destroy(l);
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	if (rkt != NULL)
		rd_kafka_topic_destroy(rkt);
	if (!ok) {
		rd_kafka_destroy(rk);
		rk = NULL;
	}
	return rk;
}

/* Match one changelog record to its probe, if it is one. */
static void ep_match(const ep_opts *o, ep_run *r, const rd_kafka_message_t *m)
{
	size_t plen = strlen(o->prefix), seq;
	const unsigned char *v = m->payload;
	rd_kafka_timestamp_type_t tstype;
	char digits[24];
	uint32_t step = 0;
	long user;

	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR || m->key == NULL ||
	    m->key_len <= plen || m->key_len - plen >= sizeof(digits) ||
	    memcmp(m->key, o->prefix, plen) != 0 || v == NULL ||
	    m->len != EP_STATE_SIZE)
		return;
	memcpy(digits, (const char *)m->key + plen, m->key_len - plen);
	digits[m->key_len - plen] = '\0';
	user = strtol(digits, NULL, 10);
	for (int i = 0; i < 4; i++)
		step |= (uint32_t)v[EP_STEP_OFFSET + i] << (8 * i);
	if (user < 0 || user >= o->users || step < 1)
		return;
	seq = (size_t)(step - 1) * (size_t)o->users + (size_t)user;
	if (seq >= r->produced || r->probes[seq].cl_ts >= 0)
		return;
	r->probes[seq].cl_ts = rd_kafka_message_timestamp(m, &tstype);
	r->matched++;
}

static void ep_read(const ep_opts *o, ep_run *r, rd_kafka_t *c, int wait_ms)
{
	rd_kafka_message_t *m = rd_kafka_consumer_poll(c, wait_ms);

	while (m != NULL) {
		ep_match(o, r, m);
		rd_kafka_message_destroy(m);
		m = rd_kafka_consumer_poll(c, 0);
	}
}

/* ---- the run ------------------------------------------------------- */

static int ep_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int ep_report(const ep_opts *o, const ep_run *r)
{
	FILE *f = fopen(o->out, "w");
	int64_t *lat = malloc((r->produced + 1) * sizeof(*lat));
	size_t n = 0;

	if (f == NULL || lat == NULL) {
		fprintf(stderr, "emit_probe: cannot write %s\n", o->out);
		if (f != NULL)
			fclose(f);
		free(lat);
		return -1;
	}
	for (size_t i = 0; i < r->produced; i++) {
		const ep_probe *p = &r->probes[i];
		int matched = p->in_ts >= 0 && p->cl_ts >= 0;

		fprintf(f, "%zu %ld %zu %" PRId64 " %" PRId64 "\n", i,
			(long)(i % (size_t)o->users), 1 + i / (size_t)o->users,
			p->in_ts, matched ? p->cl_ts : -1);
		if (matched)
			lat[n++] = p->cl_ts - p->in_ts;
	}
	fclose(f);
	qsort(lat, n, sizeof(*lat), ep_cmp);
	printf("produced=%zu delivered=%zu matched=%zu p50_ms=%" PRId64
	       " p99_ms=%" PRId64 " max_ms=%" PRId64 "\n",
	       r->produced, r->delivered, r->matched, n ? lat[n / 2] : -1,
	       n ? lat[(n * 99) / 100] : -1, n ? lat[n - 1] : -1);
	free(lat);
	return 0;
}

static int ep_probe_run(const ep_opts *o)
{
	ep_run r = { 0 };
	rd_kafka_t *p = NULL, *c = NULL;
	char key[128], val[512];
	double t0, stop_at = 0;
	int rc = 1;

	r.cap = (size_t)(o->rate * o->max_seconds) + 1;
	r.probes = malloc(r.cap * sizeof(*r.probes));
	if (r.probes == NULL)
		return 1;
	for (size_t i = 0; i < r.cap; i++)
		r.probes[i] = (ep_probe){ -1, -1, 0 };
	c = ep_consumer(o);
	p = c ? ep_producer(o, &r, 0) : NULL;
	if (p == NULL)
		goto out;

	/* Probe n is due at t0 + n / rate; read the changelog meanwhile. */
	t0 = kt_now_s();
	while (!ep_stop && r.produced < r.cap) {
		double due = t0 + (double)r.produced / o->rate;

		if (kt_now_s() < due) {
			ep_read(o, &r, c, 1);
			rd_kafka_poll(p, 0);
			continue;
		}
		snprintf(key, sizeof(key), "%s%zu", o->prefix,
			 r.produced % (size_t)o->users);
		snprintf(val, sizeof(val),
			 "{\"event_id\":\"%s-%zu\",\"type\":\"screening_step\","
			 "\"user_id\":\"%s\",\"occurred_at\":\"%s\","
			 "\"step\":%zu}",
			 o->prefix, r.produced, key, o->occurred_at,
			 1 + r.produced / (size_t)o->users);
		if (ep_produce(p, o->topic, key, val, r.produced) != 0)
			goto out;
		r.produced++;
		rd_kafka_poll(p, 0);
	}

	/* Stopped: every probe delivered, then matched, or the drain ends. */
	rd_kafka_flush(p, 30000);
	stop_at = kt_now_s() + o->drain_seconds;
	while (r.matched < r.delivered && kt_now_s() < stop_at)
		ep_read(o, &r, c, 100);
	rc = ep_report(o, &r) == 0 && r.delivered == r.produced ? 0 : 1;
out:
	if (p != NULL)
		rd_kafka_destroy(p);
	if (c != NULL) {
		rd_kafka_consumer_close(c);
		rd_kafka_destroy(c);
	}
	free(r.probes);
	return rc;
}

static void ep_usage(FILE *f)
{
	fprintf(f, "usage: emit_probe --brokers B --prefix P --users K "
		   "--start AT [--topic T]\n"
		   "       emit_probe --brokers B --prefix P --users K "
		   "--changelog T --occurred-at AT\n"
		   "                  --out FILE [--rate R] [--topic T] "
		   "[--max-seconds S] [--drain-seconds D]\n");
}

static int ep_args(int argc, char **argv, ep_opts *o)
{
	static const struct option opts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "topic", required_argument, NULL, 't' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "users", required_argument, NULL, 'u' },
		{ "start", required_argument, NULL, 's' },
		{ "changelog", required_argument, NULL, 'c' },
		{ "occurred-at", required_argument, NULL, 'a' },
		{ "out", required_argument, NULL, 'o' },
		{ "rate", required_argument, NULL, 'r' },
		{ "max-seconds", required_argument, NULL, 'm' },
		{ "drain-seconds", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->topic = "user_journey";
	o->rate = 200;
	o->max_seconds = 900;
	o->drain_seconds = 10;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->brokers = optarg;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 'p':
			o->prefix = optarg;
			break;
		case 'u':
			o->users = strtol(optarg, NULL, 10);
			break;
		case 's':
			o->start_at = optarg;
			break;
		case 'c':
			o->changelog = optarg;
			break;
		case 'a':
			o->occurred_at = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'r':
			o->rate = strtod(optarg, NULL);
			break;
		case 'm':
			o->max_seconds = strtod(optarg, NULL);
			break;
		case 'd':
			o->drain_seconds = strtod(optarg, NULL);
			break;
		case 'h':
			ep_usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (o->brokers == NULL || o->prefix == NULL || o->users < 1 ||
	    strlen(o->prefix) > 64)
		return -1;
	if (o->start_at != NULL)
		return 0;
	if (o->changelog == NULL || o->occurred_at == NULL || o->out == NULL ||
	    o->rate <= 0 || o->rate > 100000 || o->max_seconds <= 0 ||
	    o->drain_seconds < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	ep_opts o;

	if (ep_args(argc, argv, &o) != 0) {
		ep_usage(stderr);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ep_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	return o.start_at != NULL ? ep_start_users(&o) : ep_probe_run(&o);
}
