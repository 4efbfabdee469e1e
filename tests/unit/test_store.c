/*
 * test_store.c — the LMDB state layer: data and checkpoint commit and
 * abort together, environments are shared per directory, partitions
 * are separate databases, clear drops data and checkpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "state/store.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sluice-test-store-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void put_str(st_txn *t, MDB_dbi db, const char *k, const char *v)
{
	assert_int_equal(st_put(t, db, k, strlen(k), v, strlen(v)), SL_OK);
}

static void check_value(st_txn *t, MDB_dbi db, const char *k, const char *want)
{
	MDB_val v;
	int rc = st_get(t, db, k, strlen(k), &v);

	if (want == NULL) {
		assert_int_equal(rc, SL_ENOTFOUND);
		return;
	}
	assert_int_equal(rc, SL_OK);
	assert_int_equal(v.mv_size, strlen(want));
	assert_memory_equal(v.mv_data, want, v.mv_size);
}

static void test_commit_keeps_data_and_checkpoint(void **state)
{
	st_env *env;
	MDB_dbi db;
	st_txn t;
	int64_t off = 0;
	uint64_t n = 0;

	(void)state;
	assert_int_equal(st_env_acquire(dir, &env, NULL), SL_OK);
	assert_int_equal(st_db_open(env, "journey", 3, &db), SL_OK);
	assert_int_equal(st_txn_begin(env, 0, &t), SL_OK);
	put_str(&t, db, "u1", "a");
	put_str(&t, db, "u2", "b");
	assert_int_equal(st_checkpoint_put(&t, "journey", 3, 41), SL_OK);
	assert_int_equal(st_txn_commit(&t), SL_OK);

	assert_int_equal(st_txn_begin(env, 1, &t), SL_OK);
	check_value(&t, db, "u1", "a");
	check_value(&t, db, "u2", "b");
	assert_int_equal(st_checkpoint_get(&t, "journey", 3, &off), SL_OK);
	assert_int_equal(off, 41);
	assert_int_equal(st_checkpoint_get(&t, "journey", 4, &off),
			 SL_ENOTFOUND);
	assert_int_equal(st_count(&t, db, &n), SL_OK);
	assert_int_equal(n, 2);
	st_txn_abort(&t);
	st_env_release(env);
}

static void test_abort_reverts_data_and_checkpoint(void **state)
{
	st_env *env;
	MDB_dbi db;
	st_txn t;
	int64_t off = 0;

	(void)state;
	assert_int_equal(st_env_acquire(dir, &env, NULL), SL_OK);
	assert_int_equal(st_db_open(env, "journey", 0, &db), SL_OK);
	assert_int_equal(st_txn_begin(env, 0, &t), SL_OK);
	put_str(&t, db, "k", "v1");
	assert_int_equal(st_checkpoint_put(&t, "journey", 0, 10), SL_OK);
	assert_int_equal(st_txn_commit(&t), SL_OK);

	/* A second interval that crashes before its commit. */
	assert_int_equal(st_txn_begin(env, 0, &t), SL_OK);
	put_str(&t, db, "k", "v2");
	put_str(&t, db, "other", "x");
	assert_int_equal(st_del(&t, db, "k", 1), SL_OK);
	assert_int_equal(st_checkpoint_put(&t, "journey", 0, 20), SL_OK);
	st_txn_abort(&t);

	assert_int_equal(st_txn_begin(env, 1, &t), SL_OK);
	check_value(&t, db, "k", "v1");
	check_value(&t, db, "other", NULL);
	assert_int_equal(st_checkpoint_get(&t, "journey", 0, &off), SL_OK);
	assert_int_equal(off, 10);
	st_txn_abort(&t);
	st_env_release(env);
}

static void test_partitions_are_separate(void **state)
{
	st_env *env;
	MDB_dbi a, b;
	st_txn t;

	(void)state;
	assert_int_equal(st_env_acquire(dir, &env, NULL), SL_OK);
	assert_int_equal(st_db_open(env, "s", 0, &a), SL_OK);
	assert_int_equal(st_db_open(env, "s", 1, &b), SL_OK);
	assert_int_not_equal(a, b);
	assert_int_equal(st_txn_begin(env, 0, &t), SL_OK);
	put_str(&t, a, "key", "in-0");
	put_str(&t, b, "key", "in-1");
	assert_int_equal(st_txn_commit(&t), SL_OK);
	assert_int_equal(st_txn_begin(env, 1, &t), SL_OK);
	check_value(&t, a, "key", "in-0");
	check_value(&t, b, "key", "in-1");
	st_txn_abort(&t);
	st_env_release(env);
}

static void test_clear_drops_data_and_checkpoint(void **state)
{
	st_env *env;
	MDB_dbi db;
	st_txn t;
	uint64_t n = 1;
	int64_t off;

	(void)state;
	assert_int_equal(st_env_acquire(dir, &env, NULL), SL_OK);
	assert_int_equal(st_db_open(env, "c", 7, &db), SL_OK);
	assert_int_equal(st_txn_begin(env, 0, &t), SL_OK);
	put_str(&t, db, "a", "1");
	assert_int_equal(st_checkpoint_put(&t, "c", 7, 5), SL_OK);
	assert_int_equal(st_txn_commit(&t), SL_OK);
	assert_int_equal(st_txn_begin(env, 0, &t), SL_OK);
	assert_int_equal(st_clear(&t, db, "c", 7), SL_OK);
	assert_int_equal(st_txn_commit(&t), SL_OK);
	assert_int_equal(st_txn_begin(env, 1, &t), SL_OK);
	assert_int_equal(st_count(&t, db, &n), SL_OK);
	assert_int_equal(n, 0);
	assert_int_equal(st_checkpoint_get(&t, "c", 7, &off), SL_ENOTFOUND);
	st_txn_abort(&t);
	st_env_release(env);
}

static void test_env_shared_and_survives_reopen(void **state)
{
	st_env *e1, *e2;
	MDB_dbi db;
	st_txn t;

	(void)state;
	assert_int_equal(st_env_acquire(dir, &e1, NULL), SL_OK);
	assert_int_equal(st_env_acquire(dir, &e2, NULL), SL_OK);
	assert_ptr_equal(e1, e2);
	assert_int_equal(st_db_open(e1, "r", 0, &db), SL_OK);
	assert_int_equal(st_txn_begin(e1, 0, &t), SL_OK);
	put_str(&t, db, "persist", "yes");
	assert_int_equal(st_txn_commit(&t), SL_OK);
	st_env_release(e1);
	st_env_release(e2);

	/* Fully closed: a new open reads what was committed. */
	assert_int_equal(st_env_acquire(dir, &e1, NULL), SL_OK);
	assert_int_equal(st_db_open(e1, "r", 0, &db), SL_OK);
	assert_int_equal(st_txn_begin(e1, 1, &t), SL_OK);
	check_value(&t, db, "persist", "yes");
	st_txn_abort(&t);
	st_env_release(e1);
}

static void test_bad_keys_and_readonly(void **state)
{
	char big[600];
	st_env *env;
	MDB_dbi db;
	st_txn t;

	(void)state;
	memset(big, 'k', sizeof(big));
	assert_int_equal(st_env_acquire(dir, &env, NULL), SL_OK);
	assert_int_equal(st_db_open(env, "b", 0, &db), SL_OK);
	assert_int_equal(st_txn_begin(env, 0, &t), SL_OK);
	assert_int_equal(st_put(&t, db, "", 0, "v", 1), SL_EINVAL);
	assert_int_equal(st_put(&t, db, big, sizeof(big), "v", 1), SL_EINVAL);
	st_txn_abort(&t);
	assert_int_equal(st_txn_begin(env, 1, &t), SL_OK);
	assert_int_equal(st_put(&t, db, "k", 1, "v", 1), SL_ESTATE);
	st_txn_abort(&t);
	st_env_release(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_commit_keeps_data_and_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_abort_reverts_data_and_checkpoint, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_partitions_are_separate,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_clear_drops_data_and_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_env_shared_and_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_keys_and_readonly,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
