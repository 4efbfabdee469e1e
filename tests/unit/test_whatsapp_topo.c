/*
 * test_whatsapp_topo.c — the whatsapp topology's state machine without
 * the runtime: entry encoding, every transition of the diagram at the
 * top of topologies/whatsapp.c, retry delays, giving up, and the
 * outcome events it publishes to user_journey.
 *
 * Expected delays by hand: with jitter 0.5 the factor is exactly 1;
 * 131056 waits 4 s, then 16 s, 64 s (4^n); 5xx and network errors wait
 * 1 s after the first attempt, 2 s after the second, 4 s after the
 * third (2^(n-1)); both are capped (15 min, 5 min).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "processor/log.h"
#include "topologies/event.h"
#include "topologies/whatsapp.h"

#define T0 1780000000000LL /* an instant in ms */

static const struct ws_policy pol = {
	.max_attempts = 6,
	.give_up_ms = 3 * 3600000LL,
	.retry_base_ms = 1000,
	.retry_max_ms = 300000,
	.pair_base_ms = 4000,
	.pair_max_ms = 900000,
};

static struct ws_entry queued(void)
{
	struct ws_entry e;

	memset(&e, 0, sizeof(e));
	e.state = WS_QUEUED;
	snprintf(e.user_id, sizeof(e.user_id), "u-42");
	snprintf(e.phone, sizeof(e.phone), "+919876543210");
	snprintf(e.lang, sizeof(e.lang), "hi");
	snprintf(e.local_date, sizeof(e.local_date), "2026-06-01");
	snprintf(e.pincode, sizeof(e.pincode), "110001");
	e.step = 2;
	e.queued_at = e.due = e.updated_at = T0;
	return e;
}

static wa_result reply(enum wa_class cls, int code, const char *msg)
{
	wa_result r;

	memset(&r, 0, sizeof(r));
	r.cls = cls;
	r.code = code;
	r.http_status = cls == WA_SENT ? 200 : 400;
	snprintf(r.message, sizeof(r.message), "%s", msg);
	if (cls == WA_SENT)
		snprintf(r.wamid, sizeof(r.wamid), "wamid.ABC");
	return r;
}

static void test_encode_roundtrip(void **state)
{
	struct ws_entry e = queued(), d;
	char *j;

	(void)state;
	e.state = WS_RETRY_AT;
	e.attempts = 2;
	e.pair_hits = 1;
	e.due = T0 + 4000;
	snprintf(e.code, sizeof(e.code), "131056");
	snprintf(e.error, sizeof(e.error), "pair rate limit hit");
	j = ws_entry_encode(&e);
	assert_non_null(j);
	assert_int_equal(ws_entry_decode(j, strlen(j), &d), SL_OK);
	assert_memory_equal(&e, &d, sizeof(e));
	free(j);

	assert_int_equal(ws_entry_decode("{\"state\":\"NOPE\"}", 16, &d),
			 SL_EPARSE);
	assert_int_equal(ws_entry_decode("garbage", 7, &d), SL_EPARSE);
	assert_string_equal(ws_state_name(WS_UNKNOWN), "UNKNOWN");
}

static void test_sent(void **state)
{
	struct ws_entry e = queued();
	wa_result r = reply(WA_SENT, 0, "");

	(void)state;
	ws_mark_sending(&e, T0 + 10);
	assert_int_equal(e.state, WS_SENDING);
	assert_int_equal(e.attempts, 1);
	assert_int_equal(ws_apply(&e, &r, &pol, T0 + 20, 0.5), WS_PUB_SENT);
	assert_int_equal(e.state, WS_SENT);
	assert_string_equal(e.wamid, "wamid.ABC");
	assert_string_equal(e.code, "");
}

static void test_throttled_and_auth_requeue(void **state)
{
	struct ws_entry e = queued();
	wa_result r = reply(WA_THROTTLED, 130429, "Rate limit hit");

	(void)state;
	ws_mark_sending(&e, T0);
	assert_int_equal(ws_apply(&e, &r, &pol, T0 + 5, 0.9), WS_PUB_NONE);
	assert_int_equal(e.state, WS_QUEUED);
	assert_int_equal(e.attempts, 0); /* not the message's fault */
	assert_int_equal(e.due, T0 + 5);
	assert_string_equal(e.code, "130429");

	r = reply(WA_AUTH, 190, "Invalid OAuth access token");
	ws_mark_sending(&e, T0 + 10);
	assert_int_equal(ws_apply(&e, &r, &pol, T0 + 15, 0.1), WS_PUB_NONE);
	assert_int_equal(e.state, WS_QUEUED);
	assert_int_equal(e.attempts, 0);
	assert_string_equal(e.code, "190");
}

static void test_pair_limit_backoff(void **state)
{
	struct ws_entry e = queued();
	wa_result r = reply(WA_PAIR_LIMIT, 131056, "pair rate limit hit");
	const int64_t want[] = { 4000, 16000, 64000, 256000, 900000 };
	int64_t now = T0;

	(void)state;
	for (int i = 0; i < 5; i++) {
		ws_mark_sending(&e, now);
		assert_int_equal(ws_apply(&e, &r, &pol, now, 0.5), WS_PUB_NONE);
		assert_int_equal(e.state, WS_RETRY_AT);
		assert_int_equal(e.pair_hits, i + 1);
		assert_int_equal(e.due - now, want[i]);
		now = e.due;
	}
	/* Jitter scales the delay by 0.5 + jitter. */
	e = queued();
	ws_mark_sending(&e, T0);
	ws_apply(&e, &r, &pol, T0, 0.0);
	assert_int_equal(e.due - T0, 2000);

	/* The sixth attempt's failure gives up. */
	e = queued();
	e.attempts = 5;
	ws_mark_sending(&e, T0);
	assert_int_equal(ws_apply(&e, &r, &pol, T0, 0.5), WS_PUB_FAILED);
	assert_int_equal(e.state, WS_FAILED);
	assert_string_equal(e.code, "131056");
	assert_string_equal(e.error,
			    "gave up after 6 attempts: pair rate limit hit");
}

static void test_transient_backoff_and_give_up(void **state)
{
	struct ws_entry e = queued();
	wa_result r = reply(WA_TRANSIENT, 0, "network: Connection refused");
	const int64_t want[] = { 1000, 2000, 4000, 8000, 16000 };
	int64_t now = T0;

	(void)state;
	r.http_status = 0;
	for (int i = 0; i < 5; i++) {
		ws_mark_sending(&e, now);
		assert_int_equal(ws_apply(&e, &r, &pol, now, 0.5), WS_PUB_NONE);
		assert_int_equal(e.state, WS_RETRY_AT);
		assert_int_equal(e.due - now, want[i]);
		assert_string_equal(e.code, "network");
		now = e.due;
	}
	ws_mark_sending(&e, now);
	assert_int_equal(ws_apply(&e, &r, &pol, now, 0.5), WS_PUB_FAILED);
	assert_int_equal(e.attempts, 6);

	/* A 5xx without a code is named by its status. */
	e = queued();
	r = reply(WA_TRANSIENT, 0, "HTTP error");
	r.http_status = 503;
	ws_mark_sending(&e, T0);
	ws_apply(&e, &r, &pol, T0, 0.5);
	assert_string_equal(e.code, "http_503");

	/* A retry that would land past give_up_after fails now. */
	e = queued();
	ws_mark_sending(&e, T0 + pol.give_up_ms - 500);
	assert_int_equal(ws_apply(&e, &r, &pol, T0 + pol.give_up_ms - 500, 0.5),
			 WS_PUB_FAILED);
	assert_int_equal(e.state, WS_FAILED);
}

static void test_permanent_and_template(void **state)
{
	struct ws_entry e = queued();
	wa_result r = reply(WA_PERMANENT, 131050, "stopped marketing");

	(void)state;
	ws_mark_sending(&e, T0);
	assert_int_equal(ws_apply(&e, &r, &pol, T0, 0.5), WS_PUB_FAILED);
	assert_int_equal(e.state, WS_FAILED);
	assert_string_equal(e.code, "131050");

	e = queued();
	r = reply(WA_TEMPLATE, 132001, "template missing");
	ws_mark_sending(&e, T0);
	assert_int_equal(ws_apply(&e, &r, &pol, T0, 0.5), WS_PUB_FAILED);
	assert_string_equal(e.code, "132001");
}

static void test_unknown_and_expire(void **state)
{
	struct ws_entry e = queued();

	(void)state;
	ws_mark_sending(&e, T0);
	ws_mark_unknown(&e, T0 + 99);
	assert_int_equal(e.state, WS_UNKNOWN);
	assert_string_equal(e.code, "unknown");
	assert_string_equal(e.error, "outcome unknown after crash");

	/* Only waiting entries expire, and only past give_up_after. */
	e = queued();
	assert_int_equal(ws_expire(&e, &pol, T0 + pol.give_up_ms), 0);
	assert_int_equal(ws_expire(&e, &pol, T0 + pol.give_up_ms + 1), 1);
	assert_int_equal(e.state, WS_FAILED);
	assert_string_equal(e.code, "expired");
	e = queued();
	e.state = WS_SENT;
	assert_int_equal(ws_expire(&e, &pol, T0 + 10 * pol.give_up_ms), 0);
}

static void test_outcome_events(void **state)
{
	struct ws_entry e = queued();
	wa_result r = reply(WA_SENT, 0, "");
	char *sent, *failed, *again;
	cJSON *o = NULL;
	ev_error err;

	(void)state;
	ws_mark_sending(&e, T0);
	ws_apply(&e, &r, &pol, T0, 0.5);
	sent = ws_outcome_event("u-42:2026-06-01", &e, WS_PUB_SENT, T0);
	assert_non_null(sent);
	/* A valid journey event (SPEC section 2) by the journey's rules. */
	assert_int_equal(ev_parse(sent, strlen(sent), &o, &err), SL_OK);
	assert_string_equal(cJSON_GetObjectItem(o, "type")->valuestring,
			    "reminder_sent");
	assert_string_equal(cJSON_GetObjectItem(o, "user_id")->valuestring,
			    "u-42");
	assert_string_equal(cJSON_GetObjectItem(o, "reminder_id")->valuestring,
			    "u-42:2026-06-01");
	assert_string_equal(cJSON_GetObjectItem(o, "message_id")->valuestring,
			    "wamid.ABC");
	/* 1780000000 s is 2026-05-28T20:26:40Z. */
	assert_string_equal(cJSON_GetObjectItem(o, "occurred_at")->valuestring,
			    "2026-05-28T20:26:40.000Z");
	assert_null(cJSON_GetObjectItem(o, "phone")); /* never the phone */
	assert_true(strlen(cJSON_GetObjectItem(o, "event_id")->valuestring) <=
		    64);
	cJSON_Delete(o);

	/* Same reminder and type, same event_id; another type, another. */
	again = ws_outcome_event("u-42:2026-06-01", &e, WS_PUB_SENT, T0 + 5);
	assert_memory_equal(strstr(sent, "\"event_id\""),
			    strstr(again, "\"event_id\""), 50);
	e = queued();
	r = reply(WA_PERMANENT, 131050, "stopped marketing");
	ws_mark_sending(&e, T0);
	ws_apply(&e, &r, &pol, T0, 0.5);
	failed = ws_outcome_event("u-42:2026-06-01", &e, WS_PUB_FAILED, T0);
	assert_int_equal(ev_parse(failed, strlen(failed), &o, &err), SL_OK);
	assert_string_equal(cJSON_GetObjectItem(o, "type")->valuestring,
			    "reminder_failed");
	/* The journey suppresses the user on exactly this string. */
	assert_string_equal(cJSON_GetObjectItem(o, "error_code")->valuestring,
			    "131050");
	assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring,
			    "stopped marketing");
	assert_true(strcmp(cJSON_GetObjectItem(o, "event_id")->valuestring,
			   "") != 0);
	assert_null(strstr(failed, "wamid"));
	cJSON_Delete(o);
	free(sent);
	free(again);
	free(failed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_roundtrip),
		cmocka_unit_test(test_sent),
		cmocka_unit_test(test_throttled_and_auth_requeue),
		cmocka_unit_test(test_pair_limit_backoff),
		cmocka_unit_test(test_transient_backoff_and_give_up),
		cmocka_unit_test(test_permanent_and_template),
		cmocka_unit_test(test_unknown_and_expire),
		cmocka_unit_test(test_outcome_events),
	};

	sl_log_level = SL_LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
