/*
 * test_admin_cli.c — the usage errors of the admin subcommands, refused
 * before anything starts: `sluice dev-broker --brokers` outside 1..16
 * and `sluice replay` with --from not before --to exit 2 and say so in
 * the flag's own words.  No service is needed: every case stops at the
 * arguments.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "processor/cli.h"

/*
 * Run main_fn(argv) with stderr going to a temporary file; its exit
 * code, and what it wrote to stderr in out (n bytes, terminated).
 */
static int run(int (*main_fn)(int, char **), char **argv, char *out, size_t n)
{
	char path[] = "/tmp/sluice-test-cli.XXXXXX";
	int argc = 0, saved, fd, rc;
	ssize_t got;

	while (argv[argc] != NULL)
		argc++;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);

	optind = 0; /* getopt_long starts over for each call */
	rc = main_fn(argc, argv);

	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	got = pread(fd, out, n - 1, 0);
	close(fd);
	out[got > 0 ? got : 0] = '\0';
	return rc;
}

static void test_devbroker_brokers_range(void **state)
{
	static const char *const bad[] = { "-3", "0", "17", "2x", "", "99999" };
	char err[1024], want[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *argv[] = { "dev-broker", "--brokers", (char *)bad[i],
				 NULL };

		assert_int_equal(run(devbroker_main, argv, err, sizeof(err)),
				 2);
		snprintf(want, sizeof(want),
			 "--brokers must be 1..16, not '%s'", bad[i]);
		assert_non_null(strstr(err, want));
		assert_null(strstr(err, "test.mock.num.brokers"));
	}
}

static void test_replay_empty_range(void **state)
{
	/* after, the same instant (half-open: [t, t) is empty) */
	static const char *const ranges[][2] = {
		{ "2026-12-04T10:00:00Z", "2026-12-03T10:00:00Z" },
		{ "2026-12-04T10:00:00Z", "2026-12-04T10:00:00Z" },
		{ "2026-12-04T15:30:00+05:30", "2026-12-04T10:00:00Z" },
	};
	char err[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(*ranges); i++) {
		char *argv[] = { "replay",
				 "--topology",
				 "analytics",
				 "--from",
				 (char *)ranges[i][0],
				 "--to",
				 (char *)ranges[i][1],
				 NULL };

		assert_int_equal(run(replay_main, argv, err, sizeof(err)), 2);
		assert_non_null(strstr(err, "--from must be before --to"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_devbroker_brokers_range),
		cmocka_unit_test(test_replay_empty_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
