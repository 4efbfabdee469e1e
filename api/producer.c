/*
 * producer.c — idempotent librdkafka producer with waited sends.
 *
 * A send (one message or a batch) allocates one `struct wait` holding a
 * slot per message.  Each produced message carries its slot as opaque;
 * the delivery-report callback (on the poll thread) marks the slot and
 * drops one reference.  The sender holds one more reference, so the
 * wait outlives whichever of sender and callbacks finishes last — the
 * sender may give up waiting without leaving a dangling pointer.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <librdkafka/rdkafka.h>

#include "api/producer.h"
#include "processor/log.h"
#include "processor/topics.h"

#define COMP "producer"

struct wait;

struct wait_slot {
	struct wait *w;
	size_t i;
};

struct wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	size_t pending;
	rd_kafka_resp_err_t first_err;
	char *ok;		 /* n flags */
	struct wait_slot *slots; /* n slots */
};

struct aprod {
	rd_kafka_t *rk;
	pthread_t poller;
	atomic_int stop;
	atomic_int down; /* all brokers down, as last reported */
	atomic_int fatal;
	int64_t timeout_ms; /* message.timeout.ms in force */
	_Atomic uint64_t delivered, failed;
};

static struct wait *wait_new(size_t n)
{
	struct wait *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->ok = calloc(n ? n : 1, 1);
	w->slots = calloc(n ? n : 1, sizeof(*w->slots));
	if (w->ok == NULL || w->slots == NULL) {
		free(w->ok);
		free(w->slots);
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->refs = 1;
	for (size_t i = 0; i < n; i++) {
		w->slots[i].w = w;
		w->slots[i].i = i;
	}
	return w;
}

/* Drop k references (under no lock); frees on the last. */
static void wait_unref(struct wait *w, int k)
{
	int left;

	pthread_mutex_lock(&w->mu);
	w->refs -= k;
	left = w->refs;
	pthread_mutex_unlock(&w->mu);
	if (left > 0)
		return;
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->ok);
	free(w->slots);
	free(w);
}

/* Poll thread: delivery report of one message. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
			void *opaque)
{
	struct wait_slot *s = m->_private;
	aprod *p = opaque;
	struct wait *w;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		atomic_fetch_add(&p->delivered, 1);
		atomic_store(&p->down, 0);
	} else {
		atomic_fetch_add(&p->failed, 1);
	}
	if (s == NULL)
		return;
	w = s->w;
	pthread_mutex_lock(&w->mu);
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		w->ok[s->i] = 1;
	else if (w->first_err == RD_KAFKA_RESP_ERR_NO_ERROR)
		w->first_err = m->err;
	w->pending--;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	wait_unref(w, 1);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	aprod *p = opaque;
	char fatal[256];

	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		atomic_store(&p->down, 1);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		atomic_store(&p->fatal, 1);
		SL_ERROR(COMP, "fatal producer error reason=\"%s\"", fatal);
		return;
	}
	SL_WARN(COMP, "kafka error err=%s reason=\"%s\"",
		rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/*
 * Statistics (every second): the brokers are up again as soon as one
 * connection is; that is how a send knows it may try again.
 */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	aprod *p = opaque;
	cJSON *st = cJSON_ParseWithLength(json, len), *b;
	int up = 0;

	(void)rk;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(st, "brokers"))
	{
		const cJSON *state =
			cJSON_GetObjectItemCaseSensitive(b, "state");

		if (cJSON_IsString(state) &&
		    strcmp(state->valuestring, "UP") == 0)
			up = 1;
	}
	if (st != NULL)
		atomic_store(&p->down, !up);
	cJSON_Delete(st);
	return 0; /* librdkafka frees json */
}

struct conf_ctx {
	rd_kafka_conf_t *conf;
	sl_errbuf *eb;
	int rc;
};

static int set_one(const char *key, const char *value, void *ud)
{
	struct conf_ctx *cc = ud;
	char err[256];

	if (rd_kafka_conf_set(cc->conf, key, value, err, sizeof(err)) ==
	    RD_KAFKA_CONF_OK)
		return 0;
	cc->rc = sl_errbuf_set(cc->eb, SL_ECONFIG, "kafka.%s: %s", key, err);
	return 1;
}

static void *poll_main(void *arg)
{
	aprod *p = arg;

	while (!atomic_load(&p->stop))
		rd_kafka_poll(p->rk, 100);
	return NULL;
}

static int build_conf(aprod *p, const sl_config *cfg, rd_kafka_conf_t **out,
		      sl_errbuf *eb)
{
	struct conf_ctx cc = { rd_kafka_conf_new(), eb, SL_OK };
	char val[64];
	size_t n = sizeof(val);

	/* Our defaults, then every kafka.* key, then what must hold. */
	set_one("message.timeout.ms", "10000", &cc);
	set_one("linger.ms", "2", &cc);
	set_one("client.id", "sluice-api", &cc);
	set_one("statistics.interval.ms", "1000", &cc);
	/* Keyed like Java clients, so a user's partition is the same
	 * whichever client produced (and the admin API can find it). */
	set_one("partitioner", "murmur2_random", &cc);
	if (cc.rc != SL_OK ||
	    (cc.rc = sl_kafka_conf_apply(cc.conf, cfg, eb)) != SL_OK ||
	    set_one("enable.idempotence", "true", &cc) != 0 ||
	    set_one("acks", "all", &cc) != 0) {
		rd_kafka_conf_destroy(cc.conf);
		return cc.rc;
	}
	if (rd_kafka_conf_get(cc.conf, "message.timeout.ms", val, &n) ==
	    RD_KAFKA_CONF_OK)
		p->timeout_ms = atoll(val);
	if (p->timeout_ms <= 0)
		p->timeout_ms = 10000;
	rd_kafka_conf_set_opaque(cc.conf, p);
	rd_kafka_conf_set_dr_msg_cb(cc.conf, on_delivery);
	rd_kafka_conf_set_error_cb(cc.conf, on_error);
	rd_kafka_conf_set_log_cb(cc.conf, sl_kafka_log_cb);
	rd_kafka_conf_set_stats_cb(cc.conf, on_stats);
	*out = cc.conf;
	return SL_OK;
}

int aprod_new(const sl_config *cfg, aprod **out, sl_errbuf *eb)
{
	aprod *p = calloc(1, sizeof(*p));
	rd_kafka_conf_t *conf = NULL;
	char err[256];
	int rc;

	if (p == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
	rc = build_conf(p, cfg, &conf, eb);
	if (rc != SL_OK)
		goto out;
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (p->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		rc = sl_errbuf_set(eb, SL_EKAFKA, "kafka producer: %s", err);
		goto out;
	}
	if (pthread_create(&p->poller, NULL, poll_main, p) != 0) {
		rd_kafka_destroy(p->rk);
		rc = sl_errbuf_set(eb, SL_ENOMEM, "cannot start poll thread");
		goto out;
	}
	*out = p;
	p = NULL;
out:
	free(p);
	return rc;
}

void aprod_free(aprod *p, int timeout_ms)
{
	rd_kafka_resp_err_t err;

	if (p == NULL)
		return;
	atomic_store(&p->stop, 1);
	pthread_join(p->poller, NULL);
	err = rd_kafka_flush(p->rk, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		SL_WARN(COMP, "flush incomplete err=%s in_queue=%d",
			rd_kafka_err2name(err), rd_kafka_outq_len(p->rk));
	rd_kafka_destroy(p->rk);
	free(p);
}

static int map_err(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__QUEUE_FULL:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
	case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
	case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
	case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
	case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
		return SL_EUNAVAIL;
	default:
		return SL_EKAFKA;
	}
}

/* Enqueue msgs in order; returns how many were enqueued. */
static size_t enqueue(aprod *p, struct wait *w, const aprod_msg *msgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		rd_kafka_resp_err_t err;

		err = rd_kafka_producev(
			p->rk, RD_KAFKA_V_TOPIC(msgs[i].topic),
			RD_KAFKA_V_KEY(msgs[i].key, msgs[i].klen),
			RD_KAFKA_V_VALUE((void *)msgs[i].value, msgs[i].vlen),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_OPAQUE(&w->slots[i]), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			pthread_mutex_lock(&w->mu);
			w->first_err = err;
			pthread_mutex_unlock(&w->mu);
			break;
		}
	}
	return i;
}

/*
 * Produce and wait.  The deadline is a safety net: librdkafka reports
 * every message within message.timeout.ms.
 */
static int send_wait(aprod *p, const aprod_msg *msgs, size_t n, char *ok,
		     sl_errbuf *eb)
{
	struct wait *w = wait_new(n);
	struct timespec ts;
	size_t sent;
	int rc = SL_OK;

	if (w == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
	pthread_mutex_lock(&w->mu);
	w->refs += (int)n;
	w->pending = n;
	pthread_mutex_unlock(&w->mu);

	/* Messages never enqueued will get no report: drop their refs. */
	sent = enqueue(p, w, msgs, n);
	pthread_mutex_lock(&w->mu);
	w->pending -= n - sent;
	w->refs -= (int)(n - sent);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += p->timeout_ms / 1000 + 30;
	while (w->pending > 0)
		if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0)
			break;
	if (w->pending > 0)
		rc = sl_errbuf_set(eb, SL_ETIMEOUT,
				   "no delivery report for %zu messages",
				   w->pending);
	else if (w->first_err != RD_KAFKA_RESP_ERR_NO_ERROR)
		rc = sl_errbuf_set(eb, map_err(w->first_err), "kafka: %s",
				   rd_kafka_err2str(w->first_err));
	if (ok != NULL)
		memcpy(ok, w->ok, n);
	pthread_mutex_unlock(&w->mu);
	wait_unref(w, 1);
	return rc;
}

int aprod_send(aprod *p, const aprod_msg *m, sl_errbuf *eb)
{
	if (atomic_load(&p->fatal))
		return sl_errbuf_set(eb, SL_EKAFKA, "producer failed fatally");

	/* Brokers down: fail fast until the statistics see one up. */
	if (atomic_load(&p->down))
		return sl_errbuf_set(eb, SL_EUNAVAIL, "kafka brokers are down");
	return send_wait(p, m, 1, NULL, eb);
}

int aprod_send_batch(aprod *p, const aprod_msg *msgs, size_t n, char *ok,
		     sl_errbuf *eb)
{
	if (atomic_load(&p->fatal)) {
		memset(ok, 0, n);
		return sl_errbuf_set(eb, SL_EKAFKA, "producer failed fatally");
	}
	return send_wait(p, msgs, n, ok, eb);
}

void aprod_purge(aprod *p)
{
	rd_kafka_purge(p->rk,
		       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
}

int aprod_failed(const aprod *p)
{
	return atomic_load(&p->fatal);
}

void aprod_get_stats(aprod *p, aprod_stats *st)
{
	st->delivered = atomic_load(&p->delivered);
	st->failed = atomic_load(&p->failed);
	st->brokers_down = atomic_load(&p->down);
}
