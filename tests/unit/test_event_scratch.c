/*
 * test_event_scratch.c — scratch memory for cJSON (topologies/event.h):
 * an event parsed between ev_scratch_begin and ev_scratch_end takes its
 * memory from the thread's block, reads the same as one parsed with
 * malloc, and stays valid until the next begin; what does not fit goes
 * to malloc and is freed (the sanitizer build checks leaks and frees);
 * other threads and code outside begin/end use malloc as before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "processor/err.h"
#include "topologies/event.h"

static const char started[] =
	"{\"event_id\":\"e-1\",\"type\":\"screening_started\","
	"\"user_id\":\"u-1\",\"occurred_at\":\"2025-06-01T13:30:00Z\","
	"\"phone\":\"+919876543210\",\"lang\":\"ta\",\"pincode\":\"600001\"}";

static int setup(void **state)
{
	(void)state;
	ev_scratch_install();
	ev_scratch_install(); /* once is enough; twice is harmless */
	return 0;
}

/* One event in scratch memory: no malloc, same reading. */
static void test_parse_in_scratch(void **state)
{
	ev_fields f;
	ev_error err;
	cJSON *ev;
	size_t used;

	(void)state;
	ev_scratch_begin();
	assert_int_equal(ev_scratch_used(), 0);
	assert_int_equal(ev_parse_fields(started, strlen(started), &ev, &f,
					 &err),
			 SL_OK);
	ev_scratch_end();
	used = ev_scratch_used();
	/* 7 members, their names and strings: more than 7 * 64 bytes */
	assert_true(used > 7 * 64 && used < 4096);

	/* After end: cJSON allocates with malloc again. */
	cJSON *other = cJSON_CreateString("outside");
	assert_int_equal(ev_scratch_used(), used);
	cJSON_Delete(other);

	/* Still valid after end, until the next begin. */
	assert_int_equal(f.type, EV_SCREENING_STARTED);
	assert_string_equal(ev_str(&f, EV_F_PHONE), "+919876543210");
	assert_string_equal(ev_str(&f, EV_F_PINCODE), "600001");
	assert_int_equal(f.occurred_at_ms, 1748784600000LL);
	cJSON_Delete(ev); /* frees nothing */
}

/* The same verdicts in scratch memory as with malloc. */
static void test_verdicts_in_scratch(void **state)
{
	static const char *const docs[] = {
		"{\"event_id\":\"e\",\"type\":\"opted_in\",\"user_id\":\"u\","
		"\"occurred_at\":\"2025-06-01T13:30:00Z\",\"step\":0}",
		"{\"event_id\":\"e\",\"event_id\":\"e\"}",
		"{\"a\":\"\xff\"}",
		"[1,2,3]",
		"{\"a\":",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		ev_error e1, e2;
		cJSON *o1, *o2;
		int r1, r2;

		r1 = ev_parse(docs[i], strlen(docs[i]), &o1, &e1);
		ev_scratch_begin();
		r2 = ev_parse(docs[i], strlen(docs[i]), &o2, &e2);
		ev_scratch_end();
		assert_int_equal(r1, r2);
		assert_string_equal(e1.field, e2.field);
		assert_string_equal(e1.rule, e2.rule);
		cJSON_Delete(o1);
		cJSON_Delete(o2);
	}
}

/* An event bigger than the block: the rest goes to malloc, and back. */
static void test_spill_to_malloc(void **state)
{
	size_t big = 20000;
	char *doc = malloc(big + 256);
	ev_fields f;
	ev_error err;
	cJSON *ev;
	int n;

	(void)state;
	assert_non_null(doc);
	n = snprintf(doc, 256,
		     "{\"event_id\":\"e\",\"type\":\"opted_in\","
		     "\"user_id\":\"u\",\"occurred_at\":"
		     "\"2025-06-01T13:30:00Z\",\"note\":\"");
	memset(doc + n, 'x', big);
	strcpy(doc + n + big, "\",\"channel\":\"qr\"}");

	for (int round = 0; round < 3; round++) {
		ev_scratch_begin();
		assert_int_equal(ev_parse_fields(doc, strlen(doc), &ev, &f,
						 &err),
				 SL_OK);
		ev_scratch_end();
		assert_int_equal(
			strlen(cJSON_GetObjectItemCaseSensitive(ev, "note")
				       ->valuestring),
			big);
		assert_string_equal(ev_str(&f, EV_F_CHANNEL), "qr");
		cJSON_Delete(ev); /* the note's string is malloc'd */
	}
	free(doc);
}

/* Objects made outside scratch may be deleted inside it, and not moved. */
static void test_malloc_objects_inside(void **state)
{
	cJSON *o = cJSON_Parse(started);
	char *text;

	(void)state;
	assert_non_null(o);
	ev_scratch_begin();
	text = cJSON_PrintUnformatted(o); /* in scratch */
	cJSON_Delete(o);		  /* malloc'd: freed */
	ev_scratch_end();
	assert_string_equal(text, started);
	cJSON_free(text); /* in scratch: nothing to do */
}

/* Another thread's cJSON while this one is in scratch: plain malloc. */
static void *other_thread(void *arg)
{
	size_t *used = arg;

	for (int i = 0; i < 1000; i++) {
		cJSON *o = cJSON_Parse(started);
		char *s = cJSON_PrintUnformatted(o);

		free(s); /* from malloc, so plain free is right here */
		cJSON_Delete(o);
	}
	*used = ev_scratch_used();
	return NULL;
}

static void test_other_threads(void **state)
{
	pthread_t th;
	size_t used = 1;
	cJSON *ev;
	ev_error err;

	(void)state;
	ev_scratch_begin();
	assert_int_equal(pthread_create(&th, NULL, other_thread, &used), 0);
	for (int i = 0; i < 1000; i++) {
		ev_scratch_begin();
		assert_int_equal(ev_parse(started, strlen(started), &ev, &err),
				 SL_OK);
		cJSON_Delete(ev);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	ev_scratch_end();
	assert_int_equal(used, 0); /* its block was never used */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_in_scratch),
		cmocka_unit_test(test_verdicts_in_scratch),
		cmocka_unit_test(test_spill_to_malloc),
		cmocka_unit_test(test_malloc_objects_inside),
		cmocka_unit_test(test_other_threads),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
