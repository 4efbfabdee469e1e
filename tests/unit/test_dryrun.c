/*
 * test_dryrun.c — the dry-run file of a connector is its owner's only:
 * dr_open creates it 0600 and the directories it makes 0700, whatever
 * the umask; an older file readable by others becomes 0600; a directory
 * that was already there keeps its mode.  Lines are appended whole.
 * The umask is 0 during the tests, so every mode seen is the one asked
 * of mkdir(2), open(2) or fchmod(2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/dryrun.h"

static char root[64];

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/sluice-test-dr.XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	umask(0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	umask(022);
	return nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

static void test_new_dirs_and_file_private(void **state)
{
	char dir[128], path[160], buf[64];
	sl_errbuf eb = { { 0 } };
	dr_writer *w = NULL;
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/a/dry", root);
	assert_int_equal(dr_open(dir, "whatsapp", &w, &eb), SL_OK);
	snprintf(path, sizeof(path), "%s/whatsapp.jsonl", dir);
	assert_string_equal(dr_path(w), path);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(mode_of(dir), 0700);
	snprintf(path, sizeof(path), "%s/a", root);
	assert_int_equal(mode_of(path), 0700);

	assert_int_equal(dr_write_line(w, "{\"a\":1}", 7, &eb), SL_OK);
	assert_int_equal(dr_write_line(w, "{\"b\":2}", 7, &eb), SL_OK);
	dr_close(w);
	snprintf(path, sizeof(path), "%s/whatsapp.jsonl", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
	fclose(f);
	assert_string_equal(buf, "{\"a\":1}\n{\"b\":2}\n");
}

static void test_existing_dir_kept_old_file_tightened(void **state)
{
	char dir[128], path[160];
	sl_errbuf eb = { { 0 } };
	dr_writer *w = NULL;
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/shared", root);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/meta.jsonl", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mode_of(path), 0644);

	assert_int_equal(dr_open(dir, "meta", &w, &eb), SL_OK);
	dr_close(w);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(mode_of(dir), 0755);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_dirs_and_file_private),
		cmocka_unit_test(test_existing_dir_kept_old_file_tightened),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
