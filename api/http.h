/*
 * http.h — a small HTTP/1.1 server over libmicrohttpd with a route table.
 *
 * Shared by the screening API (api/server.c) and the worker's admin API:
 * each creates its own server on its own listener and registers its own
 * routes.  A route is a method and a path pattern whose segments are
 * literals or `{name}` parameters ("/v1/screenings/{id}"); a parameter
 * matches one non-empty segment.  A path that matches no pattern gets
 * 404, one that matches with another method gets 405; bodies over
 * `max_body` get 413 without reaching a handler.
 *
 * Threads: handlers may block (a database query, a Kafka delivery).
 * With `threads` = 0 every connection has its own thread, so a blocked
 * handler delays only its own client; with `threads` = n the server
 * runs n epoll threads and a blocked handler stalls every connection
 * of its thread — use that only for handlers that never block.
 *
 * Lifetime: http_server_new copies the options; routes are added before
 * http_server_start and live until http_server_free.  A handler is
 * called once per request, on a server thread, possibly concurrently
 * with itself; the http_req and every pointer obtained from it are
 * valid only during that call.  The handler answers by filling the
 * http_resp (whose setters copy what they are given); a handler that
 * sets nothing produces a 500.
 */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#include "processor/err.h"

typedef struct http_server http_server;
typedef struct http_req http_req;
typedef struct http_resp http_resp;

typedef void (*http_handler_fn)(const http_req *req, http_resp *resp, void *ud);

typedef struct http_opts {
	const char *name;   /* log component and metric label ("api") */
	const char *listen; /* "host:port" or "[v6]:port"; port 0 = any */
	size_t max_body;    /* bytes; 0 means 64 KiB */
	unsigned threads;   /* 0: thread per connection; n: n epoll threads */
	unsigned max_conns; /* 0 means 1024 */
	unsigned per_ip;    /* connections per client address; 0 = no limit */
	unsigned timeout_s; /* idle connection timeout; 0 means 30 */
} http_opts;

/* A stopped server with no routes; NULL and eb set on failure. */
http_server *http_server_new(const http_opts *opts, sl_errbuf *eb);

/*
 * Add a route before http_server_start.  `method` ("GET", "POST") and
 * `pattern` are copied; `ud` is passed to fn untouched and must outlive
 * the server.  SL_EINVAL for a malformed pattern or too many routes.
 */
int http_route(http_server *srv, const char *method, const char *pattern,
	       http_handler_fn fn, void *ud);

/* Bind and start serving; SL_EIO with eb when the address is taken. */
int http_server_start(http_server *srv, sl_errbuf *eb);

/* The bound port (useful after listening on port 0); 0 if not started. */
uint16_t http_server_port(const http_server *srv);

/* Stop accepting new connections; requests in flight carry on. */
void http_server_quiesce(http_server *srv);

/*
 * Stop (waiting for handlers in flight to return, then closing every
 * connection) and free.  NULL is a no-op.
 */
void http_server_free(http_server *srv);

/*
 * Prometheus text for the server's requests: counts by route and status
 * (sluice_http_requests_total) and a latency histogram by route
 * (sluice_http_request_duration_seconds), labelled server=<name>.
 */
void http_server_write_metrics(const http_server *srv, FILE *f);

/* The request, valid during the handler call only. */
const char *http_req_method(const http_req *req);
const char *http_req_path(const http_req *req);
/* The matched pattern ("/v1/screenings/{id}"). */
const char *http_req_pattern(const http_req *req);
/* A header (case-insensitive name) or NULL. */
const char *http_req_header(const http_req *req, const char *name);
/* A `{name}` path parameter or NULL. */
const char *http_req_param(const http_req *req, const char *name);
/* A query-string argument or NULL. */
const char *http_req_query(const http_req *req, const char *name);
/* The body, NUL-terminated after *len bytes (may contain NULs). */
const char *http_req_body(const http_req *req, size_t *len);

/*
 * The response.  Each setter copies its arguments; a later call
 * replaces the body.  SL_ENOMEM leaves the response as a 500.
 */
int http_resp_set(http_resp *resp, int status, const char *content_type,
		  const char *body, size_t len);
int http_resp_json(http_resp *resp, int status, const char *json);
int http_resp_cjson(http_resp *resp, int status, const cJSON *obj);
/* {"error": error, "field": field, "rule": rule}; field/rule may be NULL. */
int http_resp_error(http_resp *resp, int status, const char *error,
		    const char *field, const char *rule);
/* An extra header; at most 8 per response. */
int http_resp_header(http_resp *resp, const char *name, const char *value);
/* The status set so far (0 when none). */
int http_resp_status(const http_resp *resp);

/* Prints a server's metrics, Prometheus text, to f. */
typedef void (*http_metrics_fn)(FILE *f, void *ud);

/*
 * Answer 200 with what write(f, ud) prints, as Prometheus text
 * (version 0.0.4); 503 when there is no memory to print it in.
 */
void http_resp_metrics(http_resp *resp, http_metrics_fn write, void *ud);

/* A handler for /healthz: 200 {"status":"ok"} while the server runs. */
void http_h_healthz(const http_req *req, http_resp *resp, void *ud);

/*
 * Split "host:port" / "[v6]:port" into host and port.  SL_OK or
 * SL_EINVAL.  Exposed for tests.
 */
int http_split_listen(const char *listen, char *host, size_t hostlen,
		      char *port, size_t portlen);

#endif
