/*
 * test_pincodes.c — CSV parsing, grouping and the district choice of
 * the pin code loader, on a small CSV with the directory's quirks.
 * Every expected value below is worked out by hand from that CSV.
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

#include "topologies/pincodes.h"

/* Line numbers (header = 1) matter for first_error: kept in comments. */
static const char csv[] =
	"pincode,district,state,post_offices\r\n"	 /* 1 */
	"110003,NEW DELHI,DELHI,3\r\n"			 /* 2 */
	"110003,SOUTH,DELHI,1\r\n"			 /* 3 */
	"110003,South East,DELHI,6\r\n"			 /* 4: most */
	"560001,BANGALORE,KARNATAKA,4\r\n"		 /* 5: tie, 'A' < 'a' */
	"560001,Bangalore,KARNATAKA,4\r\n"		 /* 6 */
	"121004,NA,NA,1\r\n"				 /* 7: NA only */
	"122004,NA,NA,9\r\n"				 /* 8: NA loses */
	"122004,GURGAON,HARYANA,2\r\n"			 /* 9 */
	"173212,SOLAN,PUNJAB,2\r\n"			 /* 10 */
	"173212,SOLAN,HIMACHAL PRADESH,2\r\n"		 /* 11: state tie */
	"110001,NEW DELHI,DELHI,23\r\n"			 /* 12: out of order */
	"\"400001\",\"MUMBAI, SOUTH\",MAHARASHTRA,5\r\n" /* 13: quoted */
	"400002,MUMBAI,MAHARASHTRA,1\r\n"		 /* 14 */
	"400002 , MUMBAI ,MAHARASHTRA, 2\r\n"		 /* 15: same, summed */
	"012345,X,Y,1\r\n"				 /* 16: leading 0 */
	"12345,X,Y,1\r\n"				 /* 17: 5 digits */
	"500001,,TELANGANA,1\r\n"			 /* 18: no district */
	"500002,HYDERABAD,TELANGANA,many\r\n"		 /* 19: bad count */
	"\r\n";						 /* 20: blank */

static pc_table *parse(const char *text)
{
	pc_table *t = NULL;
	sl_errbuf eb;

	assert_int_equal(pc_parse_csv(text, strlen(text), &t, &eb), SL_OK);
	assert_non_null(t);
	return t;
}

static const pc_entry *find(const pc_table *t, const char *pin)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->entries[i].pincode, pin) == 0)
			return &t->entries[i];
	fail_msg("pin code %s not found", pin);
	return NULL;
}

static void expect_choice(const pc_table *t, const char *pin,
			  const char *district, const char *state)
{
	const pc_entry *e = find(t, pin);

	assert_string_equal(e->rows[e->chosen].district, district);
	assert_string_equal(e->rows[e->chosen].state, state);
}

static void test_grouping_and_counts(void **state)
{
	static const char *const order[] = { "110001", "110003", "121004",
					     "122004", "173212", "400001",
					     "400002", "560001" };
	pc_table *t = parse(csv);

	(void)state;
	assert_int_equal(t->rows_read, 18);
	assert_int_equal(t->rows_rejected, 4);
	assert_string_equal(t->first_error, "line 16: bad pin code '012345'");

	/* Sorted by pin code, one entry each. */
	assert_int_equal(t->n, 8);
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(t->entries[i].pincode, order[i]);

	/* Rows in file order; the repeated 400002 row is summed: 1 + 2. */
	assert_int_equal(find(t, "110003")->nrows, 3);
	assert_string_equal(find(t, "110003")->rows[1].district, "SOUTH");
	assert_int_equal(find(t, "400002")->nrows, 1);
	assert_int_equal(find(t, "400002")->rows[0].post_offices, 3);
	assert_string_equal(find(t, "400001")->rows[0].district,
			    "MUMBAI, SOUTH");
	pc_table_free(t);
}

static void test_choice(void **state)
{
	pc_table *t = parse(csv);

	(void)state;
	expect_choice(t, "110003", "South East", "DELHI");
	expect_choice(t, "560001", "BANGALORE", "KARNATAKA");
	expect_choice(t, "121004", "NA", "NA");
	expect_choice(t, "122004", "GURGAON", "HARYANA");
	expect_choice(t, "173212", "SOLAN", "HIMACHAL PRADESH");
	expect_choice(t, "110001", "NEW DELHI", "DELHI");
	pc_table_free(t);
}

static void test_choose_direct(void **state)
{
	pc_row rows[] = {
		{ "NA", "NA", 50 }, { "b", "S", 3 }, { "a", "T", 3 },
		{ "a", "S", 3 },    { "c", "S", 2 },
	};

	(void)state;
	/* Most post offices among non-NA (3), then district a, state S. */
	assert_int_equal(pc_choose(rows, 5), 3);
	assert_int_equal(pc_choose(rows, 3), 2);
	assert_int_equal(pc_choose(rows, 1), 0);
	assert_true(pc_is_na(&rows[0]));
	assert_false(pc_is_na(&rows[1]));
}

static void test_record_json(void **state)
{
	pc_table *t = parse(csv);
	char *v;

	(void)state;
	v = pc_entry_json(find(t, "110003"));
	assert_string_equal(
		v, "{\"pincode\":\"110003\",\"district\":\"South East\","
		   "\"state\":\"DELHI\",\"districts\":["
		   "{\"district\":\"NEW DELHI\",\"state\":\"DELHI\","
		   "\"post_offices\":3},"
		   "{\"district\":\"SOUTH\",\"state\":\"DELHI\","
		   "\"post_offices\":1},"
		   "{\"district\":\"South East\",\"state\":\"DELHI\","
		   "\"post_offices\":6}]}");
	cJSON_free(v);

	v = pc_entry_json(find(t, "121004"));
	assert_string_equal(v, "{\"pincode\":\"121004\",\"district\":\"NA\","
			       "\"state\":\"NA\",\"districts\":["
			       "{\"district\":\"NA\",\"state\":\"NA\","
			       "\"post_offices\":1}]}");
	cJSON_free(v);
	pc_table_free(t);
}

static void test_value_place(void **state)
{
	const char *v = "{\"pincode\":\"110003\",\"district\":\"South East\","
			"\"state\":\"DELHI\",\"districts\":[]}";
	const char *na = "{\"pincode\":\"121004\",\"district\":\"NA\","
			 "\"state\":\"NA\"}";
	char d[64], s[64];

	(void)state;
	assert_int_equal(pc_value_place(v, strlen(v), d, sizeof(d), s,
					sizeof(s)),
			 SL_OK);
	assert_string_equal(d, "South East");
	assert_string_equal(s, "DELHI");

	/* NA means not known: empty, like a pin code not in the table. */
	assert_int_equal(pc_value_place(na, strlen(na), d, sizeof(d), s,
					sizeof(s)),
			 SL_OK);
	assert_string_equal(d, "");
	assert_string_equal(s, "");

	assert_int_equal(pc_value_place("{}", 2, d, sizeof(d), s, sizeof(s)),
			 SL_EPARSE);
	assert_int_equal(pc_value_place("x", 1, d, sizeof(d), s, sizeof(s)),
			 SL_EPARSE);

	/* Truncated to the buffer, always terminated. */
	assert_int_equal(pc_value_place(v, strlen(v), d, 6, s, sizeof(s)),
			 SL_OK);
	assert_string_equal(d, "South");
}

static void test_header_forms(void **state)
{
	const char *reordered = "State,PINCODE,post_offices,district\n"
				"DELHI,110001,23,NEW DELHI\n";
	const char *headerless = "110001,NEW DELHI,DELHI,23";
	const char *bom = "\xef\xbb\xbfpincode,district,state,post_offices\n"
			  "110001,NEW DELHI,DELHI,23\n";
	pc_table *t;

	(void)state;
	t = parse(reordered);
	assert_int_equal(t->n, 1);
	expect_choice(t, "110001", "NEW DELHI", "DELHI");
	assert_int_equal(t->entries[0].rows[0].post_offices, 23);
	pc_table_free(t);

	t = parse(headerless); /* and no final newline */
	assert_int_equal(t->n, 1);
	assert_int_equal(t->rows_read, 1);
	expect_choice(t, "110001", "NEW DELHI", "DELHI");
	pc_table_free(t);

	t = parse(bom);
	assert_int_equal(t->n, 1);
	assert_int_equal(t->rows_rejected, 0);
	pc_table_free(t);
}

static void test_bad_files(void **state)
{
	const char *no_state = "pincode,district,post_offices\n"
			       "110001,NEW DELHI,23\n";
	const char *open_quote = "110001,\"NEW DELHI,DELHI,23\n";
	const char *none_valid = "pincode,district,state,post_offices\n"
				 "0,X,Y,1\n";
	pc_table *t = NULL;
	sl_errbuf eb;

	(void)state;
	assert_int_equal(pc_parse_csv(no_state, strlen(no_state), &t, &eb),
			 SL_EPARSE);
	assert_null(t);
	assert_string_equal(eb.msg, "pin code CSV: header has no 'state' "
				    "column");
	assert_int_equal(pc_parse_csv(open_quote, strlen(open_quote), &t, &eb),
			 SL_EPARSE);
	assert_string_equal(eb.msg, "pin code CSV: line 1: unterminated "
				    "quote");
	assert_int_equal(pc_parse_csv(none_valid, strlen(none_valid), &t, &eb),
			 SL_EPARSE);
	assert_int_equal(pc_parse_csv("", 0, &t, &eb), SL_EPARSE);
	assert_int_equal(pc_load_file("/nonexistent/x.csv", &t, &eb), SL_EIO);
}

/* The real directory: counts from ../shared/data/README.md. */
static void test_real_directory(void **state)
{
	const char *path = "../shared/data/pincode_district_state.csv";
	pc_table *t = NULL;
	sl_errbuf eb;
	FILE *f = fopen(path, "r");

	(void)state;
	if (f == NULL)
		skip();
	fclose(f);
	assert_int_equal(pc_load_file(path, &t, &eb), SL_OK);
	assert_int_equal(t->rows_read, 21162);
	assert_int_equal(t->rows_rejected, 0);
	assert_int_equal(t->n, 19586);

	/* The file's rows: 110003 NEW DELHI 3, SOUTH 1, South East 6;
	 * 121004 FARIDABAD 20, NA 1, PALWAL 2; 121999 NA 1 alone. */
	expect_choice(t, "110003", "South East", "DELHI");
	expect_choice(t, "121004", "FARIDABAD", "HARYANA");
	expect_choice(t, "121999", "NA", "NA");
	pc_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grouping_and_counts),
		cmocka_unit_test(test_choice),
		cmocka_unit_test(test_choose_direct),
		cmocka_unit_test(test_record_json),
		cmocka_unit_test(test_value_place),
		cmocka_unit_test(test_header_forms),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_real_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
