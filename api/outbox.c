/*
 * outbox.c — the relay thread: outbox rows -> Kafka -> marked sent.
 *
 *	disconnected ──connect + LISTEN──> idle ──wake──> draining
 *	     ^                              ^                 │
 *	     └──── connection lost ─────────┴── batch short ──┘
 *
 * idle:     poll() on the LISTEN socket and the wake eventfd, at most
 *           interval_ms; every few seconds refresh the backlog gauge and
 *           delete sent rows past retention.
 * draining: relay_batch() until a batch comes back smaller than full or
 *           fails (a failed batch waits for the next wake: a Kafka
 *           outage costs one attempt per message.timeout.ms, no spin).
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "api/outbox.h"
#include "api/pgpool.h"
#include "processor/log.h"

#define COMP "outbox"
#define STMT_TIMEOUT_MS 10000

struct outbox {
	outbox_opts opts;
	char *url;
	aprod *prod;
	pthread_t thread;
	int efd;
	atomic_int stop;
	atomic_int woken;
	PGconn *conn;
	int64_t last_housekeeping;
	int64_t last_connect_log;

	_Atomic uint64_t relayed, failed_batches;
	_Atomic int64_t backlog, oldest_ms;
	atomic_int connected;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One statement on the relay's connection; logs and returns rc. */
static int run(outbox *ob, const char *sql, int n, const char *const *vals,
	       PGresult **res)
{
	sl_errbuf eb = { { 0 } };
	PGresult *r = NULL;
	int rc;

	rc = pg_exec_timeout(ob->conn, sql, n, vals, STMT_TIMEOUT_MS, &r, &eb);
	if (rc != SL_OK)
		SL_WARN(COMP, "statement failed err=%s detail=\"%s\"",
			sl_errname(rc), eb.msg);
	if (res != NULL && rc == SL_OK)
		*res = r;
	else
		PQclear(r);
	return rc;
}

static void disconnect(outbox *ob)
{
	PQfinish(ob->conn);
	ob->conn = NULL;
	atomic_store(&ob->connected, 0);
}

static int connect_listen(outbox *ob)
{
	sl_errbuf eb = { { 0 } };

	if (pg_connect(ob->url, 2, "sluice-outbox", &ob->conn, &eb) != SL_OK) {
		if (now_ms() - ob->last_connect_log >= 30000) {
			SL_WARN(COMP, "cannot connect, retrying detail=\"%s\"",
				eb.msg);
			ob->last_connect_log = now_ms();
		}
		return SL_EUNAVAIL;
	}
	if (run(ob, "LISTEN " OUTBOX_CHANNEL, 0, NULL, NULL) != SL_OK) {
		disconnect(ob);
		return SL_EUNAVAIL;
	}
	atomic_store(&ob->connected, 1);
	SL_INFO(COMP, "relay connected");
	return SL_OK;
}

/* "{1,2,3}" of the delivered rows' ids; NULL on out of memory. */
static char *id_array(const PGresult *r, const char *ok, int n)
{
	size_t cap = (size_t)n * 21 + 3, o = 0;
	char *s = malloc(cap);

	if (s == NULL)
		return NULL;
	s[o++] = '{';
	for (int i = 0; i < n; i++) {
		if (!ok[i])
			continue;
		o += (size_t)snprintf(s + o, cap - o, "%s%s", o > 1 ? "," : "",
				      PQgetvalue(r, i, 0));
	}
	snprintf(s + o, cap - o, "}");
	return s;
}

/* Produce the selected rows; mark the delivered ones sent. */
static int relay_rows(outbox *ob, PGresult *r, int n)
{
	aprod_msg *msgs = calloc((size_t)n, sizeof(*msgs));
	char *ok = calloc((size_t)n, 1), *ids = NULL;
	sl_errbuf eb = { { 0 } };
	int rc, nok = 0;

	if (msgs == NULL || ok == NULL) {
		rc = SL_ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		msgs[i].topic = PQgetvalue(r, i, 1);
		msgs[i].key = PQgetvalue(r, i, 2);
		msgs[i].klen = (size_t)PQgetlength(r, i, 2);
		msgs[i].value = PQgetvalue(r, i, 3);
		msgs[i].vlen = (size_t)PQgetlength(r, i, 3);
	}
	rc = aprod_send_batch(ob->prod, msgs, (size_t)n, ok, &eb);
	for (int i = 0; i < n; i++)
		nok += ok[i];
	if (rc != SL_OK)
		SL_WARN(COMP,
			"batch not fully delivered, will retry rows=%d "
			"delivered=%d err=%s detail=\"%s\"",
			n, nok, sl_errname(rc), eb.msg);
	if (nok > 0) {
		const char *vals[1];
		int urc;

		ids = id_array(r, ok, n);
		if (ids == NULL) {
			rc = SL_ENOMEM;
			goto out;
		}
		vals[0] = ids;
		urc = run(ob,
			  "UPDATE outbox SET sent_at = now() "
			  "WHERE id = ANY($1::bigint[])",
			  1, vals, NULL);
		if (urc != SL_OK)
			rc = urc;
		else
			atomic_fetch_add(&ob->relayed, (uint64_t)nok);
	}
out:
	free(msgs);
	free(ok);
	free(ids);
	return rc;
}

/*
 * One batch in one transaction.  Returns rows handled (>= 0) or an
 * SL_E* code; on failure the transaction is rolled back, so the rows
 * stay unsent.
 */
static int relay_batch(outbox *ob)
{
	char limit[16];
	const char *vals[1] = { limit };
	PGresult *r = NULL;
	int rc, n = 0;

	snprintf(limit, sizeof(limit), "%d", ob->opts.batch);
	rc = run(ob, "BEGIN", 0, NULL, NULL);
	if (rc != SL_OK)
		return rc;
	rc = run(ob,
		 "SELECT id, topic, key, payload FROM outbox "
		 "WHERE sent_at IS NULL ORDER BY id "
		 "LIMIT $1::int FOR UPDATE SKIP LOCKED",
		 1, vals, &r);
	if (rc == SL_OK) {
		n = PQntuples(r);
		if (n > 0)
			rc = relay_rows(ob, r, n);
	}
	PQclear(r);
	if (rc == SL_OK)
		rc = run(ob, "COMMIT", 0, NULL, NULL);
	else if (PQstatus(ob->conn) == CONNECTION_OK)
		run(ob, "ROLLBACK", 0, NULL, NULL);
	if (rc != SL_OK) {
		atomic_fetch_add(&ob->failed_batches, 1);
		return rc;
	}
	return n;
}

/* Backlog gauge and deletion of old sent rows, every 10 s. */
static void housekeeping(outbox *ob)
{
	char keep[32];
	const char *vals[1] = { keep };
	PGresult *r = NULL;

	if (now_ms() - ob->last_housekeeping < 10000)
		return;
	ob->last_housekeeping = now_ms();
	if (run(ob,
		"SELECT count(*), coalesce(extract(epoch FROM now() - "
		"min(created_at)) * 1000, 0)::bigint FROM outbox "
		"WHERE sent_at IS NULL",
		0, NULL, &r) == SL_OK) {
		atomic_store(&ob->backlog, atoll(PQgetvalue(r, 0, 0)));
		atomic_store(&ob->oldest_ms, atoll(PQgetvalue(r, 0, 1)));
	}
	PQclear(r);

	/*
	 * Sent rows past retention, in chunks, found through
	 * outbox_sent_at_idx and deleted by id: no plan reads the table
	 * whole (tests/integration/21_api_explain.sh checks).
	 */
	snprintf(keep, sizeof(keep), "%lld milliseconds",
		 (long long)ob->opts.retention_ms);
	for (int i = 0; i < 100 && !atomic_load(&ob->stop); i++) {
		r = NULL;
		if (run(ob,
			"DELETE FROM outbox WHERE id = ANY(ARRAY(SELECT id "
			"FROM outbox WHERE sent_at < now() - $1::interval "
			"LIMIT 10000))",
			1, vals, &r) != SL_OK)
			break;
		if (atoi(PQcmdTuples(r)) < 10000) {
			PQclear(r);
			break;
		}
		PQclear(r);
	}
}

/* Sleep until notified, woken or the interval passes. */
static void wait_for_work(outbox *ob)
{
	struct pollfd pfd[2] = { { .fd = ob->efd, .events = POLLIN },
				 { .fd = PQsocket(ob->conn),
				   .events = POLLIN } };
	PGnotify *nt;
	uint64_t v;

	if (atomic_exchange(&ob->woken, 0)) {
		if (read(ob->efd, &v, sizeof(v)) < 0)
			v = 0; /* nothing pending: fine */
		return;
	}
	if (poll(pfd, 2, (int)ob->opts.interval_ms) <= 0)
		return;
	if ((pfd[0].revents & POLLIN) && read(ob->efd, &v, sizeof(v)) < 0)
		v = 0;
	atomic_store(&ob->woken, 0);
	if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
		if (!PQconsumeInput(ob->conn))
			return; /* status now bad: reconnect next round */
		while ((nt = PQnotifies(ob->conn)) != NULL)
			PQfreemem(nt);
	}
}

/*
 * On stop (the HTTP server has answered its last request): relay what
 * is left, a bounded amount, unless Kafka is down; the rest waits in
 * the outbox for the next start.
 */
static void final_drain(outbox *ob)
{
	aprod_stats ps;

	if (ob->conn == NULL || PQstatus(ob->conn) != CONNECTION_OK)
		return;
	for (int i = 0; i < 20; i++) {
		aprod_get_stats(ob->prod, &ps);
		if (ps.brokers_down || relay_batch(ob) < ob->opts.batch)
			break;
	}
}

static void *relay_main(void *arg)
{
	outbox *ob = arg;

	while (!atomic_load(&ob->stop)) {
		int n;

		if (ob->conn == NULL && connect_listen(ob) != SL_OK) {
			struct pollfd pfd = { .fd = ob->efd, .events = POLLIN };

			poll(&pfd, 1, (int)ob->opts.interval_ms);
			continue;
		}

		/* Drain, then wait. */
		do {
			n = relay_batch(ob);
		} while (n == ob->opts.batch && !atomic_load(&ob->stop));
		if (PQstatus(ob->conn) != CONNECTION_OK) {
			SL_WARN(COMP, "connection lost, reconnecting");
			disconnect(ob);
			continue;
		}
		housekeeping(ob);
		wait_for_work(ob);
	}
	final_drain(ob);
	if (ob->conn != NULL)
		disconnect(ob);
	return NULL;
}

int outbox_start(const outbox_opts *opts, aprod *prod, outbox **out,
		 sl_errbuf *eb)
{
	outbox *ob = calloc(1, sizeof(*ob));

	if (ob == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
	ob->opts = *opts;
	if (ob->opts.batch <= 0)
		ob->opts.batch = 500;
	if (ob->opts.interval_ms <= 0)
		ob->opts.interval_ms = 1000;
	if (ob->opts.retention_ms <= 0)
		ob->opts.retention_ms = 3600 * 1000;
	ob->prod = prod;
	ob->backlog = -1;
	ob->efd = -1;
	ob->url = strdup(opts->url ? opts->url : "");
	ob->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ob->url == NULL || ob->efd < 0)
		goto fail;
	ob->opts.url = ob->url;
	if (pthread_create(&ob->thread, NULL, relay_main, ob) != 0)
		goto fail;
	*out = ob;
	return SL_OK;
fail:
	if (ob->efd >= 0)
		close(ob->efd);
	free(ob->url);
	free(ob);
	return sl_errbuf_set(eb, SL_ENOMEM, "cannot start the outbox relay");
}

void outbox_wake(outbox *ob)
{
	uint64_t one = 1;

	if (atomic_exchange(&ob->woken, 1))
		return; /* a wake is already pending */
	if (write(ob->efd, &one, sizeof(one)) < 0)
		SL_DEBUG(COMP, "wake write failed");
}

void outbox_request_stop(outbox *ob)
{
	uint64_t one = 1;

	if (ob == NULL)
		return;
	atomic_store(&ob->stop, 1);
	if (write(ob->efd, &one, sizeof(one)) < 0)
		SL_DEBUG(COMP, "wake write failed");
}

void outbox_stop(outbox *ob)
{
	if (ob == NULL)
		return;
	outbox_request_stop(ob);
	pthread_join(ob->thread, NULL);
	close(ob->efd);
	free(ob->url);
	free(ob);
}

void outbox_get_stats(outbox *ob, outbox_stats *st)
{
	st->relayed = atomic_load(&ob->relayed);
	st->failed_batches = atomic_load(&ob->failed_batches);
	st->backlog = atomic_load(&ob->backlog);
	st->oldest_s = (double)atomic_load(&ob->oldest_ms) / 1000.0;
	st->connected = atomic_load(&ob->connected);
}
