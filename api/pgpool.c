/*
 * pgpool.c — fixed-size libpq pool with lazy (re)connects and deadlines.
 *
 * A slot is in one of three states; only the owner of a checked-out
 * slot touches its connection:
 *
 *	empty ──pgpool_get (connect)──> out ──pgpool_put (healthy)──> idle
 *	  ^                              │  <──pgpool_get────────────────┘
 *	  └────pgpool_put (broken/busy)──┘
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/pgpool.h"
#include "processor/log.h"

struct slot {
	PGconn *conn; /* NULL when empty */
	int out;
};

struct pgpool {
	pgpool_opts opts;
	char *url, *app_name;
	pthread_mutex_t mu;
	pthread_cond_t freed;
	int64_t connect_failed_at; /* monotonic ms; 0 when none */
	struct slot *slots;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pgpool *pgpool_new(const pgpool_opts *opts)
{
	pgpool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->opts = *opts;
	if (p->opts.size <= 0)
		p->opts.size = 8;
	if (p->opts.wait_ms <= 0)
		p->opts.wait_ms = 2000;
	if (p->opts.query_timeout_ms <= 0)
		p->opts.query_timeout_ms = 5000;
	if (p->opts.connect_timeout_s <= 0)
		p->opts.connect_timeout_s = 2;
	if (p->opts.retry_ms <= 0)
		p->opts.retry_ms = 500;
	p->url = strdup(opts->url ? opts->url : "");
	p->app_name = strdup(opts->app_name ? opts->app_name : "sluice");
	p->slots = calloc((size_t)p->opts.size, sizeof(*p->slots));
	if (p->url == NULL || p->app_name == NULL || p->slots == NULL) {
		free(p->url);
		free(p->app_name);
		free(p->slots);
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->freed, NULL);
	return p;
}

void pgpool_free(pgpool *pool)
{
	if (pool == NULL)
		return;
	for (int i = 0; i < pool->opts.size; i++)
		if (pool->slots[i].conn != NULL)
			PQfinish(pool->slots[i].conn);
	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->freed);
	free(pool->slots);
	free(pool->url);
	free(pool->app_name);
	free(pool);
}

/* libpq's message on one line (it spans several, with tabs). */
static const char *pg_msg(const PGconn *c)
{
	static __thread char buf[256];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", c ? PQerrorMessage(c) : "no memory");
	for (size_t i = 0; buf[i] != '\0'; i++) {
		char ch = buf[i] == '\n' || buf[i] == '\t' ? ' ' : buf[i];

		if (ch == ' ' && (n == 0 || buf[n - 1] == ' '))
			continue;
		buf[n++] = ch;
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	return buf;
}

/* Server notices (a FATAL on shutdown, warnings) go to the log. */
static void on_notice(void *arg, const char *msg)
{
	size_t n = strlen(msg);

	(void)arg;
	while (n > 0 && msg[n - 1] == '\n')
		n--;
	SL_DEBUG("pg", "server notice msg=\"%.*s\"", (int)n, msg);
}

int pg_connect(const char *url, int connect_timeout_s, const char *app_name,
	       PGconn **out, sl_errbuf *eb)
{
	char timeout[16];
	/* Ours first: what the URL itself says overrides them. */
	const char *keys[] = { "connect_timeout", "application_name", "dbname",
			       NULL };
	const char *vals[] = { timeout, app_name, url, NULL };
	PGconn *c;

	snprintf(timeout, sizeof(timeout), "%d", connect_timeout_s);
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		sl_errbuf_set(eb, SL_EUNAVAIL, "postgresql connect: %s",
			      pg_msg(c));
		PQfinish(c);
		return SL_EUNAVAIL;
	}
	PQsetNoticeProcessor(c, on_notice, NULL);
	*out = c;
	return SL_OK;
}

/*
 * Is an idle connection still usable?  An idle pool connection has
 * nothing to read (it never LISTENs): input means the server closed it
 * or is closing it (a FATAL notice on shutdown), so it is dropped.
 */
static int conn_healthy(PGconn *c)
{
	struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };

	if (PQstatus(c) != CONNECTION_OK || pfd.fd < 0 ||
	    PQtransactionStatus(c) != PQTRANS_IDLE)
		return 0;
	return poll(&pfd, 1, 0) == 0;
}

/* Take a free slot under the lock, waiting up to the deadline. */
static struct slot *take_slot(pgpool *pool, int64_t deadline)
{
	struct slot *s = NULL;

	pthread_mutex_lock(&pool->mu);
	for (;;) {
		/* Prefer a connected slot, then an empty one. */
		for (int i = 0; i < pool->opts.size; i++) {
			struct slot *c = &pool->slots[i];

			if (c->out)
				continue;
			if (s == NULL || (s->conn == NULL && c->conn != NULL))
				s = c;
		}
		if (s != NULL) {
			s->out = 1;
			break;
		}
		int64_t left = deadline - now_ms();
		struct timespec ts;

		if (left <= 0)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&pool->freed, &pool->mu, &ts);
	}
	pthread_mutex_unlock(&pool->mu);
	return s;
}

/* Close the owner's connection; the slot stays checked out, empty. */
static void slot_close(pgpool *pool, struct slot *s)
{
	PGconn *c;

	pthread_mutex_lock(&pool->mu);
	c = s->conn;
	s->conn = NULL;
	pthread_mutex_unlock(&pool->mu);
	PQfinish(c);
}

static void release_slot(pgpool *pool, struct slot *s)
{
	pthread_mutex_lock(&pool->mu);
	s->out = 0;
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->mu);
}

/* Connect an empty slot, failing fast right after a failed connect. */
static int slot_connect(pgpool *pool, struct slot *s, sl_errbuf *eb)
{
	PGconn *c = NULL;
	int64_t failed;
	int rc;

	pthread_mutex_lock(&pool->mu);
	failed = pool->connect_failed_at;
	pthread_mutex_unlock(&pool->mu);
	if (failed != 0 && now_ms() - failed < pool->opts.retry_ms)
		return sl_errbuf_set(eb, SL_EUNAVAIL,
				     "postgresql unavailable (connect failed "
				     "%lld ms ago)",
				     (long long)(now_ms() - failed));
	rc = pg_connect(pool->url, pool->opts.connect_timeout_s, pool->app_name,
			&c, eb);
	pthread_mutex_lock(&pool->mu);
	pool->connect_failed_at = rc == SL_OK ? 0 : now_ms();
	s->conn = rc == SL_OK ? c : NULL;
	pthread_mutex_unlock(&pool->mu);
	return rc;
}

int pgpool_get(pgpool *pool, PGconn **out, sl_errbuf *eb)
{
	struct slot *s = take_slot(pool, now_ms() + pool->opts.wait_ms);
	int rc;

	if (s == NULL)
		return sl_errbuf_set(eb, SL_ETIMEOUT,
				     "no free postgresql connection within "
				     "%lld ms",
				     (long long)pool->opts.wait_ms);
	if (s->conn != NULL && !conn_healthy(s->conn))
		slot_close(pool, s);
	if (s->conn == NULL) {
		rc = slot_connect(pool, s, eb);
		if (rc != SL_OK) {
			release_slot(pool, s);
			return rc;
		}
	}
	*out = s->conn;
	return SL_OK;
}

void pgpool_put(pgpool *pool, PGconn *conn)
{
	struct slot *s = NULL;
	PGnotify *n;

	if (conn == NULL)
		return;
	pthread_mutex_lock(&pool->mu);
	for (int i = 0; i < pool->opts.size && s == NULL; i++)
		if (pool->slots[i].out && pool->slots[i].conn == conn)
			s = &pool->slots[i];
	pthread_mutex_unlock(&pool->mu);
	SL_ASSERT(s != NULL); /* a connection this pool did not hand out */

	/*
	 * Through PgBouncer a server connection that once LISTENed can pass
	 * notifications to any client; libpq would keep them forever.
	 */
	while ((n = PQnotifies(conn)) != NULL)
		PQfreemem(n);
	if (PQstatus(conn) != CONNECTION_OK ||
	    PQtransactionStatus(conn) != PQTRANS_IDLE)
		slot_close(pool, s);
	release_slot(pool, s);
}

/* SQLSTATEs that say "the server is not taking work", not "bad query". */
static int sqlstate_unavailable(const char *st)
{
	if (st == NULL)
		return 1;
	return strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0 ||
	       strncmp(st, "57P", 3) == 0;
}

/* Wait for the result until the deadline; 0 ready, -1 error/timeout. */
static int wait_result(PGconn *c, int64_t deadline, int *timed_out)
{
	*timed_out = 0;
	for (;;) {
		struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
		int64_t left;

		if (!PQconsumeInput(c))
			return -1;
		if (!PQisBusy(c))
			return 0;
		left = deadline - now_ms();
		if (left <= 0) {
			*timed_out = 1;
			return -1;
		}
		if (poll(&pfd, 1, (int)left) < 0)
			return -1;
	}
}

int pg_exec_timeout(PGconn *conn, const char *sql, int nparams,
		    const char *const *values, int64_t timeout_ms,
		    PGresult **res, sl_errbuf *eb)
{
	PGresult *r, *last = NULL;
	int timed_out, rc;
	const char *st;

	*res = NULL;
	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0))
		return sl_errbuf_set(eb, SL_EUNAVAIL, "postgresql send: %s",
				     pg_msg(conn));
	if (wait_result(conn, now_ms() + timeout_ms, &timed_out) != 0) {
		if (timed_out)
			return sl_errbuf_set(eb, SL_ETIMEOUT,
					     "postgresql statement took over "
					     "%lld ms",
					     (long long)timeout_ms);
		return sl_errbuf_set(eb, SL_EUNAVAIL, "postgresql: %s",
				     pg_msg(conn));
	}

	/* One statement gives one result; keep the last if more came. */
	while ((r = PQgetResult(conn)) != NULL) {
		PQclear(last);
		last = r;
	}
	if (last == NULL)
		return sl_errbuf_set(eb, SL_EUNAVAIL, "postgresql: %s",
				     pg_msg(conn));
	switch (PQresultStatus(last)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		*res = last;
		return SL_OK;
	default:
		break;
	}
	st = PQresultErrorField(last, PG_DIAG_SQLSTATE);
	rc = (PQstatus(conn) != CONNECTION_OK || sqlstate_unavailable(st))
		     ? SL_EUNAVAIL
		     : SL_EPG;
	sl_errbuf_set(eb, rc, "postgresql %s: %s", st ? st : "-",
		      PQresultErrorField(last, PG_DIAG_MESSAGE_PRIMARY)
			      ? PQresultErrorField(last,
						   PG_DIAG_MESSAGE_PRIMARY)
			      : pg_msg(conn));
	if (rc == SL_EPG)
		*res = last;
	else
		PQclear(last);
	return rc;
}

int pgpool_exec(pgpool *pool, PGconn *conn, const char *sql, int nparams,
		const char *const *values, PGresult **res, sl_errbuf *eb)
{
	return pg_exec_timeout(conn, sql, nparams, values,
			       pool->opts.query_timeout_ms, res, eb);
}

void pgpool_stats(pgpool *pool, int *in_use, int *connected, int *size)
{
	int u = 0, c = 0;

	pthread_mutex_lock(&pool->mu);
	for (int i = 0; i < pool->opts.size; i++) {
		u += pool->slots[i].out;
		c += pool->slots[i].conn != NULL;
	}
	pthread_mutex_unlock(&pool->mu);
	*in_use = u;
	*connected = c;
	*size = pool->opts.size;
}
