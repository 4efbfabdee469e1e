/*
 * wa_standin — a local stand-in for the WhatsApp Cloud API's
 * POST /{version}/{phone_number_id}/messages (connectors.md section 3).
 *
 *	tests/bin/wa_standin [options]
 *
 * Every request is checked the way the real API would see it: version
 * and phone number id in the path, "Authorization: Bearer <token>",
 * a JSON body with messaging_product "whatsapp", recipient_type
 * "individual", `to` as 8-15 digits with the country code, type
 * "template", a template with a name, language.code and components
 * whose body parameters are non-empty texts, and an optional
 * biz_opaque_callback_data of at most 512 bytes.  A bad request gets
 * 400 with Graph's error body (code 100); a bad token 401 (code 190).
 *
 * Then, in this order:
 *	--fail-5xx N        the next N requests get 500 (131000) or 503 (2)
 *	--fail-130429 N     the next N get 429 (130429)
 *	throughput          more than --mps accepted messages within one
 *	                    second (less --jitter-ms, a transport allowance)
 *	                    -> 429 (130429)
 *	--undeliverable S   `to` ending in S -> 400 (131026); repeatable
 *	--stopped S         `to` ending in S -> 400 (131050); repeatable
 *	--template N:C      only these template name:language pairs exist;
 *	                    others -> 404 (132001); repeatable
 *	pair rate           a recipient with an accepted message in the
 *	                    last --pair-window-ms (6000) -> 400 (131056)
 *	otherwise           200 {"messaging_product", "contacts",
 *	                    "messages":[{"id":"wamid...."}]}
 *
 * Error bodies have Graph's shape: {"error":{"message","type","code",
 * "error_data":{"messaging_product","details"},"fbtrace_id"}}.
 *
 * Each accepted message is appended to --log as one JSON line: t (ms
 * since the epoch), to, template, lang, param, reminder_id (from
 * biz_opaque_callback_data), wamid.  Every refused request goes to
 * --errors (t, to, reminder_id, status, code) when given.
 *
 * Options:
 *	--listen H:P        default 127.0.0.1:0 (any free port)
 *	--port-file F       write the bound port to F once listening
 *	--token T           default "test-token"
 *	--phone-id ID       default "1234567890"
 *	--version V         default "v21.0"
 *	--mps N             default 80
 *	--jitter-ms N       default 50
 *	--pair-window-ms N  default 6000
 *	--latency-ms N      answer every request N ms late
 *	--bad-token         answer every request 401 (190)
 *
 * While running: POST /_control?fail_5xx=N&fail_130429=N&bad_token=0|1
 * &latency_ms=N changes the behaviour; GET /_stats answers counts.
 * Runs until SIGTERM or SIGINT; prints the counts on exit.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "api/http.h"
#include "processor/clock.h"
#include "tests/tools/standin_common.h"

#define MAX_SUFFIXES 16
#define MAX_TEMPLATES 32
#define HASH_BUCKETS 65536
#define RING 100000

struct recipient {
	struct recipient *next;
	int64_t last_ms; /* mono time of the last accepted message */
	char to[20];
};

struct standin {
	const char *token, *phone_id, *version;
	FILE *log, *errors;
	int mps, jitter_ms, pair_window_ms;
	const char *undeliverable[MAX_SUFFIXES];
	int nundeliverable;
	const char *stopped[MAX_SUFFIXES];
	int nstopped;
	const char *templates[MAX_TEMPLATES];
	int ntemplates;

	pthread_mutex_t lock; /* guards everything below */
	long fail_5xx, fail_130429;
	int bad_token, latency_ms;
	int64_t *accepted_at; /* ring of accepted (mono ms) */
	long ring_head, ring_n;
	struct recipient *buckets[HASH_BUCKETS];
	long accepted, refused;
	long by_code[8]; /* see code_slot() */
	uint64_t wamid_n;
};

/* ---- answers ----------------------------------------------------- */

static const int codes[] = { 100,    190,    130429, 131026,
			     131050, 131056, 132001, 131000 };

static int code_slot(int code)
{
	for (int i = 0; i < 8; i++)
		if (codes[i] == code)
			return i;
	return 7;
}

static void graph_error(http_resp *resp, int status, int code,
			const char *message, const char *details)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	cJSON *d;

	cJSON_AddStringToObject(e, "message", message);
	cJSON_AddStringToObject(e, "type", "OAuthException");
	cJSON_AddNumberToObject(e, "code", code);
	if (details != NULL) {
		d = cJSON_AddObjectToObject(e, "error_data");
		cJSON_AddStringToObject(d, "messaging_product", "whatsapp");
		cJSON_AddStringToObject(d, "details", details);
	}
	cJSON_AddStringToObject(e, "fbtrace_id", "AstandinTraceId0");
	http_resp_cjson(resp, status, o);
	cJSON_Delete(o);
}

static void note(struct standin *s, FILE *f, const char *to, const char *rid,
		 int status, int code)
{
	cJSON *o;

	s->refused++;
	s->by_code[code_slot(code)]++;
	if (f == NULL)
		return;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "t", (double)sl_real_ms());
	cJSON_AddStringToObject(o, "to", to ? to : "");
	cJSON_AddStringToObject(o, "reminder_id", rid ? rid : "");
	cJSON_AddNumberToObject(o, "status", status);
	cJSON_AddNumberToObject(o, "code", code);
	standin_append_json(f, o);
	cJSON_Delete(o);
}

/* ---- request shape ----------------------------------------------- */

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int digits_ok(const char *to)
{
	size_t n;

	if (to == NULL)
		return 0;
	n = strspn(to, "0123456789");
	return to[n] == '\0' && n >= 8 && n <= 15 && to[0] != '0';
}

/* NULL when the components are well formed, else what is wrong. */
static const char *check_components(const cJSON *comps, const char **param)
{
	const cJSON *c, *p;

	if (comps == NULL)
		return NULL;
	if (!cJSON_IsArray(comps))
		return "template.components must be an array";
	cJSON_ArrayForEach(c, comps)
	{
		const char *type = str(c, "type");
		const cJSON *params =
			cJSON_GetObjectItemCaseSensitive(c, "parameters");

		if (type == NULL ||
		    (strcmp(type, "body") != 0 && strcmp(type, "header") != 0 &&
		     strcmp(type, "button") != 0))
			return "component type must be body, header or button";
		if (params != NULL && !cJSON_IsArray(params))
			return "component parameters must be an array";
		cJSON_ArrayForEach(p, params)
		{
			const char *pt = str(p, "type"), *text = str(p, "text");

			if (pt == NULL || strcmp(pt, "text") != 0)
				return "parameter type must be text";
			if (text == NULL || text[0] == '\0')
				return "parameter text must be a non-empty "
				       "string";
			if (strcmp(type, "body") == 0 && *param == NULL)
				*param = text;
		}
	}
	return NULL;
}

/* NULL when the body is a well-formed template message. */
static const char *check_body(const cJSON *o, const char **param)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "template");
	const cJSON *lang = cJSON_GetObjectItemCaseSensitive(t, "language");
	const char *rt = str(o, "recipient_type");
	const char *name = str(t, "name");
	const cJSON *cb;

	if (!cJSON_IsObject(o))
		return "body must be a JSON object";
	if (str(o, "messaging_product") == NULL ||
	    strcmp(str(o, "messaging_product"), "whatsapp") != 0)
		return "messaging_product must be whatsapp";
	if (rt != NULL && strcmp(rt, "individual") != 0)
		return "recipient_type must be individual";
	if (!digits_ok(str(o, "to")))
		return "to must be the phone number's digits with the "
		       "country code";
	if (str(o, "type") == NULL || strcmp(str(o, "type"), "template") != 0)
		return "type must be template";
	if (!cJSON_IsObject(t))
		return "template must be an object";
	if (name == NULL || name[0] == '\0' || strlen(name) > 512)
		return "template.name must be a non-empty string";
	if (str(lang, "code") == NULL || str(lang, "code")[0] == '\0')
		return "template.language.code is required";
	cb = cJSON_GetObjectItemCaseSensitive(o, "biz_opaque_callback_data");
	if (cb != NULL &&
	    (!cJSON_IsString(cb) || strlen(cb->valuestring) > 512))
		return "biz_opaque_callback_data must be a string of at most "
		       "512 characters";
	return check_components(
		cJSON_GetObjectItemCaseSensitive(t, "components"), param);
}

/* ---- limits ------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int in_list(const char *const *list, int n, const char *to)
{
	for (int i = 0; i < n; i++)
		if (ends_with(to, list[i]))
			return 1;
	return 0;
}

static int template_known(const struct standin *s, const char *name,
			  const char *code)
{
	char pair[600];

	if (s->ntemplates == 0)
		return 1;
	snprintf(pair, sizeof(pair), "%s:%s", name, code);
	for (int i = 0; i < s->ntemplates; i++)
		if (strcmp(s->templates[i], pair) == 0)
			return 1;
	return 0;
}

/* Accepted messages in the last second, less the jitter allowance. */
static long recent(const struct standin *s, int64_t now)
{
	int64_t window = 1000 - s->jitter_ms;
	long n = 0;

	for (long i = 0; i < s->ring_n; i++) {
		long idx = (s->ring_head - 1 - i + RING) % RING;

		if (s->accepted_at[idx] <= now - window)
			break;
		n++;
	}
	return n;
}

static struct recipient *recipient(struct standin *s, const char *to)
{
	unsigned h = 5381;
	struct recipient *r;

	for (const char *p = to; *p; p++)
		h = h * 33 + (unsigned char)*p;
	h %= HASH_BUCKETS;
	for (r = s->buckets[h]; r != NULL; r = r->next)
		if (strcmp(r->to, to) == 0)
			return r;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	snprintf(r->to, sizeof(r->to), "%s", to);
	r->last_ms = INT64_MIN;
	r->next = s->buckets[h];
	s->buckets[h] = r;
	return r;
}

static void accept_msg(struct standin *s, http_resp *resp, const char *to,
		       const char *name, const char *code, const char *param,
		       const char *rid, int64_t now)
{
	cJSON *o = cJSON_CreateObject(), *arr, *c, *line;
	char wamid[64];

	snprintf(wamid, sizeof(wamid), "wamid.SI%012llx",
		 (unsigned long long)++s->wamid_n);
	s->accepted++;
	s->accepted_at[s->ring_head] = now;
	s->ring_head = (s->ring_head + 1) % RING;
	if (s->ring_n < RING)
		s->ring_n++;

	line = cJSON_CreateObject();
	cJSON_AddNumberToObject(line, "t", (double)sl_real_ms());
	cJSON_AddStringToObject(line, "to", to);
	cJSON_AddStringToObject(line, "template", name);
	cJSON_AddStringToObject(line, "lang", code);
	cJSON_AddStringToObject(line, "param", param ? param : "");
	cJSON_AddStringToObject(line, "reminder_id", rid ? rid : "");
	cJSON_AddStringToObject(line, "wamid", wamid);
	standin_append_json(s->log, line);
	cJSON_Delete(line);

	cJSON_AddStringToObject(o, "messaging_product", "whatsapp");
	arr = cJSON_AddArrayToObject(o, "contacts");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "input", to);
	cJSON_AddStringToObject(c, "wa_id", to);
	cJSON_AddItemToArray(arr, c);
	arr = cJSON_AddArrayToObject(o, "messages");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "id", wamid);
	cJSON_AddItemToArray(arr, c);
	http_resp_cjson(resp, 200, o);
	cJSON_Delete(o);
}

/* The limits and injected failures, under the lock. */
static void decide(struct standin *s, http_resp *resp, const cJSON *o,
		   const char *param)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "template");
	const char *to = str(o, "to"), *name = str(t, "name");
	const char *code =
		str(cJSON_GetObjectItemCaseSensitive(t, "language"), "code");
	const char *rid = str(o, "biz_opaque_callback_data");
	int64_t now = sl_mono_ms();
	struct recipient *r;

	if (s->fail_5xx > 0) {
		int odd = s->fail_5xx-- % 2;

		note(s, s->errors, to, rid, odd ? 503 : 500, odd ? 2 : 131000);
		if (odd)
			graph_error(resp, 503, 2,
				    "Service temporarily unavailable", NULL);
		else
			graph_error(resp, 500, 131000, "Something went wrong",
				    "Message failed to send because of an "
				    "unknown error.");
		return;
	}
	if (s->fail_130429 > 0 || recent(s, now) >= s->mps) {
		if (s->fail_130429 > 0)
			s->fail_130429--;
		note(s, s->errors, to, rid, 429, 130429);
		graph_error(resp, 429, 130429, "(#130429) Rate limit hit",
			    "Cloud API message throughput has been reached.");
		return;
	}
	if (in_list(s->undeliverable, s->nundeliverable, to)) {
		note(s, s->errors, to, rid, 400, 131026);
		graph_error(resp, 400, 131026, "Message undeliverable",
			    "Unable to deliver message. The recipient may "
			    "not be on WhatsApp.");
		return;
	}
	if (in_list(s->stopped, s->nstopped, to)) {
		note(s, s->errors, to, rid, 400, 131050);
		graph_error(resp, 400, 131050, "Unable to deliver the message",
			    "The recipient has chosen to stop receiving "
			    "marketing messages from this business.");
		return;
	}
	if (!template_known(s, name, code)) {
		note(s, s->errors, to, rid, 404, 132001);
		graph_error(resp, 404, 132001,
			    "(#132001) Template name does not exist in the "
			    "translation",
			    "The template does not exist in this language.");
		return;
	}
	r = recipient(s, to);
	if (r != NULL && r->last_ms != INT64_MIN &&
	    now - r->last_ms < s->pair_window_ms) {
		note(s, s->errors, to, rid, 400, 131056);
		graph_error(resp, 400, 131056,
			    "(#131056) (Business Account, Consumer Account) "
			    "pair rate limit hit",
			    "Too many messages from this business number to "
			    "the same recipient in a short time.");
		return;
	}
	if (r != NULL)
		r->last_ms = now;
	accept_msg(s, resp, to, name, code, param, rid, now);
}

static void h_messages(const http_req *req, http_resp *resp, void *ud)
{
	struct standin *s = ud;
	const char *auth = http_req_header(req, "Authorization");
	const char *ctype = http_req_header(req, "Content-Type");
	const char *body, *why, *param = NULL;
	char want[512];
	cJSON *o = NULL;
	size_t len;
	int latency;

	pthread_mutex_lock(&s->lock);
	latency = s->latency_ms;
	snprintf(want, sizeof(want), "Bearer %s", s->token);
	if (s->bad_token || auth == NULL || strcmp(auth, want) != 0) {
		note(s, s->errors, NULL, NULL, 401, 190);
		graph_error(resp, 401, 190,
			    s->bad_token ? "Error validating access token: "
					   "Session has expired"
					 : "Invalid OAuth access token - "
					   "Cannot parse access token",
			    NULL);
		goto out;
	}
	if (strcmp(http_req_param(req, "version"), s->version) != 0 ||
	    strcmp(http_req_param(req, "phone"), s->phone_id) != 0) {
		note(s, s->errors, NULL, NULL, 400, 100);
		graph_error(resp, 400, 100,
			    "Unsupported post request. Object does not exist",
			    "unknown API version or phone number id");
		goto out;
	}
	body = http_req_body(req, &len);
	if (ctype == NULL || strncmp(ctype, "application/json", 16) != 0)
		why = "Content-Type must be application/json";
	else if ((o = cJSON_ParseWithLength(body, len)) == NULL)
		why = "body must be valid JSON";
	else
		why = check_body(o, &param);
	if (why != NULL) {
		note(s, s->errors, o ? str(o, "to") : NULL, NULL, 400, 100);
		graph_error(resp, 400, 100, "(#100) Invalid parameter", why);
		goto out;
	}
	decide(s, resp, o, param);
out:
	pthread_mutex_unlock(&s->lock);
	cJSON_Delete(o);
	if (latency > 0)
		usleep((useconds_t)latency * 1000);
}

static long query_long(const http_req *req, const char *k, long def)
{
	const char *v = http_req_query(req, k);

	return v ? strtol(v, NULL, 10) : def;
}

static void h_control(const http_req *req, http_resp *resp, void *ud)
{
	struct standin *s = ud;

	pthread_mutex_lock(&s->lock);
	s->fail_5xx = query_long(req, "fail_5xx", s->fail_5xx);
	s->fail_130429 = query_long(req, "fail_130429", s->fail_130429);
	s->bad_token = (int)query_long(req, "bad_token", s->bad_token);
	s->latency_ms = (int)query_long(req, "latency_ms", s->latency_ms);
	pthread_mutex_unlock(&s->lock);
	http_resp_json(resp, 200, "{\"ok\":true}");
}

static cJSON *stats_json(struct standin *s)
{
	cJSON *o = cJSON_CreateObject(), *c;
	char k[16];

	cJSON_AddNumberToObject(o, "accepted", s->accepted);
	cJSON_AddNumberToObject(o, "refused", s->refused);
	c = cJSON_AddObjectToObject(o, "refused_by_code");
	for (int i = 0; i < 8; i++) {
		snprintf(k, sizeof(k), "%d", codes[i]);
		cJSON_AddNumberToObject(c, k, s->by_code[i]);
	}
	return o;
}

static void h_stats(const http_req *req, http_resp *resp, void *ud)
{
	struct standin *s = ud;
	cJSON *o;

	(void)req;
	pthread_mutex_lock(&s->lock);
	o = stats_json(s);
	pthread_mutex_unlock(&s->lock);
	http_resp_cjson(resp, 200, o);
	cJSON_Delete(o);
}

/* ---- main -------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: wa_standin [--listen H:P] [--port-file F] "
		"[--token T] [--phone-id ID]\n"
		"       [--version V] [--log F] [--errors F] [--mps N] "
		"[--jitter-ms N]\n"
		"       [--pair-window-ms N] [--latency-ms N] [--fail-5xx N] "
		"[--fail-130429 N]\n"
		"       [--undeliverable SUFFIX]... [--stopped SUFFIX]... "
		"[--template NAME:CODE]...\n"
		"       [--bad-token]\n");
}

static int add(const char **list, int *n, int max, const char *v)
{
	if (*n >= max)
		return -1;
	list[(*n)++] = v;
	return 0;
}

/* One option of ours (a standin_opt_fn). */
static int option(void *ud, const char *a, const char *v)
{
	struct standin *s = ud;
	int rc = 0;

	if (strcmp(a, "--bad-token") == 0)
		s->bad_token = 1;
	else if (strcmp(a, "--token") == 0)
		s->token = v;
	else if (strcmp(a, "--phone-id") == 0)
		s->phone_id = v;
	else if (strcmp(a, "--version") == 0)
		s->version = v;
	else if (strcmp(a, "--log") == 0)
		rc = (s->log = standin_open_append(v)) ? 0 : -1;
	else if (strcmp(a, "--errors") == 0)
		rc = (s->errors = standin_open_append(v)) ? 0 : -1;
	else if (strcmp(a, "--mps") == 0)
		s->mps = atoi(v);
	else if (strcmp(a, "--jitter-ms") == 0)
		s->jitter_ms = atoi(v);
	else if (strcmp(a, "--pair-window-ms") == 0)
		s->pair_window_ms = atoi(v);
	else if (strcmp(a, "--latency-ms") == 0)
		s->latency_ms = atoi(v);
	else if (strcmp(a, "--fail-5xx") == 0)
		s->fail_5xx = atol(v);
	else if (strcmp(a, "--fail-130429") == 0)
		s->fail_130429 = atol(v);
	else if (strcmp(a, "--undeliverable") == 0)
		rc = add(s->undeliverable, &s->nundeliverable, MAX_SUFFIXES, v);
	else if (strcmp(a, "--stopped") == 0)
		rc = add(s->stopped, &s->nstopped, MAX_SUFFIXES, v);
	else if (strcmp(a, "--template") == 0)
		rc = add(s->templates, &s->ntemplates, MAX_TEMPLATES, v);
	else
		rc = -1;
	return rc;
}

static int parse(struct standin *s, int argc, char **argv, const char **listen,
		 const char **port_file)
{
	static const char *const flags[] = { "--bad-token", NULL };

	if (standin_parse(argc, argv, flags, option, s, listen, port_file) != 0)
		return -1;
	if (s->mps < 1 || s->jitter_ms < 0 || s->jitter_ms >= 1000)
		return -1;
	return 0;
}

static void cleanup(struct standin *s)
{
	for (int i = 0; i < HASH_BUCKETS; i++) {
		struct recipient *r = s->buckets[i], *next;

		for (; r != NULL; r = next) {
			next = r->next;
			free(r);
		}
	}
	free(s->accepted_at);
	if (s->log != NULL)
		fclose(s->log);
	if (s->errors != NULL)
		fclose(s->errors);
	pthread_mutex_destroy(&s->lock);
}

int main(int argc, char **argv)
{
	static struct standin s;
	const char *listen = "127.0.0.1:0", *port_file = NULL;
	http_opts o = { .name = "wa_standin",
			.max_body = 65536,
			.threads = 0,
			.max_conns = 1024,
			.timeout_s = 60 };
	static const standin_route routes[] = {
		{ "POST", "/{version}/{phone}/messages", h_messages },
		{ "POST", "/_control", h_control },
		{ "GET", "/_stats", h_stats },
	};
	cJSON *st;
	char *text;
	int rc = 1;

	s.token = "test-token";
	s.phone_id = "1234567890";
	s.version = "v21.0";
	s.mps = 80;
	s.jitter_ms = 50;
	s.pair_window_ms = 6000;
	pthread_mutex_init(&s.lock, NULL);
	s.accepted_at = calloc(RING, sizeof(*s.accepted_at));
	if (s.accepted_at == NULL ||
	    parse(&s, argc, argv, &listen, &port_file) != 0) {
		usage();
		goto out;
	}
	o.listen = listen;
	rc = standin_run("wa_standin", &o, routes,
			 sizeof(routes) / sizeof(*routes), &s, port_file);
out:
	pthread_mutex_lock(&s.lock);
	st = stats_json(&s);
	pthread_mutex_unlock(&s.lock);
	text = cJSON_PrintUnformatted(st);
	if (text != NULL)
		fprintf(stderr, "wa_standin stats %s\n", text);
	cJSON_free(text);
	cJSON_Delete(st);
	cleanup(&s);
	return rc;
}
