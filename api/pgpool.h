/*
 * pgpool.h — a fixed-size pool of libpq connections.
 *
 * `size` slots over one connection URL.  A slot connects lazily, on the
 * checkout that first needs it, and again after its connection broke:
 * a connection that is bad, was left inside a transaction or a query,
 * or has unread input when checked out (the server closed it) is
 * closed and replaced.  Every statement goes through PQexecParams-style
 * unnamed statements, so the pool works through PgBouncer in
 * transaction mode (named prepared statements would collide there).
 *
 * Failing fast: connections are opened with a short connect_timeout,
 * statements run with a deadline, and after a failed connect every
 * checkout of an unconnected slot fails at once for `retry_ms`, so
 * callers can answer 503 quickly while PostgreSQL is down.
 *
 * Thread-safe.  A checked-out PGconn belongs to its caller until
 * pgpool_put; it must not be closed by the caller.
 */
#ifndef SL_PGPOOL_H
#define SL_PGPOOL_H

#include <stdint.h>

#include <libpq-fe.h>

#include "processor/err.h"

typedef struct pgpool pgpool;

typedef struct pgpool_opts {
	const char *url;	  /* libpq URL or key=value string; copied */
	int size;		  /* connections; 0 means 8 */
	int64_t wait_ms;	  /* longest wait for a free slot; 0 = 2000 */
	int64_t query_timeout_ms; /* per statement; 0 = 5000 */
	int connect_timeout_s;	  /* 0 means 2 */
	int64_t retry_ms;	  /* fail fast after a failed connect; 0=500 */
	const char *app_name;	  /* application_name; NULL = "sluice" */
} pgpool_opts;

/* A pool with no connections yet; NULL on out of memory. */
pgpool *pgpool_new(const pgpool_opts *opts);

/* Free the pool; every connection must have been put back. */
void pgpool_free(pgpool *pool);

/*
 * Check a connection out.  SL_OK and *out; SL_ETIMEOUT when no slot
 * freed up within wait_ms; SL_EUNAVAIL when connecting failed (detail in
 * eb).  Return it with pgpool_put.
 */
int pgpool_get(pgpool *pool, PGconn **out, sl_errbuf *eb);

/* Check a connection back in; a broken or busy one is closed. */
void pgpool_put(pgpool *pool, PGconn *conn);

/*
 * Run one statement (text parameters, NULL for SQL NULL) with the pool's
 * deadline.  SL_OK and *res (PGRES_COMMAND_OK or PGRES_TUPLES_OK);
 * SL_EPG for an SQL error, with *res holding the failed result so the
 * caller can read its SQLSTATE; SL_EUNAVAIL when the connection failed
 * or the server is not taking queries (SQLSTATE classes 08, 53, 57P);
 * SL_ETIMEOUT past the deadline (the connection is then closed at
 * pgpool_put).  The caller PQclears *res whenever it is not NULL.
 */
int pgpool_exec(pgpool *pool, PGconn *conn, const char *sql, int nparams,
		const char *const *values, PGresult **res, sl_errbuf *eb);

/* The same, without a pool, for a dedicated connection. */
int pg_exec_timeout(PGconn *conn, const char *sql, int nparams,
		    const char *const *values, int64_t timeout_ms,
		    PGresult **res, sl_errbuf *eb);

/*
 * Open one connection outside any pool with the same URL handling and
 * connect timeout.  SL_OK and *out, or SL_EUNAVAIL with eb.
 */
int pg_connect(const char *url, int connect_timeout_s, const char *app_name,
	       PGconn **out, sl_errbuf *eb);

/* Slots in use and connected, for metrics. */
void pgpool_stats(pgpool *pool, int *in_use, int *connected, int *size);

#endif
