/*
 * test_batch.c — the batching sinks' queue (connectors/batch.h): what an
 * entry keeps of its record and where its encoding lands, settling in
 * and out of order, dead letters with the sink's prefix, a discarded
 * partition, the reset once nothing is pending, and the encoder frame's
 * answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors/batch.h"

static sl_record rec_of(int32_t partition, int64_t offset, const char *key,
			const char *value)
{
	sl_record r;

	memset(&r, 0, sizeof(r));
	r.topic = "t";
	r.partition = partition;
	r.offset = offset;
	r.timestamp_ms = 1000 + offset;
	r.key.data = key;
	r.key.len = strlen(key);
	r.value.data = value;
	r.value.len = strlen(value);
	return r;
}

static void test_buf_grows_and_terminates(void **state)
{
	batch_buf b = { NULL, 0, 0 };
	char big[5000];

	(void)state;
	assert_int_equal(batch_buf_add(&b, "ab", 2), SL_OK);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.p, "ab");
	memset(big, 'x', sizeof(big));
	assert_int_equal(batch_buf_add(&b, big, sizeof(big)), SL_OK);
	assert_int_equal(b.len, 5002);
	assert_true(b.cap >= 5003);
	assert_int_equal(b.p[5001], 'x');
	assert_int_equal(b.p[5002], '\0');
	free(b.p);
}

static void test_push_keeps_record_and_encoding(void **state)
{
	batch_queue q;
	sl_record a = rec_of(3, 10, "k1", "{\"v\":1}");
	sl_record b = rec_of(3, 11, "k22", "bad");
	sl_record got;
	batch_entry *e;

	(void)state;
	memset(&q, 0, sizeof(q));
	e = batch_push(&q, &a, "ROW1", 4, "\n");
	assert_non_null(e);
	e->tag = 77;
	assert_non_null(batch_push_refused(&q, &b, "value: no"));
	assert_non_null(batch_push(&q, &a, "ROW3", 4, "\n"));
	assert_int_equal(q.n, 3);
	assert_int_equal(q.pending, 3);
	assert_int_equal(q.cursor, 0);

	/* Encodings follow one another; a refused entry adds none. */
	assert_int_equal(q.enc.len, 10);
	assert_memory_equal(q.enc.p, "ROW1\nROW3\n", 10);
	assert_int_equal(q.e[0].enc_off, 0);
	assert_int_equal(q.e[0].enc_len, 5);
	assert_int_equal(q.e[1].enc_len, 0);
	assert_string_equal(q.e[1].refused, "value: no");
	assert_int_equal(q.e[2].enc_off, 5);
	assert_int_equal(q.e[0].tag, 77);

	/* The record comes back as written. */
	got = batch_record(&q, 1);
	assert_string_equal(got.topic, "t");
	assert_int_equal(got.partition, 3);
	assert_int_equal(got.offset, 11);
	assert_int_equal(got.timestamp_ms, 1011);
	assert_int_equal(got.key.len, 3);
	assert_memory_equal(got.key.data, "k22", 3);
	assert_int_equal(got.value.len, 3);
	assert_memory_equal(got.value.data, "bad", 3);
	batch_free(&q);
	assert_null(q.e);
}

static void test_settle_moves_cursor(void **state)
{
	batch_queue q;
	sl_record r = rec_of(0, 1, "k", "v");

	(void)state;
	memset(&q, 0, sizeof(q));
	for (int i = 0; i < 4; i++)
		assert_non_null(batch_push(&q, &r, "x", 1, ""));

	/* Out of order: the cursor waits for entry 0. */
	batch_settle(&q, 2);
	assert_int_equal(q.cursor, 0);
	assert_int_equal(q.pending, 3);
	batch_settle(&q, 2); /* twice counts once */
	assert_int_equal(q.pending, 3);
	batch_settle(&q, 0);
	assert_int_equal(q.cursor, 1);
	batch_settle(&q, 1);
	assert_int_equal(q.cursor, 3);

	/* Not empty while something is pending; empty after. */
	batch_reset_if_done(&q);
	assert_int_equal(q.n, 4);
	batch_settle(&q, 3);
	assert_int_equal(q.pending, 0);
	batch_reset_if_done(&q);
	assert_int_equal(q.n, 0);
	assert_int_equal(q.cursor, 0);
	assert_int_equal(q.enc.len, 0);
	assert_int_equal(q.arena.len, 0);
	batch_free(&q);
}

static void test_discard_one_partition(void **state)
{
	batch_queue q;
	sl_record p1 = rec_of(1, 5, "a", "v"), p2 = rec_of(2, 6, "b", "v");

	(void)state;
	memset(&q, 0, sizeof(q));
	assert_non_null(batch_push(&q, &p1, "1", 1, ""));
	assert_non_null(batch_push(&q, &p2, "2", 1, ""));
	assert_non_null(batch_push_refused(&q, &p1, "why"));
	batch_discard(&q, 1);
	assert_int_equal(q.pending, 1);
	assert_int_equal(q.cursor, 1);
	assert_false(q.e[1].settled);
	batch_discard(&q, 2);
	assert_int_equal(q.pending, 0);
	assert_int_equal(q.n, 0); /* reset */
	batch_free(&q);
}

struct dl {
	int calls, fail;
	char reason[128];
	int64_t offset;
};

static int dead_letter(sl_sink_io *io, const sl_record *rec, const char *reason)
{
	struct dl *d = io->runtime;

	d->calls++;
	d->offset = rec->offset;
	snprintf(d->reason, sizeof(d->reason), "%s", reason);
	return d->fail ? SL_EKAFKA : SL_OK;
}

static void test_dead_letter(void **state)
{
	struct dl d = { 0, 1, "", 0 };
	sl_sink_io io = { dead_letter, &d };
	sl_errbuf eb = { { 0 } };
	batch_queue q;
	sl_record r = rec_of(0, 42, "k", "v");

	(void)state;
	memset(&q, 0, sizeof(q));
	assert_non_null(batch_push(&q, &r, "x", 1, ""));

	/* A failed dead letter leaves the entry pending, with the reason. */
	assert_int_equal(batch_dead_letter(&q, 0, &io, "sink", "bad", &eb),
			 SL_EKAFKA);
	assert_int_equal(q.pending, 1);
	assert_non_null(strstr(eb.msg, "dead letter failed"));

	d.fail = 0;
	assert_int_equal(batch_dead_letter(&q, 0, &io, "sink", "bad", &eb),
			 SL_OK);
	assert_int_equal(d.calls, 2);
	assert_int_equal(d.offset, 42);
	assert_string_equal(d.reason, "sink: bad");
	assert_int_equal(q.pending, 0);
	assert_int_equal(q.cursor, 1);
	batch_free(&q);
}

/* out = {"n": in.n}, taking the item; "n: missing" without one. */
static int build_n(cJSON *in, cJSON *out, void *ud, char *why, size_t why_len)
{
	cJSON *n = cJSON_DetachItemFromObjectCaseSensitive(in, "n");

	(*(int *)ud)++;
	if (n == NULL) {
		snprintf(why, why_len, "n: missing");
		return SL_EINVAL;
	}
	cJSON_AddItemToObject(out, "n", n);
	return SL_OK;
}

static void test_encode_json(void **state)
{
	char why[64], *out = NULL;
	size_t len = 9;
	int calls = 0;

	(void)state;
	assert_int_equal(batch_encode_json("{\"a\":1,\"n\":7}", 13, build_n,
					   &calls, &out, &len, why,
					   sizeof(why)),
			 SL_OK);
	assert_string_equal(out, "{\"n\":7}");
	assert_int_equal(len, 7);
	assert_string_equal(why, "");
	cJSON_free(out);

	assert_int_equal(batch_encode_json("[1]", 3, build_n, &calls, &out,
					   &len, why, sizeof(why)),
			 SL_EINVAL);
	assert_string_equal(why, "value: not a JSON object");
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(batch_encode_json(NULL, 0, build_n, &calls, &out, &len,
					   why, sizeof(why)),
			 SL_EINVAL);
	assert_int_equal(batch_encode_json("{}", 2, build_n, &calls, &out, &len,
					   why, sizeof(why)),
			 SL_EINVAL);
	assert_string_equal(why, "n: missing");
	assert_null(out);
	assert_int_equal(calls, 2); /* not called for a non-object */
}

static void test_flush_result(void **state)
{
	int failing = 0;

	(void)state;
	assert_int_equal(batch_flush_result("t", &failing, SL_EIO, 3, "r", "u"),
			 SL_ETRANSIENT);
	assert_int_equal(failing, 1);
	assert_int_equal(batch_flush_result("t", &failing, SL_ENOMEM, 3, "r",
					    "u"),
			 SL_ENOMEM);
	assert_int_equal(batch_flush_result("t", &failing, SL_OK, 0, "", "u"),
			 SL_OK);
	assert_int_equal(failing, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_grows_and_terminates),
		cmocka_unit_test(test_push_keeps_record_and_encoding),
		cmocka_unit_test(test_settle_moves_cursor),
		cmocka_unit_test(test_discard_one_partition),
		cmocka_unit_test(test_dead_letter),
		cmocka_unit_test(test_encode_json),
		cmocka_unit_test(test_flush_result),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
