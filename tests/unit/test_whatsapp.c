/*
 * test_whatsapp.c — the WhatsApp Cloud API client: the token bucket and
 * pacer on an injected clock, reply classification, request bodies and
 * the template map, the dry run, and live sends over libcurl to a small
 * in-process server (api/http.h) on 127.0.0.1.
 *
 * Expected values are worked out by hand, not by the code under test:
 * - 80 msgs/s for 60 s is 4800; no window of 1000 ms may hold more than
 *   80 takes (counted here from the take times).
 * - burst is a tenth of a second's worth: 8 tokens at 80/s.
 * - after 130429 the rate halves (80 -> 40) and comes back by a tenth
 *   of 80 (8/s) per 5 s of calm: 40 + 5 steps * 8 = 80 after 25 s.
 * - "+91 98765-43210" is 919876543210 (connectors.md 2.4 vectors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>

#include "api/http.h"
#include "connectors/whatsapp.h"
#include "processor/log.h"

/* ---- token bucket ------------------------------------------------ */

/* Most takes within any [t, t + 1000) of a sorted list. */
static int max_per_second(const int64_t *t, int n)
{
	int best = 0, j = 0;

	for (int i = 0; i < n; i++) {
		while (j < n && t[j] < t[i] + 1000)
			j++;
		if (j - i > best)
			best = j - i;
	}
	return best;
}

static void test_bucket_rate_60s(void **state)
{
	static int64_t taken[10000];
	wa_bucket b;
	int n = 0;

	(void)state;
	assert_int_equal(wa_bucket_init(&b, 80, 0), SL_OK);
	/* A caller that sleeps until the next token: the full rate. */
	for (int64_t now = 0; now < 60000;) {
		int64_t wait = wa_bucket_wait_ms(&b, now);

		if (wait > 0) {
			now += wait;
			continue;
		}
		assert_int_equal(wa_bucket_take(&b, now), 1);
		taken[n++] = now;
	}
	assert_true(n >= 4795 && n <= 4800);
	assert_true(max_per_second(taken, n) <= 80);
	/* Evenly spaced: 12 or 13 ms apart after the first. */
	for (int i = 2; i < n; i++)
		assert_true(taken[i] - taken[i - 1] >= 12 &&
			    taken[i] - taken[i - 1] <= 13);
	wa_bucket_free(&b);
}

static void test_bucket_coarse_polls(void **state)
{
	static int64_t taken[10000];
	unsigned seed = 7;
	wa_bucket b;
	int n = 0;

	(void)state;
	assert_int_equal(wa_bucket_init(&b, 80, 0), SL_OK);
	/*
	 * Polling at uneven intervals of 1-60 ms, taking all there is:
	 * never more than 80 in a second; a few percent lost to waiting.
	 */
	for (int64_t now = 0; now < 60000; now += 1 + rand_r(&seed) % 60)
		while (wa_bucket_take(&b, now))
			taken[n++] = now;
	assert_true(max_per_second(taken, n) <= 80);
	assert_true(n >= 4600 && n <= 4800);
	wa_bucket_free(&b);
}

static void test_bucket_burst_after_idle(void **state)
{
	static int64_t taken[1000];
	wa_bucket b;
	int n = 0;

	(void)state;
	assert_int_equal(wa_bucket_init(&b, 80, 0), SL_OK);
	/* Idle for 10 s: at most a tenth of a second's worth at once. */
	assert_int_equal(wa_bucket_available(&b, 10000), 8);
	for (int64_t now = 10000; now < 12000; now += 50)
		while (wa_bucket_take(&b, now))
			taken[n++] = now;
	assert_true(max_per_second(taken, n) <= 80);
	/* 8 at once, then 80/s: 8 + 2 s * 80 = 168 at most. */
	assert_true(n >= 150 && n <= 168);
	wa_bucket_free(&b);
}

static void test_bucket_slow_and_bad(void **state)
{
	wa_bucket b;
	int n = 0;

	(void)state;
	assert_int_equal(wa_bucket_init(&b, 0, 0), SL_EINVAL);
	assert_int_equal(wa_bucket_init(&b, -3, 0), SL_EINVAL);

	/* Half a message a second: one every 2 s, the first at once. */
	assert_int_equal(wa_bucket_init(&b, 0.5, 0), SL_OK);
	for (int64_t now = 0; now < 10000; now += 10)
		n += wa_bucket_take(&b, now);
	assert_int_equal(n, 5);
	wa_bucket_free(&b);
}

static void test_bucket_set_rate(void **state)
{
	static int64_t taken[4000];
	wa_bucket b;
	int n = 0;

	(void)state;
	assert_int_equal(wa_bucket_init(&b, 80, 0), SL_OK);
	wa_bucket_set_rate(&b, 20, 0);
	for (int64_t now = 0; now < 10000; now += 20)
		while (wa_bucket_take(&b, now))
			taken[n++] = now;
	assert_true(n >= 195 && n <= 201); /* 1 + 10 s * 20 */
	assert_true(max_per_second(taken, n) <= 20);
	/* Never above the rate it was made for. */
	wa_bucket_set_rate(&b, 500, 10000);
	assert_true(b.rate <= 80);
	wa_bucket_free(&b);
}

/* ---- pacer ------------------------------------------------------- */

static void test_pacer_throttle_and_recover(void **state)
{
	wa_pacer p;
	int64_t t = 100000;

	(void)state;
	assert_int_equal(wa_pacer_init(&p, 80, t), SL_OK);
	assert_true(wa_pacer_available(&p, t) >= 1);

	/* 130429: halve, pause 0.75-1.25 s. */
	wa_pacer_throttled(&p, t);
	assert_true(wa_pacer_rate(&p) == 40);
	assert_true(p.paused_until >= t + 750 && p.paused_until <= t + 1250);
	assert_int_equal(wa_pacer_available(&p, t + 700), 0);
	assert_int_equal(wa_pacer_take(&p, t + 700), 0);
	assert_int_equal(wa_pacer_wait_ms(&p, t + 700),
			 p.paused_until - t - 700);

	/* More replies during the pause change nothing. */
	wa_pacer_throttled(&p, t + 500);
	assert_true(wa_pacer_rate(&p) == 40);
	assert_int_equal(p.backoff_ms, 1000);
	/* After the pause: one token, not a burst; the next 25 ms later. */
	assert_int_equal(wa_pacer_available(&p, p.paused_until), 1);
	assert_int_equal(wa_pacer_take(&p, p.paused_until), 1);
	assert_int_equal(wa_pacer_wait_ms(&p, p.paused_until), 25);

	/* Another throttle later: 20/s and a longer pause (1.5-2.5 s). */
	t += 2000;
	wa_pacer_throttled(&p, t);
	assert_true(wa_pacer_rate(&p) == 20);
	assert_int_equal(wa_pacer_available(&p, t + 1400), 0);
	assert_true(wa_pacer_available(&p, t + 2600) >= 1);

	/* Calm: +8/s every 5 s: 20 -> 28 -> ... -> 80 after 8 steps. */
	for (int i = 1; i <= 8; i++) {
		wa_pacer_available(&p, t + i * 5000 + 1);
		assert_true(wa_pacer_rate(&p) ==
			    (20 + 8 * i > 80 ? 80 : 20 + 8 * i));
	}
	assert_true(wa_pacer_rate(&p) == 80);

	/* An acceptance long after the last throttle resets the backoff. */
	wa_pacer_accepted(&p, t + 60000);
	wa_pacer_throttled(&p, t + 60000);
	assert_int_equal(p.backoff_ms, 1000);
	wa_pacer_free(&p);
}

/* ---- replies ----------------------------------------------------- */

static void classify(long status, const char *body, enum wa_class want,
		     int want_code)
{
	wa_result r;

	memset(&r, 0, sizeof(r));
	wa_classify(status, body, body ? strlen(body) : 0, &r);
	assert_int_equal(r.cls, want);
	assert_int_equal(r.code, want_code);
	assert_int_equal(r.http_status, status);
}

#define ERR(code, msg, details)                                                \
	"{\"error\":{\"message\":\"" msg "\",\"type\":\"OAuthException\","     \
	"\"code\":" #code ",\"error_data\":{\"messaging_product\":"            \
	"\"whatsapp\",\"details\":\"" details "\"},\"fbtrace_id\":\"x\"}}"

static void test_classify(void **state)
{
	wa_result r;
	const char *ok = "{\"messaging_product\":\"whatsapp\",\"contacts\":[{"
			 "\"input\":\"919876543210\",\"wa_id\":"
			 "\"919876543210\"}],\"messages\":[{\"id\":"
			 "\"wamid.HBgLOTE5ODc2NTQzMjEw\"}]}";
	const char *undeliverable =
		ERR(131026, "Message undeliverable", "Unable to deliver");

	(void)state;
	memset(&r, 0, sizeof(r));
	wa_classify(200, ok, strlen(ok), &r);
	assert_int_equal(r.cls, WA_SENT);
	assert_string_equal(r.wamid, "wamid.HBgLOTE5ODc2NTQzMjEw");

	classify(429, ERR(130429, "Rate limit hit", "throughput"), WA_THROTTLED,
		 130429);
	classify(400, ERR(80007, "WABA rate", "x"), WA_THROTTLED, 80007);
	classify(400, ERR(131056, "pair rate limit hit", "x"), WA_PAIR_LIMIT,
		 131056);
	classify(400, undeliverable, WA_PERMANENT, 131026);
	classify(400, ERR(131050, "stopped marketing", "x"), WA_PERMANENT,
		 131050);
	classify(400, ERR(132000, "param count mismatch", "x"), WA_TEMPLATE,
		 132000);
	classify(404, ERR(132001, "template missing", "x"), WA_TEMPLATE,
		 132001);
	classify(401, ERR(190, "Invalid OAuth access token", "x"), WA_AUTH,
		 190);
	classify(403, ERR(10, "permission", "x"), WA_AUTH, 10);
	classify(403, ERR(200, "permission", "x"), WA_AUTH, 200);
	classify(500, ERR(131000, "Something went wrong", "x"), WA_TRANSIENT,
		 131000);
	classify(503, ERR(2, "Service unavailable", "x"), WA_TRANSIENT, 2);
	classify(400, ERR(100, "Invalid parameter", "x"), WA_PERMANENT, 100);

	/* No usable body: the status decides. */
	classify(502, "<html>bad gateway</html>", WA_TRANSIENT, 0);
	classify(503, NULL, WA_TRANSIENT, 0);
	classify(429, NULL, WA_THROTTLED, 0);
	classify(401, NULL, WA_AUTH, 0);
	classify(400, "not json", WA_PERMANENT, 0);

	/* The message and details are kept together. */
	memset(&r, 0, sizeof(r));
	wa_classify(400, undeliverable, strlen(undeliverable), &r);
	assert_string_equal(r.message,
			    "Message undeliverable: Unable to deliver");

	/* A 200 without a message id still means accepted. */
	memset(&r, 0, sizeof(r));
	wa_classify(200, "{}", 2, &r);
	assert_int_equal(r.cls, WA_SENT);
	assert_string_equal(r.wamid, "");
}

/* ---- requests ---------------------------------------------------- */

static sl_config *config(const char *const *kv)
{
	sl_config *cfg = sl_config_new();

	assert_non_null(cfg);
	for (int i = 0; kv[i] != NULL; i += 2)
		assert_int_equal(sl_config_set(cfg, kv[i], kv[i + 1]), SL_OK);
	return cfg;
}

static char dry_dir[64];

static void test_phone_digits(void **state)
{
	char out[20];

	(void)state;
	assert_int_equal(wa_phone_digits("+91 98765-43210", out, sizeof(out)),
			 SL_OK);
	assert_string_equal(out, "919876543210");
	assert_int_equal(wa_phone_digits("+919876543210", out, sizeof(out)),
			 SL_OK);
	assert_string_equal(out, "919876543210");
	assert_int_equal(wa_phone_digits("12345", out, sizeof(out)),
			 SL_EINVAL); /* too short */
	assert_int_equal(wa_phone_digits("+91abc9876543210", out, sizeof(out)),
			 SL_EINVAL);
	assert_int_equal(wa_phone_digits("09876543210", out, sizeof(out)),
			 SL_EINVAL); /* no country code */
	assert_int_equal(wa_phone_digits(NULL, out, sizeof(out)), SL_EINVAL);
}

static void test_request_body_and_templates(void **state)
{
	static const char *const kv[] = {
		"dry_run.dir",
		dry_dir,
		"whatsapp.template.hi",
		"reminder_hi",
		"whatsapp.template_lang.hi",
		"hi_IN",
		"whatsapp.template.en",
		"reminder_en",
		"whatsapp.template_lang.en",
		"en_US",
		"whatsapp.template_lang.ta",
		"ta",
		"whatsapp.template.default",
		"screening_nudge",
		NULL,
	};
	sl_config *cfg = config(kv);
	wa_client *c = NULL;
	sl_errbuf eb;
	const char *name, *code;
	char *body = NULL;
	wa_message m = { .to = "+919876543210",
			 .lang = "hi",
			 .param = "3",
			 .callback = "u-1:2026-06-01" };

	(void)state;
	assert_int_equal(wa_client_new(cfg, &c, &eb), SL_OK);
	assert_true(wa_client_dry(c));

	wa_client_template(c, "hi", &name, &code);
	assert_string_equal(name, "reminder_hi");
	assert_string_equal(code, "hi_IN");
	/* ta has a language code but no name: the default template. */
	wa_client_template(c, "ta", &name, &code);
	assert_string_equal(name, "screening_nudge");
	assert_string_equal(code, "ta");
	/* bn is not configured: the fallback language (en). */
	wa_client_template(c, "bn", &name, &code);
	assert_string_equal(name, "reminder_en");
	assert_string_equal(code, "en_US");

	assert_int_equal(wa_request_body(c, &m, &body), SL_OK);
	assert_string_equal(body,
			    "{\"messaging_product\":\"whatsapp\","
			    "\"recipient_type\":\"individual\","
			    "\"to\":\"919876543210\",\"type\":\"template\","
			    "\"biz_opaque_callback_data\":\"u-1:2026-06-01\","
			    "\"template\":{\"name\":\"reminder_hi\","
			    "\"language\":{\"code\":\"hi_IN\"},"
			    "\"components\":[{\"type\":\"body\",\"parameters\":"
			    "[{\"type\":\"text\",\"text\":\"3\"}]}]}}");
	free(body);

	m.to = "not a phone";
	assert_int_equal(wa_request_body(c, &m, &body), SL_EINVAL);
	assert_null(body);
	wa_client_free(c);
	sl_config_free(cfg);
}

static void test_templates_zero_config(void **state)
{
	static const char *const kv[] = { "dry_run.dir", dry_dir, NULL };
	sl_config *cfg = config(kv);
	wa_client *c = NULL;
	sl_errbuf eb;
	const char *name, *code;

	(void)state;
	assert_int_equal(wa_client_new(cfg, &c, &eb), SL_OK);
	/* No template keys: one template, every language as itself. */
	wa_client_template(c, "kn", &name, &code);
	assert_string_equal(name, "screening_reminder");
	assert_string_equal(code, "kn");
	wa_client_free(c);
	sl_config_free(cfg);
}

/* ---- dry run ----------------------------------------------------- */

static void test_dry_run(void **state)
{
	static const char *const kv[] = { "dry_run.dir", dry_dir,
					  "whatsapp.phone_number_id", "555",
					  NULL };
	sl_config *cfg = config(kv);
	wa_client *c = NULL;
	sl_errbuf eb;
	wa_result r;
	wa_message m = { .to = "+919876543210", .lang = "en", .param = "1" };
	char path[128], line[4096];
	FILE *f;
	int lines = 0;

	(void)state;
	assert_int_equal(wa_client_new(cfg, &c, &eb), SL_OK);
	assert_int_equal(wa_client_submit(c, &m, 41), SL_OK);
	m.to = "+14155550100";
	assert_int_equal(wa_client_submit(c, &m, 42), SL_OK);
	m.to = "bad";
	assert_int_equal(wa_client_submit(c, &m, 43), SL_EINVAL);
	assert_int_equal(wa_client_pending(c), 2);

	assert_int_equal(wa_client_result(c, &r), 1);
	assert_int_equal(r.tag, 41);
	assert_int_equal(r.cls, WA_SENT);
	assert_string_equal(r.wamid, "dry-1");
	assert_int_equal(wa_client_result(c, &r), 1);
	assert_int_equal(r.tag, 42);
	assert_string_equal(r.wamid, "dry-2");
	assert_int_equal(wa_client_result(c, &r), 0);
	wa_client_free(c);

	snprintf(path, sizeof(path), "%s/whatsapp.jsonl", dry_dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		cJSON *o = cJSON_Parse(line);
		cJSON *h = cJSON_GetObjectItem(o, "headers");
		cJSON *b = cJSON_GetObjectItem(o, "body");

		assert_non_null(o);
		assert_string_equal(cJSON_GetObjectItem(o, "url")->valuestring,
				    "https://graph.facebook.com/v21.0/555/"
				    "messages");
		assert_string_equal(
			cJSON_GetObjectItem(h, "Authorization")->valuestring,
			"Bearer ***");
		assert_string_equal(cJSON_GetObjectItem(b, "to")->valuestring,
				    lines == 0 ? "919876543210"
					       : "14155550100");
		assert_string_equal(
			cJSON_GetObjectItem(o, "wamid")->valuestring,
			lines == 0 ? "dry-1" : "dry-2");
		cJSON_Delete(o);
		lines++;
	}
	fclose(f);
	assert_int_equal(lines, 2);
	unlink(path);
	sl_config_free(cfg);
}

/* ---- live sends to an in-process server -------------------------- */

struct fake {
	int requests;
	char last_auth[128];
	char last_path[128];
	char last_to[32];
};

static void h_fake(const http_req *req, http_resp *resp, void *ud)
{
	struct fake *f = ud;
	const char *auth = http_req_header(req, "Authorization");
	size_t len;
	const char *body = http_req_body(req, &len);
	cJSON *o = cJSON_ParseWithLength(body, len);
	const char *to = cJSON_GetStringValue(cJSON_GetObjectItem(o, "to"));

	f->requests++;
	snprintf(f->last_auth, sizeof(f->last_auth), "%s", auth ? auth : "");
	snprintf(f->last_path, sizeof(f->last_path), "%s", http_req_path(req));
	snprintf(f->last_to, sizeof(f->last_to), "%s", to ? to : "");
	if (to != NULL && strcmp(to, "919800000001") == 0)
		http_resp_json(resp, 400,
			       ERR(131026, "Message undeliverable", "d"));
	else if (to != NULL && strcmp(to, "919800000002") == 0)
		http_resp_json(resp, 429, ERR(130429, "Rate limit hit", "d"));
	else
		http_resp_json(resp, 200,
			       "{\"messaging_product\":\"whatsapp\","
			       "\"messages\":[{\"id\":\"wamid.FAKE\"}]}");
	cJSON_Delete(o);
}

/* Poll until n results are in; returns how many arrived. */
static int wait_results(wa_client *c, wa_result *out, int n)
{
	int got = 0;

	for (int i = 0; i < 500 && got < n; i++) {
		wa_client_poll(c, 10);
		while (got < n && wa_client_result(c, &out[got]))
			got++;
	}
	return got;
}

static void test_live_sends(void **state)
{
	http_opts o = { .name = "fake", .listen = "127.0.0.1:0", .threads = 1 };
	struct fake f;
	http_server *srv;
	sl_errbuf eb;
	wa_client *c = NULL;
	wa_result r[3];
	wa_message m = { .to = "+919800000000", .lang = "en", .param = "2" };
	char url[64];
	sl_config *cfg;
	const char *kv[] = { "whatsapp.url",
			     url,
			     "whatsapp.token",
			     "sekrit",
			     "whatsapp.phone_number_id",
			     "777",
			     NULL };

	(void)state;
	memset(&f, 0, sizeof(f));
	srv = http_server_new(&o, &eb);
	assert_non_null(srv);
	assert_int_equal(http_route(srv, "POST", "/{v}/{id}/messages", h_fake,
				    &f),
			 SL_OK);
	assert_int_equal(http_server_start(srv, &eb), SL_OK);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/",
		 (unsigned)http_server_port(srv));
	cfg = config(kv);
	assert_int_equal(wa_client_new(cfg, &c, &eb), SL_OK);
	assert_false(wa_client_dry(c));

	assert_int_equal(wa_client_submit(c, &m, 1), SL_OK);
	m.to = "+919800000001";
	assert_int_equal(wa_client_submit(c, &m, 2), SL_OK);
	m.to = "+919800000002";
	assert_int_equal(wa_client_submit(c, &m, 3), SL_OK);
	assert_int_equal(wait_results(c, r, 3), 3);
	assert_int_equal(f.requests, 3);
	assert_string_equal(f.last_auth, "Bearer sekrit");
	assert_string_equal(f.last_path, "/v21.0/777/messages");
	for (int i = 0; i < 3; i++) {
		if (r[i].tag == 1) {
			assert_int_equal(r[i].cls, WA_SENT);
			assert_string_equal(r[i].wamid, "wamid.FAKE");
		} else if (r[i].tag == 2) {
			assert_int_equal(r[i].cls, WA_PERMANENT);
			assert_int_equal(r[i].code, 131026);
		} else {
			assert_int_equal(r[i].tag, 3);
			assert_int_equal(r[i].cls, WA_THROTTLED);
		}
	}
	wa_client_free(c);

	/* Nothing listening: a network error, not sent, retryable. */
	http_server_free(srv);
	assert_int_equal(wa_client_new(cfg, &c, &eb), SL_OK);
	assert_int_equal(wa_client_submit(c, &m, 9), SL_OK);
	assert_int_equal(wait_results(c, r, 1), 1);
	assert_int_equal(r[0].cls, WA_TRANSIENT);
	assert_int_equal(r[0].http_status, 0);
	assert_false(r[0].maybe_sent);
	assert_non_null(strstr(r[0].message, "network"));
	wa_client_free(c);
	sl_config_free(cfg);
}

static void test_live_needs_phone_id(void **state)
{
	static const char *const kv[] = { "whatsapp.token", "t", NULL };
	sl_config *cfg = config(kv);
	wa_client *c = NULL;
	sl_errbuf eb;

	(void)state;
	assert_int_equal(wa_client_new(cfg, &c, &eb), SL_ECONFIG);
	assert_null(c);
	assert_non_null(strstr(eb.msg, "phone_number_id"));
	/* The token is never in the message. */
	assert_null(strstr(eb.msg, "=t"));
	sl_config_free(cfg);
}

static int setup(void **state)
{
	(void)state;
	sl_log_level = SL_LOG_ERROR;
	snprintf(dry_dir, sizeof(dry_dir), "/tmp/sluice-wa-XXXXXX");
	return mkdtemp(dry_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dry_dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_rate_60s),
		cmocka_unit_test(test_bucket_coarse_polls),
		cmocka_unit_test(test_bucket_burst_after_idle),
		cmocka_unit_test(test_bucket_slow_and_bad),
		cmocka_unit_test(test_bucket_set_rate),
		cmocka_unit_test(test_pacer_throttle_and_recover),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_phone_digits),
		cmocka_unit_test(test_request_body_and_templates),
		cmocka_unit_test(test_templates_zero_config),
		cmocka_unit_test(test_dry_run),
		cmocka_unit_test(test_live_sends),
		cmocka_unit_test(test_live_needs_phone_id),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
