/*
 * test_gen.c — the campaign-day generator's plan, lookups and tally.
 *
 * Includes tests/tools/gen.c (without its main) so its static helpers
 * can be called.  Expected values are worked out by hand from a small
 * pin code file written here, or from the rules in gen.c's header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#define GEN_NO_MAIN
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "tests/tools/gen.c"
#pragma GCC diagnostic pop

/*
 * Hand-made directory.  Expected choice per pin code:
 *	110001  one row                          -> NEW DELHI / DELHI
 *	200001  NA has more offices, B exists    -> B / S
 *	200002  3 offices each                   -> Alpha (name order)
 *	200003  same district, 2 offices each    -> Same / SA (state order)
 *	200004  only NA                          -> NA / NA
 *	200005  HIGH has 5 offices, LOW 1        -> HIGH / X
 *	200006  Pune 2 vs PUNE 2: byte order      -> PUNE ('U' < 'u')
 * The header, a short line, a bad pin and a bad count are skipped.
 */
static const char test_csv[] = "pincode,district,state,post_offices\n"
			       "110001,NEW DELHI,DELHI,23\n"
			       "200001,NA,NA,9\n"
			       "200005,LOW,X,1\n"
			       "200002,Zeta,S1,3\n"
			       "200001,B,S,2\n"
			       "200003,Same,SB,2\n"
			       "200002,Alpha,S2,3\n"
			       "200004,NA,NA,1\n"
			       "200003,Same,SA,2\n"
			       "200005,HIGH,X,5\n"
			       "200006,Pune,MAHARASHTRA,2\n"
			       "200006,PUNE,MAHARASHTRA,2\n"
			       "bad line\n"
			       "012345,Zero,Z,1\n"
			       "300001,Count,C,many\n";

static char test_path[64];

static int setup_csv(void **state)
{
	FILE *f;
	int fd;

	(void)state;
	snprintf(test_path, sizeof(test_path), "/tmp/test_gen_XXXXXX");
	fd = mkstemp(test_path);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (f == NULL)
		return -1;
	fputs(test_csv, f);
	return fclose(f);
}

static int teardown_csv(void **state)
{
	(void)state;
	return unlink(test_path);
}

static const gen_pin *find_pin(const gen_dir *d, const char *code)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->pins[i].code, code) == 0)
			return &d->pins[i];
	return NULL;
}

static void test_dir_choice(void **state)
{
	static const char *const want[][3] = {
		{ "110001", "NEW DELHI", "DELHI" },
		{ "200001", "B", "S" },
		{ "200002", "Alpha", "S2" },
		{ "200003", "Same", "SA" },
		{ "200004", "NA", "NA" },
		{ "200005", "HIGH", "X" },
		{ "200006", "PUNE", "MAHARASHTRA" },
	};
	gen_dir d;

	(void)state;
	assert_int_equal(gen_dir_load(test_path, &d), 0);
	assert_int_equal(d.n, 7);
	for (size_t i = 0; i < 7; i++) {
		const gen_pin *p = find_pin(&d, want[i][0]);

		assert_non_null(p);
		assert_string_equal(p->district, want[i][1]);
		assert_string_equal(p->state, want[i][2]);
	}
	assert_null(find_pin(&d, "012345"));
	assert_null(find_pin(&d, "300001"));
	gen_dir_free(&d);
}

static void test_dir_missing(void **state)
{
	gen_dir d;

	(void)state;
	sl_log_level = SL_LOG_OFF;
	assert_int_equal(gen_dir_load("/nonexistent/pins.csv", &d), -1);
	sl_log_level = SL_LOG_INFO;
}

/* Started at pins 200001 twice, 200002, 200004 (NA), 200006. */
static void test_tally_reach(void **state)
{
	const char *codes[] = { "200001", "200001", "200002",
				"200004", "200006", "110001" };
	unsigned char users[6] = { 1, 1, 1, 1, 1, 0 };
	size_t pins[6];
	gen_tally t = { .users = users, .user_pin = pins };
	uint64_t npins = 0, ndist = 0;
	gen_dir d;

	(void)state;
	assert_int_equal(gen_dir_load(test_path, &d), 0);
	for (int i = 0; i < 6; i++)
		pins[i] = (size_t)(find_pin(&d, codes[i]) - d.pins);

	/* Person 6 never started: 110001 is not reached. */
	assert_int_equal(gen_tally_reach(&t, 6, &d, &npins, &ndist), 0);
	assert_int_equal(npins, 4);
	assert_int_equal(ndist, 3); /* B/S, Alpha/S2, PUNE/MAHARASHTRA */
	gen_dir_free(&d);
}

static int match_phone(const char *s)
{
	if (strlen(s) != 13 || strncmp(s, "+91", 3) != 0)
		return 0;
	if (s[3] < '6' || s[3] > '9')
		return 0;
	return strspn(s + 3, "0123456789") == 10;
}

static int valid_lang(const char *s)
{
	for (size_t i = 0; i < 9; i++)
		if (strcmp(s, gen_langs[i]) == 0)
			return 1;
	return 0;
}

/* Every plan keeps the day's rules. */
static void test_plan_rules(void **state)
{
	const int n = 5000;
	int outcomes[3] = { 0 }, hi = 0, i, k;
	gen_plan p;
	gen_dir d;

	(void)state;
	assert_int_equal(gen_dir_load(test_path, &d), 0);
	for (i = 0; i < n; i++) {
		gen_plan_make(42, (uint64_t)i, &d, &p);
		assert_true(match_phone(p.phone));
		assert_true(valid_lang(p.lang));
		hi += strcmp(p.lang, "hi") == 0;
		assert_true(p.start_s >= 8 * 3600);
		assert_true(p.start_s <= 17 * 3600 + 1800);
		assert_in_range(p.nsteps, 0, 4);
		for (k = 0; k < p.nsteps; k++) {
			int prev = k ? p.step_s[k - 1] : p.start_s;

			assert_true(p.step_s[k] >= prev + 60);
			assert_true(p.step_s[k] <= 18 * 3600);
		}
		if (p.outcome == GEN_OPTS_OUT) {
			assert_true(p.optout_s >= gen_plan_last_s(&p));
			assert_true(p.optout_s < 18 * 3600);
		}
		assert_in_range(p.score, 1, 5);
		outcomes[p.outcome]++;
	}

	/* ~55 / 40 / 5 %, and Hindi the most common language. */
	assert_in_range(outcomes[GEN_COMPLETES], n * 50 / 100, n * 60 / 100);
	assert_in_range(outcomes[GEN_ABANDONS], n * 35 / 100, n * 45 / 100);
	assert_in_range(outcomes[GEN_OPTS_OUT], n * 3 / 100, n * 7 / 100);
	assert_true(hi > n / 4);
	gen_dir_free(&d);
}

static void test_plan_deterministic(void **state)
{
	gen_plan a, b, c;
	int differ = 0;
	gen_dir d;

	(void)state;
	assert_int_equal(gen_dir_load(test_path, &d), 0);
	for (uint64_t i = 0; i < 200; i++) {
		gen_plan_make(7, i, &d, &a);
		gen_plan_make(7, i, &d, &b);
		gen_plan_make(8, i, &d, &c);
		assert_memory_equal(&a, &b, sizeof(a));
		differ += strcmp(a.phone, c.phone) != 0;
	}
	gen_plan_make(7, 0, &d, &a);
	assert_string_equal(a.user_id, "u-7-1");
	assert_true(differ > 190);
	gen_dir_free(&d);
}

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static int int_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* Request k of person p, checked against the plan. */
static void check_request(const gen_plan *p, const gen_dir *d, int k)
{
	gen_req q;
	cJSON *o;

	assert_int_equal(gen_req_make(p, d, "2026-03-10", k, &q), 0);
	o = cJSON_Parse(q.body);
	assert_non_null(o);
	if (k == 0) {
		assert_string_equal(q.path, "/v1/journey");
		assert_string_equal(str_of(o, "type"), "screening_started");
		assert_string_equal(str_of(o, "pincode"), d->pins[p->pin].code);
		assert_string_equal(str_of(o, "phone"), p->phone);
		assert_string_equal(str_of(o, "event_id"), q.idem);
	} else if (k <= p->nsteps) {
		assert_string_equal(str_of(o, "type"), "screening_step");
		assert_int_equal(int_of(o, "step"), k);
	} else if (p->outcome == GEN_COMPLETES) {
		assert_string_equal(q.path, "/v1/screenings");
		assert_int_equal(int_of(o, "score"), p->score);
		assert_true(cJSON_IsObject(cJSON_GetObjectItem(o, "answers")));
		assert_null(cJSON_GetObjectItem(o, "type"));
	} else {
		assert_string_equal(str_of(o, "type"), "opted_out");
	}
	assert_string_equal(str_of(o, "user_id"), p->user_id);
	cJSON_Delete(o);
	free(q.body);
}

/* The requests of people who finish, in order, as the API wants them. */
static void test_requests(void **state)
{
	int k, found = 0;
	gen_plan p;
	gen_dir d;

	(void)state;
	assert_int_equal(gen_dir_load(test_path, &d), 0);
	for (uint64_t i = 0; i < 100 && found < 4; i++) {
		gen_plan_make(3, i, &d, &p);
		if (p.outcome == GEN_ABANDONS || p.nsteps < 1)
			continue;
		found++;
		assert_int_equal(gen_plan_nreq(&p), p.nsteps + 2);
		for (k = 0; k < gen_plan_nreq(&p); k++)
			check_request(&p, &d, k);
	}
	assert_int_equal(found, 4);
	gen_dir_free(&d);
}

static void test_time_and_date(void **state)
{
	char ts[40];

	(void)state;
	gen_fmt_time("2026-03-10", 8 * 3600 + 5 * 60 + 9, ts, sizeof(ts));
	assert_string_equal(ts, "2026-03-10T08:05:09+05:30");
	gen_fmt_time("2026-03-10", 18 * 3600, ts, sizeof(ts));
	assert_string_equal(ts, "2026-03-10T18:00:00+05:30");
	assert_int_equal(gen_check_date("2024-02-29"), 0);
	assert_int_equal(gen_check_date("2026-02-29"), -1);
	assert_int_equal(gen_check_date("2026-13-01"), -1);
	assert_int_equal(gen_check_date("2026-1-01"), -1);
	assert_int_equal(gen_check_date("2026-01-01x"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir_choice),
		cmocka_unit_test(test_dir_missing),
		cmocka_unit_test(test_tally_reach),
		cmocka_unit_test(test_plan_rules),
		cmocka_unit_test(test_plan_deterministic),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_time_and_date),
	};

	return cmocka_run_group_tests(tests, setup_csv, teardown_csv);
}
