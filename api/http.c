/*
 * http.c — route table, body accumulation and metrics over libmicrohttpd.
 *
 * A request moves through on_request() in three kinds of call, as MHD
 * drives it:
 *
 *	headers read ──> body chunks (0..n) ──> end of request
 *	     │                 │                      │
 *	 allocate ctx,   append to ctx->body,   match route, run handler,
 *	 413 at once if  or count it as too     queue the response
 *	 Content-Length  big and discard
 *	 is over limit
 *
 * The context is freed by on_completed() whatever happened.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/http.h"
#include "processor/log.h"

#define HTTP_MAX_ROUTES 32
#define HTTP_MAX_SEGS 16
#define HTTP_MAX_PARAMS 8
#define HTTP_MAX_PATH 2048
#define HTTP_MAX_HEADERS 8
#define HTTP_NSTATUS 500 /* statuses 100..599 */

/* Latency buckets in microseconds; the last one is +Inf. */
static const uint64_t bucket_us[] = { 1000,   2500,    5000,	10000,
				      25000,  50000,   100000,	250000,
				      500000, 1000000, 2500000, 10000000 };
#define HTTP_NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct route_stats {
	_Atomic uint64_t by_status[HTTP_NSTATUS];
	_Atomic uint64_t bucket[HTTP_NBUCKETS + 1];
	_Atomic uint64_t sum_us;
	_Atomic uint64_t count;
};

struct route {
	char method[16];
	char *pattern;
	char *segs[HTTP_MAX_SEGS]; /* point into segbuf; params unbraced */
	char is_param[HTTP_MAX_SEGS];
	char *segbuf;
	int nsegs;
	http_handler_fn fn;
	void *ud;
	struct route_stats stats;
};

struct http_server {
	char *name;
	char *listen;
	http_opts opts;
	struct sockaddr_storage addr;
	struct MHD_Daemon *mhd;
	uint16_t port;
	int nroutes;
	struct route *routes[HTTP_MAX_ROUTES];
	struct route_stats unmatched;
};

struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	const struct route *route;
	const char *pnames[HTTP_MAX_PARAMS];
	const char *pvals[HTTP_MAX_PARAMS];
	int nparams;
	const char *body;
	size_t len;
};

struct http_resp {
	int status;
	char ctype[64];
	char *body;
	size_t len;
	char *hname[HTTP_MAX_HEADERS];
	char *hval[HTTP_MAX_HEADERS];
	int nheaders;
};

/* Per-request state kept by MHD between calls (its *con_cls). */
struct conn_ctx {
	struct timespec t0;
	char *body;
	size_t len, cap;
	int too_big;
};

/* ---- responses ---- */

int http_resp_set(http_resp *resp, int status, const char *content_type,
		  const char *body, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return SL_ENOMEM;
	memcpy(copy, body, len);
	copy[len] = '\0';
	free(resp->body);
	resp->body = copy;
	resp->len = len;
	resp->status = status;
	snprintf(resp->ctype, sizeof(resp->ctype), "%s", content_type);
	return SL_OK;
}

int http_resp_json(http_resp *resp, int status, const char *json)
{
	return http_resp_set(resp, status, "application/json", json,
			     strlen(json));
}

int http_resp_cjson(http_resp *resp, int status, const cJSON *obj)
{
	char *s = cJSON_PrintUnformatted(obj);
	int rc;

	if (s == NULL)
		return SL_ENOMEM;
	rc = http_resp_json(resp, status, s);
	cJSON_free(s);
	return rc;
}

void http_resp_metrics(http_resp *resp, http_metrics_fn write, void *ud)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	if (f == NULL) {
		http_resp_error(resp, 503, "unavailable", NULL, "no memory");
		return;
	}
	write(f, ud);
	fclose(f);
	http_resp_set(resp, 200, "text/plain; version=0.0.4", text, n);
	free(text);
}

void http_h_healthz(const http_req *req, http_resp *resp, void *ud)
{
	(void)req;
	(void)ud;
	http_resp_json(resp, 200, "{\"status\":\"ok\"}");
}

int http_resp_error(http_resp *resp, int status, const char *error,
		    const char *field, const char *rule)
{
	cJSON *o = cJSON_CreateObject();
	int rc = SL_ENOMEM;

	if (o == NULL)
		return SL_ENOMEM;
	if (cJSON_AddStringToObject(o, "error", error) == NULL)
		goto out;
	if (field != NULL && cJSON_AddStringToObject(o, "field", field) == NULL)
		goto out;
	if (rule != NULL && cJSON_AddStringToObject(o, "rule", rule) == NULL)
		goto out;
	rc = http_resp_cjson(resp, status, o);
out:
	cJSON_Delete(o);
	return rc;
}

int http_resp_header(http_resp *resp, const char *name, const char *value)
{
	char *n, *v;

	if (resp->nheaders == HTTP_MAX_HEADERS)
		return SL_ETOOBIG;
	n = strdup(name);
	v = strdup(value);
	if (n == NULL || v == NULL) {
		free(n);
		free(v);
		return SL_ENOMEM;
	}
	resp->hname[resp->nheaders] = n;
	resp->hval[resp->nheaders++] = v;
	return SL_OK;
}

int http_resp_status(const http_resp *resp)
{
	return resp->status;
}

static void resp_clear(http_resp *resp)
{
	free(resp->body);
	for (int i = 0; i < resp->nheaders; i++) {
		free(resp->hname[i]);
		free(resp->hval[i]);
	}
}

/* ---- requests ---- */

const char *http_req_method(const http_req *req)
{
	return req->method;
}

const char *http_req_path(const http_req *req)
{
	return req->path;
}

const char *http_req_pattern(const http_req *req)
{
	return req->route ? req->route->pattern : "";
}

const char *http_req_header(const http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_param(const http_req *req, const char *name)
{
	for (int i = 0; i < req->nparams; i++)
		if (strcmp(req->pnames[i], name) == 0)
			return req->pvals[i];
	return NULL;
}

const char *http_req_query(const http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
					   name);
}

const char *http_req_body(const http_req *req, size_t *len)
{
	*len = req->len;
	return req->body;
}

/* ---- routes ---- */

/* Split "/a/b/c" in place into segments; -1 when too many. */
static int split_path(char *p, char **segs)
{
	int n = 0;

	if (*p != '/')
		return -1;
	p++;
	for (;;) {
		char *slash = strchr(p, '/');

		if (n == HTTP_MAX_SEGS)
			return -1;
		segs[n++] = p;
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	return n;
}

static int is_param(const char *seg)
{
	size_t n = strlen(seg);

	return n > 2 && seg[0] == '{' && seg[n - 1] == '}';
}

int http_route(http_server *srv, const char *method, const char *pattern,
	       http_handler_fn fn, void *ud)
{
	struct route *r = NULL;
	int rc = SL_EINVAL, nparams = 0;

	if (srv->mhd != NULL || srv->nroutes == HTTP_MAX_ROUTES ||
	    strlen(method) >= sizeof(r->method) || pattern[0] != '/')
		goto out;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = SL_ENOMEM;
		goto out;
	}
	r->pattern = strdup(pattern);
	r->segbuf = strdup(pattern);
	if (r->pattern == NULL || r->segbuf == NULL) {
		rc = SL_ENOMEM;
		goto out;
	}
	r->nsegs = split_path(r->segbuf, r->segs);
	if (r->nsegs < 0)
		goto out;
	for (int i = 0; i < r->nsegs; i++) {
		if (!is_param(r->segs[i]))
			continue;
		if (++nparams > HTTP_MAX_PARAMS)
			goto out;
		r->segs[i][strlen(r->segs[i]) - 1] = '\0';
		r->segs[i]++;
		r->is_param[i] = 1;
	}
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->fn = fn;
	r->ud = ud;
	srv->routes[srv->nroutes++] = r;
	r = NULL;
	rc = SL_OK;
out:
	if (r != NULL) {
		free(r->pattern);
		free(r->segbuf);
		free(r);
	}
	return rc;
}

/* 1 when segs match r; fills params into req. */
static int route_match(const struct route *r, char **segs, int nsegs,
		       http_req *req)
{
	int np = 0;

	if (r->nsegs != nsegs)
		return 0;
	for (int i = 0; i < nsegs; i++) {
		if (r->is_param[i]) {
			if (segs[i][0] == '\0')
				return 0;
			req->pnames[np] = r->segs[i];
			req->pvals[np++] = segs[i];
		} else if (strcmp(r->segs[i], segs[i]) != 0) {
			return 0;
		}
	}
	req->nparams = np;
	return 1;
}

/* ---- metrics ---- */

static int64_t elapsed_us(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000;
}

static void stats_observe(struct route_stats *s, int status, int64_t us)
{
	size_t b = 0;

	if (status >= 100 && status < 100 + HTTP_NSTATUS)
		atomic_fetch_add_explicit(&s->by_status[status - 100], 1,
					  memory_order_relaxed);
	while (b < HTTP_NBUCKETS && (uint64_t)us > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_us, (uint64_t)us,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

static void stats_write(const http_server *srv, const struct route_stats *s,
			const char *route, FILE *f)
{
	uint64_t cum = 0;

	for (int i = 0; i < HTTP_NSTATUS; i++) {
		uint64_t n = atomic_load_explicit(&s->by_status[i],
						  memory_order_relaxed);

		if (n != 0)
			fprintf(f,
				"sluice_http_requests_total{server=\"%s\","
				"route=\"%s\",status=\"%d\"} %llu\n",
				srv->name, route, i + 100,
				(unsigned long long)n);
	}
	for (size_t b = 0; b <= HTTP_NBUCKETS; b++) {
		cum += atomic_load_explicit(&s->bucket[b],
					    memory_order_relaxed);
		if (b < HTTP_NBUCKETS)
			fprintf(f,
				"sluice_http_request_duration_seconds_bucket"
				"{server=\"%s\",route=\"%s\",le=\"%g\"} "
				"%llu\n",
				srv->name, route, bucket_us[b] / 1e6,
				(unsigned long long)cum);
		else
			fprintf(f,
				"sluice_http_request_duration_seconds_bucket"
				"{server=\"%s\",route=\"%s\",le=\"+Inf\"} "
				"%llu\n",
				srv->name, route, (unsigned long long)cum);
	}
	fprintf(f,
		"sluice_http_request_duration_seconds_sum{server=\"%s\","
		"route=\"%s\"} %.6f\n",
		srv->name, route,
		atomic_load_explicit(&s->sum_us, memory_order_relaxed) / 1e6);
	fprintf(f,
		"sluice_http_request_duration_seconds_count{server=\"%s\","
		"route=\"%s\"} %llu\n",
		srv->name, route,
		(unsigned long long)atomic_load_explicit(&s->count,
							 memory_order_relaxed));
}

void http_server_write_metrics(const http_server *srv, FILE *f)
{
	char label[64];

	fprintf(f, "# HELP sluice_http_requests_total HTTP requests by route "
		   "and status.\n"
		   "# TYPE sluice_http_requests_total counter\n");
	fprintf(f, "# HELP sluice_http_request_duration_seconds HTTP request "
		   "latency.\n"
		   "# TYPE sluice_http_request_duration_seconds histogram\n");
	for (int i = 0; i < srv->nroutes; i++) {
		const struct route *r = srv->routes[i];

		snprintf(label, sizeof(label), "%s %s", r->method, r->pattern);
		stats_write(srv, &r->stats, label, f);
	}
	stats_write(srv, &srv->unmatched, "unmatched", f);
}

/* ---- the MHD side ---- */

static enum MHD_Result queue(struct MHD_Connection *c, http_resp *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(resp->len, resp->body,
					    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->ctype);
	for (int i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(r, resp->hname[i], resp->hval[i]);
	ret = MHD_queue_response(c, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Answer without a handler (404, 405, 413, 414) and count it. */
static enum MHD_Result answer_plain(http_server *srv, struct MHD_Connection *c,
				    struct conn_ctx *cx,
				    struct route_stats *stats, int status,
				    const char *error, const char *allow)
{
	http_resp resp = { 0 };
	enum MHD_Result ret;

	if (http_resp_error(&resp, status, error, NULL, NULL) != SL_OK)
		return MHD_NO;
	if (allow != NULL)
		http_resp_header(&resp, "Allow", allow);
	ret = queue(c, &resp);
	stats_observe(stats ? stats : &srv->unmatched, status,
		      elapsed_us(&cx->t0));
	resp_clear(&resp);
	return ret;
}

static enum MHD_Result dispatch(http_server *srv, struct MHD_Connection *c,
				struct conn_ctx *cx, const char *url,
				const char *method)
{
	char path[HTTP_MAX_PATH], *segs[HTTP_MAX_SEGS];
	char allow[64] = "";
	http_req req = { 0 };
	http_resp resp = { 0 };
	struct route *r = NULL;
	enum MHD_Result ret;
	int nsegs;

	/* Find the route. */
	if (strlen(url) >= sizeof(path))
		return answer_plain(srv, c, cx, NULL, 414, "uri_too_long",
				    NULL);
	memcpy(path, url, strlen(url) + 1);
	nsegs = split_path(path, segs);
	for (int i = 0; nsegs > 0 && i < srv->nroutes; i++) {
		if (!route_match(srv->routes[i], segs, nsegs, &req))
			continue;
		if (strcmp(srv->routes[i]->method, method) == 0) {
			r = srv->routes[i];
			break;
		}
		if (strlen(allow) + strlen(srv->routes[i]->method) + 3 <
		    sizeof(allow))
			snprintf(allow + strlen(allow),
				 sizeof(allow) - strlen(allow), "%s%s",
				 allow[0] ? ", " : "", srv->routes[i]->method);
	}
	if (r == NULL && allow[0] != '\0')
		return answer_plain(srv, c, cx, NULL, 405, "method_not_allowed",
				    allow);
	if (r == NULL)
		return answer_plain(srv, c, cx, NULL, 404, "not_found", NULL);
	if (cx->too_big)
		return answer_plain(srv, c, cx, &r->stats, 413,
				    "body_too_large", NULL);

	/* Run the handler. */
	req.conn = c;
	req.method = method;
	req.path = url;
	req.route = r;
	req.body = cx->body ? cx->body : "";
	req.len = cx->len;
	r->fn(&req, &resp, r->ud);
	if (resp.status == 0 || resp.body == NULL)
		http_resp_error(&resp, 500, "internal", NULL, NULL);
	ret = resp.body ? queue(c, &resp) : MHD_NO;
	stats_observe(&r->stats, resp.status, elapsed_us(&cx->t0));
	resp_clear(&resp);
	return ret;
}

static int body_append(struct conn_ctx *cx, const char *data, size_t n,
		       size_t max)
{
	if (cx->too_big || cx->len + n > max) {
		cx->too_big = 1;
		free(cx->body);
		cx->body = NULL;
		cx->len = 0;
		return SL_ETOOBIG;
	}
	if (cx->len + n + 1 > cx->cap) {
		size_t cap = cx->cap ? cx->cap : 1024;
		char *b;

		while (cap < cx->len + n + 1)
			cap *= 2;
		b = realloc(cx->body, cap);
		if (b == NULL)
			return SL_ENOMEM;
		cx->body = b;
		cx->cap = cap;
	}
	memcpy(cx->body + cx->len, data, n);
	cx->len += n;
	cx->body[cx->len] = '\0';
	return SL_OK;
}

/* Is the declared Content-Length already over the limit? */
static int declared_too_big(struct MHD_Connection *c, size_t max)
{
	const char *cl = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	unsigned long long n;

	if (cl == NULL)
		return 0;
	n = strtoull(cl, &end, 10);
	return end != cl && n > max;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	http_server *srv = cls;
	struct conn_ctx *cx = *con_cls;

	(void)version;

	/* First call: headers only. */
	if (cx == NULL) {
		cx = calloc(1, sizeof(*cx));
		if (cx == NULL)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &cx->t0);
		*con_cls = cx;
		if (declared_too_big(c, srv->opts.max_body)) {
			cx->too_big = 1; /* answered now, body unread */
			return dispatch(srv, c, cx, url, method);
		}
		return MHD_YES;
	}

	/*
	 * Body chunks.  Once over the limit (a chunked body gives no length
	 * up front) the rest is read and dropped: MHD 0.9.75 takes no
	 * response before the request is complete.  The connection timeout
	 * bounds a client that never stops sending.
	 */
	if (*upload_size > 0) {
		int rc = body_append(cx, upload, *upload_size,
				     srv->opts.max_body);

		*upload_size = 0;
		return rc == SL_ENOMEM ? MHD_NO : MHD_YES;
	}
	return dispatch(srv, c, cx, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_ctx *cx = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (cx == NULL)
		return;
	free(cx->body);
	free(cx);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	http_server *srv = cls;
	char msg[256];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	SL_WARN(srv->name, "http server: %s", msg);
}

/* ---- lifecycle ---- */

int http_split_listen(const char *listen, char *host, size_t hostlen,
		      char *port, size_t portlen)
{
	const char *colon, *h = listen;
	size_t hl;

	if (listen == NULL)
		return SL_EINVAL;
	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');

		if (rb == NULL || rb[1] != ':')
			return SL_EINVAL;
		h = listen + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || memchr(listen, ':', colon - listen))
			return SL_EINVAL;
		hl = (size_t)(colon - listen);
	}
	if (hl == 0 || hl >= hostlen || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= portlen ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return SL_EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return SL_OK;
}

static int resolve(http_server *srv, sl_errbuf *eb)
{
	char host[256], port[16];
	struct addrinfo hints = { 0 }, *ai = NULL;
	int rc;

	if (http_split_listen(srv->listen, host, sizeof(host), port,
			      sizeof(port)) != SL_OK)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "listen address '%s': expected host:port",
				     srv->listen);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		return sl_errbuf_set(eb, SL_ECONFIG, "listen address '%s': %s",
				     srv->listen, gai_strerror(rc));
	memcpy(&srv->addr, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return SL_OK;
}

http_server *http_server_new(const http_opts *opts, sl_errbuf *eb)
{
	http_server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL) {
		sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
		return NULL;
	}
	srv->opts = *opts;
	srv->name = strdup(opts->name ? opts->name : "http");
	srv->listen = strdup(opts->listen ? opts->listen : "");
	if (srv->name == NULL || srv->listen == NULL) {
		sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
		http_server_free(srv);
		return NULL;
	}
	srv->opts.name = srv->name;
	srv->opts.listen = srv->listen;
	if (srv->opts.max_body == 0)
		srv->opts.max_body = 64 * 1024;
	if (srv->opts.max_conns == 0)
		srv->opts.max_conns = 1024;
	if (srv->opts.timeout_s == 0)
		srv->opts.timeout_s = 30;
	if (resolve(srv, eb) != SL_OK) {
		http_server_free(srv);
		return NULL;
	}
	return srv;
}

int http_server_start(http_server *srv, sl_errbuf *eb)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 MHD_USE_ITC;
	const union MHD_DaemonInfo *info;

	if (srv->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (srv->opts.threads == 0)
		flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO;
	else
		flags |= MHD_USE_EPOLL;
	/* The logger goes first so that MHD reports option errors to it. */
	struct MHD_OptionItem o[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, srv },
		{ MHD_OPTION_SOCK_ADDR, 0, &srv->addr },
		{ MHD_OPTION_CONNECTION_LIMIT, srv->opts.max_conns, NULL },
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->opts.per_ip, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, srv->opts.timeout_s, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv },
		{ MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL },
		{ MHD_OPTION_THREAD_POOL_SIZE, srv->opts.threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	if (srv->opts.threads <= 1)
		o[7].option = MHD_OPTION_END;
	srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
				    MHD_OPTION_ARRAY, o, MHD_OPTION_END);
	if (srv->mhd == NULL)
		return sl_errbuf_set(eb, SL_EIO, "cannot listen on %s",
				     srv->listen);
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	return SL_OK;
}

uint16_t http_server_port(const http_server *srv)
{
	return srv->port;
}

void http_server_quiesce(http_server *srv)
{
	MHD_socket s;

	if (srv == NULL || srv->mhd == NULL)
		return;
	s = MHD_quiesce_daemon(srv->mhd);
	if (s != MHD_INVALID_SOCKET)
		close(s);
}

void http_server_free(http_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->mhd != NULL)
		MHD_stop_daemon(srv->mhd);
	for (int i = 0; i < srv->nroutes; i++) {
		free(srv->routes[i]->pattern);
		free(srv->routes[i]->segbuf);
		free(srv->routes[i]);
	}
	free(srv->name);
	free(srv->listen);
	free(srv);
}
