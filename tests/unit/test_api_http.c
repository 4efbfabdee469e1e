/*
 * test_api_http.c — the HTTP layer over loopback: routing, path
 * parameters, 404/405, the body limit, headers, metrics and the
 * /metrics and /healthz handlers the servers share.  Starts the
 * server on 127.0.0.1 with an ephemeral port and talks to it with
 * libcurl; needs no outside service.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "api/http.h"

struct reply {
	long status;
	char body[4096];
	size_t len;
	char allow[64];
	char ctype[64];
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t k = sz * n;

	if (r->len + k < sizeof(r->body)) {
		memcpy(r->body + r->len, p, k);
		r->len += k;
		r->body[r->len] = '\0';
	}
	return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t k = sz * n;

	if (k > 7 && strncasecmp(p, "Allow: ", 7) == 0) {
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(k - 9),
			 p + 7);
	}
	if (k > 14 && strncasecmp(p, "Content-Type: ", 14) == 0)
		snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)(k - 16),
			 p + 14);
	return k;
}

/* One request; body may be NULL (GET) and headers a NULL-ended list. */
static void request(uint16_t port, const char *method, const char *path,
		    const char *body, size_t len, const char **headers,
		    struct reply *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	char url[512];

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	for (int i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
	}
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
}

/* Echoes what the handler saw, as JSON. */
static void h_echo(const http_req *req, http_resp *resp, void *ud)
{
	cJSON *o = cJSON_CreateObject();
	const char *id = http_req_param(req, "id");
	const char *uid = http_req_param(req, "user_id");
	const char *hx = http_req_header(req, "x-test");
	const char *q = http_req_query(req, "q");
	size_t len;
	const char *body = http_req_body(req, &len);

	cJSON_AddStringToObject(o, "tag", ud);
	cJSON_AddStringToObject(o, "id", id ? id : "-");
	cJSON_AddStringToObject(o, "user_id", uid ? uid : "-");
	cJSON_AddStringToObject(o, "x", hx ? hx : "-");
	cJSON_AddStringToObject(o, "q", q ? q : "-");
	cJSON_AddNumberToObject(o, "len", (double)len);
	cJSON_AddBoolToObject(o, "nul_terminated", body[len] == '\0');
	cJSON_AddStringToObject(o, "pattern", http_req_pattern(req));
	http_resp_cjson(resp, 200, o);
	http_resp_header(resp, "X-Reply", "yes");
	cJSON_Delete(o);
}

static void h_silent(const http_req *req, http_resp *resp, void *ud)
{
	(void)req;
	(void)resp;
	(void)ud;
}

static http_server *start(size_t max_body, unsigned threads)
{
	http_opts o = { .name = "t",
			.listen = "127.0.0.1:0",
			.max_body = max_body,
			.threads = threads };
	sl_errbuf eb = { { 0 } };
	http_server *s = http_server_new(&o, &eb);

	assert_non_null(s);
	assert_int_equal(http_route(s, "GET", "/v1/screenings/{id}", h_echo,
				    "one"),
			 SL_OK);
	assert_int_equal(http_route(s, "GET", "/v1/users/{user_id}/screenings",
				    h_echo, "user"),
			 SL_OK);
	assert_int_equal(
		http_route(s, "POST", "/v1/screenings", h_echo, "post"), SL_OK);
	assert_int_equal(http_route(s, "GET", "/silent", h_silent, NULL),
			 SL_OK);
	assert_int_equal(http_server_start(s, &eb), SL_OK);
	assert_true(http_server_port(s) > 0);
	return s;
}

static void test_routing_and_params(void **state)
{
	http_server *s = start(0, 0);
	const char *hdr[] = { "X-Test: hello", NULL };
	struct reply r;
	cJSON *o;

	(void)state;
	request(http_server_port(s), "GET", "/v1/screenings/abc-123?q=9", NULL,
		0, hdr, &r);
	assert_int_equal(r.status, 200);
	o = cJSON_Parse(r.body);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "tag")->valuestring, "one");
	assert_string_equal(cJSON_GetObjectItem(o, "id")->valuestring,
			    "abc-123");
	assert_string_equal(cJSON_GetObjectItem(o, "x")->valuestring, "hello");
	assert_string_equal(cJSON_GetObjectItem(o, "q")->valuestring, "9");
	assert_string_equal(cJSON_GetObjectItem(o, "pattern")->valuestring,
			    "/v1/screenings/{id}");
	cJSON_Delete(o);

	request(http_server_port(s), "GET", "/v1/users/u-7/screenings", NULL, 0,
		NULL, &r);
	assert_int_equal(r.status, 200);
	o = cJSON_Parse(r.body);
	assert_string_equal(cJSON_GetObjectItem(o, "tag")->valuestring, "user");
	assert_string_equal(cJSON_GetObjectItem(o, "user_id")->valuestring,
			    "u-7");
	cJSON_Delete(o);
	http_server_free(s);
}

static void test_not_found_and_method(void **state)
{
	http_server *s = start(0, 2);
	struct reply r;

	(void)state;
	request(http_server_port(s), "GET", "/v1/nothing", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.body, "\"not_found\""));

	/* An empty parameter segment does not match. */
	request(http_server_port(s), "GET", "/v1/screenings/", NULL, 0, NULL,
		&r);
	assert_int_equal(r.status, 404);
	request(http_server_port(s), "GET", "/v1/users//screenings", NULL, 0,
		NULL, &r);
	assert_int_equal(r.status, 404);

	/* Extra segments do not match. */
	request(http_server_port(s), "GET", "/v1/screenings/a/b", NULL, 0, NULL,
		&r);
	assert_int_equal(r.status, 404);

	/* Known path, wrong method: 405 with Allow. */
	request(http_server_port(s), "DELETE", "/v1/screenings", NULL, 0, NULL,
		&r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "POST");

	/* A handler that answers nothing gives 500, not a hang. */
	request(http_server_port(s), "GET", "/silent", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 500);
	http_server_free(s);
}

static void test_body_limit(void **state)
{
	http_server *s = start(100, 0);
	char *big = malloc(1 << 20);
	struct reply r;
	cJSON *o;

	(void)state;
	memset(big, 'x', 1 << 20);

	/* Exactly at the limit: accepted, whole, NUL-terminated. */
	request(http_server_port(s), "POST", "/v1/screenings", big, 100, NULL,
		&r);
	assert_int_equal(r.status, 200);
	o = cJSON_Parse(r.body);
	assert_int_equal(cJSON_GetObjectItem(o, "len")->valueint, 100);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "nul_terminated")));
	cJSON_Delete(o);

	/* One over, and 1 MiB: 413 before the handler. */
	request(http_server_port(s), "POST", "/v1/screenings", big, 101, NULL,
		&r);
	assert_int_equal(r.status, 413);
	request(http_server_port(s), "POST", "/v1/screenings", big, 1 << 20,
		NULL, &r);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.body, "body_too_large"));

	/* Chunked (no Content-Length) over the limit: 413 as well. */
	{
		const char *chunked[] = { "Transfer-Encoding: chunked", NULL };

		request(http_server_port(s), "POST", "/v1/screenings", big,
			5000, chunked, &r);
		assert_int_equal(r.status, 413);
		request(http_server_port(s), "POST", "/v1/screenings", big, 50,
			chunked, &r);
		assert_int_equal(r.status, 200);
	}

	/* Empty body. */
	request(http_server_port(s), "POST", "/v1/screenings", "", 0, NULL, &r);
	assert_int_equal(r.status, 200);
	o = cJSON_Parse(r.body);
	assert_int_equal(cJSON_GetObjectItem(o, "len")->valueint, 0);
	cJSON_Delete(o);

	/* Each 413 counted once, under its route. */
	{
		char *text = NULL;
		size_t n = 0;
		FILE *f = open_memstream(&text, &n);

		http_server_write_metrics(s, f);
		fclose(f);
		assert_non_null(strstr(text, "route=\"POST /v1/screenings\","
					     "status=\"413\"} 3\n"));
		assert_null(strstr(text, "route=\"unmatched\",status=\"413\""));
		free(text);
	}
	free(big);
	http_server_free(s);
}

static void test_metrics(void **state)
{
	http_server *s = start(0, 0);
	struct reply r;
	char *text = NULL;
	size_t n = 0;
	FILE *f;

	(void)state;
	request(http_server_port(s), "GET", "/v1/screenings/x", NULL, 0, NULL,
		&r);
	request(http_server_port(s), "GET", "/v1/screenings/y", NULL, 0, NULL,
		&r);
	request(http_server_port(s), "GET", "/nope", NULL, 0, NULL, &r);
	f = open_memstream(&text, &n);
	http_server_write_metrics(s, f);
	fclose(f);
	assert_non_null(strstr(text, "sluice_http_requests_total{server=\"t\","
				     "route=\"GET /v1/screenings/{id}\","
				     "status=\"200\"} 2\n"));
	assert_non_null(
		strstr(text, "route=\"unmatched\",status=\"404\"} 1\n"));
	assert_non_null(strstr(text, "sluice_http_request_duration_seconds_"
				     "count{server=\"t\",route=\"GET "
				     "/v1/screenings/{id}\"} 2\n"));
	assert_non_null(strstr(text, "route=\"GET /v1/screenings/{id}\","
				     "le=\"+Inf\"} 2\n"));
	free(text);
	http_server_free(s);
}

static void write_two(FILE *f, void *ud)
{
	fprintf(f, "a_total %d\n", *(int *)ud);
	fprintf(f, "b_total 2\n");
}

static void h_metrics(const http_req *req, http_resp *resp, void *ud)
{
	(void)req;
	http_resp_metrics(resp, write_two, ud);
}

static void test_shared_handlers(void **state)
{
	http_opts o = { .name = "h", .listen = "127.0.0.1:0" };
	sl_errbuf eb = { { 0 } };
	http_server *s = http_server_new(&o, &eb);
	struct reply r;
	int seven = 7;

	(void)state;
	assert_non_null(s);
	assert_int_equal(http_route(s, "GET", "/metrics", h_metrics, &seven),
			 SL_OK);
	assert_int_equal(http_route(s, "GET", "/healthz", http_h_healthz, NULL),
			 SL_OK);
	assert_int_equal(http_server_start(s, &eb), SL_OK);

	request(http_server_port(s), "GET", "/metrics", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "text/plain; version=0.0.4");
	assert_string_equal(r.body, "a_total 7\nb_total 2\n");
	request(http_server_port(s), "GET", "/healthz", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "application/json");
	assert_string_equal(r.body, "{\"status\":\"ok\"}");
	http_server_free(s);
}

static void test_bad_patterns_and_listen(void **state)
{
	http_opts o = { .name = "t", .listen = "127.0.0.1:0" };
	sl_errbuf eb = { { 0 } };
	http_server *s = http_server_new(&o, &eb);
	char host[64], port[16];

	(void)state;
	assert_int_equal(http_route(s, "GET", "no-slash", h_echo, NULL),
			 SL_EINVAL);
	assert_int_equal(http_route(s, "GET",
				    "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q",
				    h_echo, NULL),
			 SL_EINVAL);
	http_server_free(s);

	assert_int_equal(http_split_listen("127.0.0.1:8080", host, sizeof(host),
					   port, sizeof(port)),
			 SL_OK);
	assert_string_equal(host, "127.0.0.1");
	assert_string_equal(port, "8080");
	assert_int_equal(http_split_listen("[::1]:81", host, sizeof(host), port,
					   sizeof(port)),
			 SL_OK);
	assert_string_equal(host, "::1");
	assert_string_equal(port, "81");
	assert_int_equal(http_split_listen("::1:81", host, sizeof(host), port,
					   sizeof(port)),
			 SL_EINVAL);
	assert_int_equal(http_split_listen("localhost", host, sizeof(host),
					   port, sizeof(port)),
			 SL_EINVAL);
	assert_int_equal(http_split_listen("h:8x", host, sizeof(host), port,
					   sizeof(port)),
			 SL_EINVAL);

	o.listen = "nonsense";
	assert_null(http_server_new(&o, &eb));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing_and_params),
		cmocka_unit_test(test_not_found_and_method),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_shared_handlers),
		cmocka_unit_test(test_bad_patterns_and_listen),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
