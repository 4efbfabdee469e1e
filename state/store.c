/*
 * store.c — LMDB environment sharing, transactions, checkpoints.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state/store.h"

#define ST_MAP_SIZE ((size_t)32 << 30) /* address space, not disk */
#define ST_MAX_DBS 8192

struct st_env {
	MDB_env *mdb;
	char *dir;
	int refs;
	MDB_dbi meta;
	pthread_mutex_t dbi_lock; /* mdb_dbi_open is not concurrent-safe */
	struct st_env *next;
};

static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;
static st_env *envs;

static _Thread_local char last_error[160];

const char *st_last_error(void)
{
	return last_error;
}

int st_err(int rc)
{
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		snprintf(last_error, sizeof(last_error), "%s",
			 mdb_strerror(rc));
	switch (rc) {
	case MDB_SUCCESS:
		return SL_OK;
	case MDB_NOTFOUND:
		return SL_ENOTFOUND;
	case ENOMEM:
		return SL_ENOMEM;
	case MDB_MAP_FULL:
	case MDB_DBS_FULL:
	case MDB_TXN_FULL:
		return SL_ETOOBIG;
	default:
		return SL_ESTORE;
	}
}

static int mkdir_p(const char *dir)
{
	char buf[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return (mkdir(buf, 0755) != 0 && errno != EEXIST) ? -1 : 0;
}

static int env_open(const char *dir, st_env **out, sl_errbuf *eb)
{
	st_env *e = calloc(1, sizeof(*e));
	MDB_txn *txn = NULL;
	int rc;

	if (e == NULL)
		return SL_ENOMEM;
	pthread_mutex_init(&e->dbi_lock, NULL);
	e->refs = 1;
	e->dir = strdup(dir);
	if (e->dir == NULL) {
		rc = SL_ENOMEM;
		goto out;
	}
	if (mkdir_p(dir) != 0) {
		rc = sl_errbuf_set(eb, SL_EIO, "cannot create %s: %s", dir,
				   strerror(errno));
		goto out;
	}
	rc = mdb_env_create(&e->mdb);
	if (rc == 0)
		rc = mdb_env_set_mapsize(e->mdb, ST_MAP_SIZE);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(e->mdb, ST_MAX_DBS);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(e->mdb, 256);
	/*
	 * NOMETASYNC: a machine crash may lose the last commit, which the
	 * changelog tail restores; NOTLS: read txns usable from any thread.
	 */
	if (rc == 0)
		rc = mdb_env_open(e->mdb, dir, MDB_NOMETASYNC | MDB_NOTLS,
				  0644);
	if (rc == 0)
		rc = mdb_txn_begin(e->mdb, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "__meta", MDB_CREATE, &e->meta);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		rc = sl_errbuf_set(eb, st_err(rc), "lmdb open %s: %s", dir,
				   mdb_strerror(rc));
		goto out;
	}
	*out = e;
	e = NULL;
	rc = SL_OK;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (e != NULL) {
		if (e->mdb != NULL)
			mdb_env_close(e->mdb);
		free(e->dir);
		free(e);
	}
	return rc;
}

int st_env_acquire(const char *dir, st_env **out, sl_errbuf *eb)
{
	int rc = SL_OK;

	pthread_mutex_lock(&envs_lock);
	for (st_env *e = envs; e != NULL; e = e->next) {
		if (strcmp(e->dir, dir) == 0) {
			e->refs++;
			*out = e;
			goto out;
		}
	}
	rc = env_open(dir, out, eb);
	if (rc == SL_OK) {
		(*out)->next = envs;
		envs = *out;
	}
out:
	pthread_mutex_unlock(&envs_lock);
	return rc;
}

void st_env_release(st_env *env)
{
	st_env **pp;

	if (env == NULL)
		return;
	pthread_mutex_lock(&envs_lock);
	if (--env->refs > 0) {
		pthread_mutex_unlock(&envs_lock);
		return;
	}
	for (pp = &envs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == env) {
			*pp = env->next;
			break;
		}
	}
	pthread_mutex_unlock(&envs_lock);
	mdb_env_sync(env->mdb, 1);
	mdb_env_close(env->mdb);
	pthread_mutex_destroy(&env->dbi_lock);
	free(env->dir);
	free(env);
}

MDB_env *st_env_mdb(st_env *env)
{
	return env->mdb;
}

int st_txn_begin(st_env *env, int rdonly, st_txn *t)
{
	int rc;

	memset(t, 0, sizeof(*t));
	rc = mdb_txn_begin(env->mdb, NULL, rdonly ? MDB_RDONLY : 0, &t->txn);
	if (rc != 0)
		return st_err(rc);
	t->env = env;
	t->rdonly = rdonly;
	return SL_OK;
}

int st_txn_commit(st_txn *t)
{
	int rc;

	if (t->txn == NULL)
		return SL_OK;
	if (t->failed) {
		st_txn_abort(t);
		return SL_ESTATE;
	}
	rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	return st_err(rc);
}

void st_txn_abort(st_txn *t)
{
	if (t->txn != NULL)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
}

int st_db_open(st_env *env, const char *store, int32_t partition, MDB_dbi *out)
{
	char name[256];
	MDB_txn *txn = NULL;
	int rc;

	snprintf(name, sizeof(name), "s:%s:%d", store, (int)partition);
	pthread_mutex_lock(&env->dbi_lock);
	rc = mdb_txn_begin(env->mdb, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, name, MDB_CREATE, out);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn != NULL)
		mdb_txn_abort(txn);
	pthread_mutex_unlock(&env->dbi_lock);
	return st_err(rc);
}

static int latch(st_txn *t, int rc)
{
	if (rc != 0 && rc != MDB_NOTFOUND)
		t->failed = 1;
	return st_err(rc);
}

int st_get(st_txn *t, MDB_dbi db, const void *k, size_t klen, MDB_val *v)
{
	MDB_val key = { klen, (void *)k };

	if (t->failed)
		return SL_ESTATE;
	return st_err(mdb_get(t->txn, db, &key, v));
}

int st_put(st_txn *t, MDB_dbi db, const void *k, size_t klen, const void *v,
	   size_t vlen)
{
	MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };

	if (t->failed || t->rdonly)
		return SL_ESTATE;
	if (klen == 0 || klen > 511)
		return SL_EINVAL; /* LMDB's default key size limit */
	t->writes++;
	return latch(t, mdb_put(t->txn, db, &key, &val, 0));
}

int st_del(st_txn *t, MDB_dbi db, const void *k, size_t klen)
{
	MDB_val key = { klen, (void *)k };
	int rc;

	if (t->failed || t->rdonly)
		return SL_ESTATE;
	t->writes++;
	rc = mdb_del(t->txn, db, &key, NULL);
	return rc == MDB_NOTFOUND ? SL_OK : latch(t, rc);
}

int st_count(st_txn *t, MDB_dbi db, uint64_t *n)
{
	MDB_stat st;
	int rc = mdb_stat(t->txn, db, &st);

	if (rc == 0)
		*n = st.ms_entries;
	return st_err(rc);
}

static void ckpt_key(char *buf, size_t n, const char *store, int32_t p)
{
	snprintf(buf, n, "ckpt:%s:%d", store, (int)p);
}

int st_clear(st_txn *t, MDB_dbi db, const char *store, int32_t partition)
{
	char k[256];
	MDB_val key;
	int rc;

	if (t->failed || t->rdonly)
		return SL_ESTATE;
	rc = mdb_drop(t->txn, db, 0);
	if (rc != 0)
		return latch(t, rc);
	ckpt_key(k, sizeof(k), store, partition);
	key.mv_size = strlen(k);
	key.mv_data = k;
	rc = mdb_del(t->txn, t->env->meta, &key, NULL);
	return rc == MDB_NOTFOUND ? SL_OK : latch(t, rc);
}

int st_checkpoint_get(st_txn *t, const char *store, int32_t partition,
		      int64_t *offset)
{
	char k[256];
	MDB_val key, val;
	int rc;

	ckpt_key(k, sizeof(k), store, partition);
	key.mv_size = strlen(k);
	key.mv_data = k;
	rc = mdb_get(t->txn, t->env->meta, &key, &val);
	if (rc != 0)
		return st_err(rc);
	if (val.mv_size != sizeof(*offset))
		return SL_ESTORE;
	memcpy(offset, val.mv_data, sizeof(*offset));
	return SL_OK;
}

int st_checkpoint_put(st_txn *t, const char *store, int32_t partition,
		      int64_t offset)
{
	char k[256];
	MDB_val key, val = { sizeof(offset), &offset };

	if (t->failed || t->rdonly)
		return SL_ESTATE;
	ckpt_key(k, sizeof(k), store, partition);
	key.mv_size = strlen(k);
	key.mv_data = k;
	return latch(t, mdb_put(t->txn, t->env->meta, &key, &val, 0));
}
