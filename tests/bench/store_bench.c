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
 * The two sides take turns, one transaction each, the order swapped
 * every batch, so other load on the machine falls on both alike; then
 * the same for gets of every key (one read transaction per B).  R
 * rounds (default 3), each in new directories under DIR, removed
 * afterwards; times add up over the rounds.  Prints one line of
 * key=value on stdout: ns per put and per get of each side, and the
 * ratios store/raw.  Exit 0, or 1 on any error.
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

typedef struct sb_store {
	st_env *env;
	MDB_dbi db;
} sb_store;

static int sb_store_open(const char *dir, sb_store *st)
{
	sl_errbuf eb = { { 0 } };
	int rc = st_env_acquire(dir, &st->env, &eb);

	if (rc == SL_OK)
		rc = st_db_open(st->env, "bench", 0, &st->db);
	if (rc != SL_OK)
		fprintf(stderr, "store_bench: store: %s %s\n", sl_errname(rc),
			eb.msg);
	return rc == SL_OK ? 0 : -1;
}

/* Puts (or gets) of entries [from, to) in one transaction. */
static int sb_store_batch(sb_store *st, const sb_data *d, size_t from,
			  size_t to, int get)
{
	st_txn t;
	MDB_val v;
	int rc = st_txn_begin(st->env, get, &t);

	for (size_t k = from; k < to && rc == SL_OK; k++)
		rc = get ? st_get(&t, st->db, d->keys[k], d->klen[k], &v)
			 : st_put(&t, st->db, d->keys[k], d->klen[k], d->value,
				  SB_VALUE_SIZE);
	if (rc == SL_OK && !get)
		rc = st_txn_commit(&t);
	else
		st_txn_abort(&t);
	if (rc != SL_OK)
		fprintf(stderr, "store_bench: store: %s\n", sl_errname(rc));
	return rc == SL_OK ? 0 : -1;
}

/* ---- raw LMDB ------------------------------------------------------ */

typedef struct sb_raw {
	MDB_env *env;
	MDB_dbi db;
} sb_raw;

static int sb_raw_open(const char *dir, sb_raw *r)
{
	MDB_txn *txn = NULL;
	int rc;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -1;
	rc = mdb_env_create(&r->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(r->env, SB_MAP_SIZE);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(r->env, 8192);
	if (rc == 0)
		rc = mdb_env_open(r->env, dir, MDB_NOMETASYNC | MDB_NOTLS,
				  0644);
	if (rc == 0)
		rc = mdb_txn_begin(r->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "s:bench:0", MDB_CREATE, &r->db);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc != 0)
		fprintf(stderr, "store_bench: raw: %s\n", mdb_strerror(rc));
	return rc == 0 ? 0 : -1;
}

static void sb_raw_close(sb_raw *r)
{
	if (r->env == NULL)
		return;
	mdb_env_sync(r->env, 1);
	mdb_env_close(r->env);
	r->env = NULL;
}

static int sb_raw_batch(sb_raw *r, const sb_data *d, size_t from, size_t to,
			int get)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc = mdb_txn_begin(r->env, NULL, get ? MDB_RDONLY : 0, &txn);

	if (rc != 0)
		goto out;
	for (size_t n = from; n < to && rc == 0; n++) {
		k.mv_size = d->klen[n];
		k.mv_data = d->keys[n];
		v.mv_size = SB_VALUE_SIZE;
		v.mv_data = (void *)d->value;
		rc = get ? mdb_get(txn, r->db, &k, &v)
			 : mdb_put(txn, r->db, &k, &v, 0);
	}
	if (rc == 0 && !get)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
out:
	if (rc != 0)
		fprintf(stderr, "store_bench: raw: %s\n", mdb_strerror(rc));
	return rc == 0 ? 0 : -1;
}

/* ---- one round ----------------------------------------------------- */

/*
 * Both sides in turns, one transaction each, the order swapped every
 * batch, so whatever else the machine does falls on both alike.  Adds
 * each side's nanoseconds to raw_ns / st_ns: [0] puts, [1] gets.
 */
static int sb_round(const sb_opts *o, const sb_data *d, int i, double raw_ns[2],
		    double st_ns[2])
{
	char rdir[4096], sdir[4096];
	sb_raw raw = { NULL, 0 };
	sb_store st = { NULL, 0 };
	int rc = -1;

	snprintf(rdir, sizeof(rdir), "%s/raw-%d", o->dir, i);
	snprintf(sdir, sizeof(sdir), "%s/store-%d", o->dir, i);
	if (sb_raw_open(rdir, &raw) != 0 || sb_store_open(sdir, &st) != 0)
		goto out;
	for (int get = 0; get <= 1; get++) {
		for (size_t b = 0; b < o->puts; b += o->batch) {
			size_t end = b + o->batch < o->puts ? b + o->batch
							    : o->puts;
			int raw_first = (b / o->batch) % 2 == 0;
			double t0, t1, t2;

			t0 = sb_now();
			if (raw_first ? sb_raw_batch(&raw, d, b, end, get)
				      : sb_store_batch(&st, d, b, end, get))
				goto out;
			t1 = sb_now();
			if (raw_first ? sb_store_batch(&st, d, b, end, get)
				      : sb_raw_batch(&raw, d, b, end, get))
				goto out;
			t2 = sb_now();
			raw_ns[get] += raw_first ? t1 - t0 : t2 - t1;
			st_ns[get] += raw_first ? t2 - t1 : t1 - t0;
		}
	}
	rc = 0;
out:
	sb_raw_close(&raw);
	st_env_release(st.env);
	sb_rmdir(rdir);
	sb_rmdir(sdir);
	return rc;
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
	double raw[2] = { 0, 0 }, st[2] = { 0, 0 }, n;
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
	for (int i = 0; i < o.rounds; i++)
		if (sb_round(&o, &d, i, raw, st) != 0)
			goto out;

	n = (double)o.puts * o.rounds;
	printf("puts=%zu batch=%zu rounds=%d raw_put_ns=%.1f "
	       "store_put_ns=%.1f put_ratio=%.3f raw_get_ns=%.1f "
	       "store_get_ns=%.1f get_ratio=%.3f\n",
	       o.puts, o.batch, o.rounds, raw[0] / n, st[0] / n, st[0] / raw[0],
	       raw[1] / n, st[1] / n, st[1] / raw[1]);
	rc = 0;
out:
	sb_data_free(&d);
	return rc;
}
