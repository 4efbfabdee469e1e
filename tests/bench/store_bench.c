/*
 * store_bench.c — the store layer (state/store.h) against raw LMDB
 * (SPEC section 9: "store layer <= 1.5x the cost of raw LMDB puts").
 *
 *	store_bench --dir DIR [--puts N] [--batch B] [--rounds R]
 *
 * Both sides write the same N journey-like entries (key "u-1-<n>", a
 * 56-byte value) in the same shuffled order, committing every B puts
 * (default 10,000), into a fresh environment with the flags and map
 * size state/store.c uses (MDB_NOMETASYNC | MDB_NOTLS, 32 GiB):
 *
 *	store:  st_env_acquire, st_db_open, st_txn_begin, st_put,
 *		st_txn_commit
 *	raw:    mdb_env_open, mdb_dbi_open, mdb_txn_begin, mdb_put,
 *		mdb_txn_commit
 *
 * Each side runs R rounds (default 3, alternating, each in a new
 * directory under DIR, removed afterwards); the best round counts.
 * Then the same for gets of every key (one read transaction per B).
 * Prints one line of key=value on stdout: ns per put and per get of
 * each side, and the ratios store/raw.  Exit 0, or 1 on any error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "state/store.h"

#define SB_VALUE_SIZE 56
#define SB_MAP_SIZE ((size_t)32 << 30) /* as state/store.c */

typedef struct sb_opts {
	const char *dir;
	size_t puts;
	size_t batch;
	int rounds;
} sb_opts;

typedef struct sb_data {
	char (*keys)[24];
	size_t *klen;
	unsigned char value[SB_VALUE_SIZE];
} sb_data;

typedef struct sb_result {
	double put_ns, get_ns;
} sb_result;

static double sb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t sb_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Keys u-1-0 .. u-1-(n-1) in a shuffled order; one value for all. */
static int sb_data_make(sb_data *d, size_t n)
{
	uint64_t s = 42;
	size_t *order = malloc(n * sizeof(*order));

	d->keys = malloc(n * sizeof(*d->keys));
	d->klen = malloc(n * sizeof(*d->klen));
	if (order == NULL || d->keys == NULL || d->klen == NULL) {
		free(order);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(sb_rand(&s) % (i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < n; i++)
		d->klen[i] = (size_t)snprintf(d->keys[i], sizeof(d->keys[i]),
					      "u-1-%zu", order[i]);
	for (size_t i = 0; i < SB_VALUE_SIZE; i++)
		d->value[i] = (unsigned char)(i * 7);
	free(order);
	return 0;
}

static void sb_data_free(sb_data *d)
{
	free(d->keys);
	free(d->klen);
}

/* rm -rf of one environment directory (data.mdb, lock.mdb). */
static void sb_rmdir(const char *dir)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

/* ---- through state/store.h ----------------------------------------- */

static int sb_store_round(const sb_opts *o, const sb_data *d, const char *dir,
			  sb_result *r)
{
	sl_errbuf eb = { { 0 } };
	st_env *env = NULL;
	st_txn t = { 0 };
	MDB_dbi db;
	MDB_val v;
	double t0;
	int rc;

	rc = st_env_acquire(dir, &env, &eb);
	if (rc == SL_OK)
		rc = st_db_open(env, "bench", 0, &db);
	if (rc != SL_OK)
		goto out;

	t0 = sb_now();
	for (size_t i = 0; i < o->puts && rc == SL_OK; i += o->batch) {
		size_t end = i + o->batch < o->puts ? i + o->batch : o->puts;

		rc = st_txn_begin(env, 0, &t);
		for (size_t k = i; k < end && rc == SL_OK; k++)
			rc = st_put(&t, db, d->keys[k], d->klen[k], d->value,
				    SB_VALUE_SIZE);
		if (rc == SL_OK)
			rc = st_txn_commit(&t);
		else
			st_txn_abort(&t);
	}
	r->put_ns = (sb_now() - t0) / (double)o->puts;
	if (rc != SL_OK)
		goto out;

	t0 = sb_now();
	for (size_t i = 0; i < o->puts && rc == SL_OK; i += o->batch) {
		size_t end = i + o->batch < o->puts ? i + o->batch : o->puts;

		rc = st_txn_begin(env, 1, &t);
		for (size_t k = i; k < end && rc == SL_OK; k++)
			rc = st_get(&t, db, d->keys[k], d->klen[k], &v);
		st_txn_abort(&t);
	}
	r->get_ns = (sb_now() - t0) / (double)o->puts;
out:
	if (rc != SL_OK)
		fprintf(stderr, "store_bench: store: %s %s\n", sl_errname(rc),
			eb.msg);
	st_env_release(env);
	return rc == SL_OK ? 0 : -1;
}

/* ---- raw LMDB ------------------------------------------------------ */

static int sb_raw_open(const char *dir, MDB_env **env, MDB_dbi *db)
{
	MDB_txn *txn = NULL;
	int rc;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return errno;
	rc = mdb_env_create(env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(*env, SB_MAP_SIZE);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(*env, 8192);
	if (rc == 0)
		rc = mdb_env_open(*env, dir, MDB_NOMETASYNC | MDB_NOTLS, 0644);
	if (rc == 0)
		rc = mdb_txn_begin(*env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "s:bench:0", MDB_CREATE, db);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

static int sb_raw_round(const sb_opts *o, const sb_data *d, const char *dir,
			sb_result *r)
{
	MDB_env *env = NULL;
	MDB_txn *txn;
	MDB_dbi db;
	MDB_val k, v;
	double t0;
	int rc;

	rc = sb_raw_open(dir, &env, &db);
	if (rc != 0)
		goto out;

	t0 = sb_now();
	for (size_t i = 0; i < o->puts && rc == 0; i += o->batch) {
		size_t end = i + o->batch < o->puts ? i + o->batch : o->puts;

		rc = mdb_txn_begin(env, NULL, 0, &txn);
		for (size_t n = i; n < end && rc == 0; n++) {
			k.mv_size = d->klen[n];
			k.mv_data = d->keys[n];
			v.mv_size = SB_VALUE_SIZE;
			v.mv_data = (void *)d->value;
			rc = mdb_put(txn, db, &k, &v, 0);
		}
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	r->put_ns = (sb_now() - t0) / (double)o->puts;
	if (rc != 0)
		goto out;

	t0 = sb_now();
	for (size_t i = 0; i < o->puts && rc == 0; i += o->batch) {
		size_t end = i + o->batch < o->puts ? i + o->batch : o->puts;

		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
		for (size_t n = i; n < end && rc == 0; n++) {
			k.mv_size = d->klen[n];
			k.mv_data = d->keys[n];
			rc = mdb_get(txn, db, &k, &v);
		}
		mdb_txn_abort(txn);
	}
	r->get_ns = (sb_now() - t0) / (double)o->puts;
out:
	if (rc != 0)
		fprintf(stderr, "store_bench: raw: %s\n", mdb_strerror(rc));
	if (env != NULL) {
		mdb_env_sync(env, 1);
		mdb_env_close(env);
	}
	return rc == 0 ? 0 : -1;
}

/* ---- the run ------------------------------------------------------- */

static void sb_best(sb_result *best, const sb_result *r)
{
	if (best->put_ns == 0 || r->put_ns < best->put_ns)
		best->put_ns = r->put_ns;
	if (best->get_ns == 0 || r->get_ns < best->get_ns)
		best->get_ns = r->get_ns;
}

static int sb_args(int argc, char **argv, sb_opts *o)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "puts", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "rounds", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->dir = NULL;
	o->puts = 1000000;
	o->batch = 10000;
	o->rounds = 3;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->dir = optarg;
			break;
		case 'n':
			o->puts = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			o->batch = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			o->rounds = atoi(optarg);
			break;
		default:
			return -1;
		}
	}
	return o->dir && o->puts && o->batch && o->rounds > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	sb_opts o;
	sb_data d = { 0 };
	sb_result st = { 0, 0 }, raw = { 0, 0 };
	char dir[4096];
	int rc = 1;

	if (sb_args(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: store_bench --dir DIR [--puts N] "
				"[--batch B] [--rounds R]\n");
		return 2;
	}
	if (mkdir(o.dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "store_bench: %s: %s\n", o.dir,
			strerror(errno));
		return 1;
	}
	if (sb_data_make(&d, o.puts) != 0)
		goto out;

	for (int i = 0; i < o.rounds; i++) {
		sb_result r = { 0, 0 };

		snprintf(dir, sizeof(dir), "%s/raw-%d", o.dir, i);
		if (sb_raw_round(&o, &d, dir, &r) != 0)
			goto out;
		sb_rmdir(dir);
		sb_best(&raw, &r);

		snprintf(dir, sizeof(dir), "%s/store-%d", o.dir, i);
		if (sb_store_round(&o, &d, dir, &r) != 0)
			goto out;
		sb_rmdir(dir);
		sb_best(&st, &r);
	}
	printf("puts=%zu batch=%zu rounds=%d raw_put_ns=%.1f "
	       "store_put_ns=%.1f put_ratio=%.3f raw_get_ns=%.1f "
	       "store_get_ns=%.1f get_ratio=%.3f\n",
	       o.puts, o.batch, o.rounds, raw.put_ns, st.put_ns,
	       st.put_ns / raw.put_ns, raw.get_ns, st.get_ns,
	       st.get_ns / raw.get_ns);
	rc = 0;
out:
	sb_data_free(&d);
	return rc;
}
