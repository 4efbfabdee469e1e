/*
 * journey_load.c — the benchmark's load: realistic journey events
 * (SPEC section 2) produced to a topic as fast as librdkafka goes.
 *
 *	journey_load --brokers B --topic T (--events N | --users M)
 *		     [--partitions P] [--create | --recreate] [--seed S]
 *		     [--only-started] [--invalid-permille K]
 *	journey_load --print (--events N | --users M) [...]
 *
 * Users ("u-<seed>-<n>") are planned from a seeded generator, like
 * tests/tools/gen.c plans a campaign day: screening_started, then 0-4
 * screening_step, then screening_completed (55%), opted_out (5%) or
 * nothing more (40%).  A window of up to 10,000 users is in flight at
 * once and each event is the next one of a user picked at random from
 * it, so one user's events are in order but far apart, as in a real
 * day.  --only-started gives each user one screening_started and
 * nothing else (the memory benchmark: M users tracked).  With
 * --invalid-permille K, about K in 1000 events are an extra invalid
 * one (not JSON, a bad phone, a step of 0) that a processor must
 * dead-letter without changing any state.
 *
 * Records are keyed by user_id and partitioned with murmur2, like the
 * API and the worker; the producer is idempotent, so a retried batch
 * never lands after a later one and each user's events stay in order.
 * --create makes the topic with P partitions (default 12) first;
 * --recreate deletes it and makes it anew (a fresh topic under a fixed
 * name).  Without --events and --users it only makes the topic.  Stops
 * at N events (--events) or when M users are done (--users), whichever
 * is given (both: the first reached).
 *
 * --print writes the events to stdout instead, one "key TAB value"
 * line each, and the summary to stderr (for tests/bench/parse_bench.c).
 *
 * On stdout, one line of key=value: events, users, invalid, the
 * entries a journey store must hold afterwards (users started and not
 * completed), bytes, seconds and events/s.  Exit 0 when every record
 * was acknowledged, 1 otherwise, 2 on usage errors.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "tests/tools/kafka_tool.h"

#define JL_WINDOW 10000
#define JL_MAX_STEPS 4
#define JL_DAY0 1772334000 /* 2026-03-01T08:30:00+05:30 */

static const char *const jl_langs[] = { "hi", "en", "bn", "te", "mr",
					"ta", "gu", "kn", "ml" };
static const char *const jl_channels[] = { "qr", "call", "whatsapp" };

typedef struct jl_opts {
	const char *brokers;
	const char *topic;
	uint64_t events; /* 0: no limit */
	uint64_t users;	 /* 0: no limit */
	uint64_t seed;
	int partitions;
	int create;
	int recreate;
	int only_started;
	int invalid_permille;
	int print; /* write key TAB value lines to stdout, no Kafka */
} jl_opts;

/* One user in flight: what was planned and how far it got. */
typedef struct jl_user {
	uint64_t n;
	int64_t t;   /* occurred_at of the next event, seconds */
	int nsteps;  /* planned screening_step events */
	int outcome; /* 0 abandon, 1 complete, 2 opt out */
	int next;    /* events already sent */
	int live;
} jl_user;

typedef struct jl_counts {
	uint64_t events, users, invalid, entries, bytes;
	uint64_t failed; /* delivery failures */
} jl_counts;

/* ---- randomness ---------------------------------------------------- */

/* splitmix64: small, fast, reproducible. */
static uint64_t jl_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t jl_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(jl_rand(s) % n);
}

/* ---- events -------------------------------------------------------- */

static void jl_time(int64_t t, char out[32])
{
	time_t ist = (time_t)(t + 5 * 3600 + 1800);
	struct tm tm;

	gmtime_r(&ist, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S+05:30", &tm);
}

/* The fields of a user that every event of theirs repeats. */
static int jl_person(const jl_opts *o, const jl_user *u, char *buf, size_t n)
{
	uint64_t s = o->seed * 1000003 + u->n;

	return snprintf(buf, n,
			"\"phone\":\"+91%u%09u\",\"lang\":\"%s\","
			"\"pincode\":\"%u\",\"channel\":\"%s\"",
			6 + jl_below(&s, 4), jl_below(&s, 1000000000),
			jl_langs[jl_below(&s, 9)],
			110001 + jl_below(&s, 740000),
			jl_channels[jl_below(&s, 3)]);
}

/*
 * The next event of u into buf; 1 when it was the user's last, else 0.
 * The key is the user id, written to key.
 */
static int jl_next_event(const jl_opts *o, jl_user *u, uint64_t evn, char *buf,
			 size_t n, int *len, char key[64])
{
	char at[32], person[160];
	int last_step = 1 + u->nsteps, last;

	snprintf(key, 64, "u-%" PRIu64 "-%" PRIu64, o->seed, u->n);
	jl_time(u->t, at);
	jl_person(o, u, person, sizeof(person));
	if (u->next == 0) {
		*len = snprintf(buf, n,
				"{\"event_id\":\"e-%" PRIu64 "-%" PRIu64 "\","
				"\"type\":\"screening_started\","
				"\"user_id\":\"%s\",\"occurred_at\":\"%s\","
				"%s}",
				o->seed, evn, key, at, person);
		last = o->only_started || (u->nsteps == 0 && u->outcome == 0);
	} else if (u->next < last_step) {
		*len = snprintf(buf, n,
				"{\"event_id\":\"e-%" PRIu64 "-%" PRIu64 "\","
				"\"type\":\"screening_step\","
				"\"user_id\":\"%s\",\"occurred_at\":\"%s\","
				"\"step\":%d}",
				o->seed, evn, key, at, u->next);
		last = u->next == u->nsteps && u->outcome == 0;
	} else if (u->outcome == 1) {
		*len = snprintf(buf, n,
				"{\"event_id\":\"e-%" PRIu64 "-%" PRIu64 "\","
				"\"type\":\"screening_completed\","
				"\"user_id\":\"%s\",\"occurred_at\":\"%s\","
				"\"screening_id\":\"s-%" PRIu64 "-%" PRIu64
				"\","
				"\"score\":%d,%s,\"answers\":{\"q1\":\"yes\"}}",
				o->seed, evn, key, at, o->seed, u->n,
				1 + (int)(u->n % 5), person);
		last = 1;
	} else {
		*len = snprintf(buf, n,
				"{\"event_id\":\"e-%" PRIu64 "-%" PRIu64 "\","
				"\"type\":\"opted_out\",\"user_id\":\"%s\","
				"\"occurred_at\":\"%s\"}",
				o->seed, evn, key, at);
		last = 1;
	}
	u->next++;
	u->t += 60 + (int64_t)(u->n % 240);
	return last;
}

/* An invalid event of one of three kinds; never changes any state. */
static void jl_invalid(const jl_opts *o, uint64_t evn, char *buf, size_t n,
		       int *len, char key[64])
{
	snprintf(key, 64, "bad-%" PRIu64 "-%" PRIu64, o->seed, evn);
	switch (evn % 3) {
	case 0:
		*len = snprintf(buf, n, "{\"event_id\": not json");
		break;
	case 1:
		*len = snprintf(buf, n,
				"{\"event_id\":\"e-%" PRIu64 "-%" PRIu64 "\","
				"\"type\":\"screening_started\","
				"\"user_id\":\"%s\","
				"\"occurred_at\":\"2026-03-01T09:00:00Z\","
				"\"phone\":\"+915555\",\"lang\":\"hi\","
				"\"pincode\":\"110001\"}",
				o->seed, evn, key);
		break;
	default:
		*len = snprintf(buf, n,
				"{\"event_id\":\"e-%" PRIu64 "-%" PRIu64 "\","
				"\"type\":\"screening_step\","
				"\"user_id\":\"%s\","
				"\"occurred_at\":\"2026-03-01T09:00:00Z\","
				"\"step\":0}",
				o->seed, evn, key);
		break;
	}
}

/* A new user in slot u, planned from (seed, n) alone. */
static void jl_user_new(const jl_opts *o, jl_user *u, uint64_t n)
{
	uint64_t s = o->seed * 7919 + n;
	uint32_t r;

	memset(u, 0, sizeof(*u));
	u->n = n;
	u->live = 1;
	u->t = JL_DAY0 + jl_below(&s, 9 * 3600);
	u->nsteps = (int)jl_below(&s, JL_MAX_STEPS + 1);
	r = jl_below(&s, 100);
	u->outcome = r < 55 ? 1 : r < 60 ? 2 : 0;
}

/* ---- Kafka --------------------------------------------------------- */

static void jl_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
			   void *opaque)
{
	jl_counts *c = opaque;

	(void)rk;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (c->failed == 0)
			fprintf(stderr, "journey_load: delivery failed: %s\n",
				rd_kafka_err2str(m->err));
		c->failed++;
	}
}

static rd_kafka_t *jl_producer(const jl_opts *o, jl_counts *c)
{
	const kt_setting set[] = {
		{ "bootstrap.servers", o->brokers },
		{ "partitioner", "murmur2_random" },
		{ "linger.ms", "20" },
		{ "batch.num.messages", "10000" },
		{ "batch.size", "1048576" },
		{ "queue.buffering.max.messages", "1000000" },
		{ "queue.buffering.max.kbytes", "1048576" },
		{ "enable.idempotence", "true" },
		{ NULL, NULL },
	};

	return kt_client("journey_load", RD_KAFKA_PRODUCER, set, jl_on_delivery,
			 c);
}

/*
 * Create the topic (or delete it, with del): the topic's result code,
 * or RD_KAFKA_RESP_ERR__FAIL after printing why the request failed.
 */
static rd_kafka_resp_err_t jl_admin(rd_kafka_t *rk, const jl_opts *o, int del)
{
	rd_kafka_NewTopic_t *nt = NULL;
	rd_kafka_DeleteTopic_t *dt = NULL;
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_topic_result_t **res = NULL;
	rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__FAIL;
	char err[256];
	size_t n = 0;

	if (del) {
		dt = rd_kafka_DeleteTopic_new(o->topic);
		rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
	} else {
		nt = rd_kafka_NewTopic_new(o->topic, o->partitions, 1, err,
					   sizeof(err));
		if (nt == NULL) {
			fprintf(stderr, "journey_load: new topic: %s\n", err);
			goto out;
		}
		rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	}
	ev = rd_kafka_queue_poll(q, 30000);
	if (ev == NULL || rd_kafka_event_error(ev)) {
		fprintf(stderr, "journey_load: %s topic: %s\n",
			del ? "delete" : "create",
			ev ? rd_kafka_event_error_string(ev) : "timeout");
		goto out;
	}
	if (del)
		res = rd_kafka_DeleteTopics_result_topics(
			rd_kafka_event_DeleteTopics_result(ev), &n);
	else
		res = rd_kafka_CreateTopics_result_topics(
			rd_kafka_event_CreateTopics_result(ev), &n);
	rc = n == 1 ? rd_kafka_topic_result_error(res[0])
		    : RD_KAFKA_RESP_ERR_NO_ERROR;
out:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	if (nt != NULL)
		rd_kafka_NewTopic_destroy(nt);
	if (dt != NULL)
		rd_kafka_DeleteTopic_destroy(dt);
	rd_kafka_queue_destroy(q);
	return rc;
}

/*
 * Create the topic; an existing one is fine (its partitions are kept).
 * With recreate, delete it first and retry the creation while the
 * broker still finishes the deletion (up to 60 s).
 */
static int jl_create_topic(rd_kafka_t *rk, const jl_opts *o)
{
	rd_kafka_resp_err_t err;
	int tries = 0;

	if (o->recreate) {
		err = jl_admin(rk, o, 1);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
		    err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
			fprintf(stderr, "journey_load: delete %s: %s\n",
				o->topic, rd_kafka_err2str(err));
			return -1;
		}
	}
	for (;;) {
		err = jl_admin(rk, o, 0);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR ||
		    (!o->recreate &&
		     err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
			return 0;
		if (err == RD_KAFKA_RESP_ERR__FAIL || ++tries > 120) {
			fprintf(stderr, "journey_load: create %s: %s\n",
				o->topic, rd_kafka_err2str(err));
			return -1;
		}
		usleep(500 * 1000);
	}
}

static int jl_produce(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *key,
		      const char *val, int len)
{
	for (;;) {
		if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA,
				     RD_KAFKA_MSG_F_COPY, (void *)val,
				     (size_t)len, key, strlen(key), NULL) == 0)
			return 0;
		if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			fprintf(stderr, "journey_load: produce: %s\n",
				rd_kafka_err2str(rd_kafka_last_error()));
			return -1;
		}
		rd_kafka_poll(rk, 10);
	}
}

/* ---- the run ------------------------------------------------------- */

static int jl_done(const jl_opts *o, const jl_counts *c, int active)
{
	if (o->events && c->events >= o->events)
		return 1;
	return o->users && c->users >= o->users && active == 0;
}

static int jl_run(const jl_opts *o, rd_kafka_t *rk, rd_kafka_topic_t *rkt,
		  jl_counts *c)
{
	size_t window = JL_WINDOW;
	jl_user *users;
	uint64_t rng = o->seed ^ 0x5eed;
	char buf[1024], key[64];
	int active = 0, len, rc = 0;

	if (o->users && o->users < window)
		window = (size_t)o->users;
	users = calloc(window, sizeof(*users));
	if (users == NULL)
		return -1;

	while (!jl_done(o, c, active) && rc == 0) {
		size_t i = jl_below(&rng, (uint32_t)window);
		jl_user *u = &users[i];

		/* An empty slot takes the next user, while there are any. */
		if (!u->live) {
			if (o->users && c->users >= o->users)
				continue;
			jl_user_new(o, u, c->users++);
			active++;
		}
		if (o->invalid_permille &&
		    jl_below(&rng, 1000) < (uint32_t)o->invalid_permille) {
			jl_invalid(o, c->events, buf, sizeof(buf), &len, key);
			c->invalid++;
		} else {
			if (u->next == 0)
				c->entries++;
			if (jl_next_event(o, u, c->events, buf, sizeof(buf),
					  &len, key)) {
				if (u->outcome == 1 && !o->only_started)
					c->entries--;
				u->live = 0;
				active--;
			}
		}
		if (o->print)
			rc = printf("%s\t%.*s\n", key, len, buf) < 0 ? -1 : 0;
		else
			rc = jl_produce(rk, rkt, key, buf, len);
		c->events++;
		c->bytes += (uint64_t)len;
		if (rk != NULL && c->events % 1024 == 0)
			rd_kafka_poll(rk, 0);
	}
	free(users);
	return rc;
}

static void jl_usage(FILE *f)
{
	fprintf(f, "usage: journey_load --brokers B --topic T "
		   "(--events N | --users M)\n"
		   "       [--partitions P] [--create|--recreate] [--seed S] "
		   "[--only-started]\n"
		   "       [--invalid-permille K]\n"
		   "       journey_load --print (--events N | --users M) "
		   "[...]\n");
}

static int jl_args(int argc, char **argv, jl_opts *o)
{
	static const struct option opts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "topic", required_argument, NULL, 't' },
		{ "events", required_argument, NULL, 'n' },
		{ "users", required_argument, NULL, 'u' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "invalid-permille", required_argument, NULL, 'i' },
		{ "create", no_argument, NULL, 'c' },
		{ "recreate", no_argument, NULL, 'r' },
		{ "only-started", no_argument, NULL, 'o' },
		{ "print", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->partitions = 12;
	o->seed = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->brokers = optarg;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 'n':
			o->events = strtoull(optarg, NULL, 10);
			break;
		case 'u':
			o->users = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			o->partitions = atoi(optarg);
			break;
		case 's':
			o->seed = strtoull(optarg, NULL, 10);
			break;
		case 'i':
			o->invalid_permille = atoi(optarg);
			break;
		case 'c':
			o->create = 1;
			break;
		case 'r':
			o->create = o->recreate = 1;
			break;
		case 'o':
			o->only_started = 1;
			break;
		case 'P':
			o->print = 1;
			break;
		case 'h':
			jl_usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (o->print && (o->brokers == NULL || o->topic == NULL)) {
		o->brokers = "-";
		o->topic = "-";
	}
	if (o->brokers == NULL || o->topic == NULL ||
	    (o->events == 0 && o->users == 0 && !o->create) ||
	    o->partitions < 1 || o->invalid_permille < 0 ||
	    o->invalid_permille > 1000)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	jl_opts o;
	jl_counts c;
	rd_kafka_t *rk = NULL;
	rd_kafka_topic_t *rkt = NULL;
	double t0, secs;
	int rc = 1;

	if (jl_args(argc, argv, &o) != 0) {
		jl_usage(stderr);
		return 2;
	}
	memset(&c, 0, sizeof(c));
	if (o.print) {
		rc = jl_run(&o, NULL, NULL, &c) == 0 ? 0 : 1;
		fprintf(stderr,
			"events=%" PRIu64 " users=%" PRIu64 " invalid=%" PRIu64
			" entries=%" PRIu64 "\n",
			c.events, c.users, c.invalid, c.entries);
		return rc;
	}
	rk = jl_producer(&o, &c);
	if (rk == NULL)
		goto out;
	if (o.create && jl_create_topic(rk, &o) != 0)
		goto out;
	rkt = rd_kafka_topic_new(rk, o.topic, NULL);
	if (rkt == NULL)
		goto out;

	if (o.events == 0 && o.users == 0) {
		rc = 0; /* only the topic was asked for */
		goto out;
	}
	t0 = kt_now_s();
	if (jl_run(&o, rk, rkt, &c) != 0)
		goto out;
	if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "journey_load: flush timed out\n");
		goto out;
	}
	secs = kt_now_s() - t0;
	printf("events=%" PRIu64 " users=%" PRIu64 " invalid=%" PRIu64
	       " entries=%" PRIu64 " bytes=%" PRIu64 " seconds=%.2f"
	       " rate=%.0f failed=%" PRIu64 "\n",
	       c.events, c.users, c.invalid, c.entries, c.bytes, secs,
	       (double)c.events / secs, c.failed);
	rc = c.failed ? 1 : 0;
out:
	if (rkt != NULL)
		rd_kafka_topic_destroy(rkt);
	if (rk != NULL)
		rd_kafka_destroy(rk);
	return rc;
}
