/*
 * meta_standin — a local stand-in for Meta's Graph API /events edge
 * (Conversions API), for tests.  Listens on 127.0.0.1 only.
 *
 *	meta_standin [options]
 *
 * Every POST /{version}/{dataset}/events is checked against Meta's
 * rules (connectors.md section 2): version like v21.0, a numeric
 * dataset id, an access token (query or body `access_token`; with
 * --token it must match), a body of JSON or form fields whose `data` is
 * a JSON array of 1 to 1000 events, each with event_name, event_id, an
 * integer event_time within the last 7 days and at most --skew seconds
 * ahead, a valid action_source (business_messaging needs
 * messaging_channel "whatsapp"), a user_data object with at least one
 * key, every hashed key (em ph fn ln ge db ct st zp country
 * external_id) a string or list of 64-digit lowercase hex, and no
 * SHA-256 in a field Meta wants plain (client_ip_address, fbc, fbp,
 * ctwa_clid, ...).  One bad event fails the whole request, as at Meta:
 * HTTP 400, {"error":{"message","type","code":100,...}}.  A wrong token
 * gets code 190, a missing one 104.
 *
 * Accepted events are appended as JSON lines to --record; the events of
 * rejected requests (rule breaks and injected code 100) to --rejected
 * as {"event_name","event_id","status","code","message"}.  The stats
 * count unique (event_name, event_id) pairs and duplicates.
 *
 * Failures to inject, applied to the next requests in order (after the
 * path and token checks, before the event checks):
 *	--fail-5xx N      N answers of HTTP 500, code 2, is_transient
 *	--fail-429 N      N answers of HTTP 429, code 4, is_transient
 *	--fail-code100 N  N answers of HTTP 400, code 100 (permanent)
 *	--fail SEQ        a list such as 500,429,100,500
 *	--fail-match P    inject only into requests holding an event
 *	                  whose event_id starts with P (tests that share
 *	                  a topic with others)
 * The flags queue in the order given.  At run time:
 *	POST /_control/fail?seq=500,100[&match=P]   queue more (and set
 *	                                            the match prefix)
 *	GET  /_control/stats                        counters as JSON
 *
 * Options:
 *	--listen H:P      default 127.0.0.1:0 (any free port)
 *	--port-file F     write the bound port to F once listening
 *	--token T         the only token accepted (default: any)
 *	--record F        accepted events, one JSON object a line
 *	--rejected F      events of rejected requests
 *	--skew S          seconds an event_time may lie ahead (default 60)
 * Runs until SIGTERM or SIGINT.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "api/http.h"
#include "tests/tools/standin_common.h"

#define MAX_EVENTS 1000
#define MAX_AGE_S (7 * 86400)
#define MAX_FAILS 4096

/* ---- a set of (event_name, event_id) ----------------------------- */

struct set {
	char **slot;
	size_t cap, n;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int set_grow(struct set *s)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	char **slot = calloc(cap, sizeof(*slot));

	if (slot == NULL)
		return -1;
	for (size_t i = 0; i < s->cap; i++) {
		size_t j;

		if (s->slot[i] == NULL)
			continue;
		for (j = fnv1a(s->slot[i]) & (cap - 1); slot[j] != NULL;)
			j = (j + 1) & (cap - 1);
		slot[j] = s->slot[i];
	}
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	return 0;
}

/* 1 when added, 0 when already there, -1 out of memory. */
static int set_add(struct set *s, const char *key)
{
	size_t j;

	if ((s->n + 1) * 2 > s->cap && set_grow(s) != 0)
		return -1;
	for (j = fnv1a(key) & (s->cap - 1); s->slot[j] != NULL;
	     j = (j + 1) & (s->cap - 1))
		if (strcmp(s->slot[j], key) == 0)
			return 0;
	s->slot[j] = strdup(key);
	if (s->slot[j] == NULL)
		return -1;
	s->n++;
	return 1;
}

static void set_free(struct set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
}

/* ---- the stand-in's state ---------------------------------------- */

struct standin {
	pthread_mutex_t mu;
	const char *token;
	long skew_s;
	FILE *record, *rejected;
	int fails[MAX_FAILS];
	size_t fail_head, fail_tail;
	char match[128]; /* "" matches every request */
	struct set seen;
	unsigned long requests, accepted, rejected_requests, injected;
	unsigned long events_received, duplicates, trace;
};

/* Queue failures from "500,429,100"; -1 on a value we cannot inject. */
static int queue_fails(struct standin *st, const char *seq)
{
	char *copy = strdup(seq), *save = NULL;
	int rc = 0;

	if (copy == NULL)
		return -1;
	for (char *t = strtok_r(copy, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		int v = atoi(t);

		if ((v != 500 && v != 429 && v != 100) ||
		    st->fail_tail - st->fail_head >= MAX_FAILS) {
			rc = -1;
			break;
		}
		st->fails[st->fail_tail++ % MAX_FAILS] = v;
	}
	free(copy);
	return rc;
}

static int queue_n(struct standin *st, int code, long n)
{
	char v[8];

	snprintf(v, sizeof(v), "%d", code);
	for (long i = 0; i < n; i++)
		if (queue_fails(st, v) != 0)
			return -1;
	return 0;
}

/* ---- answers ----------------------------------------------------- */

static void graph_error(struct standin *st, http_resp *resp, int status,
			int code, int transient, const char *type,
			const char *msg, const char *user_msg)
{
	cJSON *o = cJSON_CreateObject(),
	      *e = cJSON_AddObjectToObject(o, "error");
	char trace[32];

	snprintf(trace, sizeof(trace), "StandIn%lu", ++st->trace);
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddNumberToObject(e, "code", code);
	if (user_msg != NULL) {
		cJSON_AddStringToObject(e, "error_user_title", "Invalid event");
		cJSON_AddStringToObject(e, "error_user_msg", user_msg);
	}
	cJSON_AddBoolToObject(e, "is_transient", transient);
	cJSON_AddStringToObject(e, "fbtrace_id", trace);
	http_resp_cjson(resp, status, o);
	cJSON_Delete(o);
}

/* Log the events of a rejected request to --rejected. */
static void note_rejected(struct standin *st, const cJSON *data, int status,
			  int code, const char *msg)
{
	const cJSON *ev;

	st->rejected_requests++;
	if (st->rejected == NULL || !cJSON_IsArray(data))
		return;
	cJSON_ArrayForEach(ev, data)
	{
		cJSON *o = cJSON_CreateObject();
		const cJSON *n = cJSON_GetObjectItem(ev, "event_name");
		const cJSON *id = cJSON_GetObjectItem(ev, "event_id");

		cJSON_AddStringToObject(o, "event_name",
					cJSON_IsString(n) ? n->valuestring
							  : "");
		cJSON_AddStringToObject(o, "event_id",
					cJSON_IsString(id) ? id->valuestring
							   : "");
		cJSON_AddNumberToObject(o, "status", status);
		cJSON_AddNumberToObject(o, "code", code);
		cJSON_AddStringToObject(o, "message", msg);
		standin_append_json(st->rejected, o);
		cJSON_Delete(o);
	}
}

/* ---- checking events --------------------------------------------- */

static const char *const hashed_keys[] = {
	"em", "ph", "fn", "ln",	     "ge",	    "db",
	"ct", "st", "zp", "country", "external_id",
};

static const char *const plain_keys[] = {
	"client_ip_address",
	"client_user_agent",
	"fbc",
	"fbp",
	"subscription_id",
	"fb_login_id",
	"lead_id",
	"anon_id",
	"madid",
	"page_id",
	"page_scoped_user_id",
	"ctwa_clid",
	"ig_account_id",
	"ig_sid",
};

static const char *const action_sources[] = {
	"website",
	"app",
	"email",
	"phone_call",
	"chat",
	"physical_store",
	"system_generated",
	"business_messaging",
	"other",
};

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

#define IN_LIST(s, list) in_list((s), (list), sizeof(list) / sizeof(*(list)))

static int is_sha256(const cJSON *v)
{
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;

	if (s == NULL || strlen(s) != 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
			return 0;
	return 1;
}

/* A hashed key: a hash or a non-empty list of hashes. */
static int check_hashed(const cJSON *v)
{
	const cJSON *it;

	if (cJSON_IsString(v))
		return is_sha256(v);
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
		return 0;
	cJSON_ArrayForEach(it, v) if (!is_sha256(it)) return 0;
	return 1;
}

static int check_user_data(const cJSON *ud, int i, char *why, size_t n)
{
	const cJSON *it;

	if (!cJSON_IsObject(ud) || ud->child == NULL) {
		snprintf(why, n,
			 "data[%d].user_data: required, with at least "
			 "one customer information parameter",
			 i);
		return -1;
	}
	cJSON_ArrayForEach(it, ud)
	{
		if (IN_LIST(it->string, hashed_keys) && !check_hashed(it)) {
			snprintf(why, n,
				 "data[%d].user_data.%s: must be SHA-256 "
				 "hashed (64 lowercase hex digits)",
				 i, it->string);
			return -1;
		}
		if (IN_LIST(it->string, plain_keys) && is_sha256(it)) {
			snprintf(why, n,
				 "data[%d].user_data.%s: must not be hashed", i,
				 it->string);
			return -1;
		}
	}
	return 0;
}

static int check_time(const cJSON *t, int i, long skew, char *why, size_t n)
{
	double now = (double)time(NULL);

	if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble)) {
		snprintf(why, n,
			 "data[%d].event_time: must be a Unix time in "
			 "seconds (an integer)",
			 i);
		return -1;
	}
	if (t->valuedouble < now - MAX_AGE_S) {
		snprintf(why, n,
			 "data[%d].event_time: too far in the past (more than "
			 "7 days)",
			 i);
		return -1;
	}
	if (t->valuedouble > now + (double)skew) {
		snprintf(why, n, "data[%d].event_time: in the future", i);
		return -1;
	}
	return 0;
}

/* Say why in `why` and return -1. */
__attribute__((format(printf, 3, 4))) static int bad(char *why, size_t n,
						     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -1;
}

static int check_event(const cJSON *ev, int i, long skew, char *why, size_t n)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev, "event_name");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "event_id");
	const cJSON *src =
		cJSON_GetObjectItemCaseSensitive(ev, "action_source");
	const cJSON *ch =
		cJSON_GetObjectItemCaseSensitive(ev, "messaging_channel");
	const cJSON *cd = cJSON_GetObjectItemCaseSensitive(ev, "custom_data");

	if (!cJSON_IsObject(ev))
		return bad(why, n, "data[%d]: must be an object", i);
	if (!cJSON_IsString(name) || name->valuestring[0] == '\0')
		return bad(why, n, "data[%d].event_name: required", i);
	if (!cJSON_IsString(id) || id->valuestring[0] == '\0')
		return bad(why, n, "data[%d].event_id: required", i);
	if (check_time(cJSON_GetObjectItemCaseSensitive(ev, "event_time"), i,
		       skew, why, n) != 0)
		return -1;
	if (!cJSON_IsString(src) || !IN_LIST(src->valuestring, action_sources))
		return bad(why, n,
			   "data[%d].action_source: required, one of Meta's "
			   "values",
			   i);
	if (strcmp(src->valuestring, "business_messaging") == 0 &&
	    (!cJSON_IsString(ch) || strcmp(ch->valuestring, "whatsapp") != 0))
		return bad(why, n,
			   "data[%d].messaging_channel: required for "
			   "business_messaging",
			   i);
	if (cd != NULL && !cJSON_IsObject(cd))
		return bad(why, n, "data[%d].custom_data: must be an object",
			   i);
	return check_user_data(
		cJSON_GetObjectItemCaseSensitive(ev, "user_data"), i, why, n);
}

static int check_data(const cJSON *data, long skew, char *why, size_t n)
{
	const cJSON *ev;
	int i = 0, count = cJSON_GetArraySize(data);

	if (!cJSON_IsArray(data)) {
		snprintf(why, n, "data: required, a JSON array of events");
		return -1;
	}
	if (count < 1 || count > MAX_EVENTS) {
		snprintf(why, n, "data: must hold 1 to %d events, not %d",
			 MAX_EVENTS, count);
		return -1;
	}
	cJSON_ArrayForEach(ev, data) if (check_event(ev, i++, skew, why, n) !=
					 0) return -1;
	return 0;
}

/* ---- reading the request ----------------------------------------- */

struct params {
	cJSON *doc;  /* the JSON body, or the parsed form `data` */
	cJSON *data; /* into doc */
	char *token; /* malloc'ed or NULL */
	char *test_code;
	int bad_body;
};

/* Decode one form value: '+' is a space, then %XX. */
static char *form_value(const char *v, size_t len)
{
	char *tmp = strndup(v, len), *dec = NULL;
	int n = 0;

	if (tmp == NULL)
		return NULL;
	for (char *p = tmp; *p != '\0'; p++)
		if (*p == '+')
			*p = ' ';
	dec = curl_easy_unescape(NULL, tmp, 0, &n);
	free(tmp);
	if (dec == NULL)
		return NULL;
	tmp = strndup(dec, (size_t)n);
	curl_free(dec);
	return tmp;
}

static void read_form(const char *body, struct params *p)
{
	for (const char *s = body; *s != '\0';) {
		size_t len = strcspn(s, "&");
		const char *eq = memchr(s, '=', len);

		if (eq != NULL) {
			size_t kl = (size_t)(eq - s);
			char *v = form_value(eq + 1, len - kl - 1);

			if (kl == 4 && strncmp(s, "data", 4) == 0 &&
			    v != NULL) {
				cJSON_Delete(p->doc);
				p->doc = cJSON_Parse(v);
				p->data = p->doc;
			} else if (kl == 12 &&
				   strncmp(s, "access_token", 12) == 0) {
				free(p->token);
				p->token = v, v = NULL;
			} else if (kl == 15 &&
				   strncmp(s, "test_event_code", 15) == 0) {
				free(p->test_code);
				p->test_code = v, v = NULL;
			}
			free(v);
		}
		s += len + (s[len] == '&');
	}
}

static void read_params(const http_req *req, struct params *p)
{
	const char *ct = http_req_header(req, "Content-Type");
	const char *q = http_req_query(req, "access_token");
	size_t len = 0;
	const char *body = http_req_body(req, &len);
	const cJSON *t;

	memset(p, 0, sizeof(*p));
	if (ct != NULL && strncmp(ct, "application/json", 16) == 0) {
		p->doc = cJSON_ParseWithLength(body, len);
		if (!cJSON_IsObject(p->doc))
			p->bad_body = 1;
		p->data = cJSON_GetObjectItemCaseSensitive(p->doc, "data");
		t = cJSON_GetObjectItemCaseSensitive(p->doc, "access_token");
		if (cJSON_IsString(t))
			p->token = strdup(t->valuestring);
		t = cJSON_GetObjectItemCaseSensitive(p->doc, "test_event_code");
		if (cJSON_IsString(t))
			p->test_code = strdup(t->valuestring);
	} else if (ct != NULL &&
		   strncmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
		read_form(body, p);
	} else if (len > 0) {
		p->bad_body = 1; /* TODO: multipart/form-data, as curl -F */
	}
	if (p->token == NULL && q != NULL)
		p->token = strdup(q);
}

static void params_free(struct params *p)
{
	cJSON_Delete(p->doc);
	free(p->token);
	free(p->test_code);
}

/* ---- handlers ---------------------------------------------------- */

static int valid_version(const char *s)
{
	size_t a, b;

	if (s == NULL || s[0] != 'v')
		return 0;
	a = strspn(s + 1, "0123456789");
	if (a == 0 || s[1 + a] != '.')
		return 0;
	b = strspn(s + 2 + a, "0123456789");
	return b > 0 && s[2 + a + b] == '\0';
}

static void accept_events(struct standin *st, const struct params *p,
			  http_resp *resp)
{
	const cJSON *ev;
	char key[512], trace[32];
	int n = 0;

	cJSON_ArrayForEach(ev, p->data)
	{
		const char *name =
			cJSON_GetObjectItem(ev, "event_name")->valuestring;
		const char *id =
			cJSON_GetObjectItem(ev, "event_id")->valuestring;

		snprintf(key, sizeof(key), "%s\x1f%s", name, id);
		if (set_add(&st->seen, key) == 0)
			st->duplicates++;
		standin_append_json(st->record, ev);
		n++;
	}
	st->accepted++;
	st->events_received += (unsigned long)n;
	snprintf(trace, sizeof(trace), "StandIn%lu", ++st->trace);
	snprintf(key, sizeof(key),
		 "{\"events_received\":%d,\"messages\":[],"
		 "\"fbtrace_id\":\"%s\"}",
		 n, trace);
	http_resp_json(resp, 200, key);
}

/* 1 when an event's event_id starts with the match prefix. */
static int matches(const struct standin *st, const cJSON *data)
{
	size_t n = strlen(st->match);
	const cJSON *ev;

	if (n == 0)
		return 1;
	cJSON_ArrayForEach(ev, data)
	{
		const cJSON *id = cJSON_GetObjectItem(ev, "event_id");

		if (cJSON_IsString(id) &&
		    strncmp(id->valuestring, st->match, n) == 0)
			return 1;
	}
	return 0;
}

/* An injected failure; 1 when one was due. */
static int inject(struct standin *st, const struct params *p, http_resp *resp)
{
	int what;

	if (st->fail_head == st->fail_tail || !matches(st, p->data))
		return 0;
	what = st->fails[st->fail_head++ % MAX_FAILS];
	st->injected++;
	if (what == 500) {
		graph_error(st, resp, 500, 2, 1, "OAuthException",
			    "An unexpected error has occurred. Please retry "
			    "your request later.",
			    NULL);
	} else if (what == 429) {
		graph_error(st, resp, 429, 4, 1, "OAuthException",
			    "(#4) Application request limit reached", NULL);
	} else {
		graph_error(st, resp, 400, 100, 0, "OAuthException",
			    "Invalid parameter",
			    "stand-in: injected rejection");
		note_rejected(
			st, p->data, 400, 100,
			"Invalid parameter: stand-in: injected rejection");
	}
	return 1;
}

static void h_events(const http_req *req, http_resp *resp, void *ud)
{
	struct standin *st = ud;
	char why[300], msg[340];
	struct params p;

	read_params(req, &p);
	pthread_mutex_lock(&st->mu);
	st->requests++;
	if (!valid_version(http_req_param(req, "version")) ||
	    strspn(http_req_param(req, "dataset"), "0123456789") !=
		    strlen(http_req_param(req, "dataset"))) {
		graph_error(st, resp, 400, 100, 0, "GraphMethodException",
			    "Unsupported post request. Object does not exist "
			    "or does not support this operation",
			    NULL);
		st->rejected_requests++;
	} else if (p.token == NULL || p.token[0] == '\0') {
		graph_error(st, resp, 400, 104, 0, "OAuthException",
			    "An access token is required to request this "
			    "resource.",
			    NULL);
		st->rejected_requests++;
	} else if (st->token != NULL && strcmp(p.token, st->token) != 0) {
		graph_error(st, resp, 400, 190, 0, "OAuthException",
			    "Invalid OAuth access token - Cannot parse access "
			    "token",
			    NULL);
		st->rejected_requests++;
	} else if (inject(st, &p, resp)) {
		/* answered */
	} else if (p.bad_body ||
		   check_data(p.data, st->skew_s, why, sizeof(why)) != 0) {
		if (p.bad_body)
			snprintf(why, sizeof(why),
				 "body: not JSON or form "
				 "fields");
		snprintf(msg, sizeof(msg), "(#100) %s", why);
		graph_error(st, resp, 400, 100, 0, "OAuthException",
			    "Invalid parameter", msg);
		note_rejected(st, p.data, 400, 100, msg);
	} else {
		accept_events(st, &p, resp);
	}
	pthread_mutex_unlock(&st->mu);
	params_free(&p);
}

static void h_fail(const http_req *req, http_resp *resp, void *ud)
{
	struct standin *st = ud;
	const char *seq = http_req_query(req, "seq");
	const char *match = http_req_query(req, "match");
	char body[64];
	int rc;

	pthread_mutex_lock(&st->mu);
	if (match != NULL)
		snprintf(st->match, sizeof(st->match), "%s", match);
	rc = seq != NULL ? queue_fails(st, seq) : -1;
	snprintf(body, sizeof(body), "{\"queued\":%zu}",
		 st->fail_tail - st->fail_head);
	pthread_mutex_unlock(&st->mu);
	if (rc != 0)
		http_resp_error(resp, 400, "bad seq", "seq",
				"a list of 500, 429 and 100");
	else
		http_resp_json(resp, 200, body);
}

static void h_stats(const http_req *req, http_resp *resp, void *ud)
{
	struct standin *st = ud;
	char body[512];

	(void)req;
	pthread_mutex_lock(&st->mu);
	snprintf(body, sizeof(body),
		 "{\"requests\":%lu,\"accepted_requests\":%lu,"
		 "\"rejected_requests\":%lu,\"injected\":%lu,"
		 "\"events_received\":%lu,\"unique_events\":%zu,"
		 "\"duplicates\":%lu,\"queued_failures\":%zu}",
		 st->requests, st->accepted, st->rejected_requests,
		 st->injected, st->events_received, st->seen.n, st->duplicates,
		 st->fail_tail - st->fail_head);
	pthread_mutex_unlock(&st->mu);
	http_resp_json(resp, 200, body);
}

/* ---- main -------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: meta_standin [--listen H:P] [--port-file F] "
		"[--token T]\n"
		"  [--record F] [--rejected F] [--skew S] [--fail-5xx N]\n"
		"  [--fail-429 N] [--fail-code100 N] [--fail SEQ]\n"
		"  [--fail-match PREFIX]\n");
}

/* One option of ours (a standin_opt_fn). */
static int option(void *ud, const char *a, const char *v)
{
	struct standin *st = ud;

	if (strcmp(a, "--token") == 0)
		st->token = v;
	else if (strcmp(a, "--skew") == 0)
		st->skew_s = atol(v);
	else if (strcmp(a, "--record") == 0)
		return (st->record = standin_open_append(v)) ? 0 : -1;
	else if (strcmp(a, "--rejected") == 0)
		return (st->rejected = standin_open_append(v)) ? 0 : -1;
	else if (strcmp(a, "--fail-5xx") == 0)
		return queue_n(st, 500, atol(v));
	else if (strcmp(a, "--fail-429") == 0)
		return queue_n(st, 429, atol(v));
	else if (strcmp(a, "--fail-code100") == 0)
		return queue_n(st, 100, atol(v));
	else if (strcmp(a, "--fail") == 0)
		return queue_fails(st, v);
	else if (strcmp(a, "--fail-match") == 0)
		snprintf(st->match, sizeof(st->match), "%s", v);
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct standin st = { .mu = PTHREAD_MUTEX_INITIALIZER,
				     .skew_s = 60 };
	const char *listen = "127.0.0.1:0", *port_file = NULL;
	http_opts o = { .name = "meta-standin",
			.max_body = 16 << 20,
			.timeout_s = 30 };
	static const standin_route routes[] = {
		{ "POST", "/{version}/{dataset}/events", h_events },
		{ "POST", "/_control/fail", h_fail },
		{ "GET", "/_control/stats", h_stats },
	};
	int rc = 1;

	if (standin_parse(argc, argv, NULL, option, &st, &listen, &port_file) !=
	    0) {
		usage();
		goto out;
	}
	o.listen = listen;
	rc = standin_run("meta_standin", &o, routes,
			 sizeof(routes) / sizeof(*routes), &st, port_file);
out:
	if (st.record != NULL)
		fclose(st.record);
	if (st.rejected != NULL)
		fclose(st.rejected);
	set_free(&st.seen);
	return rc;
}
