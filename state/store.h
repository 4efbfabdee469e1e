/*
 * store.h — LMDB-backed state: one environment per worker process,
 * one named database per (store, partition), and a meta database that
 * holds each partition's changelog checkpoint.
 *
 * The checkpoint of a (store, partition) is the offset of the last
 * changelog record the local data reflects; it is written in the same
 * LMDB transaction as the data it describes, so after any crash the
 * local store equals the changelog up to its checkpoint and a restart
 * replays only the tail.
 *
 * Threads: a write transaction belongs to the thread that began it; LMDB
 * allows one writer per environment at a time (others wait).  Read
 * transactions may be used from any thread (MDB_NOTLS).
 *
 * Lifetimes: values returned by st_get and iterators are valid until the
 * transaction ends.  st_env handles are shared per directory inside one
 * process (LMDB forbids opening an environment twice): st_env_acquire
 * returns the same handle for the same directory and counts references.
 */
#ifndef SL_STORE_H
#define SL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "processor/err.h"

typedef struct st_env st_env;

typedef struct st_txn {
	MDB_txn *txn;
	st_env *env;
	int rdonly;
	int failed; /* a failed write latches: only abort is allowed */
	uint64_t writes;
} st_txn;

/* Open (creating `dir`) or share the environment of `dir`. */
int st_env_acquire(const char *dir, st_env **out, sl_errbuf *eb);
void st_env_release(st_env *env);
MDB_env *st_env_mdb(st_env *env);

int st_txn_begin(st_env *env, int rdonly, st_txn *t);
int st_txn_commit(st_txn *t);
void st_txn_abort(st_txn *t);

/*
 * The database of one store partition, created if missing.  Opens in
 * its own short write transaction, so call it with no write transaction
 * of this thread open.  The handle stays valid for the process.
 */
int st_db_open(st_env *env, const char *store, int32_t partition, MDB_dbi *out);

int st_get(st_txn *t, MDB_dbi db, const void *k, size_t klen, MDB_val *v);
int st_put(st_txn *t, MDB_dbi db, const void *k, size_t klen, const void *v,
	   size_t vlen);
int st_del(st_txn *t, MDB_dbi db, const void *k, size_t klen);
int st_count(st_txn *t, MDB_dbi db, uint64_t *n);
/* Delete every entry of the database and its checkpoint. */
int st_clear(st_txn *t, MDB_dbi db, const char *store, int32_t partition);

/* Checkpoint of (store, partition): SL_OK, or SL_ENOTFOUND if none. */
int st_checkpoint_get(st_txn *t, const char *store, int32_t partition,
		      int64_t *offset);
int st_checkpoint_put(st_txn *t, const char *store, int32_t partition,
		      int64_t offset);

/*
 * Map an LMDB return code into the error table.  A failure's text
 * (LMDB's, or the system's, e.g. "No space left on device") is kept per
 * thread for st_last_error().
 */
int st_err(int mdb_rc);

/* The text of this thread's last LMDB failure seen by st_err; "" if none. */
const char *st_last_error(void);

#endif
