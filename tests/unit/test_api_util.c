/*
 * test_api_util.c — identifiers, bearer token, Idempotency-Key and
 * Content-Type checks, SHA-256 and the in-memory idempotency table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "api/api.h"
#include "api/idem.h"

static void test_uuid_v4_format(void **state)
{
	char a[API_UUID_LEN + 1], b[API_UUID_LEN + 1];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(api_uuid_v4(a), SL_OK);
		assert_int_equal(strlen(a), 36);
		assert_true(api_is_uuid(a));
		/* xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx, lower case */
		assert_int_equal(a[8], '-');
		assert_int_equal(a[13], '-');
		assert_int_equal(a[18], '-');
		assert_int_equal(a[23], '-');
		assert_int_equal(a[14], '4');
		assert_non_null(strchr("89ab", a[19]));
		for (int k = 0; k < 36; k++)
			assert_non_null(strchr("0123456789abcdef-", a[k]));
	}
	assert_int_equal(api_uuid_v4(b), SL_OK);
	assert_string_not_equal(a, b);
}

static void test_is_uuid(void **state)
{
	(void)state;
	assert_true(api_is_uuid("123e4567-e89b-12d3-a456-426614174000"));
	assert_true(api_is_uuid("123E4567-E89B-12D3-A456-426614174000"));
	assert_false(api_is_uuid(NULL));
	assert_false(api_is_uuid(""));
	assert_false(api_is_uuid("123e4567e89b12d3a456426614174000"));
	assert_false(api_is_uuid("123e4567-e89b-12d3-a456-42661417400"));
	assert_false(api_is_uuid("123e4567-e89b-12d3-a456-4266141740000"));
	assert_false(api_is_uuid("123e4567-e89b-12d3-a456_426614174000"));
	assert_false(api_is_uuid("g23e4567-e89b-12d3-a456-426614174000"));
	assert_false(api_is_uuid("'; DROP TABLE screenings; --xxxxxxxxx"));
}

static void test_token(void **state)
{
	(void)state;
	assert_true(api_token_ok("Bearer s3cret-token", "s3cret-token"));
	assert_true(api_token_ok("bearer s3cret-token", "s3cret-token"));
	assert_true(api_token_ok("BEARER  s3cret-token", "s3cret-token"));
	assert_false(api_token_ok("Bearer s3cret-tokem", "s3cret-token"));
	assert_false(api_token_ok("Bearer s3cret-toke", "s3cret-token"));
	assert_false(api_token_ok("Bearer s3cret-token2", "s3cret-token"));
	assert_false(api_token_ok("Bearer ", "s3cret-token"));
	assert_false(api_token_ok("Basic s3cret-token", "s3cret-token"));
	assert_false(api_token_ok("s3cret-token", "s3cret-token"));
	assert_false(api_token_ok(NULL, "s3cret-token"));
	/* No token configured never authorizes, not even an empty one. */
	assert_false(api_token_ok("Bearer ", ""));
	assert_false(api_token_ok("Bearer x", NULL));
}

/*
 * The comparison must not stop at the first wrong byte: a mismatch in
 * the first byte and one in the last take about the same time.  A
 * coarse check (factor 3 on a 64 KiB token) that only fails for an
 * early-exit comparison, which would be ~65536 times faster.
 */
static double time_check(const char *hdr, const char *token)
{
	struct timespec t0, t1;
	volatile int sink = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 200; i++)
		sink += api_token_ok(hdr, token);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	(void)sink;
	return (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
}

static void test_token_constant_time(void **state)
{
	size_t n = 65536;
	char *token = malloc(n + 1), *early = malloc(n + 8),
	     *late = malloc(n + 8);
	double te = 1e30, tl = 1e30;

	(void)state;
	memset(token, 'a', n);
	token[n] = '\0';
	snprintf(early, n + 8, "Bearer %s", token);
	snprintf(late, n + 8, "Bearer %s", token);
	early[7] = 'b';	       /* first byte differs */
	late[7 + n - 1] = 'b'; /* last byte differs */
	for (int round = 0; round < 5; round++) {
		double e = time_check(early, token);
		double l = time_check(late, token);

		te = e < te ? e : te;
		tl = l < tl ? l : tl;
	}
	assert_false(api_token_ok(early, token));
	assert_false(api_token_ok(late, token));
	assert_true(te * 3 > tl);
	free(token);
	free(early);
	free(late);
}

static void test_idem_key_and_content_type(void **state)
{
	char long_key[300];

	(void)state;
	assert_true(api_idem_key_ok("u-1-0"));
	assert_true(api_idem_key_ok("a b~!"));
	assert_false(api_idem_key_ok(""));
	assert_false(api_idem_key_ok(NULL));
	assert_false(api_idem_key_ok("tab\there"));
	assert_false(api_idem_key_ok("caf\xc3\xa9"));
	memset(long_key, 'k', 255);
	long_key[255] = '\0';
	assert_true(api_idem_key_ok(long_key));
	memset(long_key, 'k', 256);
	long_key[256] = '\0';
	assert_false(api_idem_key_ok(long_key));

	assert_true(api_content_type_json(NULL));
	assert_true(api_content_type_json("application/json"));
	assert_true(api_content_type_json("Application/JSON; charset=utf-8"));
	assert_false(api_content_type_json("application/jsonp"));
	assert_false(api_content_type_json("text/plain"));
	assert_false(
		api_content_type_json("application/x-www-form-urlencoded"));
	assert_false(api_content_type_json(""));
}

static void test_sha256(void **state)
{
	char out[65];

	(void)state;
	/* FIPS 180-2 test vectors. */
	api_sha256_hex("abc", 3, out);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223"
				 "b00361a396177a9cb410ff61f20015ad");
	api_sha256_hex("", 0, out);
	assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb924"
				 "27ae41e4649b934ca495991b7852b855");
}

static void test_idem_cache(void **state)
{
	idem_cache *c = idem_new(3, 60000);
	char *body = NULL;
	int status = 0;

	(void)state;
	assert_int_equal(idem_begin(c, "k1", "h1", &status, &body), IDEM_NEW);
	/* Same key while pending: busy; different request: mismatch. */
	assert_int_equal(idem_begin(c, "k1", "h1", &status, &body), IDEM_BUSY);
	assert_int_equal(idem_begin(c, "k1", "h2", &status, &body),
			 IDEM_MISMATCH);
	idem_finish(c, "k1", 202, "{\"event_id\":\"e1\"}");
	assert_int_equal(idem_begin(c, "k1", "h1", &status, &body),
			 IDEM_REPLAY);
	assert_int_equal(status, 202);
	assert_string_equal(body, "{\"event_id\":\"e1\"}");
	free(body);
	assert_int_equal(idem_begin(c, "k1", "h2", &status, &body),
			 IDEM_MISMATCH);

	/* An aborted key may be tried again. */
	assert_int_equal(idem_begin(c, "k2", "h", &status, &body), IDEM_NEW);
	idem_abort(c, "k2");
	assert_int_equal(idem_begin(c, "k2", "h", &status, &body), IDEM_NEW);
	idem_finish(c, "k2", 202, "b2");
	assert_int_equal(idem_count(c), 2);

	/* Capacity 3: a fourth key evicts the oldest (k1). */
	assert_int_equal(idem_begin(c, "k3", "h", &status, &body), IDEM_NEW);
	idem_finish(c, "k3", 202, "b3");
	assert_int_equal(idem_begin(c, "k4", "h", &status, &body), IDEM_NEW);
	idem_finish(c, "k4", 202, "b4");
	assert_int_equal(idem_count(c), 3);
	assert_int_equal(idem_begin(c, "k1", "h1", &status, &body), IDEM_NEW);
	idem_abort(c, "k1");
	assert_int_equal(idem_begin(c, "k4", "h", &status, &body), IDEM_REPLAY);
	assert_string_equal(body, "b4");
	free(body);
	idem_free(c);
}

static void test_idem_cache_expiry(void **state)
{
	idem_cache *c = idem_new(100, 50);
	struct timespec pause = { 0, 80 * 1000000 };
	char *body = NULL;
	int status = 0;

	(void)state;
	assert_int_equal(idem_begin(c, "k", "h", &status, &body), IDEM_NEW);
	idem_finish(c, "k", 202, "b");
	assert_int_equal(idem_begin(c, "k", "h", &status, &body), IDEM_REPLAY);
	free(body);
	nanosleep(&pause, NULL);
	assert_int_equal(idem_begin(c, "k", "h2", &status, &body), IDEM_NEW);
	idem_free(c);
}

static void test_idem_cache_many(void **state)
{
	idem_cache *c = idem_new(1000, 60000);
	char key[32], *body = NULL;
	int status = 0;

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(idem_begin(c, key, "h", &status, &body),
				 IDEM_NEW);
		idem_finish(c, key, 202, key);
	}
	assert_int_equal(idem_count(c), 1000);
	assert_int_equal(idem_begin(c, "key-4999", "h", &status, &body),
			 IDEM_REPLAY);
	assert_string_equal(body, "key-4999");
	free(body);
	assert_int_equal(idem_begin(c, "key-3999", "h", &status, &body),
			 IDEM_NEW);
	idem_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid_v4_format),
		cmocka_unit_test(test_is_uuid),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_token_constant_time),
		cmocka_unit_test(test_idem_key_and_content_type),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_idem_cache),
		cmocka_unit_test(test_idem_cache_expiry),
		cmocka_unit_test(test_idem_cache_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
