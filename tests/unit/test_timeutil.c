/*
 * test_timeutil.c — calendar, RFC 3339 and IANA zones.
 *
 * Every expected instant was worked out outside this code: with
 * `date -u -d <instant> +%s`, `zdump -v -c <years> <zone>`, and the
 * vectors of shared/reference/connectors.md section 5.  The process TZ
 * is set to America/Los_Angeles first, to show that nothing here
 * depends on it.  Hand-made TZif files (slim, v1, damaged) are written
 * to a temporary TZDIR by the group setup.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "processor/timeutil.h"

#define IST 19800
#define EST (-18000)
#define EDT (-14400)

static char fixture_dir[64];

static sl_tz *load(const char *name)
{
	sl_errbuf eb = { { 0 } };
	sl_tz *tz = NULL;
	int rc = sl_tz_load(name, &tz, &eb);

	if (rc != SL_OK)
		fprintf(stderr, "load %s: %s %s\n", name, sl_errname(rc),
			eb.msg);
	assert_int_equal(rc, SL_OK);
	assert_non_null(tz);
	return tz;
}

/* Loads from the fixture directory, then puts TZDIR back. */
static int load_fixture(const char *name, sl_tz **tz)
{
	const char *old = getenv("TZDIR");
	char *saved = old ? strdup(old) : NULL;
	sl_errbuf eb = { { 0 } };
	int rc;

	setenv("TZDIR", fixture_dir, 1);
	rc = sl_tz_load(name, tz, &eb);
	if (saved != NULL)
		setenv("TZDIR", saved, 1);
	else
		unsetenv("TZDIR");
	free(saved);
	return rc;
}

/* ---- Calendar ---------------------------------------------------------- */

static void test_days_from_civil(void **state)
{
	(void)state;
	/* date -u -d <date> +%s, divided by 86400 */
	assert_int_equal(sl_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(sl_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(sl_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(sl_days_from_civil(2025, 6, 1), 20240);
	assert_int_equal(sl_days_from_civil(1600, 2, 29), -135081);
	assert_int_equal(sl_days_from_civil(1900, 3, 1), -25508);
	assert_int_equal(sl_days_from_civil(2400, 12, 31), 157419);
	assert_int_equal(sl_days_from_civil(1, 1, 1), -719162);
	assert_int_equal(sl_days_from_civil(9999, 12, 31), 2932896);
}

/* Walks the calendar one day at a time with its own month lengths. */
static void test_civil_walk(void **state)
{
	static const int mlen[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	int y = 1, m = 1, d = 1;

	(void)state;
	for (int64_t days = -719162; days <= 2932896; days++) {
		int yy, mm, dd, leap, len;

		assert_int_equal(sl_days_from_civil(y, m, d), days);
		sl_civil_from_days(days, &yy, &mm, &dd);
		if (yy != y || mm != m || dd != d)
			fail_msg("%lld: %d-%d-%d, want %d-%d-%d",
				 (long long)days, yy, mm, dd, y, m, d);

		leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		len = mlen[m - 1] + (m == 2 && leap);
		if (++d > len) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	assert_int_equal(y, 10000);
}

static void test_floor_div(void **state)
{
	(void)state;
	assert_int_equal(sl_floor_div(999, 1000), 0);
	assert_int_equal(sl_floor_div(1000, 1000), 1);
	assert_int_equal(sl_floor_div(-1, 1000), -1);
	assert_int_equal(sl_floor_div(-1000, 1000), -1);
	assert_int_equal(sl_floor_div(-1001, 1000), -2);
	assert_int_equal(sl_floor_div(7, -2), -4);
	assert_int_equal(sl_floor_div(-7, -2), 3);
}

/* ---- RFC 3339 ---------------------------------------------------------- */

static void expect_ms(const char *s, int64_t want)
{
	int64_t ms = -42;
	int rc = sl_time_parse_rfc3339(s, &ms);

	if (rc != SL_OK)
		fail_msg("'%s' rejected", s);
	if (ms != want)
		fail_msg("'%s': %lld, want %lld", s, (long long)ms,
			 (long long)want);
}

static void test_rfc3339_good(void **state)
{
	(void)state;
	expect_ms("1970-01-01T00:00:00Z", 0);
	expect_ms("1969-12-31T23:59:59.999Z", -1);
	expect_ms("2025-06-01T13:29:59Z", 1748784599000);
	expect_ms("2025-06-01T13:30:00Z", 1748784600000);
	expect_ms("2025-06-01T19:00:00+05:30", 1748784600000);
	expect_ms("2025-06-01T09:30:00-04:00", 1748784600000);
	expect_ms("2025-06-01T13:30:00+00:00", 1748784600000);
	expect_ms("2025-06-01T13:30:00-00:00", 1748784600000);
	expect_ms("2025-06-01t13:30:00z", 1748784600000);
	expect_ms("2025-06-01T13:30:00.1Z", 1748784600100);
	expect_ms("2025-06-01T13:30:00.12Z", 1748784600120);
	expect_ms("2025-06-01T13:30:00.123Z", 1748784600123);
	expect_ms("2025-06-01T13:30:00.123999999Z", 1748784600123);
	expect_ms("2025-06-01T19:00:00.5+05:30", 1748784600500);
	expect_ms("2024-02-29T00:00:00Z", 1709164800000);
	expect_ms("2000-02-29T00:00:00Z", 951782400000);
	expect_ms("1999-12-31T23:59:59Z", 946684799000);
	expect_ms("2000-01-01T05:29:59+05:30", 946684799000);
	expect_ms("2025-06-01T23:59:59-23:59", 1748908739000);
}

static void test_rfc3339_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"2025-06-01T13:29:59",	 /* no offset */
		"2025-06-01T13:29:59.5", /* no offset */
		"2025-06-01",		 /* no time */
		"2025-06-01T13:29Z",	 /* no seconds */
		"2025-06-01 13:29:59Z",	 /* space */
		"2025-6-01T13:29:59Z",	 /* one-digit month */
		"2025-06-1T13:29:59Z",	 /* one-digit day */
		"25-06-01T13:29:59Z",	 /* two-digit year */
		"2025-02-29T00:00:00Z",	 /* not a leap year */
		"1900-02-29T00:00:00Z",	 /* not a leap year */
		"2100-02-29T00:00:00Z",	 /* not a leap year */
		"2024-02-30T00:00:00Z",
		"2025-04-31T00:00:00Z",
		"2025-13-01T00:00:00Z",
		"2025-00-10T00:00:00Z",
		"2025-06-00T00:00:00Z",
		"2025-06-32T00:00:00Z",
		"2025-06-01T24:00:00Z",
		"2025-06-01T23:60:00Z",
		"2025-06-01T23:59:60Z",	  /* leap second: refused */
		"2025-06-01T13:29:59.Z",  /* empty fraction */
		"2025-06-01T13:29:59,5Z", /* comma */
		"2025-06-01T13:29:59+0530",
		"2025-06-01T13:29:59+05",
		"2025-06-01T13:29:59+24:00",
		"2025-06-01T13:29:59+05:60",
		"2025-06-01T13:29:59Z ", /* trailing space */
		" 2025-06-01T13:29:59Z", /* leading space */
		"2025-06-01T13:29:59Zjunk",
		"2025-06-01T13:29:59+05:30x",
		"2025-06-01T13:29:59UTC",
		"+2025-06-01T13:29:59Z",
		"2025-06-01T1a:29:59Z",
	};
	int64_t ms = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sl_time_parse_rfc3339(bad[i], &ms) != SL_EPARSE)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(sl_time_parse_rfc3339(NULL, &ms), SL_EPARSE);
	assert_int_equal(ms, 7);
}

static void test_rfc3339_format(void **state)
{
	static const struct {
		int64_t ms;
		const char *s;
	} v[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ -1, "1969-12-31T23:59:59.999Z" },
		{ 1748784600123, "2025-06-01T13:30:00.123Z" },
		{ 1709164800000, "2024-02-29T00:00:00.000Z" },
		{ 946684799000, "1999-12-31T23:59:59.000Z" },
		{ 253402214400000, "9999-12-31T00:00:00.000Z" },
	};
	char buf[32];
	int64_t back;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sl_time_format_rfc3339(v[i].ms, buf);
		assert_string_equal(buf, v[i].s);
		assert_int_equal(sl_time_parse_rfc3339(buf, &back), SL_OK);
		assert_int_equal(back, v[i].ms);
	}
}

/* ---- Zones from the system's zoneinfo ---------------------------------- */

static void test_kolkata(void **state)
{
	sl_tz *tz = load("Asia/Kolkata");
	char date[11];
	int y, m, d;

	(void)state;
	assert_string_equal(sl_tz_name(tz), "Asia/Kolkata");
	assert_int_equal(sl_tz_offset(tz, 1748784600), IST);
	assert_int_equal(sl_tz_offset(tz, 0), IST);
	assert_int_equal(sl_tz_offset(tz, 2208988800), IST); /* 2040 */

	/* connectors.md section 5 */
	assert_int_equal(sl_tz_next_daily(tz, 19 * 60, 1748784599), 1748784600);
	assert_int_equal(sl_tz_next_daily(tz, 19 * 60, 1748784600), 1748871000);
	assert_int_equal(sl_tz_next_daily(tz, 19 * 60, 1748784601), 1748871000);
	assert_int_equal(sl_tz_next_daily(tz, 19 * 60, 1748822399), 1748871000);

	/* 1748822399 = 2025-06-01T23:59:59Z = 05:29:59 IST on 2 June */
	sl_tz_local_date(tz, 1748822399, &y, &m, &d);
	assert_int_equal(y, 2025);
	assert_int_equal(m, 6);
	assert_int_equal(d, 2);
	sl_tz_local_date_str(tz, 1748822399, date);
	assert_string_equal(date, "2025-06-02");
	sl_tz_local_date_str(tz, 1748784599, date);
	assert_string_equal(date, "2025-06-01");
	assert_int_equal(sl_tz_local_minute(tz, 1748822399), 5 * 60 + 29);
	assert_int_equal(sl_tz_local_minute(tz, 1748784600), 19 * 60);
	assert_int_equal(sl_tz_local_to_utc(tz, 2025, 6, 1, 19 * 60),
			 1748784600);
	sl_tz_free(tz);
}

static void test_utc(void **state)
{
	const char *const names[] = { "UTC", "Etc/UTC" };

	(void)state;
	for (int i = 0; i < 2; i++) {
		sl_tz *tz = load(names[i]);
		char date[11];

		assert_int_equal(sl_tz_offset(tz, 1748784600), 0);
		assert_int_equal(sl_tz_offset(tz, -1), 0);
		/* 2025-06-01T19:00:00Z */
		assert_int_equal(sl_tz_local_to_utc(tz, 2025, 6, 1, 1140),
				 1748804400);
		assert_int_equal(sl_tz_next_daily(tz, 1140, 1748804400),
				 1748804400 + 86400);
		sl_tz_local_date_str(tz, 946684799, date);
		assert_string_equal(date, "1999-12-31");
		assert_int_equal(sl_tz_local_minute(tz, 946684799), 1439);
		sl_tz_free(tz);
	}
}

/*
 * zdump -v -c 2025,2026 America/New_York:
 *   Sun Mar  9 06:59:59 2025 UT = 01:59:59 EST   (1741503599)
 *   Sun Mar  9 07:00:00 2025 UT = 03:00:00 EDT   (1741503600)
 *   Sun Nov  2 05:59:59 2025 UT = 01:59:59 EDT   (1762063199)
 *   Sun Nov  2 06:00:00 2025 UT = 01:00:00 EST   (1762063200)
 */
static void check_new_york_2025(sl_tz *tz)
{
	/* Offsets either side of both changes. */
	assert_int_equal(sl_tz_offset(tz, 1741503599), EST);
	assert_int_equal(sl_tz_offset(tz, 1741503600), EDT);
	assert_int_equal(sl_tz_offset(tz, 1762063199), EDT);
	assert_int_equal(sl_tz_offset(tz, 1762063200), EST);
	assert_int_equal(sl_tz_local_minute(tz, 1741503599), 1 * 60 + 59);
	assert_int_equal(sl_tz_local_minute(tz, 1741503600), 3 * 60);
	assert_int_equal(sl_tz_local_minute(tz, 1762063199), 1 * 60 + 59);
	assert_int_equal(sl_tz_local_minute(tz, 1762063200), 1 * 60);

	/* 19:00 on the days around spring forward (date -u -d). */
	assert_int_equal(sl_tz_local_to_utc(tz, 2025, 3, 8, 1140),
			 1741478400); /* 2025-03-09T00:00Z, EST */
	assert_int_equal(sl_tz_local_to_utc(tz, 2025, 3, 9, 1140),
			 1741561200); /* 2025-03-09T23:00Z, EDT */
	assert_int_equal(sl_tz_local_to_utc(tz, 2025, 3, 10, 1140),
			 1741647600); /* 2025-03-10T23:00Z */
	/* and around fall back */
	assert_int_equal(sl_tz_local_to_utc(tz, 2025, 11, 1, 1140),
			 1762038000); /* 2025-11-01T23:00Z, EDT */
	assert_int_equal(sl_tz_local_to_utc(tz, 2025, 11, 2, 1140),
			 1762128000); /* 2025-11-03T00:00Z, EST */
	assert_int_equal(sl_tz_local_to_utc(tz, 2025, 11, 3, 1140),
			 1762214400); /* 2025-11-04T00:00Z */

	/* 02:30 on 9 March does not exist: the transition, 03:00 EDT. */
	assert_int_equal(sl_tz_local_to_utc(tz, 2025, 3, 9, 150), 1741503600);
	/* 01:30 on 2 November happens twice: the first, 05:30Z, in EDT. */
	assert_int_equal(sl_tz_local_to_utc(tz, 2025, 11, 2, 90), 1762061400);
	assert_int_equal(sl_tz_local_minute(tz, 1762065000), 90); /* 06:30Z */

	/* next_daily at 19:00 across both changes, strictly after. */
	assert_int_equal(sl_tz_next_daily(tz, 1140, 1741453200), /* 12:00 */
			 1741478400);
	assert_int_equal(sl_tz_next_daily(tz, 1140, 1741478400), 1741561200);
	assert_int_equal(sl_tz_next_daily(tz, 1140, 1741561199), 1741561200);
	assert_int_equal(sl_tz_next_daily(tz, 1140, 1741561200), 1741647600);
	assert_int_equal(sl_tz_next_daily(tz, 1140, 1761998400), /* 08:00 */
			 1762038000);
	assert_int_equal(sl_tz_next_daily(tz, 1140, 1762038000), 1762128000);
	assert_int_equal(sl_tz_next_daily(tz, 1140, 1762127999), 1762128000);
	assert_int_equal(sl_tz_next_daily(tz, 1140, 1762128000), 1762214400);

	/* Daily at 02:30 and 01:30 on the change days. */
	assert_int_equal(sl_tz_next_daily(tz, 150, 1741478400), 1741503600);
	assert_int_equal(sl_tz_next_daily(tz, 90, 1762038000), 1762061400);
	/* Once a day: the repeated 01:30 is not a second firing. */
	assert_int_equal(sl_tz_next_daily(tz, 90, 1762061400),
			 1762151400); /* 2025-11-03T06:30Z, EST */
}

static void test_new_york_2025(void **state)
{
	sl_tz *tz = load("America/New_York");
	char date[11];

	(void)state;
	check_new_york_2025(tz);
	sl_tz_local_date_str(tz, 1762127999, date); /* 18:59:59 EST */
	assert_string_equal(date, "2025-11-02");
	sl_tz_local_date_str(tz, 1741478399, date); /* 18:59:59 EST */
	assert_string_equal(date, "2025-03-08");
	sl_tz_free(tz);
}

/*
 * Past the last transition of any file, fat or slim, only the footer
 * rule answers.  zdump -v -c 2040,2041 America/New_York:
 *   Sun Mar 11 07:00:00 2040 UT = 03:00:00 EDT   (2215062000)
 *   Sun Nov  4 06:00:00 2040 UT = 01:00:00 EST   (2235621600)
 */
static void test_new_york_2040(void **state)
{
	sl_tz *tz = load("America/New_York");

	(void)state;
	assert_int_equal(sl_tz_offset(tz, 2215061999), EST);
	assert_int_equal(sl_tz_offset(tz, 2215062000), EDT);
	assert_int_equal(sl_tz_offset(tz, 2235621599), EDT);
	assert_int_equal(sl_tz_offset(tz, 2235621600), EST);
	/* 2040-07-04 19:00 EDT = 23:00Z */
	assert_int_equal(sl_tz_local_to_utc(tz, 2040, 7, 4, 1140), 2225055600);
	assert_int_equal(sl_tz_next_daily(tz, 1140, 2225016000), 2225055600);
	assert_int_equal(sl_tz_local_to_utc(tz, 2040, 3, 11, 150), 2215062000);
	sl_tz_free(tz);
}

/*
 * Southern hemisphere, footer only after 2037.  zdump -v -c 2041,2042
 * Australia/Sydney:
 *   Sat Apr  6 16:00:00 2041 UT = 02:00:00 AEST  (2248876800)
 *   Sat Oct  5 16:00:00 2041 UT = 03:00:00 AEDT  (2264601600)
 */
static void check_sydney_2041(sl_tz *tz)
{
	assert_int_equal(sl_tz_offset(tz, 2248876799), 39600);
	assert_int_equal(sl_tz_offset(tz, 2248876800), 36000);
	assert_int_equal(sl_tz_offset(tz, 2264601599), 36000);
	assert_int_equal(sl_tz_offset(tz, 2264601600), 39600);
	assert_int_equal(sl_tz_offset(tz, 2256282000), 36000); /* July */
	assert_int_equal(sl_tz_offset(tz, 2272089600), 39600); /* Dec */
}

static void test_sydney_2041(void **state)
{
	sl_tz *tz = load("Australia/Sydney");

	(void)state;
	check_sydney_2041(tz);
	sl_tz_free(tz);
}

static void test_unknown_zone(void **state)
{
	static const char *const names[] = {
		"Mars/Olympus_Mons",
		"America/Nowhere",
		"",
		"/etc/passwd",
		"../etc/passwd",
		"America/../UTC",
		"America//New_York",
		"America/New_York/",
		"./UTC",
		".hidden",
		"America",
		"Asia/Kolkata ",
		"UTC\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		sl_errbuf eb = { { 0 } };
		sl_tz *tz = (sl_tz *)&eb; /* must be reset to NULL */
		int rc = sl_tz_load(names[i], &tz, &eb);

		if (rc != SL_ENOTFOUND)
			fail_msg("'%s': %s", names[i], sl_errname(rc));
		assert_null(tz);
		assert_true(eb.msg[0] != '\0');
	}
	assert_int_equal(sl_tz_load(NULL, &(sl_tz *){ NULL }, NULL),
			 SL_ENOTFOUND);
}

/* ---- Hand-made TZif files ---------------------------------------------- */

struct tzif_spec {
	int version; /* 1, 2 or 3 */
	size_t ntrans;
	const int64_t *trans;
	const uint8_t *idx;
	size_t ntypes;
	const int32_t *off;
	const char *footer; /* v2+ only */
};

static void put32(FILE *f, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };

	fwrite(b, 1, 4, f);
}

static void put_header(FILE *f, char version, uint32_t timecnt,
		       uint32_t typecnt)
{
	static const char zeros[15];

	fwrite("TZif", 1, 4, f);
	fputc(version, f);
	fwrite(zeros, 1, 15, f);
	put32(f, 0); /* isutcnt */
	put32(f, 0); /* isstdcnt */
	put32(f, 0); /* leapcnt */
	put32(f, timecnt);
	put32(f, typecnt);
	put32(f, 4); /* charcnt: "LMT\0" */
}

static void put_block(FILE *f, const struct tzif_spec *s, int tsz)
{
	for (size_t i = 0; i < s->ntrans; i++) {
		if (tsz == 8)
			put32(f, (uint32_t)((uint64_t)s->trans[i] >> 32));
		put32(f, (uint32_t)s->trans[i]);
	}
	for (size_t i = 0; i < s->ntrans; i++)
		fputc(s->idx[i], f);
	for (size_t i = 0; i < s->ntypes; i++) {
		put32(f, (uint32_t)s->off[i]);
		fputc(0, f); /* isdst, unused by Sluice */
		fputc(0, f); /* abbreviation index */
	}
	fwrite("LMT", 1, 4, f);
}

static void write_tzif(const char *name, const struct tzif_spec *s)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	if (s->version == 1) {
		put_header(f, 0, s->ntrans, s->ntypes);
		put_block(f, s, 4);
	} else {
		/* A minimal v1 block, as `zic -b slim` writes. */
		static const int32_t utc = 0;
		struct tzif_spec v1 = { 1, 0, NULL, NULL, 1, &utc, NULL };

		put_header(f, (char)('0' + s->version), 0, 1);
		put_block(f, &v1, 4);
		put_header(f, (char)('0' + s->version), s->ntrans, s->ntypes);
		put_block(f, s, 8);
		fprintf(f, "\n%s\n", s->footer);
	}
	assert_int_equal(fclose(f), 0);
}

static void write_raw(const char *name, const void *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(data, 1, len, f);
	assert_int_equal(fclose(f), 0);
}

static int fixtures_setup(void **state)
{
	static const int32_t est = EST, ist = IST, aest = 36000;
	static const int32_t ny_off[] = { EST, EDT };
	static const int64_t ny_trans[] = { 1741503600, 1762063200 };
	static const uint8_t ny_idx[] = { 1, 0 };
	static const int64_t lmt_trans[] = { -2717650800 };
	static const uint8_t lmt_idx[] = { 1 };
	static const int32_t lmt_off[] = { -17762, EST };
	char dir[128];

	(void)state;
	snprintf(fixture_dir, sizeof(fixture_dir), "/tmp/sl-tz-XXXXXX");
	if (mkdtemp(fixture_dir) == NULL)
		return -1;
	snprintf(dir, sizeof(dir), "%s/Test", fixture_dir);
	if (mkdir(dir, 0700) != 0)
		return -1;

	/* Slim: no transitions at all, the footer is the whole zone. */
	write_tzif("Test/Slim_NY",
		   &(struct tzif_spec){ 2, 0, NULL, NULL, 1, &est,
					"EST5EDT,M3.2.0,M11.1.0" });
	write_tzif("Test/IST", &(struct tzif_spec){ 2, 0, NULL, NULL, 1, &ist,
						    "IST-5:30" });
	write_tzif("Test/Angle", &(struct tzif_spec){ 3, 0, NULL, NULL, 1, &ist,
						      "<+0530>-5:30" });
	write_tzif("Test/Sydney",
		   &(struct tzif_spec){ 2, 0, NULL, NULL, 1, &aest,
					"AEST-10AEDT,M10.1.0,M4.1.0/3" });
	/* LMT until 1883-11-18 17:00Z, then the footer. */
	write_tzif("Test/LMT_NY",
		   &(struct tzif_spec){ 2, 1, lmt_trans, lmt_idx, 2, lmt_off,
					"EST5EDT,M3.2.0,M11.1.0" });
	/* No footer rule: the last type holds forever. */
	write_tzif("Test/Table_only",
		   &(struct tzif_spec){ 2, 2, ny_trans, ny_idx, 2, ny_off,
					"" });
	/* Version 1: 32-bit table only. */
	write_tzif("Test/V1", &(struct tzif_spec){ 1, 2, ny_trans, ny_idx, 2,
						   ny_off, NULL });

	/* Damaged files. */
	write_tzif("Test/Bad_footer",
		   &(struct tzif_spec){ 2, 0, NULL, NULL, 1, &est, "EST5EDT" });
	write_tzif("Test/Bad_footer2",
		   &(struct tzif_spec){ 2, 0, NULL, NULL, 1, &est,
					"EST5EDT,M3.2.0,M13.1.0" });
	write_tzif("Test/Bad_footer3",
		   &(struct tzif_spec){ 2, 0, NULL, NULL, 1, &est, "E5" });
	write_raw("Test/Truncated", "TZif2\0\0\0", 8);
	write_raw("Test/Not_tzif", "# just text\n", 12);
	write_raw("Test/Empty", "", 0);
	return 0;
}

static int fixtures_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fixture_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_slim_footer_only(void **state)
{
	sl_tz *tz = NULL;

	(void)state;
	assert_int_equal(load_fixture("Test/Slim_NY", &tz), SL_OK);
	check_new_york_2025(tz);
	assert_int_equal(sl_tz_offset(tz, 2235621599), EDT);
	assert_int_equal(sl_tz_offset(tz, 2235621600), EST);
	sl_tz_free(tz);

	assert_int_equal(load_fixture("Test/Sydney", &tz), SL_OK);
	check_sydney_2041(tz);
	sl_tz_free(tz);
}

static void test_fixed_footers(void **state)
{
	static const char *const names[] = { "Test/IST", "Test/Angle" };

	(void)state;
	for (int i = 0; i < 2; i++) {
		sl_tz *tz = NULL;

		assert_int_equal(load_fixture(names[i], &tz), SL_OK);
		assert_int_equal(sl_tz_offset(tz, 1748784600), IST);
		assert_int_equal(sl_tz_offset(tz, -2000000000), IST);
		assert_int_equal(sl_tz_next_daily(tz, 1140, 1748784599),
				 1748784600);
		assert_int_equal(sl_tz_next_daily(tz, 1140, 1748822399),
				 1748871000);
		sl_tz_free(tz);
	}
}

static void test_table_and_v1(void **state)
{
	static const char *const names[] = { "Test/Table_only", "Test/V1" };
	sl_tz *tz = NULL;

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(load_fixture(names[i], &tz), SL_OK);
		/* Before the first transition: type 0. */
		assert_int_equal(sl_tz_offset(tz, 1000000000), EST);
		assert_int_equal(sl_tz_offset(tz, 1741503599), EST);
		assert_int_equal(sl_tz_offset(tz, 1741503600), EDT);
		assert_int_equal(sl_tz_offset(tz, 1762063199), EDT);
		/* After the last, without a rule: its type forever. */
		assert_int_equal(sl_tz_offset(tz, 1762063200), EST);
		assert_int_equal(sl_tz_offset(tz, 2225055600), EST);
		sl_tz_free(tz);
	}

	/* Local mean time before 1883, then the footer. */
	assert_int_equal(load_fixture("Test/LMT_NY", &tz), SL_OK);
	assert_int_equal(sl_tz_offset(tz, -2717650801), -17762);
	assert_int_equal(sl_tz_offset(tz, -2717650800), EST);
	check_new_york_2025(tz);
	sl_tz_free(tz);
}

static void test_damaged_files(void **state)
{
	static const char *const names[] = {
		"Test/Bad_footer", "Test/Bad_footer2", "Test/Bad_footer3",
		"Test/Truncated",  "Test/Not_tzif",    "Test/Empty",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		sl_tz *tz = NULL;
		int rc = load_fixture(names[i], &tz);

		if (rc != SL_EPARSE)
			fail_msg("%s: %s", names[i], sl_errname(rc));
		assert_null(tz);
	}
	assert_int_equal(load_fixture("Test", &(sl_tz *){ NULL }),
			 SL_ENOTFOUND);
	assert_int_equal(load_fixture("Test/Missing", &(sl_tz *){ NULL }),
			 SL_ENOTFOUND);
}

/* ---- Threads ----------------------------------------------------------- */

static void *thread_main(void *arg)
{
	sl_tz *tz = arg;
	intptr_t bad = 0;

	for (int i = 0; i < 2000; i++) {
		bad += sl_tz_next_daily(tz, 1140, 1741478400) != 1741561200;
		bad += sl_tz_local_to_utc(tz, 2025, 11, 2, 90) != 1762061400;
	}
	return (void *)bad;
}

static void test_shared_between_threads(void **state)
{
	sl_tz *tz = load("America/New_York");
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, tz),
				 0);
	for (int i = 0; i < 4; i++) {
		void *bad;

		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_int_equal((intptr_t)bad, 0);
	}
	sl_tz_free(tz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_days_from_civil),
		cmocka_unit_test(test_civil_walk),
		cmocka_unit_test(test_floor_div),
		cmocka_unit_test(test_rfc3339_good),
		cmocka_unit_test(test_rfc3339_bad),
		cmocka_unit_test(test_rfc3339_format),
		cmocka_unit_test(test_kolkata),
		cmocka_unit_test(test_utc),
		cmocka_unit_test(test_new_york_2025),
		cmocka_unit_test(test_new_york_2040),
		cmocka_unit_test(test_sydney_2041),
		cmocka_unit_test(test_unknown_zone),
		cmocka_unit_test(test_slim_footer_only),
		cmocka_unit_test(test_fixed_footers),
		cmocka_unit_test(test_table_and_v1),
		cmocka_unit_test(test_damaged_files),
		cmocka_unit_test(test_shared_between_threads),
	};

	/* A host zone far from every zone tested: it must not matter. */
	setenv("TZ", "America/Los_Angeles", 1);
	tzset();
	return cmocka_run_group_tests(tests, fixtures_setup, fixtures_teardown);
}
