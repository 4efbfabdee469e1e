/*
 * test_httpc.c — the sinks' libcurl client against a loopback server
 * (api/http.h) started by each test: what goes out (body, headers),
 * what comes back (status, the body cut at 8191 bytes), and how a
 * failed request is sorted (no reply: SL_ETRANSIENT; a request that
 * cannot be made: SL_ECONFIG).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/http.h"
#include "connectors/httpc.h"

/* What the server saw of the last request, and what it answers. */
struct seen {
	pthread_mutex_t mu;
	int requests;
	char content_type[64];
	int expect; /* an Expect header came */
	char body[64];
	size_t len;
	int status;	  /* to answer */
	size_t reply_len; /* bytes of 'a'..'z' to answer */
};

static void h_post(const http_req *req, http_resp *resp, void *ud)
{
	struct seen *s = ud;
	const char *ct = http_req_header(req, "Content-Type");
	size_t len = 0;
	const char *body = http_req_body(req, &len);
	char *reply;

	pthread_mutex_lock(&s->mu);
	s->requests++;
	snprintf(s->content_type, sizeof(s->content_type), "%s",
		 ct != NULL ? ct : "");
	s->expect = http_req_header(req, "Expect") != NULL;
	s->len = len;
	memcpy(s->body, body, len < sizeof(s->body) ? len : sizeof(s->body));
	reply = malloc(s->reply_len + 1);
	assert_non_null(reply);
	for (size_t i = 0; i < s->reply_len; i++)
		reply[i] = (char)('a' + i % 26);
	http_resp_set(resp, s->status, "text/plain", reply, s->reply_len);
	free(reply);
	pthread_mutex_unlock(&s->mu);
}

static http_server *serve(struct seen *s, char *url, size_t n)
{
	http_opts o = { .name = "test-httpc", .listen = "127.0.0.1:0" };
	sl_errbuf eb = { { 0 } };
	http_server *srv = http_server_new(&o, &eb);

	assert_non_null(srv);
	assert_int_equal(http_route(srv, "POST", "/in", h_post, s), SL_OK);
	assert_int_equal(http_server_start(srv, &eb), SL_OK);
	snprintf(url, n, "http://127.0.0.1:%u/in",
		 (unsigned)http_server_port(srv));
	return srv;
}

static httpc *client(const char *content_type)
{
	httpc_opts o = { .name = "test",
			 .content_type = content_type,
			 .connect_timeout_ms = 2000,
			 .timeout_ms = 5000 };
	sl_errbuf eb = { { 0 } };
	httpc *h = NULL;

	assert_int_equal(httpc_new(&o, &h, &eb), SL_OK);
	assert_non_null(h);
	return h;
}

static void test_post_and_reply(void **state)
{
	static struct seen s = { .mu = PTHREAD_MUTEX_INITIALIZER };
	static httpc_reply r;
	static const char body[] = "{\"a\":1}\n\0tail"; /* 14 bytes */
	char url[64];
	http_server *srv = serve(&s, url, sizeof(url));
	httpc *h = client("application/json");

	(void)state;
	s.status = 202;
	s.reply_len = 20;
	assert_int_equal(httpc_post(h, url, body, 14, &r), SL_OK);
	assert_int_equal(r.status, 202);
	assert_int_equal(r.len, 20);
	assert_string_equal(r.body, "abcdefghijklmnopqrst");
	assert_string_equal(r.err, "");
	assert_int_equal(s.len, 14);
	assert_memory_equal(s.body, body, 14);
	assert_string_equal(s.content_type, "application/json");
	assert_int_equal(s.expect, 0);

	/* A second request on the same client: the reply starts afresh. */
	s.status = 500;
	s.reply_len = 3;
	assert_int_equal(httpc_post(h, url, "x", 1, &r), SL_OK);
	assert_int_equal(r.status, 500);
	assert_int_equal(r.len, 3);
	assert_string_equal(r.body, "abc");
	assert_int_equal(s.requests, 2);
	httpc_free(h);
	http_server_free(srv);
}

/* 100 kB back: the first 8191 bytes are kept, NUL-terminated. */
static void test_long_reply_cut(void **state)
{
	static struct seen s = { .mu = PTHREAD_MUTEX_INITIALIZER };
	static httpc_reply r;
	char url[64];
	http_server *srv = serve(&s, url, sizeof(url));
	httpc *h = client("text/plain");

	(void)state;
	s.status = 200;
	s.reply_len = 100000;
	assert_int_equal(httpc_post(h, url, "x", 1, &r), SL_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, sizeof(r.body) - 1);
	assert_int_equal(strlen(r.body), 8191);
	/* byte 8190 is 'a' + 8190 % 26 = 'a' + 0 */
	assert_int_equal(r.body[8190], 'a');
	assert_int_equal(r.body[8189], 'z');
	assert_string_equal(s.content_type, "text/plain");
	httpc_free(h);
	http_server_free(srv);
}

/* Nobody listens: no reply, transient; ftp or a broken URL: config. */
static void test_failures_sorted(void **state)
{
	static struct seen s = { .mu = PTHREAD_MUTEX_INITIALIZER };
	static httpc_reply r;
	char url[64];
	http_server *srv = serve(&s, url, sizeof(url));
	httpc *h = client("text/plain");

	(void)state;
	http_server_free(srv); /* the port is free again */
	assert_int_equal(httpc_post(h, url, "x", 1, &r), SL_ETRANSIENT);
	assert_int_equal(r.status, 0);
	assert_true(r.err[0] != '\0');
	assert_int_equal(httpc_post(h, "ftp://127.0.0.1:1/x", "x", 1, &r),
			 SL_ECONFIG);
	assert_true(r.err[0] != '\0');
	assert_int_equal(httpc_post(h, "http://", "x", 1, &r), SL_ECONFIG);
	assert_int_equal(s.requests, 0);
	httpc_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_and_reply),
		cmocka_unit_test(test_long_reply_cut),
		cmocka_unit_test(test_failures_sorted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
