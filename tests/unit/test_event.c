/*
 * test_event.c — journey event validation, SPEC section 2.
 *
 * Each rule is tried with a value that obeys it and one that breaks it,
 * on each event type it applies to.  Events are built as valid ones of
 * their type, changed in one field, printed by cJSON and parsed back,
 * so every case runs through ev_parse as the API and worker do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "processor/err.h"
#include "topologies/event.h"

#define ID64 "0123456789012345678901234567890123456789012345678901234567890123"
#define ID65 ID64 "x"

/* ---- Helpers ------------------------------------------------------------ */

/* A valid event of type t with only the fields it needs. */
static cJSON *base(enum ev_type t)
{
	cJSON *o = cJSON_CreateObject();

	assert_non_null(o);
	cJSON_AddStringToObject(o, "event_id", "ev-1");
	cJSON_AddStringToObject(o, "type", ev_type_name(t));
	cJSON_AddStringToObject(o, "user_id", "u-42");
	cJSON_AddStringToObject(o, "occurred_at", "2025-06-01T19:00:00+05:30");
	if (t == EV_SCREENING_STARTED || t == EV_SCREENING_COMPLETED) {
		cJSON_AddStringToObject(o, "phone", "+919876543210");
		cJSON_AddStringToObject(o, "lang", "hi");
		cJSON_AddStringToObject(o, "pincode", "560001");
	}
	if (t == EV_SCREENING_COMPLETED) {
		cJSON_AddStringToObject(o, "screening_id", "s-7");
		cJSON_AddNumberToObject(o, "score", 3);
	}
	if (t == EV_SCREENING_STEP)
		cJSON_AddNumberToObject(o, "step", 2);
	return o;
}

static cJSON *with_str(cJSON *o, const char *k, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddStringToObject(o, k, v);
	return o;
}

static cJSON *with_num(cJSON *o, const char *k, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddNumberToObject(o, k, v);
	return o;
}

/* Replaces k by a raw JSON value, e.g. "true", "null", "[1]". */
static cJSON *with_raw(cJSON *o, const char *k, const char *json)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddRawToObject(o, k, json);
	return o;
}

static cJSON *without(cJSON *o, const char *k)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	return o;
}

/* Parses raw bytes; checks rc, field and (when given) the rule. */
static void expect_bytes(const char *buf, size_t len, int rc, const char *field,
			 const char *rule)
{
	ev_error err;
	cJSON *out = (cJSON *)&err;
	int got = ev_parse(buf, len, &out, &err);

	if (got != rc)
		fail_msg("%.*s\n  -> %s field='%s' rule='%s', want %s '%s'",
			 (int)len, buf, sl_errname(got), err.field, err.rule,
			 sl_errname(rc), field ? field : "");
	if (rc == SL_OK) {
		assert_non_null(out);
		cJSON_Delete(out);
		return;
	}
	assert_null(out);
	assert_string_equal(err.field, field);
	assert_true(err.rule[0] != '\0');
	if (rule != NULL)
		assert_string_equal(err.rule, rule);
}

static void expect_raw(const char *json, int rc, const char *field,
		       const char *rule)
{
	expect_bytes(json, strlen(json), rc, field, rule);
}

/* Prints o, parses it back, frees o. */
static void expect(cJSON *o, int rc, const char *field, const char *rule)
{
	char *json = cJSON_PrintUnformatted(o);

	assert_non_null(json);
	expect_raw(json, rc, field, rule);
	free(json);
	cJSON_Delete(o);
}

#define OK(o) expect((o), SL_OK, NULL, NULL)
#define BAD(o, field) expect((o), SL_EINVAL, (field), NULL)
#define BAD_RULE(o, field, rule) expect((o), SL_EINVAL, (field), (rule))

static const enum ev_type all_types[] = {
	EV_SCREENING_STARTED, EV_SCREENING_STEP,  EV_SCREENING_COMPLETED,
	EV_REMINDER_SENT,     EV_REMINDER_FAILED, EV_OPTED_OUT,
	EV_OPTED_IN,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

/* ---- Types -------------------------------------------------------------- */

static void test_type_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < NTYPES; i++)
		assert_int_equal(
			ev_type_from_string(ev_type_name(all_types[i])),
			all_types[i]);
	assert_string_equal(ev_type_name(EV_SCREENING_STARTED),
			    "screening_started");
	assert_string_equal(ev_type_name(EV_OPTED_IN), "opted_in");
	assert_int_equal(ev_type_from_string("reminder_failed"),
			 EV_REMINDER_FAILED);
	assert_int_equal(ev_type_from_string("Screening_Started"), EV_UNKNOWN);
	assert_int_equal(ev_type_from_string("unknown"), EV_UNKNOWN);
	assert_int_equal(ev_type_from_string(""), EV_UNKNOWN);
	assert_int_equal(ev_type_from_string(NULL), EV_UNKNOWN);
	assert_non_null(ev_type_name((enum ev_type)99));
}

static void test_each_type_minimal(void **state)
{
	(void)state;
	for (size_t i = 0; i < NTYPES; i++)
		OK(base(all_types[i]));
	expect_raw("{\"event_id\":\"e\",\"type\":\"opted_in\",\"user_id\":"
		   "\"u\",\"occurred_at\":\"2025-06-01T13:30:00Z\"}",
		   SL_OK, NULL, NULL);
}

static void test_type_field(void **state)
{
	(void)state;
	BAD_RULE(with_str(base(EV_OPTED_IN), "type", "bogus"), "type", NULL);
	BAD(with_str(base(EV_OPTED_IN), "type", "Opted_In"), "type");
	BAD(with_str(base(EV_OPTED_IN), "type", ""), "type");
	BAD_RULE(with_num(base(EV_OPTED_IN), "type", 5), "type",
		 "must be a string");
	BAD_RULE(without(base(EV_OPTED_IN), "type"), "type", "is required");
}

/* ---- Required fields, per type ------------------------------------------ */

static void test_required_everywhere(void **state)
{
	static const char *const common[] = { "event_id", "type", "user_id",
					      "occurred_at" };

	(void)state;
	for (size_t i = 0; i < NTYPES; i++)
		for (size_t k = 0; k < 4; k++)
			BAD_RULE(without(base(all_types[i]), common[k]),
				 common[k], "is required");
}

static void test_required_by_type(void **state)
{
	static const char *const contact[] = { "phone", "lang", "pincode" };

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		BAD_RULE(without(base(EV_SCREENING_STARTED), contact[k]),
			 contact[k], "is required");
		BAD_RULE(without(base(EV_SCREENING_COMPLETED), contact[k]),
			 contact[k], "is required");
	}
	BAD_RULE(without(base(EV_SCREENING_COMPLETED), "screening_id"),
		 "screening_id", "is required");
	BAD_RULE(without(base(EV_SCREENING_COMPLETED), "score"), "score",
		 "is required");
	BAD_RULE(without(base(EV_SCREENING_STEP), "step"), "step",
		 "is required");

	/* Not required elsewhere. */
	OK(without(base(EV_SCREENING_STARTED), "score"));
	OK(base(EV_SCREENING_STEP)); /* no phone, lang, pincode */
	OK(base(EV_OPTED_OUT));
}

/* ---- Identifiers -------------------------------------------------------- */

static void test_ids(void **state)
{
	static const char *const ids[] = { "event_id", "user_id" };
	char e64[129] = "", e65[131] = "";

	(void)state;
	/* 64 and 65 characters of two bytes each ("é"). */
	for (int i = 0; i < 64; i++)
		strcat(e64, "\xc3\xa9");
	snprintf(e65, sizeof(e65), "%s\xc3\xa9", e64);

	for (size_t k = 0; k < 2; k++) {
		OK(with_str(base(EV_OPTED_OUT), ids[k], "a"));
		OK(with_str(base(EV_OPTED_OUT), ids[k], ID64));
		OK(with_str(base(EV_OPTED_OUT), ids[k], e64));
		BAD_RULE(with_str(base(EV_OPTED_OUT), ids[k], ID65), ids[k],
			 "must be 1-64 characters");
		BAD(with_str(base(EV_OPTED_OUT), ids[k], e65), ids[k]);
		BAD(with_str(base(EV_OPTED_OUT), ids[k], ""), ids[k]);
		BAD_RULE(with_num(base(EV_OPTED_OUT), ids[k], 42), ids[k],
			 "must be a string");
		BAD(with_raw(base(EV_OPTED_OUT), ids[k], "null"), ids[k]);
		BAD(with_raw(base(EV_OPTED_OUT), ids[k], "[\"a\"]"), ids[k]);
	}

	OK(with_str(base(EV_SCREENING_COMPLETED), "screening_id", ID64));
	BAD(with_str(base(EV_SCREENING_COMPLETED), "screening_id", ID65),
	    "screening_id");
	BAD(with_num(base(EV_SCREENING_COMPLETED), "screening_id", 7),
	    "screening_id");
	/* Optional elsewhere, but checked when present. */
	BAD(with_str(base(EV_REMINDER_SENT), "screening_id", ""),
	    "screening_id");

	assert_true(ev_valid_id(ID64));
	assert_false(ev_valid_id(ID65));
	assert_false(ev_valid_id(""));
	assert_false(ev_valid_id(NULL));
	assert_false(ev_valid_id("ab\xff"));
}

/* ---- occurred_at -------------------------------------------------------- */

static void test_occurred_at(void **state)
{
	static const char *const good[] = {
		"2025-06-01T13:30:00Z",
		"2025-06-01T19:00:00+05:30",
		"2025-06-01T09:30:00.123-04:00",
		"2024-02-29T12:00:00Z", /* leap year */
		"2000-02-29T12:00:00Z",
	};
	static const char *const bad[] = {
		"2025-06-01T13:30:00",	/* no offset */
		"2025-02-29T12:00:00Z", /* not a leap year */
		"1900-02-29T12:00:00Z", "2025-06-01", "yesterday", "",
		"2025-06-01T25:00:00Z",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		OK(with_str(base(EV_SCREENING_STEP), "occurred_at", good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		BAD(with_str(base(EV_SCREENING_STEP), "occurred_at", bad[i]),
		    "occurred_at");
	BAD_RULE(with_num(base(EV_SCREENING_STEP), "occurred_at", 1748784600),
		 "occurred_at", "must be a string");
}

/* ---- phone, lang, pincode, channel -------------------------------------- */

static void test_phone(void **state)
{
	static const char *const good[] = {
		"+919876543210", "+916000000000",    "+917999999999",
		"+918123456789", "+14155552671",     "+447911123456",
		"+12345678",	 "+123456789012345",
	};
	static const char *const bad[] = {
		"+915876543210",  /* +91 then 5 */
		"+910876543210",  /* +91 then 0 */
		"+91987654321",	  /* 9 digits after +91 */
		"+9198765432101", /* 11 digits after +91 */
		"919876543210",	  /* no + */
		"+91 9876543210", /* space */
		"+91-9876543210",
		"+1234567",	     /* 7 digits */
		"+1234567890123456", /* 16 digits */
		"+0123456789",	     /* country code 0 */
		"+",
		"",
		"+1415555267a",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_true(ev_valid_phone(good[i]));
		OK(with_str(base(EV_SCREENING_STARTED), "phone", good[i]));
		OK(with_str(base(EV_SCREENING_COMPLETED), "phone", good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ev_valid_phone(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
		BAD(with_str(base(EV_SCREENING_STARTED), "phone", bad[i]),
		    "phone");
		BAD(with_str(base(EV_SCREENING_COMPLETED), "phone", bad[i]),
		    "phone");
	}
	BAD_RULE(with_num(base(EV_SCREENING_STARTED), "phone", 919876543210.0),
		 "phone", "must be a string");
	/* Optional on other types, checked when present. */
	OK(with_str(base(EV_OPTED_OUT), "phone", "+919876543210"));
	BAD(with_str(base(EV_OPTED_OUT), "phone", "+915876543210"), "phone");
	assert_false(ev_valid_phone(NULL));
}

static void test_lang(void **state)
{
	static const char *const good[] = { "hi", "en", "bn", "te", "mr",
					    "ta", "gu", "kn", "ml" };
	static const char *const bad[] = { "HI",    "xx", "",	"hin",
					   "en-IN", "ur", " hi" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_true(ev_valid_lang(good[i]));
		OK(with_str(base(EV_SCREENING_STARTED), "lang", good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(ev_valid_lang(bad[i]));
		BAD_RULE(with_str(base(EV_SCREENING_COMPLETED), "lang", bad[i]),
			 "lang", "must be one of hi en bn te mr ta gu kn ml");
	}
	BAD(with_str(base(EV_REMINDER_SENT), "lang", "xx"), "lang");
	BAD_RULE(with_raw(base(EV_SCREENING_STARTED), "lang", "true"), "lang",
		 "must be a string");
}

static void test_pincode(void **state)
{
	static const char *const good[] = { "560001", "110001", "999999",
					    "100000" };
	static const char *const bad[] = { "012345", "12345", "1234567",
					   "12a456", "",      " 56000",
					   "56000 ", "5600O1" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_true(ev_valid_pincode(good[i]));
		OK(with_str(base(EV_SCREENING_STARTED), "pincode", good[i]));
		OK(with_str(base(EV_SCREENING_COMPLETED), "pincode", good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(ev_valid_pincode(bad[i]));
		BAD_RULE(with_str(base(EV_SCREENING_STARTED), "pincode",
				  bad[i]),
			 "pincode", "must be 6 digits, first not 0");
	}
	BAD_RULE(with_num(base(EV_SCREENING_STARTED), "pincode", 560001),
		 "pincode", "must be a string");
	BAD(with_str(base(EV_OPTED_IN), "pincode", "012345"), "pincode");
}

static void test_channel(void **state)
{
	static const char *const good[] = { "qr", "call", "whatsapp" };
	static const char *const bad[] = { "sms", "QR", "", "WhatsApp" };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		assert_true(ev_valid_channel(good[i]));
		for (size_t t = 0; t < NTYPES; t++)
			OK(with_str(base(all_types[t]), "channel", good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(ev_valid_channel(bad[i]));
		BAD_RULE(with_str(base(EV_SCREENING_COMPLETED), "channel",
				  bad[i]),
			 "channel", "must be qr, call or whatsapp");
	}
	BAD(with_num(base(EV_OPTED_OUT), "channel", 1), "channel");
}

/* ---- score and step ----------------------------------------------------- */

static void test_score(void **state)
{
	const char *rule = "must be an integer from 1 to 5";

	(void)state;
	for (int s = 1; s <= 5; s++)
		OK(with_num(base(EV_SCREENING_COMPLETED), "score", s));
	BAD_RULE(with_num(base(EV_SCREENING_COMPLETED), "score", 0), "score",
		 rule);
	BAD_RULE(with_num(base(EV_SCREENING_COMPLETED), "score", 6), "score",
		 rule);
	BAD(with_num(base(EV_SCREENING_COMPLETED), "score", -1), "score");
	BAD(with_num(base(EV_SCREENING_COMPLETED), "score", 3.5), "score");
	BAD(with_str(base(EV_SCREENING_COMPLETED), "score", "3"), "score");
	BAD(with_raw(base(EV_SCREENING_COMPLETED), "score", "true"), "score");
	BAD(with_raw(base(EV_SCREENING_COMPLETED), "score", "null"), "score");
	BAD(with_raw(base(EV_SCREENING_COMPLETED), "score", "1e400"), "score");
	/* JSON does not tell 3 from 3.0; both are the integer 3. */
	OK(with_raw(base(EV_SCREENING_COMPLETED), "score", "3.0"));
	/* Optional elsewhere, checked when present. */
	OK(with_num(base(EV_SCREENING_STARTED), "score", 4));
	BAD(with_num(base(EV_SCREENING_STARTED), "score", 7), "score");
}

static void test_step(void **state)
{
	(void)state;
	OK(with_num(base(EV_SCREENING_STEP), "step", 1));
	OK(with_num(base(EV_SCREENING_STEP), "step", 12));
	OK(with_num(base(EV_SCREENING_STEP), "step", 2147483647.0));
	BAD(with_num(base(EV_SCREENING_STEP), "step", 0), "step");
	BAD(with_num(base(EV_SCREENING_STEP), "step", -3), "step");
	BAD(with_num(base(EV_SCREENING_STEP), "step", 1.5), "step");
	BAD(with_num(base(EV_SCREENING_STEP), "step", 2147483648.0), "step");
	BAD(with_str(base(EV_SCREENING_STEP), "step", "1"), "step");
	OK(with_num(base(EV_SCREENING_STARTED), "step", 1));
	BAD(with_num(base(EV_SCREENING_STARTED), "step", 0), "step");
}

/* ---- Unknown and repeated fields ---------------------------------------- */

static void test_unknown_fields_kept(void **state)
{
	const char *json =
		"{\"event_id\":\"e1\",\"type\":\"screening_completed\","
		"\"user_id\":\"u1\",\"occurred_at\":\"2025-06-01T13:30:00Z\","
		"\"phone\":\"+919876543210\",\"lang\":\"ta\","
		"\"pincode\":\"600001\",\"screening_id\":\"s1\",\"score\":5,"
		"\"answers\":{\"q1\":2,\"note\":\"\xe0\xae\xb5\"},"
		"\"Phone\":\"not checked\",\"extra\":[1,null]}";
	ev_error err;
	cJSON *out = NULL, *answers;

	(void)state;
	assert_int_equal(ev_parse(json, strlen(json), &out, &err), SL_OK);
	answers = cJSON_GetObjectItemCaseSensitive(out, "answers");
	assert_true(cJSON_IsObject(answers));
	assert_int_equal(
		cJSON_GetObjectItemCaseSensitive(answers, "q1")->valueint, 2);
	assert_string_equal(
		cJSON_GetObjectItemCaseSensitive(answers, "note")->valuestring,
		"\xe0\xae\xb5");
	assert_string_equal(
		cJSON_GetObjectItemCaseSensitive(out, "Phone")->valuestring,
		"not checked");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
				 out, "extra")),
			 2);
	cJSON_Delete(out);
}

static void test_repeated_field(void **state)
{
	cJSON *o = base(EV_SCREENING_COMPLETED);

	(void)state;
	cJSON_AddNumberToObject(o, "score", 5);
	BAD_RULE(o, "score", "must appear only once");
	o = base(EV_OPTED_IN);
	cJSON_AddStringToObject(o, "user_id", "someone-else");
	BAD(o, "user_id");
	/* Unknown fields may repeat: they are only passed on. */
	o = base(EV_OPTED_IN);
	cJSON_AddNumberToObject(o, "x", 1);
	cJSON_AddNumberToObject(o, "x", 2);
	OK(o);
}

/* The members of a valid opted_in event, then `more` (JSON members). */
static void expect_more(const char *more, int rc, const char *field,
			const char *rule)
{
	char json[512];

	snprintf(json, sizeof(json),
		 "{\"event_id\":\"e\",\"type\":\"opted_in\",\"user_id\":\"u\","
		 "\"occurred_at\":\"2025-06-01T13:30:00Z\"%s}",
		 more);
	expect_raw(json, rc, field, rule);
}

static void test_repeated_order(void **state)
{
	const char *once = "must appear only once";

	(void)state;
	/* The first in the schema's order, not in the document's. */
	expect_more(",\"channel\":\"qr\",\"channel\":\"qr\",\"user_id\":\"u\"",
		    SL_EINVAL, "user_id", once);
	expect_more(",\"step\":1,\"event_id\":\"e\",\"step\":1", SL_EINVAL,
		    "event_id", once);
	expect_more(",\"score\":1,\"score\":1,\"screening_id\":\"s\","
		    "\"screening_id\":\"s\"",
		    SL_EINVAL, "screening_id", once);

	/* Before any other rule, even one of a field earlier in order. */
	expect_raw("{\"event_id\":\"\",\"type\":\"bogus\",\"step\":0,"
		   "\"step\":1}",
		   SL_EINVAL, "step", once);
	expect_more(",\"pincode\":\"0\",\"channel\":\"qr\",\"channel\":\"sms\"",
		    SL_EINVAL, "channel", once);

	/* Three times; the same value twice is still twice; the type. */
	expect_more(",\"lang\":\"hi\",\"lang\":\"hi\",\"lang\":\"hi\"",
		    SL_EINVAL, "lang", once);
	expect_more(",\"occurred_at\":\"2025-06-01T13:30:00Z\"", SL_EINVAL,
		    "occurred_at", once);
	expect_more(",\"type\":\"opted_in\"", SL_EINVAL, "type", once);
	expect_more(",\"phone\":null,\"phone\":1", SL_EINVAL, "phone", once);

	/* Names close to the schema's are other fields: they may repeat. */
	expect_more(",\"s\":1,\"s\":2,\"sc\":1,\"sc\":2,\"st\":1,\"st\":1,"
		    "\"p\":1,\"p\":1,\"steps\":0,\"steps\":0,\"Type\":1,"
		    "\"Type\":1,\"scor\":9,\"scor\":9,\"\":1,\"\":2,"
		    "\"channels\":1,\"channels\":1,\"e\":1,\"e\":1",
		    SL_OK, NULL, NULL);
}

/*
 * A member without a name can only be built in code.  Lookups stop
 * there, as cJSON's own do, while repeats are counted past it.
 */
static void test_nameless_member(void **state)
{
	ev_error err;
	cJSON *o = base(EV_OPTED_IN);

	(void)state;
	cJSON_AddItemToArray(o, cJSON_CreateString("no name"));
	cJSON_AddStringToObject(o, "channel", "sms");
	assert_int_equal(ev_validate(o, &err), SL_OK);
	cJSON_AddStringToObject(o, "user_id", "u-43");
	assert_int_equal(ev_validate(o, &err), SL_EINVAL);
	assert_string_equal(err.field, "user_id");
	assert_string_equal(err.rule, "must appear only once");
	cJSON_Delete(o);

	o = cJSON_CreateObject();
	cJSON_AddItemToArray(o, cJSON_CreateString("no name"));
	cJSON_AddStringToObject(o, "event_id", "e");
	assert_int_equal(ev_validate(o, &err), SL_EINVAL);
	assert_string_equal(err.field, "event_id");
	assert_string_equal(err.rule, "is required");
	cJSON_Delete(o);
}

/* What ev_validate_fields hands back: the members and what they say. */
static void test_fields(void **state)
{
	static const char *const names[EV_NFIELDS] = {
		"event_id", "type", "user_id", "occurred_at",
		"phone",    "lang", "pincode", "screening_id",
		"score",    "step", "channel",
	};
	ev_fields f;
	ev_error err;
	cJSON *o = base(EV_SCREENING_COMPLETED);

	(void)state;
	assert_int_equal(ev_validate_fields(o, &f, &err), SL_OK);
	assert_int_equal(f.type, EV_SCREENING_COMPLETED);
	/* 2025-06-01T19:00:00+05:30 is 13:30Z, 1748784600 s after 1970 */
	assert_int_equal(f.occurred_at_ms, 1748784600000LL);
	for (int k = 0; k < EV_NFIELDS; k++)
		assert_ptr_equal(f.m[k],
				 cJSON_GetObjectItemCaseSensitive(o, names[k]));
	assert_null(f.m[EV_F_STEP]);
	assert_null(f.m[EV_F_CHANNEL]);
	assert_string_equal(ev_str(&f, EV_F_USER_ID), "u-42");
	assert_string_equal(ev_str(&f, EV_F_PINCODE), "560001");
	assert_null(ev_str(&f, EV_F_CHANNEL));
	assert_int_equal(f.m[EV_F_SCORE]->valueint, 3);
	cJSON_Delete(o);

	o = with_num(base(EV_SCREENING_STEP), "step", 7);
	with_str(o, "occurred_at", "2025-06-01T09:30:00.123-04:00");
	assert_int_equal(ev_validate_fields(o, &f, NULL), SL_OK);
	assert_int_equal(f.type, EV_SCREENING_STEP);
	assert_int_equal(f.occurred_at_ms, 1748784600123LL);
	assert_int_equal(f.m[EV_F_STEP]->valueint, 7);
	cJSON_Delete(o);
}

/* ---- The document ------------------------------------------------------- */

static void test_not_an_event(void **state)
{
	static const char *const bad[] = {
		"",	"   \n\t", "{",	   "nope",	 "{\"a\":}",
		"[]",	"[{}]",	   "42",   "\"str\"",	 "null",
		"true", "{} x",	   "{}{}", "{\"a\":1},", "{'a':1}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_raw(bad[i], SL_EPARSE, "", NULL);
	expect_raw("[]", SL_EPARSE, "", "must be a JSON object");
	expect_raw("", SL_EPARSE, "", "must not be empty");
	expect_bytes(NULL, 0, SL_EPARSE, "", NULL);
	/* An object, but nothing in it. */
	expect_raw("{}", SL_EINVAL, "event_id", "is required");
	/* White space around the object is fine. */
	expect_raw(" \n{\"event_id\":\"e\",\"type\":\"opted_in\",\"user_id\":"
		   "\"u\",\"occurred_at\":\"2025-06-01T13:30:00Z\"}\r\n ",
		   SL_OK, NULL, NULL);
}

static void test_utf8(void **state)
{
	static const char *const bad[] = {
		"ab\xff",	    /* never valid */
		"\xc0\xaf",	    /* overlong "/" */
		"\xe0\x80\xaf",	    /* overlong */
		"\xed\xa0\x80",	    /* surrogate U+D800 */
		"\xf4\x90\x80\x80", /* past U+10FFFF */
		"\xe2\x82",	    /* cut short */
		"\x80",		    /* lone continuation */
		"\xc3\x28",	    /* bad continuation */
	};
	static const char *const good[] = {
		"plain",
		"\xc3\xa9",
		"\xe0\xa4\xa8\xe0\xa4\xae",
		"\xf0\x9f\x98\x80",
		"\xef\xbf\xbf",
		"\xf4\x8f\xbf\xbf",
	};
	char json[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(ev_valid_utf8(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ev_valid_utf8(bad[i], strlen(bad[i])))
			fail_msg("bad UTF-8 %zu accepted", i);

		/* In a field value and in an unknown field, raw. */
		snprintf(json, sizeof(json),
			 "{\"event_id\":\"e\",\"type\":\"opted_in\","
			 "\"user_id\":\"u%s\",\"occurred_at\":"
			 "\"2025-06-01T13:30:00Z\"}",
			 bad[i]);
		expect_raw(json, SL_EPARSE, "", "must be valid UTF-8");
		snprintf(json, sizeof(json),
			 "{\"event_id\":\"e\",\"type\":\"opted_in\","
			 "\"user_id\":\"u\",\"occurred_at\":"
			 "\"2025-06-01T13:30:00Z\",\"note\":\"%s\"}",
			 bad[i]);
		expect_raw(json, SL_EPARSE, "", NULL);
	}
	assert_true(ev_valid_utf8("a\0b", 3));

	/* A multi-byte user id through the whole path. */
	OK(with_str(base(EV_OPTED_IN), "user_id",
		    "\xe0\xa4\xb0\xe0\xa4\xbe\xe0\xa4\xae"));
}

/* What cJSON would let through or silently change. */
static void test_json_edges(void **state)
{
	const char *prefix = "{\"event_id\":\"e\",\"type\":\"opted_in\","
			     "\"occurred_at\":\"2025-06-01T13:30:00Z\",";
	char json[256];

	(void)state;
	/* "\u0000" would cut user_id short to "a". */
	snprintf(json, sizeof(json), "%s\"user_id\":\"a\\u0000b\"}", prefix);
	expect_raw(json, SL_EPARSE, "", NULL);
	/* An escaped backslash before u0000 is not an escape of it. */
	snprintf(json, sizeof(json), "%s\"user_id\":\"a\\\\u0000b\"}", prefix);
	expect_raw(json, SL_OK, NULL, NULL);
	/* A raw tab inside a string; an escaped one is fine. */
	snprintf(json, sizeof(json), "%s\"user_id\":\"a\tb\"}", prefix);
	expect_raw(json, SL_EPARSE, "", NULL);
	snprintf(json, sizeof(json), "%s\"user_id\":\"a\\tb\"}", prefix);
	expect_raw(json, SL_OK, NULL, NULL);
	/* Control bytes outside strings, and a NUL after the object. */
	snprintf(json, sizeof(json), "\x01%s\"user_id\":\"u\"}", prefix);
	expect_raw(json, SL_EPARSE, "", NULL);
	snprintf(json, sizeof(json), "%s\"user_id\":\"u\"}", prefix);
	expect_bytes(json, strlen(json) + 1, SL_EPARSE, "", NULL);
	/* Escaped non-ASCII is decoded and valid. */
	snprintf(json, sizeof(json), "%s\"user_id\":\"\\u0930\"}", prefix);
	expect_raw(json, SL_OK, NULL, NULL);
	/* A lone surrogate escape is not a character. */
	snprintf(json, sizeof(json), "%s\"user_id\":\"\\ud800\"}", prefix);
	expect_raw(json, SL_EPARSE, "", NULL);
}

/* Several raw faults: bad UTF-8 anywhere is the one reported. */
static void test_raw_fault_order(void **state)
{
	(void)state;
	expect_raw("{\"a\":\"\x01\",\"b\":\"\xff\"}", SL_EPARSE, "",
		   "must be valid UTF-8");
	expect_raw("{\"a\":\"\\u0000\",\"b\":\"\xc3\"}", SL_EPARSE, "",
		   "must be valid UTF-8");
	expect_raw("{\"a\":\"\\u0000\",\"b\":\"\x01\"}", SL_EPARSE, "",
		   "must not contain \\u0000");
	expect_raw("{\"a\":\"\x01\",\"b\":\"\\u0000\"}", SL_EPARSE, "",
		   "must be valid JSON: control character");
	/* An escaped multi-byte character is still checked as UTF-8. */
	expect_raw("{\"a\":\"\\\xc3\xa9\"}", SL_EPARSE, "",
		   "must be valid JSON");
	expect_raw("{\"a\":\"\\\xc3\x28\"}", SL_EPARSE, "",
		   "must be valid UTF-8");
	/* An escaped control character is cJSON's to refuse. */
	expect_raw("{\"a\":\"\\\x01\"}", SL_EPARSE, "", "must be valid JSON");
}

/* The parse without the event rules, as the API uses it. */
static void test_parse_object(void **state)
{
	const char *ev =
		"{\"event_id\":\"e\",\"type\":\"opted_in\","
		"\"user_id\":\"u\",\"occurred_at\":\"2025-06-01T13:30:00Z\"}";
	ev_fields f;
	ev_error err;
	cJSON *o = (cJSON *)&err;

	(void)state;
	assert_int_equal(ev_parse_object("{}", 2, &o, &err), SL_OK);
	assert_true(cJSON_IsObject(o) && o->child == NULL);
	cJSON_Delete(o);
	assert_int_equal(ev_parse_object(" {\"step\":0} ", 12, &o, &err),
			 SL_OK);
	assert_int_equal(cJSON_GetObjectItem(o, "step")->valueint, 0);
	cJSON_Delete(o);

	assert_int_equal(ev_parse_object("[]", 2, &o, &err), SL_EPARSE);
	assert_null(o);
	assert_string_equal(err.rule, "must be a JSON object");
	assert_int_equal(ev_parse_object("{\"a\":\"\xff\"}", 10, &o, &err),
			 SL_EPARSE);
	assert_null(o);
	assert_string_equal(err.rule, "must be valid UTF-8");
	assert_int_equal(ev_parse_object(" ", 1, &o, &err), SL_EPARSE);
	assert_string_equal(err.rule, "must not be empty");

	/* ev_parse_fields: the object and its fields, or nothing. */
	assert_int_equal(ev_parse_fields(ev, strlen(ev), &o, &f, &err), SL_OK);
	assert_int_equal(f.type, EV_OPTED_IN);
	assert_ptr_equal(f.m[EV_F_USER_ID],
			 cJSON_GetObjectItemCaseSensitive(o, "user_id"));
	assert_int_equal(f.occurred_at_ms, 1748784600000LL);
	cJSON_Delete(o);
	assert_int_equal(ev_parse_fields("{}", 2, &o, &f, &err), SL_EINVAL);
	assert_null(o);
	assert_string_equal(err.field, "event_id");
	assert_int_equal(ev_parse_fields("{", 1, &o, &f, NULL), SL_EPARSE);
	assert_null(o);
}

/* ev_validate on objects built in code, as the API builds them. */
static void test_validate_direct(void **state)
{
	ev_error err;
	cJSON *o;

	(void)state;
	assert_int_equal(ev_validate(NULL, &err), SL_EINVAL);
	assert_string_equal(err.field, "");
	o = cJSON_CreateArray();
	assert_int_equal(ev_validate(o, &err), SL_EINVAL);
	assert_string_equal(err.field, "");
	cJSON_Delete(o);

	o = base(EV_SCREENING_STARTED);
	assert_int_equal(ev_validate(o, &err), SL_OK);
	with_str(o, "user_id", "bad\xff");
	assert_int_equal(ev_validate(o, &err), SL_EINVAL);
	assert_string_equal(err.field, "user_id");
	cJSON_Delete(o);

	/* Rules are checked in a fixed order: the first one wins. */
	o = with_str(base(EV_SCREENING_STARTED), "pincode", "0");
	with_str(o, "lang", "xx");
	assert_int_equal(ev_validate(o, &err), SL_EINVAL);
	assert_string_equal(err.field, "lang");
	assert_int_equal(ev_validate(o, NULL), SL_EINVAL);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_each_type_minimal),
		cmocka_unit_test(test_type_field),
		cmocka_unit_test(test_required_everywhere),
		cmocka_unit_test(test_required_by_type),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_occurred_at),
		cmocka_unit_test(test_phone),
		cmocka_unit_test(test_lang),
		cmocka_unit_test(test_pincode),
		cmocka_unit_test(test_channel),
		cmocka_unit_test(test_score),
		cmocka_unit_test(test_step),
		cmocka_unit_test(test_unknown_fields_kept),
		cmocka_unit_test(test_repeated_field),
		cmocka_unit_test(test_repeated_order),
		cmocka_unit_test(test_nameless_member),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_not_an_event),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_json_edges),
		cmocka_unit_test(test_validate_direct),
		cmocka_unit_test(test_raw_fault_order),
		cmocka_unit_test(test_parse_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
