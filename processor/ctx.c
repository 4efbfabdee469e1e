/*
 * ctx.c — what steps and punctuators call: the sl_ctx_* and sl_store_*
 * functions of sl.h.  Everything runs on the app's thread, inside the
 * app's LMDB transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "processor/app_int.h"
#include "processor/log.h"

int32_t sl_ctx_partition(const sl_ctx *ctx)
{
	return ctx->task ? ctx->task->partition : -1;
}

int64_t sl_ctx_now_ms(const sl_ctx *ctx)
{
	return sl_clock_now_ms(ctx->app->clock);
}

int64_t sl_ctx_stream_time_ms(const sl_ctx *ctx)
{
	return ctx->task ? ctx->task->stream_time : INT64_MIN;
}

const sl_config *sl_ctx_config(const sl_ctx *ctx)
{
	return ctx->app->cfg;
}

const char *sl_ctx_app_id(const sl_ctx *ctx)
{
	return ctx->app->app_id;
}

int64_t sl_ctx_input_position(const sl_ctx *ctx)
{
	return ctx->task ? ctx->task->position : -1;
}

int sl_ctx_input_end(sl_ctx *ctx, int64_t *end)
{
	int64_t lo = 0;
	rd_kafka_resp_err_t err;

	if (ctx->task == NULL)
		return SL_ESTATE;
	/*
	 * Through the producer: on the consumer's connection the request
	 * waits behind its long-polling fetch (up to fetch.wait.max.ms).
	 */
	err = rd_kafka_query_watermark_offsets(ctx->app->producer,
					       ctx->app->topo->source,
					       ctx->task->partition, &lo, end,
					       5000);
	return err == RD_KAFKA_RESP_ERR_NO_ERROR ? SL_OK : SL_EKAFKA;
}

int sl_ctx_forward(sl_ctx *ctx, const void *key, size_t klen, const void *value,
		   size_t vlen, int64_t timestamp_ms)
{
	sl_record r;

	memset(&r, 0, sizeof(r));
	if (ctx->rec != NULL) {
		r.topic = ctx->rec->topic;
		r.partition = ctx->rec->partition;
		r.offset = ctx->rec->offset;
	} else {
		r.partition = sl_ctx_partition(ctx);
		r.offset = -1;
	}
	r.timestamp_ms = timestamp_ms;
	r.key.data = key;
	r.key.len = klen;
	r.value.data = value;
	r.value.len = vlen;
	return app_run_chain(ctx, ctx->step + 1, &r);
}

int sl_ctx_send(sl_ctx *ctx, const char *topic, const void *key, size_t klen,
		const void *value, size_t vlen)
{
	return app_produce(ctx->app, topic, RD_KAFKA_PARTITION_UA, key, klen,
			   value, vlen, NULL, NULL);
}

int sl_ctx_dead_letter(sl_ctx *ctx, const sl_record *rec, const char *reason)
{
	return app_dead_letter(ctx->app, rec, ctx->app->topo->name,
			       ctx->step_name, reason);
}

int sl_ctx_commit(sl_ctx *ctx)
{
	return app_commit_now(ctx->app);
}

int sl_ctx_flush(sl_ctx *ctx)
{
	sl_app *app = ctx->app;

	rd_kafka_flush(app->producer, 60000);
	if (rd_kafka_outq_len(app->producer) > 0 || app->delivery_failed)
		return SL_EKAFKA;
	return SL_OK;
}

sl_store *sl_ctx_store(sl_ctx *ctx, const char *name)
{
	sl_topology *t = ctx->app->topo;

	for (int i = 0; i < t->nstores; i++) {
		if (strcmp(t->stores[i].name, name) != 0)
			continue;
		if (!t->stores[i].global && ctx->task == NULL)
			return NULL;
		ctx->stores[i].app = ctx->app;
		ctx->stores[i].task = t->stores[i].global ? NULL : ctx->task;
		ctx->stores[i].idx = i;
		return &ctx->stores[i];
	}
	return NULL;
}

static MDB_dbi store_dbi(const sl_store *s)
{
	return s->task ? s->task->dbi[s->idx] : s->app->global_dbi[s->idx];
}

static st_txn *store_txn(sl_store *s)
{
	if (app_begin_lmdb(s->app) != SL_OK)
		return NULL;
	return &s->app->txn;
}

int sl_store_get(sl_store *s, const void *key, size_t klen, sl_bytes *val)
{
	st_txn *t = store_txn(s);
	MDB_val v;
	int rc;

	if (t == NULL)
		return SL_ESTORE;
	rc = st_get(t, store_dbi(s), key, klen, &v);
	if (rc == SL_OK) {
		val->data = v.mv_data;
		val->len = v.mv_size;
	}
	return rc;
}

/* A write goes to LMDB and to the changelog, keyed to the same partition. */
static int changelog(sl_store *s, const void *key, size_t klen, const void *val,
		     size_t vlen)
{
	sl_app *app = s->app;

	return app_produce(app, app->changelog[s->idx], s->task->partition, key,
			   klen, val, vlen, NULL,
			   (void *)(intptr_t)(s->idx + 1));
}

int sl_store_put(sl_store *s, const void *key, size_t klen, const void *val,
		 size_t vlen)
{
	st_txn *t = store_txn(s);
	int rc;

	if (t == NULL)
		return SL_ESTORE;
	if (s->task == NULL)
		return SL_ESTATE; /* global tables are read-only */
	rc = st_put(t, store_dbi(s), key, klen, val, vlen);
	if (rc == SL_OK)
		rc = changelog(s, key, klen, val, vlen);
	return rc;
}

int sl_store_delete(sl_store *s, const void *key, size_t klen)
{
	st_txn *t = store_txn(s);
	int rc;

	if (t == NULL)
		return SL_ESTORE;
	if (s->task == NULL)
		return SL_ESTATE;
	rc = st_del(t, store_dbi(s), key, klen);
	if (rc == SL_OK)
		rc = changelog(s, key, klen, NULL, 0);
	return rc;
}

int sl_store_count(sl_store *s, uint64_t *n)
{
	st_txn *t = store_txn(s);

	return t ? st_count(t, store_dbi(s), n) : SL_ESTORE;
}

int sl_store_iter_new(sl_store *s, const void *start, size_t slen,
		      sl_store_iter **out)
{
	st_txn *t = store_txn(s);
	sl_store_iter *it;
	int rc;

	if (t == NULL)
		return SL_ESTORE;
	it = calloc(1, sizeof(*it));
	if (it == NULL)
		return SL_ENOMEM;
	rc = mdb_cursor_open(t->txn, store_dbi(s), &it->cur);
	if (rc != 0) {
		free(it);
		return st_err(rc);
	}
	it->start.mv_data = (void *)start;
	it->start.mv_size = start ? slen : 0;
	*out = it;
	return SL_OK;
}

int sl_store_iter_next(sl_store_iter *it, sl_bytes *key, sl_bytes *val)
{
	MDB_val k = it->start, v;
	int rc;

	if (!it->started) {
		it->started = 1;
		rc = mdb_cursor_get(it->cur, &k, &v,
				    k.mv_size ? MDB_SET_RANGE : MDB_FIRST);
	} else {
		rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return st_err(rc);
	key->data = k.mv_data;
	key->len = k.mv_size;
	val->data = v.mv_data;
	val->len = v.mv_size;
	return 1;
}

void sl_store_iter_free(sl_store_iter *it)
{
	if (it == NULL)
		return;
	mdb_cursor_close(it->cur);
	free(it);
}
