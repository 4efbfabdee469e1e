/*
 * test_api_request.c — request bodies into events (api/request.h):
 * what the server adds, what it refuses with which field and rule, and
 * that every accepted screening is an event the worker accepts too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/request.h"
#include "topologies/event.h"

#define SID "11111111-2222-4333-8444-555555555555"
#define EID "66666666-7777-4888-9999-aaaaaaaaaaaa"
#define NOW "2026-01-05T10:00:00.000Z"

#define GOOD                                                                   \
	"{\"user_id\":\"u1\",\"phone\":\"+919876543210\",\"lang\":\"ta\","     \
	"\"pincode\":\"600001\",\"score\":4,\"channel\":\"whatsapp\","         \
	"\"answers\":{\"pain\":\"no\",\"n\":[1,{\"b\":null}]}}"

/* A string member's value (the test fails when there is none). */
static const char *member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static int screening(const char *body, api_screening *s, api_bad *bad)
{
	return api_screening_parse(body, strlen(body), SID, EID, NOW, s, bad);
}

/* The body must be refused with 400 naming field. */
static void refused(const char *body, const char *field)
{
	api_screening s;
	api_bad bad;

	assert_int_equal(screening(body, &s, &bad), SL_EINVAL);
	assert_int_equal(bad.status, 400);
	assert_string_equal(bad.field, field);
	assert_true(bad.rule[0] != '\0');
	assert_null(s.ev);
	assert_null(s.payload);
	api_screening_clear(&s);
}

static void test_screening_ok(void **state)
{
	api_screening s;
	api_bad bad;
	cJSON *ev = NULL, *reply;
	ev_error err;

	(void)state;
	assert_int_equal(screening(GOOD, &s, &bad), SL_OK);
	assert_string_equal(s.user_id, "u1");
	assert_string_equal(s.phone, "+919876543210");
	assert_string_equal(s.lang, "ta");
	assert_string_equal(s.pincode, "600001");
	assert_string_equal(s.channel, "whatsapp");
	assert_int_equal(s.score, 4);
	assert_string_equal(s.answers,
			    "{\"pain\":\"no\",\"n\":[1,{\"b\":null}]}");
	assert_string_equal(s.reply, "{\"screening_id\":\"" SID
				     "\",\"event_id\":\"" EID "\"}");

	/* The outbox payload is a screening_completed the worker takes. */
	assert_int_equal(ev_parse(s.payload, strlen(s.payload), &ev, &err),
			 SL_OK);
	assert_string_equal(member(ev, "type"), "screening_completed");
	assert_string_equal(member(ev, "event_id"), EID);
	assert_string_equal(member(ev, "screening_id"), SID);
	assert_string_equal(member(ev, "occurred_at"), NOW);
	cJSON_Delete(ev);
	reply = cJSON_Parse(s.reply);
	assert_non_null(reply);
	cJSON_Delete(reply);
	api_screening_clear(&s);
	assert_null(s.ev);
	assert_null(s.payload);
}

static void test_screening_unknown_fields_kept(void **state)
{
	api_screening s;
	api_bad bad;
	const char *body =
		"{\"user_id\":\"u1\",\"phone\":\"+919876543210\","
		"\"lang\":\"hi\",\"pincode\":\"110001\","
		"\"score\":1,\"channel\":\"qr\",\"x-src\":\"kiosk\"}";

	(void)state;
	assert_int_equal(screening(body, &s, &bad), SL_OK);
	assert_null(s.answers);
	assert_non_null(strstr(s.payload, "\"x-src\":\"kiosk\""));
	api_screening_clear(&s);
}

static void test_screening_refused(void **state)
{
	(void)state;
	refused("", "");
	refused("   \n", "");
	refused("null", "");
	refused("[1]", "");
	refused("{", "");
	refused("{} {}", "");
	refused("\xef\xbb\xbf{}", "user_id"); /* a byte-order mark is ok */
	refused("{\"user_id\":\"\xc3\x28\"}", "");
	refused("{\"user_id\":\"a\\u0000b\"}", "");
	refused("{\"user_id\":\"a\tb\"}", "");
	refused("{}", "user_id");
	refused("{\"event_id\":\"e\"}", "event_id");
	refused("{\"type\":\"opted_in\"}", "type");
	refused("{\"screening_id\":\"s\"}", "screening_id");
	refused("{\"occurred_at\":\"2026-01-05T10:00:00Z\"}", "occurred_at");
	refused("{\"user_id\":\"u\",\"phone\":\"+919876543210\",\"lang\":"
		"\"hi\",\"pincode\":\"110001\",\"score\":3}",
		"channel");
	refused("{\"user_id\":\"u\",\"phone\":\"+919876543210\",\"lang\":"
		"\"hi\",\"pincode\":\"110001\",\"score\":3,\"channel\":\"qr\","
		"\"answers\":[]}",
		"answers");
	refused("{\"user_id\":\"u\",\"phone\":\"+919876543210\",\"lang\":"
		"\"hi\",\"pincode\":\"110001\",\"score\":3,\"channel\":\"qr\","
		"\"answers\":null}",
		"answers");
	refused("{\"user_id\":\"u\",\"phone\":\"+919876543210\",\"lang\":"
		"\"hi\",\"pincode\":\"110001\",\"score\":3.5,\"channel\":"
		"\"qr\"}",
		"score");
	refused("{\"user_id\":\"u\",\"phone\":\"+919876543210\",\"lang\":"
		"\"hi\",\"pincode\":\"110001\",\"score\":1e999,\"channel\":"
		"\"qr\"}",
		"score");
	refused("{\"user_id\":\"u\",\"phone\":\"+919876543210\",\"lang\":"
		"\"hi\",\"pincode\":\"110001\",\"score\":true,\"channel\":"
		"\"qr\"}",
		"score");
	refused("{\"user_id\":\"u\",\"user_id\":\"v\",\"phone\":"
		"\"+919876543210\",\"lang\":\"hi\",\"pincode\":\"110001\","
		"\"score\":3,\"channel\":\"qr\"}",
		"user_id");
}

/* 1000 levels of nesting (cJSON's limit) is not valid JSON here. */
static void test_screening_deep_nesting(void **state)
{
	size_t depth = 1200, n = 0;
	char *body = malloc(depth * 2 + 200);
	api_screening s;
	api_bad bad;

	(void)state;
	assert_non_null(body);
	n += (size_t)sprintf(body, "{\"user_id\":\"u\",\"answers\":{\"a\":");
	for (size_t i = 0; i < depth; i++)
		body[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		body[n++] = ']';
	n += (size_t)sprintf(body + n, "}}");
	assert_int_equal(api_screening_parse(body, n, SID, EID, NOW, &s, &bad),
			 SL_EINVAL);
	assert_int_equal(bad.status, 400);
	assert_string_equal(bad.field, "");
	api_screening_clear(&s);
	free(body);
}

/* Bytes after the declared length are not read. */
static void test_screening_length(void **state)
{
	char buf[sizeof(GOOD) + 8];
	api_screening s;
	api_bad bad;

	(void)state;
	memcpy(buf, GOOD, sizeof(GOOD) - 1);
	memcpy(buf + sizeof(GOOD) - 1, "garbage", 8);
	assert_int_equal(api_screening_parse(buf, sizeof(GOOD) - 1, SID, EID,
					     NOW, &s, &bad),
			 SL_OK);
	api_screening_clear(&s);
}

static void test_journey(void **state)
{
	const char *body = "{\"type\":\"screening_step\",\"user_id\":\"u\","
			   "\"step\":2}";
	const char *given = "{\"type\":\"opted_out\",\"user_id\":\"u\","
			    "\"event_id\":\"mine\",\"occurred_at\":"
			    "\"2026-01-05T10:00:00+05:30\"}";
	cJSON *ev = NULL;
	api_bad bad;

	(void)state;
	assert_int_equal(api_journey_parse(body, strlen(body), EID, NOW, &ev,
					   &bad),
			 SL_OK);
	assert_string_equal(member(ev, "event_id"), EID);
	assert_string_equal(member(ev, "occurred_at"), NOW);
	cJSON_Delete(ev);

	assert_int_equal(api_journey_parse(given, strlen(given), EID, NOW, &ev,
					   &bad),
			 SL_OK);
	assert_string_equal(member(ev, "event_id"), "mine");
	assert_string_equal(member(ev, "occurred_at"),
			    "2026-01-05T10:00:00+05:30");
	cJSON_Delete(ev);
}

static void journey_refused(const char *body, const char *field)
{
	cJSON *ev = (cJSON *)1;
	api_bad bad;

	assert_int_equal(api_journey_parse(body, strlen(body), EID, NOW, &ev,
					   &bad),
			 SL_EINVAL);
	assert_null(ev);
	assert_int_equal(bad.status, 400);
	assert_string_equal(bad.field, field);
}

static void test_journey_refused(void **state)
{
	(void)state;
	journey_refused("", "");
	journey_refused("\"x\"", "");
	journey_refused("{\"type\":\"screening_completed\",\"user_id\":\"u\","
			"\"phone\":\"+919876543210\",\"lang\":\"hi\","
			"\"pincode\":\"110001\",\"screening_id\":\"s\","
			"\"score\":3}",
			"type");
	journey_refused("{\"type\":\"reminder_sent\",\"user_id\":\"u\"}",
			"type");
	journey_refused("{\"type\":\"nope\",\"user_id\":\"u\"}", "type");
	journey_refused("{\"user_id\":\"u\"}", "type");
	journey_refused("{\"type\":\"screening_step\",\"user_id\":\"u\"}",
			"step");
	journey_refused("{\"type\":\"opted_in\",\"user_id\":\"u\","
			"\"event_id\":\"\"}",
			"event_id");
	journey_refused("{\"type\":\"opted_in\",\"user_id\":\"u\","
			"\"occurred_at\":\"yesterday\"}",
			"occurred_at");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_screening_ok),
		cmocka_unit_test(test_screening_unknown_fields_kept),
		cmocka_unit_test(test_screening_refused),
		cmocka_unit_test(test_screening_deep_nesting),
		cmocka_unit_test(test_screening_length),
		cmocka_unit_test(test_journey),
		cmocka_unit_test(test_journey_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
