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

/* A server on a free loopback port and a client; one per test. */
struct fix {
	struct seen seen;
	http_server *srv;
	httpc *h;
	char url[64];
	httpc_reply r;
};

static int fix_up(void **state, const char *content_type)
{
	http_opts o = { .name = "test-httpc", .listen = "127.0.0.1:0" };
	httpc_opts co = { .name = "test",
			  .content_type = content_type,
			  .connect_timeout_ms = 2000,
			  .timeout_ms = 5000 };
	sl_errbuf eb = { { 0 } };
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	pthread_mutex_init(&f->seen.mu, NULL);
	f->srv = http_server_new(&o, &eb);
	assert_non_null(f->srv);
	assert_int_equal(http_route(f->srv, "POST", "/in", h_post, &f->seen),
			 SL_OK);
	assert_int_equal(http_server_start(f->srv, &eb), SL_OK);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/in",
		 (unsigned)http_server_port(f->srv));
	assert_int_equal(httpc_new(&co, &f->h, &eb), SL_OK);
	assert_non_null(f->h);
	*state = f;
	return 0;
}

static int fix_json(void **state)
{
	return fix_up(state, "application/json");
}

static int fix_text(void **state)
{
	return fix_up(state, "text/plain");
}

static int fix_down(void **state)
{
	struct fix *f = *state;

	httpc_free(f->h);
	http_server_free(f->srv);
	pthread_mutex_destroy(&f->seen.mu);
	free(f);
	return 0;
}

static void test_post_and_reply(void **state)
{
	static const char body[] = "{\"a\":1}\n\0tail"; /* 14 bytes */
	struct fix *f = *state;
	struct seen *s = &f->seen;
	httpc_reply *r = &f->r;

	s->status = 202;
	s->reply_len = 20;
	assert_int_equal(httpc_post(f->h, f->url, body, 14, r), SL_OK);
	assert_int_equal(r->status, 202);
	assert_int_equal(r->len, 20);
	assert_string_equal(r->body, "abcdefghijklmnopqrst");
	assert_string_equal(r->err, "");
	assert_int_equal(s->len, 14);
	assert_memory_equal(s->body, body, 14);
	assert_string_equal(s->content_type, "application/json");
	assert_int_equal(s->expect, 0);

	/* A second request on the same client: the reply starts afresh. */
	s->status = 500;
	s->reply_len = 3;
	assert_int_equal(httpc_post(f->h, f->url, "x", 1, r), SL_OK);
	assert_int_equal(r->status, 500);
	assert_int_equal(r->len, 3);
	assert_string_equal(r->body, "abc");
	assert_int_equal(s->requests, 2);
}

/* 100 kB back: the first 8191 bytes are kept, NUL-terminated. */
static void test_long_reply_cut(void **state)
{
	struct fix *f = *state;
	httpc_reply *r = &f->r;

	f->seen.status = 200;
	f->seen.reply_len = 100000;
	assert_int_equal(httpc_post(f->h, f->url, "x", 1, r), SL_OK);
	assert_int_equal(r->status, 200);
	assert_int_equal(r->len, sizeof(r->body) - 1);
	assert_int_equal(strlen(r->body), 8191);
	/* byte i is 'a' + i % 26, and 8190 = 26 * 315 */
	assert_int_equal(r->body[8190], 'a');
	assert_int_equal(r->body[8189], 'z');
	assert_string_equal(f->seen.content_type, "text/plain");
}

/* Nobody listens: no reply, transient; ftp or a broken URL: config. */
static void test_failures_sorted(void **state)
{
	struct fix *f = *state;
	httpc_reply *r = &f->r;

	http_server_free(f->srv); /* the port is free again */
	f->srv = NULL;
	assert_int_equal(httpc_post(f->h, f->url, "x", 1, r), SL_ETRANSIENT);
	assert_int_equal(r->status, 0);
	assert_true(r->err[0] != '\0');
	assert_int_equal(httpc_post(f->h, "ftp://127.0.0.1:1/x", "x", 1, r),
			 SL_ECONFIG);
	assert_true(r->err[0] != '\0');
	assert_int_equal(httpc_post(f->h, "http://", "x", 1, r), SL_ECONFIG);
	assert_int_equal(f->seen.requests, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_post_and_reply, fix_json,
						fix_down),
		cmocka_unit_test_setup_teardown(test_long_reply_cut, fix_text,
						fix_down),
		cmocka_unit_test_setup_teardown(test_failures_sorted, fix_text,
						fix_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
