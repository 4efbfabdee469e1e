/*
 * test_meta.c — the Meta Conversions API sink without a server:
 * normalization and hashing vectors, event building, reply
 * classification, and the sink ops over a fake transport and clock.
 *
 * Expected values are worked out independently of the code:
 * - hashes with `printf %s VALUE | sha256sum`: 16505551212 -> e323ec..
 *   (also Meta's own example), 919876543210 -> 92b507.., "in" ->
 *   582967.., "user-42" -> 6d894a.., "110001" -> f4972d..; Meta's
 *   documented em and fn examples;
 * - 2026-03-01T10:00:00+05:30 is 04:30 UTC; 2026-03-01 is day 20513
 *   since 1970 (56 years, 14 leap days to 2026-01-01 = day 20454, plus
 *   31 + 28), so 20513 * 86400 + 16200 = 1772339400.
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

#include "connectors/meta.h"
#include "processor/timeutil.h"

#define H_US "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
#define H_IN_PHONE                                                             \
	"92b5072176e723878b5e06ff3ca61898e4eb74e8c46642a0f2db800b17364ab0"
#define H_COUNTRY_IN                                                           \
	"582967534d0f909d196b97f9e6921342777aea87b46fa52df165389db1fb8ccf"
#define H_USER_42                                                              \
	"6d894aa3ee802549d7f340e7c1cf0d1c1cb14cd84f768d92ffaa6785337c4997"
#define H_ZIP "f4972d45b42830d180360f2a2b5e921e5f67aa18ad09e94dd1cd0c041fed1329"
#define T0 1772339400LL /* 2026-03-01T04:30:00Z */

/* ---- normalization and hashing ----------------------------------- */

static void expect_phone(const char *in, const char *cc, const char *want,
			 const char *want_hash)
{
	char out[32], hash[CAPI_HASH_LEN + 1];

	assert_int_equal(capi_normalize_phone(in, cc, out, sizeof(out)), SL_OK);
	assert_string_equal(out, want);
	capi_sha256_hex(out, strlen(out), hash);
	assert_string_equal(hash, want_hash);
}

static void test_phone_vectors(void **state)
{
	(void)state;
	/* Meta's example: a US number gets its country code 1. */
	expect_phone("(650)555-1212", "1", "16505551212", H_US);
	expect_phone("+1 (650) 555-1212", "91", "16505551212", H_US);

	/* The Indian vectors. */
	expect_phone("+91 98765-43210", "91", "919876543210", H_IN_PHONE);
	expect_phone("098765 43210", "91", "919876543210", H_IN_PHONE);
	expect_phone("0091 9876543210", "91", "919876543210", H_IN_PHONE);
	expect_phone("9876543210", "91", "919876543210", H_IN_PHONE);
	expect_phone("+919876543210", "91", "919876543210", H_IN_PHONE);
}

static void test_phone_rejects(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(capi_normalize_phone("", "91", out, sizeof(out)),
			 SL_EINVAL);
	assert_int_equal(capi_normalize_phone("12-34", "91", out, sizeof(out)),
			 SL_EINVAL);
	assert_int_equal(capi_normalize_phone("0000000000", "91", out,
					      sizeof(out)),
			 SL_EINVAL);
	/* 16 digits: longer than E.164 allows. */
	assert_int_equal(capi_normalize_phone("+1234567890123456", "91", out,
					      sizeof(out)),
			 SL_EINVAL);
	/* An explicit "+" keeps what follows as the whole number. */
	assert_int_equal(capi_normalize_phone("+44 20 7946 0958", "91", out,
					      sizeof(out)),
			 SL_OK);
	assert_string_equal(out, "442079460958");
	/* A buffer too small never overflows. */
	assert_int_equal(capi_normalize_phone("9876543210", "91", out, 12),
			 SL_EINVAL);
}

static void test_hash_vectors(void **state)
{
	char hash[CAPI_HASH_LEN + 1];

	(void)state;
	/* Meta's documented em and fn examples, normalized. */
	capi_sha256_hex("john_smith@gmail.com", 20, hash);
	assert_string_equal(hash, "62a14e44f765419d10fea99367361a72"
				  "7c12365e2520f32218d505ed9aa0f62f");
	capi_sha256_hex("mary", 4, hash);
	assert_string_equal(hash, "6915771be1c5aa0c886870b6951b03d7"
				  "eafc121fea0e80a5ea83beb7c449f4ec");
	capi_sha256_hex("in", 2, hash);
	assert_string_equal(hash, H_COUNTRY_IN);

	assert_int_equal(capi_hash_external_id("  User-42 \t", hash), SL_OK);
	assert_string_equal(hash, H_USER_42);
	assert_int_equal(capi_hash_external_id("user-42", hash), SL_OK);
	assert_string_equal(hash, H_USER_42);
	assert_int_equal(capi_hash_external_id(" \t ", hash), SL_EINVAL);
	assert_int_equal(capi_hash_external_id(NULL, hash), SL_EINVAL);
}

/* ---- building events --------------------------------------------- */

static const capi_event_opts opts_default = { "Lead", "system_generated" };

#define FULL_EVENT                                                             \
	"{\"event_id\":\"e1\",\"type\":\"screening_completed\","               \
	"\"user_id\":\" User-42\",\"occurred_at\":"                            \
	"\"2026-03-01T10:00:00+05:30\",\"phone\":\"+919876543210\","           \
	"\"lang\":\"hi\",\"pincode\":\"110001\",\"score\":4,"                  \
	"\"screening_id\":\"scr-1\",\"channel\":\"qr\"}"

static cJSON *encode_ok(const capi_event_opts *o, const char *json,
			int64_t now_s, int64_t *t)
{
	char why[256], *out = NULL;
	size_t len = 0;
	cJSON *doc;

	assert_int_equal(capi_encode_event(o, json, strlen(json), now_s, &out,
					   &len, t, why, sizeof(why)),
			 SL_OK);
	assert_int_equal(len, strlen(out));
	/* The raw phone and pin code never leave the sink. */
	assert_null(strstr(out, "9876543210"));
	assert_null(strstr(out, "110001"));
	doc = cJSON_Parse(out);
	cJSON_free(out);
	assert_non_null(doc);
	return doc;
}

static const char *path_str(const cJSON *o, const char *a, const char *b,
			    int idx)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b != NULL)
		it = cJSON_GetObjectItemCaseSensitive(it, b);
	if (idx >= 0) {
		assert_true(cJSON_IsArray(it));
		assert_int_equal(cJSON_GetArraySize(it), 1);
		it = cJSON_GetArrayItem(it, idx);
	}
	assert_true(cJSON_IsString(it));
	return it->valuestring;
}

static double path_num(const cJSON *o, const char *a, const char *b)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b != NULL)
		it = cJSON_GetObjectItemCaseSensitive(it, b);
	assert_true(cJSON_IsNumber(it));
	return it->valuedouble;
}

static void test_encode_full_event(void **state)
{
	int64_t t = 0;
	cJSON *se;

	(void)state;
	se = encode_ok(&opts_default, FULL_EVENT, T0 + 1000, &t);
	assert_int_equal(t, T0);
	assert_string_equal(path_str(se, "event_name", NULL, -1), "Lead");
	assert_true(path_num(se, "event_time", NULL) == (double)T0);
	assert_string_equal(path_str(se, "event_id", NULL, -1), "scr-1");
	assert_string_equal(path_str(se, "action_source", NULL, -1),
			    "system_generated");
	assert_null(cJSON_GetObjectItem(se, "messaging_channel"));
	assert_string_equal(path_str(se, "user_data", "ph", 0), H_IN_PHONE);
	assert_string_equal(path_str(se, "user_data", "external_id", 0),
			    H_USER_42);
	assert_string_equal(path_str(se, "user_data", "country", 0),
			    H_COUNTRY_IN);
	assert_string_equal(path_str(se, "user_data", "zp", 0), H_ZIP);
	assert_true(path_num(se, "custom_data", "score") == 4);
	assert_string_equal(path_str(se, "custom_data", "lang", -1), "hi");
	assert_null(cJSON_GetObjectItem(se, "phone"));
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(se, "custom_data"),
					"pincode"));
	cJSON_Delete(se);
}

static void test_encode_future_clamped(void **state)
{
	int64_t t = 0;
	cJSON *se;

	(void)state;
	/* occurred_at is 1000 s after "now": clamped to now. */
	se = encode_ok(&opts_default, FULL_EVENT, T0 - 1000, &t);
	assert_int_equal(t, T0 - 1000);
	assert_true(path_num(se, "event_time", NULL) == (double)(T0 - 1000));
	cJSON_Delete(se);
}

static void test_encode_business_messaging(void **state)
{
	const capi_event_opts o = { "LeadSubmitted", "business_messaging" };
	int64_t t = 0;
	cJSON *se;

	(void)state;
	/* A non-Indian number: no country. */
	se = encode_ok(&o,
		       "{\"user_id\":\"u\",\"screening_id\":\"s\","
		       "\"occurred_at\":\"2026-03-01T04:30:00Z\","
		       "\"phone\":\"+1 650 555 1212\"}",
		       T0, &t);
	assert_string_equal(path_str(se, "event_name", NULL, -1),
			    "LeadSubmitted");
	assert_string_equal(path_str(se, "action_source", NULL, -1),
			    "business_messaging");
	assert_string_equal(path_str(se, "messaging_channel", NULL, -1),
			    "whatsapp");
	assert_string_equal(path_str(se, "user_data", "ph", 0), H_US);
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(se, "user_data"),
					"country"));
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(se, "user_data"),
					"zp"));
	cJSON_Delete(se);
}

static void expect_refused(const char *json, const char *want)
{
	char why[256], *out = NULL;
	size_t len = 0;
	int64_t t;

	assert_int_equal(capi_encode_event(&opts_default, json, strlen(json),
					   T0, &out, &len, &t, why,
					   sizeof(why)),
			 SL_EINVAL);
	assert_null(out);
	assert_string_equal(why, want);
}

static void test_encode_refused(void **state)
{
	(void)state;
	expect_refused("[1]", "value: not a JSON object");
	expect_refused("{\"user_id\":\"u\",\"occurred_at\":"
		       "\"2026-03-01T04:30:00Z\"}",
		       "screening_id: missing (the event_id)");
	expect_refused("{\"user_id\":\"u\",\"screening_id\":\"s\","
		       "\"occurred_at\":\"2026-03-01 04:30:00\"}",
		       "occurred_at: must be an RFC 3339 date-time with "
		       "offset");
	expect_refused("{\"user_id\":\"u\",\"screening_id\":\"s\","
		       "\"occurred_at\":\"2026-03-01T04:30:00Z\","
		       "\"phone\":\"+91 12\"}",
		       "phone: not 7 to 15 digits with a country code");
	expect_refused("{\"user_id\":\"  \",\"screening_id\":\"s\","
		       "\"occurred_at\":\"2026-03-01T04:30:00Z\"}",
		       "user_id: missing or blank");
}

/* ---- classification ---------------------------------------------- */

static capi_verdict classify(long status, const char *body)
{
	capi_verdict v;

	capi_classify(status, body, strlen(body), &v);
	return v;
}

/* Replies whose class is all that matters: status, body, class. */
static const struct {
	long status;
	const char *body;
	enum capi_class cls;
} classes[] = {
	{ 500,
	  "{\"error\":{\"message\":\"An unexpected error has occurred.\","
	  "\"code\":2,\"is_transient\":true}}",
	  CAPI_TRANSIENT },
	{ 400, "{\"error\":{\"message\":\"unknown\",\"code\":1}}",
	  CAPI_TRANSIENT },
	{ 400,
	  "{\"error\":{\"message\":\"m\",\"code\":100,"
	  "\"is_transient\":true}}",
	  CAPI_TRANSIENT },
	{ 503, "", CAPI_TRANSIENT },
	{ 429, "", CAPI_THROTTLED },
	{ 400,
	  "{\"error\":{\"message\":\"(#17) User request limit reached\","
	  "\"code\":17}}",
	  CAPI_THROTTLED },
	{ 400, "{\"error\":{\"message\":\"m\",\"code\":613}}", CAPI_THROTTLED },
	{ 400, "{\"error\":{\"message\":\"m\",\"code\":80004}}",
	  CAPI_THROTTLED },
	{ 400, "{\"error\":{\"message\":\"m\",\"code\":4}}", CAPI_THROTTLED },
	{ 400,
	  "{\"error\":{\"message\":\"Error validating access token\","
	  "\"type\":\"OAuthException\",\"code\":190}}",
	  CAPI_CONFIG },
	{ 403, "{\"error\":{\"message\":\"m\",\"code\":200}}", CAPI_CONFIG },
	{ 400,
	  "{\"error\":{\"message\":\"Unsupported post request\","
	  "\"code\":100,\"error_subcode\":33}}",
	  CAPI_CONFIG },
	{ 404, "<html>Not Found</html>", CAPI_CONFIG },
	{ 400, "{\"error\":{\"message\":\"bad\",\"code\":2804}}",
	  CAPI_PERMANENT },
};

static void test_classify(void **state)
{
	capi_verdict v;

	(void)state;
	v = classify(200, "{\"events_received\":3,\"messages\":[],"
			  "\"fbtrace_id\":\"AbC\"}");
	assert_int_equal(v.cls, CAPI_ACCEPTED);
	assert_int_equal(v.received, 3);

	/* Shaped like Meta's answer to a bad event time. */
	v = classify(400, "{\"error\":{\"message\":\"Invalid parameter\","
			  "\"type\":\"OAuthException\",\"code\":100,"
			  "\"error_subcode\":2804003,\"is_transient\":false,"
			  "\"error_user_title\":\"Event Timestamp Too Old\","
			  "\"error_user_msg\":\"The timestamp for this event "
			  "is too far in the past.\","
			  "\"fbtrace_id\":\"A1b2C3\"}}");
	assert_int_equal(v.cls, CAPI_PERMANENT);
	assert_int_equal(v.code, 100);
	assert_int_equal(v.subcode, 2804003);
	assert_int_equal(v.is_transient, 0);
	assert_string_equal(v.message, "Invalid parameter: The timestamp for "
				       "this event is too far in the past.");
	assert_string_equal(v.fbtrace, "A1b2C3");

	for (size_t i = 0; i < sizeof(classes) / sizeof(*classes); i++) {
		v = classify(classes[i].status, classes[i].body);
		if (v.cls != classes[i].cls)
			fail_msg("case %zu (HTTP %ld %s): class %d, not %d", i,
				 classes[i].status, classes[i].body, v.cls,
				 classes[i].cls);
	}
	v = classify(503, "");
	assert_string_equal(v.message, "HTTP 503");

	/* Absurd numbers are ignored, not cast. */
	v = classify(400, "{\"error\":{\"message\":\"m\",\"code\":1e300,"
			  "\"error_subcode\":-1e300}}");
	assert_int_equal(v.code, 0);
	assert_int_equal(v.subcode, 0);
	assert_int_equal(v.cls, CAPI_PERMANENT);
}

/* ---- the sink over a fake transport ------------------------------ */

#define MAX_REQ 16

struct fake {
	int64_t now_ms;
	int nreq;
	char *url[MAX_REQ];
	char *body[MAX_REQ];
	/* What to answer, request by request: status 0 means no reply. */
	long status[MAX_REQ];
	const char *answer[MAX_REQ];
};

static int64_t fake_clock(void *ud)
{
	return ((struct fake *)ud)->now_ms;
}

static int fake_post(void *ud, const char *url, const char *body, size_t len,
		     capi_reply *r)
{
	struct fake *f = ud;
	int i = f->nreq++;

	assert_true(i < MAX_REQ);
	memset(r, 0, sizeof(*r));
	f->url[i] = strdup(url);
	f->body[i] = strndup(body, len);
	if (f->status[i] == 0) {
		snprintf(r->err, sizeof(r->err), "Connection refused");
		return SL_ETRANSIENT;
	}
	r->status = f->status[i];
	snprintf(r->body, sizeof(r->body), "%s",
		 f->answer[i] ? f->answer[i] : "{\"fbtrace_id\":\"F\"}");
	r->len = strlen(r->body);
	return SL_OK;
}

static void fake_free(struct fake *f)
{
	for (int i = 0; i < f->nreq; i++) {
		free(f->url[i]);
		free(f->body[i]);
	}
}

struct dl_io {
	sl_sink_io io;
	int n;
	int64_t offsets[64];
	char reasons[64][600];
};

static int collect_dead_letter(sl_sink_io *io, const sl_record *rec,
			       const char *reason)
{
	struct dl_io *d = (struct dl_io *)io;

	assert_true(d->n < 64);
	d->offsets[d->n] = rec->offset;
	snprintf(d->reasons[d->n], sizeof(d->reasons[0]), "%s", reason);
	d->n++;
	return SL_OK;
}

struct env {
	sl_config *cfg;
	const sl_sink_ops *ops;
	void *sink;
	struct fake fake;
	struct dl_io io;
};

/* A sink with credentials over the fake transport; extra "k=v" keys. */
static void env_open(struct env *e, const char *const *kv)
{
	sl_errbuf eb = { { 0 } };

	memset(e, 0, sizeof(*e));
	e->cfg = sl_config_new();
	assert_non_null(e->cfg);
	sl_config_set(e->cfg, "meta.url", "http://127.0.0.1:9/");
	sl_config_set(e->cfg, "meta.dataset_id", "1234567890");
	sl_config_set(e->cfg, "meta.token", "tok\"en-1");
	sl_config_set(e->cfg, "meta.test_event_code", "TEST123");
	for (; kv != NULL && kv[0] != NULL; kv += 2)
		sl_config_set(e->cfg, kv[0], kv[1]);
	assert_int_equal(capi_sink_new(e->cfg, &e->ops, &e->sink, &eb), SL_OK);
	assert_false(capi_sink_is_dry(e->sink));
	capi_sink_set_transport(e->sink, fake_post, &e->fake);
	capi_sink_set_clock(e->sink, fake_clock, &e->fake);
	e->fake.now_ms = T0 * 1000;
	e->io.io.dead_letter = collect_dead_letter;
}

static void env_close(struct env *e)
{
	e->ops->free(e->sink);
	sl_config_free(e->cfg);
	fake_free(&e->fake);
}

/* Write a screening_completed event that occurred `age_s` before T0. */
static void write_event(struct env *e, int32_t partition, int64_t offset,
			int64_t age_s)
{
	char json[512], at[32];
	sl_record rec;

	sl_time_format_rfc3339((T0 - age_s) * 1000, at);
	snprintf(json, sizeof(json),
		 "{\"event_id\":\"e%lld\",\"type\":\"screening_completed\","
		 "\"user_id\":\"u%lld\",\"occurred_at\":\"%s\","
		 "\"phone\":\"+919876543210\",\"lang\":\"ta\","
		 "\"pincode\":\"600001\",\"score\":3,"
		 "\"screening_id\":\"scr-%lld\"}",
		 (long long)offset, (long long)offset, at, (long long)offset);
	memset(&rec, 0, sizeof(rec));
	rec.topic = "user_journey";
	rec.partition = partition;
	rec.offset = offset;
	rec.key.data = "k";
	rec.key.len = 1;
	rec.value.data = json;
	rec.value.len = strlen(json);
	assert_int_equal(e->ops->write(e->sink, &rec), SL_OK);
}

/* The request body's data array size; checks the token and test code. */
static int body_events(const char *body, int64_t first_offset)
{
	cJSON *doc = cJSON_Parse(body);
	const cJSON *data = cJSON_GetObjectItem(doc, "data");
	char want[32];
	int n;

	assert_non_null(doc);
	assert_string_equal(path_str(doc, "access_token", NULL, -1),
			    "tok\"en-1");
	assert_string_equal(path_str(doc, "test_event_code", NULL, -1),
			    "TEST123");
	assert_true(cJSON_IsArray(data));
	n = cJSON_GetArraySize(data);
	snprintf(want, sizeof(want), "scr-%lld", (long long)first_offset);
	assert_string_equal(path_str(cJSON_GetArrayItem(data, 0), "event_id",
				     NULL, -1),
			    want);
	cJSON_Delete(doc);
	return n;
}

static void test_sink_batches_2500(void **state)
{
	struct env e;
	capi_stats st;

	(void)state;
	env_open(&e, NULL);
	for (int i = 0; i < 3; i++)
		e.fake.status[i] = 200;
	for (int64_t i = 0; i < 2500; i++)
		write_event(&e, (int32_t)(i % 3), i, 60);
	assert_int_equal(e.ops->pending(e.sink), 2500);
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_OK);
	assert_int_equal(e.fake.nreq, 3);
	assert_string_equal(e.fake.url[0],
			    "http://127.0.0.1:9/v21.0/1234567890/events");
	assert_int_equal(body_events(e.fake.body[0], 0), 1000);
	assert_int_equal(body_events(e.fake.body[1], 1000), 1000);
	assert_int_equal(body_events(e.fake.body[2], 2000), 500);
	assert_int_equal(e.ops->pending(e.sink), 0);
	assert_int_equal(e.io.n, 0);
	capi_sink_stats(e.sink, &st);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.events_sent, 2500);

	/* Empty: nothing more is sent. */
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_OK);
	assert_int_equal(e.fake.nreq, 3);
	env_close(&e);
}

static void test_sink_stale_dead_lettered_first(void **state)
{
	struct env e;
	capi_stats st;

	(void)state;
	env_open(&e, NULL);
	e.fake.status[0] = 200;
	write_event(&e, 0, 10, 8 * 86400);	/* stale */
	write_event(&e, 0, 11, 6 * 86400);	/* fine */
	write_event(&e, 1, 12, 7 * 86400 + 60); /* stale */
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_OK);
	assert_int_equal(e.io.n, 2);
	assert_int_equal(e.io.offsets[0], 10);
	assert_int_equal(e.io.offsets[1], 12);
	assert_non_null(strstr(e.io.reasons[0], "meta: event_time: older "
						"than Meta's 7-day limit"));
	assert_int_equal(e.fake.nreq, 1);
	assert_int_equal(body_events(e.fake.body[0], 11), 1);
	capi_sink_stats(e.sink, &st);
	assert_int_equal(st.stale, 2);
	env_close(&e);
}

static void test_sink_transient_backoff_then_ok(void **state)
{
	struct env e;
	int64_t left;

	(void)state;
	env_open(&e, NULL);
	e.fake.status[0] = 500;
	e.fake.answer[0] = "{\"error\":{\"message\":\"x\",\"code\":2,"
			   "\"is_transient\":true}}";
	e.fake.status[1] = 0; /* no reply */
	e.fake.status[2] = 429;
	e.fake.answer[2] = "";
	e.fake.status[3] = 200;
	write_event(&e, 0, 1, 60);
	write_event(&e, 0, 2, 60);

	/* 500: held; first backoff in [0.5 s, 1 s]. */
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_ETRANSIENT);
	assert_int_equal(e.ops->pending(e.sink), 2);
	left = capi_sink_backoff_left_ms(e.sink);
	assert_true(left >= 500 && left <= 1000);

	/* Within the backoff nothing is sent. */
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_ETRANSIENT);
	assert_int_equal(e.fake.nreq, 1);

	/* No reply: second backoff in [1 s, 2 s]. */
	e.fake.now_ms += left;
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_ETRANSIENT);
	assert_int_equal(e.fake.nreq, 2);
	left = capi_sink_backoff_left_ms(e.sink);
	assert_true(left >= 1000 && left <= 2000);

	/* 429: throttled, at least 5 s: [2.5 s, 5 s]. */
	e.fake.now_ms += left;
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_ETRANSIENT);
	left = capi_sink_backoff_left_ms(e.sink);
	assert_true(left >= 2500 && left <= 5000);
	assert_non_null(strstr(capi_sink_last_error(e.sink), "throttled"));

	/* Then accepted: the same events, same ids. */
	e.fake.now_ms += left;
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_OK);
	assert_int_equal(e.fake.nreq, 4);
	assert_string_equal(e.fake.body[0], e.fake.body[3]);
	assert_int_equal(e.ops->pending(e.sink), 0);
	assert_int_equal(e.io.n, 0);
	assert_int_equal(capi_sink_backoff_left_ms(e.sink), 0);
	env_close(&e);
}

static void test_sink_stale_while_held(void **state)
{
	struct env e;

	(void)state;
	env_open(&e, NULL);
	e.fake.status[0] = 503;
	e.fake.status[1] = 200;
	/* Fresh enough when written, too old after two hours held. */
	write_event(&e, 0, 1, 6 * 86400 + 22 * 3600);
	write_event(&e, 0, 2, 60);
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_ETRANSIENT);
	assert_int_equal(body_events(e.fake.body[0], 1), 2);
	e.fake.now_ms += 2 * 3600 * 1000;
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_OK);
	assert_int_equal(e.io.n, 1);
	assert_int_equal(e.io.offsets[0], 1);
	assert_int_equal(body_events(e.fake.body[1], 2), 1);
	env_close(&e);
}

static void test_sink_permanent_dead_letters_request(void **state)
{
	static const char *const kv[] = { "meta.batch_size", "2", NULL };
	struct env e;

	(void)state;
	env_open(&e, kv);
	e.fake.status[0] = 400;
	e.fake.answer[0] = "{\"error\":{\"message\":\"Invalid parameter\","
			   "\"type\":\"OAuthException\",\"code\":100,"
			   "\"error_subcode\":2804019,"
			   "\"error_user_msg\":\"Bad event\","
			   "\"fbtrace_id\":\"Fb1\"}}";
	e.fake.status[1] = 200;
	write_event(&e, 0, 1, 60);
	write_event(&e, 1, 2, 60);
	write_event(&e, 2, 3, 60);

	/* The first request (events 1, 2) is rejected; 3 goes through. */
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_OK);
	assert_int_equal(e.fake.nreq, 2);
	assert_int_equal(e.io.n, 2);
	assert_int_equal(e.io.offsets[0], 1);
	assert_int_equal(e.io.offsets[1], 2);
	assert_string_equal(e.io.reasons[0],
			    "meta: HTTP 400 code 100 subcode 2804019: "
			    "Invalid parameter: Bad event (fbtrace_id Fb1)");
	assert_int_equal(body_events(e.fake.body[1], 3), 1);
	assert_int_equal(e.ops->pending(e.sink), 0);
	env_close(&e);
}

static void test_sink_token_error_holds(void **state)
{
	struct env e;
	int64_t left;

	(void)state;
	env_open(&e, NULL);
	e.fake.status[0] = 400;
	e.fake.answer[0] = "{\"error\":{\"message\":\"Error validating "
			   "access token\",\"type\":\"OAuthException\","
			   "\"code\":190}}";
	write_event(&e, 0, 1, 60);
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_ETRANSIENT);
	assert_int_equal(e.io.n, 0);
	assert_int_equal(e.ops->pending(e.sink), 1);
	left = capi_sink_backoff_left_ms(e.sink);
	assert_true(left >= 15000 && left <= 30000);
	/* The error message never carries the token. */
	assert_null(strstr(capi_sink_last_error(e.sink), "en-1"));
	env_close(&e);
}

static void test_sink_refused_and_discard(void **state)
{
	struct env e;
	sl_record rec;

	(void)state;
	env_open(&e, NULL);
	e.fake.status[0] = 200;
	write_event(&e, 0, 1, 60);
	write_event(&e, 1, 2, 60);
	memset(&rec, 0, sizeof(rec));
	rec.topic = "user_journey";
	rec.partition = 1;
	rec.offset = 3;
	rec.value.data = "{\"user_id\":\"u\"}";
	rec.value.len = strlen(rec.value.data);
	assert_int_equal(e.ops->write(e.sink, &rec), SL_OK);
	write_event(&e, 2, 4, 60);
	assert_int_equal(e.ops->pending(e.sink), 4);

	/* Partition 0 was taken away. */
	e.ops->discard(e.sink, 0);
	assert_int_equal(e.ops->pending(e.sink), 3);
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_OK);
	assert_int_equal(e.io.n, 1);
	assert_int_equal(e.io.offsets[0], 3);
	assert_string_equal(e.io.reasons[0],
			    "meta: screening_id: missing (the event_id)");
	assert_int_equal(e.fake.nreq, 1);
	assert_int_equal(body_events(e.fake.body[0], 2), 2);
	env_close(&e);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, (1 << 20) - 1, f) > 0);
	fclose(f);
	return buf;
}

static void test_sink_dry_run(void **state)
{
	char dir[] = "/tmp/test_meta.XXXXXX", path[128], *text;
	sl_errbuf eb = { { 0 } };
	struct env e;
	cJSON *line;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&e, 0, sizeof(e));
	e.cfg = sl_config_new();
	sl_config_set(e.cfg, "dry_run.dir", dir);
	sl_config_set(e.cfg, "meta.token", "SECRET-TOKEN-xyz");
	sl_config_set(e.cfg, "meta.batch_size", "2");
	assert_int_equal(capi_sink_new(e.cfg, &e.ops, &e.sink, &eb), SL_OK);
	assert_true(capi_sink_is_dry(e.sink));
	capi_sink_set_clock(e.sink, fake_clock, &e.fake);
	e.fake.now_ms = T0 * 1000;
	e.io.io.dead_letter = collect_dead_letter;
	write_event(&e, 0, 1, 60);
	write_event(&e, 0, 2, 60);
	write_event(&e, 0, 3, 60);
	write_event(&e, 0, 4, 9 * 86400); /* stale: not in any request */
	assert_int_equal(e.ops->flush(e.sink, &e.io.io), SL_OK);
	assert_int_equal(e.io.n, 1);
	e.ops->free(e.sink);

	snprintf(path, sizeof(path), "%s/meta.jsonl", dir);
	text = slurp(path);
	assert_null(strstr(text, "SECRET"));
	line = cJSON_Parse(strtok(text, "\n"));
	assert_non_null(line);
	assert_string_equal(path_str(line, "method", NULL, -1), "POST");
	assert_string_equal(path_str(line, "url", NULL, -1),
			    "{meta.url}/v21.0/{meta.dataset_id}/events");
	assert_string_equal(path_str(line, "body", "access_token", -1), "***");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
				 cJSON_GetObjectItem(line, "body"), "data")),
			 2);
	cJSON_Delete(line);
	line = cJSON_Parse(strtok(NULL, "\n"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
				 cJSON_GetObjectItem(line, "body"), "data")),
			 1);
	cJSON_Delete(line);
	assert_null(strtok(NULL, "\n"));
	free(text);
	unlink(path);
	rmdir(dir);
	sl_config_free(e.cfg);
}

static void expect_config_error(const char *key, const char *value,
				const char *want)
{
	sl_config *cfg = sl_config_new();
	sl_errbuf eb = { { 0 } };
	const sl_sink_ops *ops = NULL;
	void *sink = NULL;

	sl_config_set(cfg, "dry_run.dir", "/tmp");
	if (strcmp(key, "meta.url") != 0) {
		sl_config_set(cfg, "meta.token", "t");
		sl_config_set(cfg, "meta.dataset_id", "1");
		sl_config_set(cfg, "meta.url", "http://127.0.0.1:9");
	} else {
		sl_config_set(cfg, "meta.token", "t");
		sl_config_set(cfg, "meta.dataset_id", "1");
	}
	if (value != NULL)
		sl_config_set(cfg, key, value);
	assert_int_equal(capi_sink_new(cfg, &ops, &sink, &eb), SL_ECONFIG);
	assert_null(sink);
	assert_non_null(strstr(eb.msg, want));
	sl_config_free(cfg);
}

static void test_config_errors(void **state)
{
	(void)state;
	expect_config_error("meta.url", NULL, "meta.url: not set");
	expect_config_error("meta.url", "ftp://127.0.0.1/", "meta.url");
	expect_config_error("meta.api_version", "21.0", "meta.api_version");
	expect_config_error("meta.dataset_id", "12/../x", "meta.dataset_id");
	expect_config_error("meta.action_source", "web", "meta.action_source");
	expect_config_error("meta.batch_size", "1001", "meta.batch_size");
	expect_config_error("meta.batch_size", "0", "meta.batch_size");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_phone_vectors),
		cmocka_unit_test(test_phone_rejects),
		cmocka_unit_test(test_hash_vectors),
		cmocka_unit_test(test_encode_full_event),
		cmocka_unit_test(test_encode_future_clamped),
		cmocka_unit_test(test_encode_business_messaging),
		cmocka_unit_test(test_encode_refused),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_sink_batches_2500),
		cmocka_unit_test(test_sink_stale_dead_lettered_first),
		cmocka_unit_test(test_sink_transient_backoff_then_ok),
		cmocka_unit_test(test_sink_stale_while_held),
		cmocka_unit_test(test_sink_permanent_dead_letters_request),
		cmocka_unit_test(test_sink_token_error_holds),
		cmocka_unit_test(test_sink_refused_and_discard),
		cmocka_unit_test(test_sink_dry_run),
		cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
