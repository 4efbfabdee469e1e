/*
 * httpc.h — the libcurl client of the sinks that POST batches
 * (ClickHouse, Meta's Conversions API).
 *
 * One client is one easy handle, so its connection is kept and reused
 * from one request to the next.  It sends a body of a fixed content
 * type, with no "Expect: 100-continue" pause, over http or https only,
 * and keeps the start of each reply.  It is not thread-safe: one
 * client serves one sink.
 *
 * Ownership: httpc_new returns a client that httpc_free releases; it
 * copies what it keeps of the options, and `url` and `body` of a POST
 * need live only during the call.
 */
#ifndef SL_HTTPC_H
#define SL_HTTPC_H

#include <stddef.h>

#include "processor/err.h"

/* One HTTP exchange as a sink sees it. */
typedef struct httpc_reply {
	long status;	 /* HTTP status */
	char body[8192]; /* the start of the body, NUL-terminated */
	size_t len;	 /* bytes in body; the rest was dropped */
	char err[256];	 /* why there was no reply */
} httpc_reply;

/*
 * POST `len` bytes of `body` to `url`.  SL_OK when a reply arrived
 * (status and body set, whatever the status); SL_ETRANSIENT when none
 * did (connection refused, reset, timeout); SL_ECONFIG when the request
 * cannot be made (bad URL, a scheme other than http(s)).  r->err says
 * why.  Sinks call their transport through this type so that tests can
 * replace it.
 */
typedef int (*httpc_post_fn)(void *ud, const char *url, const char *body,
			     size_t len, httpc_reply *r);

typedef struct httpc_opts {
	const char *name;	  /* prefix of error messages ("meta") */
	const char *content_type; /* "application/json" */
	long connect_timeout_ms;  /* to connect, > 0 */
	long timeout_ms;	  /* the whole request, connect included */
	/*
	 * Do not reuse a connection idle longer than this (a server that
	 * closes idle connections sooner); 0: libcurl's default.
	 */
	long max_idle_s;
	/*
	 * When a reused connection turns out closed by the server (send
	 * or receive error, or nothing back, on no new connection), send
	 * once more on a fresh one.  For a server where a resent request
	 * can do no harm.
	 */
	int resend_stale;
	/* An unresolvable host is SL_ECONFIG (else SL_ETRANSIENT). */
	int resolve_is_config;
} httpc_opts;

typedef struct httpc httpc;

/*
 * A client with the options `o` (copied).  SL_OK and *out, or
 * SL_ENOMEM with the reason in eb.  Calls curl_global_init.
 */
int httpc_new(const httpc_opts *o, httpc **out, sl_errbuf *eb);

/* Close the connection and free; NULL is a no-op. */
void httpc_free(httpc *h);

/* The httpc_post_fn of a client: `ud` is the httpc. */
int httpc_post(void *ud, const char *url, const char *body, size_t len,
	       httpc_reply *r);

#endif
