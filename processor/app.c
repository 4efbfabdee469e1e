/*
 * app.c — the runtime: one consumer group member running one topology.
 *
 * One thread runs everything of an app: polling input, dispatching to
 * tasks, restoring, punctuating and committing, so a task's state is
 * never touched by two threads.  The task state machine and the commit
 * sequence are drawn in app_int.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "processor/app_int.h"
#include "processor/log.h"
#include "processor/topics.h"

#define POLL_BATCH 1000
#define TXN_MAX_WRITES 200000
#define SINK_MAX_PENDING 200000
#define DL_LOG_MAX 20
#define DL_LOG_WINDOW_MS 10000

static void dl_log_roll(sl_app *app);
#define FLUSH_TIMEOUT_MS 60000
#define PUNCT_BUDGET_MS 10

static const char *COMP = "app";

static int64_t now_mono(void)
{
	return sl_mono_ms();
}

/* ---- delivery reports -------------------------------------------- */

/*
 * The opaque of a produced message is (store index + 1) for changelog
 * records, 0 for everything else; acknowledged changelog offsets become
 * the checkpoints at the next commit.
 */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
			void *opaque)
{
	sl_app *app = opaque;
	intptr_t store = (intptr_t)m->_private;

	(void)rk;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (!app->delivery_failed)
			snprintf(app->delivery_error,
				 sizeof(app->delivery_error), "%s: %s",
				 rd_kafka_topic_name(m->rkt),
				 rd_kafka_err2str(m->err));
		app->delivery_failed = 1;
		return;
	}
	if (store > 0 && m->partition >= 0 && m->partition < app->ntasks) {
		int64_t *acked = &app->clog_acked[store - 1][m->partition];

		if (m->offset > *acked)
			*acked = m->offset;
	}
}

int app_produce(sl_app *app, const char *topic, int32_t partition,
		const void *key, size_t klen, const void *val, size_t vlen,
		rd_kafka_headers_t *hdrs, void *opaque)
{
	rd_kafka_resp_err_t err;
	int rc = app_ensure_txn(app);

	if (rc != SL_OK) {
		if (hdrs != NULL)
			rd_kafka_headers_destroy(hdrs);
		return rc;
	}
	for (;;) {
		if (hdrs != NULL)
			err = rd_kafka_producev(
				app->producer, RD_KAFKA_V_TOPIC(topic),
				RD_KAFKA_V_PARTITION(partition),
				RD_KAFKA_V_KEY((void *)key, klen),
				RD_KAFKA_V_VALUE((void *)val, vlen),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_OPAQUE(opaque),
				RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
		else
			err = rd_kafka_producev(
				app->producer, RD_KAFKA_V_TOPIC(topic),
				RD_KAFKA_V_PARTITION(partition),
				RD_KAFKA_V_KEY((void *)key, klen),
				RD_KAFKA_V_VALUE((void *)val, vlen),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(app->producer, 50);
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (hdrs != NULL)
			rd_kafka_headers_destroy(hdrs);
		SL_ERROR(COMP, "produce failed topic=%s err=%s", topic,
			 rd_kafka_err2str(err));
		return SL_EKAFKA;
	}
	atomic_fetch_add_explicit(&app->stats.produced, 1,
				  memory_order_relaxed);
	app->dirty = 1;
	return SL_OK;
}

/* ---- transactions ------------------------------------------------ */

int app_begin_lmdb(sl_app *app)
{
	int rc;

	if (app->txn.txn != NULL)
		return SL_OK;
	rc = st_txn_begin(app->env, 0, &app->txn);
	if (rc != SL_OK)
		SL_ERROR(COMP, "lmdb begin failed err=%s", sl_errname(rc));
	return rc;
}

/* Open the LMDB transaction and, under exactly-once, the Kafka one. */
int app_ensure_txn(sl_app *app)
{
	rd_kafka_error_t *err;
	int rc = app_begin_lmdb(app);

	if (rc != SL_OK || !app->eos || app->in_kafka_txn)
		return rc;
	err = rd_kafka_begin_transaction(app->producer);
	if (err != NULL) {
		SL_ERROR(COMP, "begin transaction failed err=%s",
			 rd_kafka_error_string(err));
		if (rd_kafka_error_is_fatal(err))
			app->fatal = 1;
		rd_kafka_error_destroy(err);
		return SL_EKAFKA;
	}
	app->in_kafka_txn = 1;
	return SL_OK;
}

static rd_kafka_topic_partition_list_t *progress_offsets(sl_app *app)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(app->ntasks);

	for (int i = 0; i < app->ntasks; i++) {
		struct task *t = &app->tasks[i];

		if (t->state != TASK_RUNNING || t->position <= t->committed)
			continue;
		rd_kafka_topic_partition_list_add(l, app->topo->source, i)
			->offset = t->position;
	}
	return l;
}

static void mark_committed(sl_app *app)
{
	for (int i = 0; i < app->ntasks; i++)
		if (app->tasks[i].state == TASK_RUNNING)
			app->tasks[i].committed = app->tasks[i].position;
}

static int write_checkpoints(sl_app *app)
{
	int rc = SL_OK;

	for (int s = 0; s < app->topo->nstores && rc == SL_OK; s++) {
		if (app->changelog[s] == NULL)
			continue;
		for (int p = 0; p < app->ntasks && rc == SL_OK; p++) {
			int64_t off = app->clog_acked[s][p];

			if (off < 0 || app->tasks[p].state != TASK_RUNNING)
				continue;
			rc = st_checkpoint_put(
				&app->txn, app->topo->stores[s].name, p, off);
		}
	}
	return rc;
}

/*
 * Rewind every running task to its last committed input offset after a
 * failed commit: the LMDB transaction was aborted, so the stores are
 * back at that point too.
 */
static void rewind_tasks(sl_app *app)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(app->ntasks);
	rd_kafka_error_t *err;

	for (int i = 0; i < app->ntasks; i++) {
		struct task *t = &app->tasks[i];

		if (t->state != TASK_RUNNING)
			continue;
		t->position = t->committed;
		for (int k = 0; k < app->topo->npuncts; k++)
			t->punct[k].in_slice = 0;
		/* The records are processed again: so are their rows. */
		for (int s = 0; s < app->topo->nsinks; s++)
			if (app->topo->sinks[s].ops != NULL)
				app->topo->sinks[s].ops->discard(
					app->topo->sinks[s].self, i);
		if (t->committed >= 0)
			rd_kafka_topic_partition_list_add(l, app->topo->source,
							  i)
				->offset = t->committed;
	}
	if (l->cnt > 0) {
		err = rd_kafka_seek_partitions(app->consumer, l, 10000);
		if (err != NULL) {
			SL_ERROR(COMP, "rewind failed err=%s",
				 rd_kafka_error_string(err));
			rd_kafka_error_destroy(err);
		}
	}
	rd_kafka_topic_partition_list_destroy(l);
	SL_WARN(COMP, "tasks rewound to last commit app=%s", app->group_id);
}

static void abort_all(sl_app *app, const char *why)
{
	SL_ERROR(COMP, "commit failed, aborting app=%s reason=%s",
		 app->group_id, why);
	atomic_fetch_add_explicit(&app->stats.commit_failures, 1,
				  memory_order_relaxed);
	st_txn_abort(&app->txn);
	if (app->in_kafka_txn) {
		rd_kafka_error_t *err =
			rd_kafka_abort_transaction(app->producer, 30000);

		if (err != NULL) {
			if (rd_kafka_error_is_fatal(err))
				app->fatal = 1;
			rd_kafka_error_destroy(err);
		}
		app->in_kafka_txn = 0;
	} else {
		rd_kafka_purge(app->producer, RD_KAFKA_PURGE_F_QUEUE);
		rd_kafka_flush(app->producer, 5000);
	}
	for (int s = 0; s < app->topo->nstores; s++)
		if (app->clog_acked[s] != NULL)
			for (int p = 0; p < app->ntasks; p++)
				app->clog_acked[s][p] = -1;
	app->delivery_failed = 0;
	rewind_tasks(app);
}

static void sinks_pause(sl_app *app, int pause)
{
	rd_kafka_topic_partition_list_t *l;

	if (app->paused_for_sinks == pause)
		return;
	l = rd_kafka_topic_partition_list_new(app->ntasks);
	for (int i = 0; i < app->ntasks; i++)
		if (app->tasks[i].state == TASK_RUNNING)
			rd_kafka_topic_partition_list_add(l, app->topo->source,
							  i);
	if (pause)
		rd_kafka_pause_partitions(app->consumer, l);
	else
		rd_kafka_resume_partitions(app->consumer, l);
	rd_kafka_topic_partition_list_destroy(l);
	app->paused_for_sinks = pause;
	SL_WARN(COMP, "%s input for sinks app=%s",
		pause ? "pausing" : "resuming", app->group_id);
}

/* Flush every connector sink; SL_OK when all accepted their batches. */
static int flush_sinks(sl_app *app, int force)
{
	int64_t now = now_mono();
	int failed = 0;

	if (app->sinks_failing && !force && now < app->sink_retry_ms)
		return SL_ETRANSIENT;
	for (int i = 0; i < app->topo->nsinks; i++) {
		struct topo_sink *s = &app->topo->sinks[i];
		int rc;

		if (s->ops == NULL || s->ops->pending(s->self) == 0)
			continue;
		atomic_fetch_add_explicit(&app->stats.sink_flushes, 1,
					  memory_order_relaxed);
		rc = s->ops->flush(s->self, &app->io);
		if (rc != SL_OK) {
			atomic_fetch_add_explicit(&app->stats.sink_errors, 1,
						  memory_order_relaxed);
			SL_WARN(COMP, "sink flush failed sink=%s err=%s",
				s->ops->name, sl_errname(rc));
			failed = 1;
		}
	}
	if (!failed) {
		if (app->sinks_failing)
			SL_INFO(COMP, "sinks recovered app=%s", app->group_id);
		app->sinks_failing = 0;
		app->sink_backoff_ms = 0;
		sinks_pause(app, 0);
		return SL_OK;
	}
	app->sinks_failing = 1;
	app->sink_backoff_ms = app->sink_backoff_ms ? app->sink_backoff_ms * 2
						    : 500;
	if (app->sink_backoff_ms > 30000)
		app->sink_backoff_ms = 30000;
	/* jitter: up to a quarter of the backoff */
	app->sink_retry_ms = now + app->sink_backoff_ms +
			     rand() % (app->sink_backoff_ms / 4 + 1);
	return SL_ETRANSIENT;
}

static size_t sinks_pending(sl_app *app)
{
	size_t n = 0;

	for (int i = 0; i < app->topo->nsinks; i++)
		if (app->topo->sinks[i].ops != NULL)
			n += app->topo->sinks[i].ops->pending(
				app->topo->sinks[i].self);
	return n;
}

/*
 * An LMDB failure in words: "SL_ESTORE (No space left on device)
 * state.dir=...", with the reason st_err() kept for this thread.
 */
static const char *store_why(sl_app *app, int rc, char *buf, size_t n)
{
	const char *text = st_last_error();

	if (text[0] != '\0' && rc != SL_ESTATE)
		snprintf(buf, n, "%s (%s) state.dir=%s", sl_errname(rc), text,
			 sl_config_get(app->cfg, "state.dir"));
	else
		snprintf(buf, n, "%s state.dir=%s", sl_errname(rc),
			 sl_config_get(app->cfg, "state.dir"));
	return buf;
}

static int commit_alos(sl_app *app, int force)
{
	rd_kafka_topic_partition_list_t *offs;
	rd_kafka_resp_err_t err;
	int sinks_ok, rc;
	char why[400];

	rd_kafka_flush(app->producer, FLUSH_TIMEOUT_MS);
	if (rd_kafka_outq_len(app->producer) > 0 || app->delivery_failed) {
		abort_all(app, app->delivery_failed ? app->delivery_error
						    : "producer flush timeout");
		return SL_EKAFKA;
	}
	sinks_ok = flush_sinks(app, force) == SL_OK;
	rd_kafka_flush(app->producer, FLUSH_TIMEOUT_MS); /* dead letters */
	if (app->delivery_failed) {
		abort_all(app, app->delivery_error);
		return SL_EKAFKA;
	}
	rc = write_checkpoints(app);
	if (rc == SL_OK)
		rc = st_txn_commit(&app->txn);
	if (rc != SL_OK) {
		abort_all(app, store_why(app, rc, why, sizeof(why)));
		return rc;
	}
	if (!sinks_ok)
		return SL_ETRANSIENT;
	offs = progress_offsets(app);
	if (offs->cnt > 0) {
		err = rd_kafka_commit(app->consumer, offs, 0);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
			SL_WARN(COMP, "offset commit failed app=%s err=%s",
				app->group_id, rd_kafka_err2str(err));
		else
			mark_committed(app);
	}
	rd_kafka_topic_partition_list_destroy(offs);
	return SL_OK;
}

static int commit_eos(sl_app *app, int force)
{
	rd_kafka_topic_partition_list_t *offs;
	rd_kafka_error_t *err = NULL;
	int rc;

	/*
	 * The sinks first: the offsets may not commit past a row a sink
	 * has not delivered.  On failure the transaction is aborted and
	 * the input paused until the retry time (see app_int.h).
	 */
	if (sinks_pending(app) > 0 && flush_sinks(app, force) != SL_OK) {
		abort_all(app, "a connector sink failed; retried later");
		sinks_pause(app, 1);
		return SL_ETRANSIENT;
	}
	offs = progress_offsets(app);
	if (!app->in_kafka_txn) {
		rd_kafka_topic_partition_list_destroy(offs);
		return st_txn_commit(&app->txn);
	}
	if (offs->cnt > 0) {
		/* Current generation and member id, or the broker fences us. */
		rd_kafka_consumer_group_metadata_t *md =
			rd_kafka_consumer_group_metadata(app->consumer);

		err = rd_kafka_send_offsets_to_transaction(app->producer, offs,
							   md, 30000);
		rd_kafka_consumer_group_metadata_destroy(md);
	}
	rd_kafka_topic_partition_list_destroy(offs);
	if (err == NULL)
		err = rd_kafka_commit_transaction(app->producer, 60000);
	if (err != NULL) {
		char why[256];

		snprintf(why, sizeof(why), "%s", rd_kafka_error_string(err));
		if (rd_kafka_error_is_fatal(err))
			app->fatal = 1;
		rd_kafka_error_destroy(err);
		abort_all(app, why);
		return SL_EKAFKA;
	}
	app->in_kafka_txn = 0;
	mark_committed(app);

	/* The Kafka transaction holds the truth; LMDB follows it. */
	rc = write_checkpoints(app);
	if (rc == SL_OK)
		rc = st_txn_commit(&app->txn);
	if (rc != SL_OK) {
		char why[400];

		st_txn_abort(&app->txn);
		SL_ERROR(COMP,
			 "lmdb commit after kafka commit failed err=%s; "
			 "stores will restore the tail",
			 store_why(app, rc, why, sizeof(why)));
	}
	return rc;
}

/* Commit the app's progress: see the sequence in app_int.h. */
static int app_commit(sl_app *app, int force)
{
	int64_t t0 = now_mono(), us;
	int rc;

	if (!app->dirty && app->txn.txn == NULL && !app->in_kafka_txn &&
	    sinks_pending(app) == 0) {
		app->last_commit_ms = now_mono();
		app_publish(app);
		return SL_OK;
	}
	dl_log_roll(app); /* says what it kept quiet, once it is over */
	rc = app->eos ? commit_eos(app, force) : commit_alos(app, force);
	app_publish(app);
	app->dirty = 0;
	app->last_commit_ms = now_mono();
	us = (app->last_commit_ms - t0) * 1000;
	atomic_fetch_add_explicit(&app->stats.commits, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&app->stats.commit_us_total, us,
				  memory_order_relaxed);
	if (us > atomic_load(&app->stats.commit_us_max))
		atomic_store(&app->stats.commit_us_max, us);
	return rc;
}

int app_commit_now(sl_app *app)
{
	int rc;

	app->dirty = 1;
	rc = app_commit(app, 1);
	/* A sink that holds its batch does not undo what LMDB committed. */
	return rc == SL_ETRANSIENT ? SL_OK : rc;
}

/* ---- record dispatch --------------------------------------------- */

static int sink_record(sl_app *app, struct topo_sink *s, const sl_record *r)
{
	if (s->topic != NULL)
		return app_produce(app, s->topic, RD_KAFKA_PARTITION_UA,
				   r->key.data, r->key.len, r->value.data,
				   r->value.len, NULL, NULL);
	return s->ops->write(s->self, r);
}

int app_run_chain(sl_ctx *ctx, int from, const sl_record *rec)
{
	sl_app *app = ctx->app;
	int rc = SL_OK;

	if (from < app->topo->nsteps) {
		struct topo_step *s = &app->topo->steps[from];
		int saved = ctx->step;

		ctx->step = from;
		ctx->step_name = s->name;
		rc = s->fn(ctx, rec, s->ud);
		ctx->step = saved;
		return rc;
	}
	for (int i = 0; i < app->topo->nsinks && rc == SL_OK; i++)
		rc = sink_record(app, &app->topo->sinks[i], rec);
	return rc;
}

/*
 * One WARN line per dead letter, up to DL_LOG_MAX in a DL_LOG_WINDOW_MS
 * window; past that they are counted and the count is said once the
 * window is over, so a topic full of bad records does not fill the log
 * (the dead-letter topic and sluice_dead_letters_total have them all).
 */
static void dl_log_roll(sl_app *app)
{
	int64_t now = now_mono();

	if (now - app->dl_window_start < DL_LOG_WINDOW_MS)
		return;
	if (app->dl_quiet > 0)
		SL_WARN(COMP,
			"%lld more dead letters not logged app=%s topic=%s "
			"(all are on it)",
			app->dl_quiet, app->group_id, app->dlq_topic);
	app->dl_window_start = now;
	app->dl_logged = 0;
	app->dl_quiet = 0;
}

static void log_dead_letter(sl_app *app, const sl_record *rec,
			    const char *reason)
{
	dl_log_roll(app);
	if (app->dl_logged >= DL_LOG_MAX) {
		app->dl_quiet++;
		return;
	}
	app->dl_logged++;
	SL_WARN(COMP,
		"dead letter topic=%s partition=%d offset=%" PRId64
		" reason=\"%s\"%s",
		rec->topic ? rec->topic : "-", (int)rec->partition, rec->offset,
		reason,
		app->dl_logged == DL_LOG_MAX ? " (more in the next 10 s are "
					       "counted, not logged)"
					     : "");
}

int app_dead_letter(sl_app *app, const sl_record *rec, const char *topology,
		    const char *step, const char *reason)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(6);
	char part[16], off[24];

	snprintf(part, sizeof(part), "%d", (int)rec->partition);
	snprintf(off, sizeof(off), "%" PRId64, rec->offset);
	rd_kafka_header_add(h, "sluice.reason", -1, reason, -1);
	rd_kafka_header_add(h, "sluice.topic", -1, rec->topic ? rec->topic : "",
			    -1);
	rd_kafka_header_add(h, "sluice.partition", -1, part, -1);
	rd_kafka_header_add(h, "sluice.offset", -1, off, -1);
	rd_kafka_header_add(h, "sluice.topology", -1, topology, -1);
	rd_kafka_header_add(h, "sluice.step", -1, step ? step : "", -1);
	atomic_fetch_add_explicit(&app->stats.dead_letters, 1,
				  memory_order_relaxed);
	log_dead_letter(app, rec, reason);
	return app_produce(app, app->dlq_topic, RD_KAFKA_PARTITION_UA,
			   rec->key.data, rec->key.len, rec->value.data,
			   rec->value.len, h, NULL);
}

static void process_message(sl_app *app, rd_kafka_message_t *m)
{
	struct task *t;
	sl_record rec;
	sl_ctx ctx;
	rd_kafka_timestamp_type_t tstype;
	int rc;

	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			SL_WARN(COMP, "consumer error app=%s err=%s",
				app->group_id, rd_kafka_message_errstr(m));
		return;
	}
	if (m->partition < 0 || m->partition >= app->ntasks)
		return;
	t = &app->tasks[m->partition];
	if (t->state != TASK_RUNNING || m->offset < t->position)
		return; /* not ours any more, or already done before a rewind */
	if (app->ranged && m->offset >= t->range_end)
		return; /* past the replay's range */

	memset(&rec, 0, sizeof(rec));
	rec.topic = app->topo->source;
	rec.partition = m->partition;
	rec.offset = m->offset;
	rec.timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
	rec.key.data = m->key;
	rec.key.len = m->key_len;
	rec.value.data = m->payload;
	rec.value.len = m->len;
	if (rec.timestamp_ms > t->stream_time)
		t->stream_time = rec.timestamp_ms;

	memset(&ctx, 0, sizeof(ctx));
	ctx.app = app;
	ctx.task = t;
	ctx.rec = &rec;
	if (app_ensure_txn(app) != SL_OK)
		return; /* not processed: position stays, retried */
	rc = app_run_chain(&ctx, 0, &rec);
	if (rc != SL_OK) {
		char reason[128];

		snprintf(reason, sizeof(reason), "processing error: %s",
			 sl_errname(rc));
		app_dead_letter(app, &rec, app->topo->name,
				ctx.step_name ? ctx.step_name : "", reason);
	}
	t->position = m->offset + 1;
	if (app->ranged)
		atomic_fetch_add(&app->range_done, 1);
	app->dirty = 1;
	atomic_fetch_add_explicit(&app->stats.records, 1, memory_order_relaxed);
}

/* ---- tasks and rebalances ---------------------------------------- */

/* The offset of the first record at or after ms (the end if none). */
static int64_t offset_at(sl_app *app, int32_t p, int64_t ms, int64_t hi)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);
	int64_t off = hi;

	rd_kafka_topic_partition_list_add(l, app->topo->source, p)->offset = ms;
	if (rd_kafka_offsets_for_times(app->consumer, l, 10000) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR &&
	    l->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    l->elems[0].offset >= 0)
		off = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	return off;
}

/* Replay: where a partition's range starts and ends. */
static void range_bounds(sl_app *app, struct task *t)
{
	int64_t lo = 0, hi = 0;

	rd_kafka_query_watermark_offsets(app->producer, app->topo->source,
					 t->partition, &lo, &hi, 10000);
	t->range_start =
		app->range_from_ms > 0
			? offset_at(app, t->partition, app->range_from_ms, hi)
			: lo;
	t->range_end =
		app->range_to_ms == INT64_MAX
			? hi
			: offset_at(app, t->partition, app->range_to_ms, hi);
	if (t->range_end < t->range_start)
		t->range_end = t->range_start;
	atomic_fetch_add(&app->range_total, t->range_end - t->range_start);
}

static void task_query_position(sl_app *app, struct task *t)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);
	int64_t lo = 0, hi = 0;

	rd_kafka_topic_partition_list_add(l, app->topo->source, t->partition);
	if (app->ranged) {
		range_bounds(app, t);
		t->position = t->committed = t->range_start;
		rd_kafka_topic_partition_list_destroy(l);
		return;
	}
	if (rd_kafka_committed(app->consumer, l, 10000) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR &&
	    l->elems[0].offset >= 0) {
		t->position = l->elems[0].offset;
	} else {
		rd_kafka_query_watermark_offsets(app->producer,
						 app->topo->source,
						 t->partition, &lo, &hi, 10000);
		t->position = lo;
	}
	t->committed = t->position;
	rd_kafka_topic_partition_list_destroy(l);
}

static void task_init_punct(sl_app *app, struct task *t)
{
	int64_t now = sl_clock_now_ms(app->clock);

	for (int k = 0; k < app->topo->npuncts; k++) {
		struct topo_punct *p = &app->topo->puncts[k];

		t->punct[k].in_slice = 0;
		if (p->kind == TOPO_DAILY)
			t->punct[k].next_ms =
				sl_tz_next_daily(app->punct_tz[k], p->minute,
						 sl_floor_div(now, 1000)) *
				1000;
		else if (p->kind == TOPO_WALL)
			t->punct[k].next_ms = now + p->interval_ms;
		else
			t->punct[k].next_ms = INT64_MIN; /* first record */
	}
}

/* Called when a task's stores are restored: start processing. */
static void task_start(sl_app *app, struct task *t)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);
	rd_kafka_error_t *e;
	int64_t lo, hi;
	sl_ctx ctx;

	task_query_position(app, t);
	task_init_punct(app, t);
	for (int s = 0; s < app->topo->nstores; s++)
		if (app->changelog[s] != NULL)
			app->clog_acked[s][t->partition] = -1;
	if (rd_kafka_query_watermark_offsets(app->producer, app->topo->source,
					     t->partition, &lo, &hi, 10000) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR)
		hi = -1;
	pthread_mutex_lock(&app->tasks_lock);
	t->state = TASK_RUNNING;
	/* /tasks: the lag from the start, not 0 until the first commit */
	t->pub_position = t->position;
	t->pub_end = hi;
	pthread_mutex_unlock(&app->tasks_lock);
	if (app->topo->init_fn != NULL && app_ensure_txn(app) == SL_OK) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.app = app;
		ctx.task = t;
		app->topo->init_fn(&ctx, app->topo->init_ud);
	}
	rd_kafka_topic_partition_list_add(l, app->topo->source, t->partition)
		->offset = t->position;
	if (!app->paused_for_sinks)
		rd_kafka_resume_partitions(app->consumer, l);
	/*
	 * A pause right after assign loses the fetch start offset in
	 * librdkafka (its issue 2190): seek, which restarts the fetcher.
	 */
	e = rd_kafka_seek_partitions(app->consumer, l, 10000);
	if (e != NULL) {
		SL_WARN(COMP, "seek failed partition=%d err=%s",
			(int)t->partition, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	rd_kafka_topic_partition_list_destroy(l);
	SL_INFO(COMP,
		"task running app=%s partition=%d position=%" PRId64
		" restored=%" PRId64,
		app->group_id, (int)t->partition, t->position, t->restored);
}

static void tasks_assign(sl_app *app, rd_kafka_topic_partition_list_t *ps)
{
	/* LMDB databases open outside any write txn of this thread. */
	app_commit(app, 1);
	rd_kafka_pause_partitions(app->consumer, ps);
	for (int i = 0; i < ps->cnt; i++) {
		int32_t p = ps->elems[i].partition;

		if (p < 0 || p >= app->ntasks)
			continue;
		standby_drop(app, &app->tasks[p]);
		app->tasks[p].partition = p;
		if (restore_open_dbs(app, &app->tasks[p]) != SL_OK)
			SL_ERROR(COMP, "cannot open stores partition=%d",
				 (int)p);
	}
	for (int i = 0; i < ps->cnt; i++) {
		int32_t p = ps->elems[i].partition;
		struct task *t;

		if (p < 0 || p >= app->ntasks)
			continue;
		t = &app->tasks[p];
		t->partition = p;
		t->position = t->committed = 0;
		t->restored = 0;
		t->inited = 0;
		t->stream_time = INT64_MIN;
		t->restore_started_ms = now_mono();
		pthread_mutex_lock(&app->tasks_lock);
		t->state = TASK_RESTORING;
		pthread_mutex_unlock(&app->tasks_lock);
		SL_INFO(COMP, "partition assigned app=%s partition=%d",
			app->group_id, (int)p);
		if (restore_begin(app, t) != SL_OK)
			SL_ERROR(COMP, "restore failed to begin partition=%d",
				 (int)p);
		else if (restore_done(app, t))
			task_start(app, t);
	}
}

static void tasks_revoke(sl_app *app, rd_kafka_topic_partition_list_t *ps)
{
	/* Finish and commit in-flight work before letting go. */
	if (app_commit(app, 1) != SL_OK)
		SL_WARN(COMP, "commit before revoke incomplete app=%s",
			app->group_id);
	for (int i = 0; i < ps->cnt; i++) {
		int32_t p = ps->elems[i].partition;

		if (p < 0 || p >= app->ntasks)
			continue;
		restore_forget(app, &app->tasks[p]);
		for (int s = 0; s < app->topo->nsinks; s++)
			if (app->topo->sinks[s].ops != NULL)
				app->topo->sinks[s].ops->discard(
					app->topo->sinks[s].self, p);
		pthread_mutex_lock(&app->tasks_lock);
		app->tasks[p].state = TASK_NONE;
		pthread_mutex_unlock(&app->tasks_lock);
		SL_INFO(COMP, "partition revoked app=%s partition=%d",
			app->group_id, (int)p);
	}
	/*
	 * A standby the worker asked for while the partition was still ours
	 * was skipped; now it can be kept.  The wanted set may not change
	 * again, so look at it anew.
	 */
	atomic_store(&app->standby_changed, 1);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *ps, void *opaque)
{
	sl_app *app = opaque;
	int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_error_t *e = NULL;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (coop)
			e = rd_kafka_incremental_assign(rk, ps);
		else
			rd_kafka_assign(rk, ps);
		tasks_assign(app, ps);
		/* after the tasks show RESTORING: /readyz must not see a gap */
		atomic_store(&app->assigned_once, 1);
	} else {
		tasks_revoke(app, ps);
		if (coop)
			e = rd_kafka_incremental_unassign(rk, ps);
		else
			rd_kafka_assign(rk, NULL);
	}
	if (e != NULL) {
		SL_ERROR(COMP, "rebalance failed err=%s",
			 rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
}

/* ---- punctuation ------------------------------------------------- */

static int punct_due(sl_app *app, struct task *t, int k, int64_t wall)
{
	struct topo_punct *p = &app->topo->puncts[k];
	int64_t now = p->kind == TOPO_STREAM ? t->stream_time : wall;

	if (t->punct[k].in_slice)
		return 1;
	if (p->kind == TOPO_STREAM && t->punct[k].next_ms == INT64_MIN) {
		if (t->stream_time != INT64_MIN)
			t->punct[k].next_ms = t->stream_time + p->interval_ms;
		return 0;
	}
	return now >= t->punct[k].next_ms;
}

/* After a firing, the next one; missed firings are not replayed. */
static void punct_advance(sl_app *app, struct task *t, int k, int64_t wall)
{
	struct topo_punct *p = &app->topo->puncts[k];
	int64_t now = p->kind == TOPO_STREAM ? t->stream_time : wall;
	int64_t next;

	if (p->kind == TOPO_DAILY) {
		next = sl_tz_next_daily(app->punct_tz[k], p->minute,
					sl_floor_div(now, 1000)) *
		       1000;
	} else {
		next = t->punct[k].next_ms + p->interval_ms;
		if (next <= now)
			next = now + p->interval_ms;
	}
	t->punct[k].next_ms = next;
}

/*
 * Run what is due, starting at the task after the last pass's, until
 * PUNCT_BUDGET_MS is spent: long punctuations (the 7 PM emission) run
 * in slices between polls, so live records wait at most about a slice.
 */
static void punctuate(sl_app *app)
{
	int64_t wall = sl_clock_now_ms(app->clock), start = now_mono();

	for (int j = 0; j < app->ntasks; j++) {
		int i = (app->punct_cursor + j) % app->ntasks;
		struct task *t = &app->tasks[i];

		if (j > 0 && now_mono() - start >= PUNCT_BUDGET_MS) {
			app->punct_cursor = i;
			return;
		}
		if (t->state != TASK_RUNNING)
			continue;
		for (int k = 0; k < app->topo->npuncts; k++) {
			struct topo_punct *p = &app->topo->puncts[k];
			int64_t t0, us, when;
			sl_ctx ctx;
			int rc;

			if (!punct_due(app, t, k, wall))
				continue;
			if (app_ensure_txn(app) != SL_OK)
				return;
			memset(&ctx, 0, sizeof(ctx));
			ctx.app = app;
			ctx.task = t;
			ctx.step_name = p->name;
			when = p->kind == TOPO_STREAM ? t->stream_time : wall;
			t0 = now_mono();
			rc = p->fn(&ctx, when, p->ud);
			us = (now_mono() - t0) * 1000;
			atomic_fetch_add_explicit(&app->stats.punct_runs, 1,
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&app->stats.punct_us_total,
						  us, memory_order_relaxed);
			if (us > atomic_load(&app->stats.punct_us_max))
				atomic_store(&app->stats.punct_us_max, us);
			app->dirty = 1;
			if (rc == SL_MORE) {
				t->punct[k].in_slice = 1;
				continue;
			}
			if (rc != SL_OK)
				SL_WARN(COMP,
					"punctuator failed name=%s "
					"partition=%d err=%s",
					p->name, i, sl_errname(rc));
			t->punct[k].in_slice = 0;
			punct_advance(app, t, k, wall);
		}
	}
}

static int slices_pending(sl_app *app)
{
	for (int i = 0; i < app->ntasks; i++)
		for (int k = 0; k < app->topo->npuncts; k++)
			if (app->tasks[i].state == TASK_RUNNING &&
			    app->tasks[i].punct[k].in_slice)
				return 1;
	return 0;
}

/* Every assigned task restores: nothing else for the loop to do. */
static int only_restoring(sl_app *app)
{
	int any = 0;

	for (int i = 0; i < app->ntasks; i++) {
		if (app->tasks[i].state == TASK_RUNNING)
			return 0;
		any |= app->tasks[i].state == TASK_RESTORING;
	}
	return any;
}

static int restoring(sl_app *app)
{
	for (int i = 0; i < app->ntasks; i++)
		if (app->tasks[i].state == TASK_RESTORING)
			return 1;
	return 0;
}

/* ---- set-up ------------------------------------------------------ */

static int set(rd_kafka_conf_t *conf, const char *k, const char *v,
	       sl_errbuf *eb)
{
	char errstr[256];

	if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK)
		return sl_errbuf_set(eb, SL_ECONFIG, "%s: %s", k, errstr);
	return SL_OK;
}

/* Set NULL-terminated key/value pairs in order. */
static int set_all(rd_kafka_conf_t *conf, const char *const *kv, sl_errbuf *eb)
{
	int rc = SL_OK;

	for (; rc == SL_OK && kv[0] != NULL; kv += 2)
		rc = set(conf, kv[0], kv[1], eb);
	return rc;
}

/*
 * Create a client from `conf` (consumed in every case) after the
 * config's kafka.* keys, which override ours.  Consumers get their
 * messages through rd_kafka_consumer_poll.
 */
static int new_client(sl_app *app, rd_kafka_type_t type, rd_kafka_conf_t *conf,
		      const char *what, rd_kafka_t **out, sl_errbuf *eb)
{
	char errstr[512];
	int rc = sl_kafka_conf_apply(conf, app->cfg, eb);

	if (rc != SL_OK) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	rd_kafka_conf_set_opaque(conf, app);
	*out = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (*out == NULL) {
		rd_kafka_conf_destroy(conf);
		return sl_errbuf_set(eb, SL_EKAFKA, "%s: %s", what, errstr);
	}
	if (type == RD_KAFKA_CONSUMER)
		rd_kafka_poll_set_consumer(*out);
	return SL_OK;
}

static int make_consumer(sl_app *app, sl_errbuf *eb)
{
	/* key, value pairs */
	/* clang-format off */
	static const char *const ours[] = {
		"enable.auto.commit", "false",
		"auto.offset.reset", "earliest", /* a new app starts there */
		"partition.assignment.strategy", "cooperative-sticky",
		"isolation.level", "read_committed",
		"session.timeout.ms", "6000",
		"heartbeat.interval.ms", "1500",
		"max.poll.interval.ms", "300000",
		/*
		 * Prefetch depth.  librdkafka 2.0 stops fetching a
		 * partition for a full second once the consumer queue
		 * (all partitions) holds queued.min.messages (default
		 * 100000), and the loop then sat idle most of that second
		 * (BENCHMARKS.md, section 1).  200000 keeps about a second
		 * of records queued, at ~340 bytes each, ~70 MB at most;
		 * 2.1's fetch.queue.backoff.ms would be the better knob.
		 */
		"queued.min.messages", "200000",
		NULL,
	};
	/* clang-format on */
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *gid = sl_config_get(app->cfg, "group.instance.id");
	int rc = set(conf, "group.id", app->group_id, eb);

	if (rc == SL_OK)
		rc = set_all(conf, ours, eb);
	if (rc == SL_OK && gid != NULL) {
		char inst[256];

		snprintf(inst, sizeof(inst), "%s-%s", gid, app->topo->name);
		rc = set(conf, "group.instance.id", inst, eb);
	}
	if (rc != SL_OK) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	return new_client(app, RD_KAFKA_CONSUMER, conf, "consumer",
			  &app->consumer, eb);
}

static int make_producer(sl_app *app, sl_errbuf *eb)
{
	/* key, value pairs */
	/* clang-format off */
	static const char *const ours[] = {
		"enable.idempotence", "true",
		"linger.ms", "5",
		"partitioner", "murmur2_random", /* as Java clients */
		NULL,
	};
	/* clang-format on */
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	int rc = set_all(conf, ours, eb);

	if (rc == SL_OK && app->eos) {
		const char *gid = sl_config_get(app->cfg, "group.instance.id");
		char tid[512];

		/* Stable per worker, so a restarted worker fences its ghost. */
		snprintf(tid, sizeof(tid), "%s-%s", app->group_id,
			 gid ? gid : sl_config_get(app->cfg, "state.dir"));
		rc = set(conf, "transactional.id", tid, eb);
		/*
		 * A dead worker's open transaction blocks read_committed
		 * readers of its partitions until the broker aborts it:
		 * keep that short (Kafka Streams uses 10 s).
		 */
		if (rc == SL_OK)
			rc = set(conf, "transaction.timeout.ms", "5000", eb);
	}
	if (rc != SL_OK) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rc = new_client(app, RD_KAFKA_PRODUCER, conf, "producer",
			&app->producer, eb);
	if (rc == SL_OK && app->eos) {
		rd_kafka_error_t *e =
			rd_kafka_init_transactions(app->producer, 60000);

		if (e != NULL) {
			rc = sl_errbuf_set(eb, SL_EKAFKA,
					   "init transactions: %s",
					   rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
	}
	return rc;
}

static int make_restorer(sl_app *app, sl_errbuf *eb)
{
	/* key, value pairs */
	/* clang-format off */
	static const char *const ours[] = {
		"enable.auto.commit", "false",
		"enable.partition.eof", "true", /* restores end there */
		"isolation.level", "read_committed",
		"fetch.max.bytes", "52428800",
		/* restore is bound by data per fetch, not CPU */
		"max.partition.fetch.bytes", "10485760",
		NULL,
	};
	/* clang-format on */
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char gid[512];
	int rc;

	snprintf(gid, sizeof(gid), "%s-restore", app->group_id);
	rc = set(conf, "group.id", gid, eb);
	if (rc == SL_OK)
		rc = set_all(conf, ours, eb);
	if (rc != SL_OK) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	return new_client(app, RD_KAFKA_CONSUMER, conf, "restorer",
			  &app->restorer, eb);
}

static int sink_dead_letter(sl_sink_io *io, const sl_record *rec,
			    const char *reason)
{
	sl_app *app = io->runtime;

	return app_dead_letter(app, rec, app->topo->name, "sink", reason);
}

static char *join3(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s%s%s", a, b, c);
	return s;
}

static int create_topics(sl_app *app, sl_errbuf *eb)
{
	struct sl_topic_spec specs[TOPO_MAX_STORES + 2];
	int n = 0;

	specs[n++] = (struct sl_topic_spec){ app->topo->source, 0, 0 };
	specs[n++] = (struct sl_topic_spec){ app->dlq_topic, 0, 0 };
	for (int s = 0; s < app->topo->nstores; s++)
		if (app->changelog[s] != NULL)
			specs[n++] = (struct sl_topic_spec){ app->changelog[s],
							     app->ntasks, 1 };
	return sl_topics_ensure(app->producer, app->cfg, specs, n, eb);
}

/*
 * Learn the metadata of every topic the app writes to now: the first
 * send to a topic the producer has never seen waits for its next
 * metadata refresh (up to a second), which would stall the first
 * commit of, say, the 7 PM emission.
 */
static void warm_one(sl_app *app, const char *topic)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt;
	int max = (int)(sizeof(app->warm) / sizeof(app->warm[0]));

	if (topic == NULL || app->nwarm == max)
		return;
	rkt = rd_kafka_topic_new(app->producer, topic, NULL);
	if (rkt == NULL)
		return;
	if (rd_kafka_metadata(app->producer, 0, rkt, &md, 5000) ==
	    RD_KAFKA_RESP_ERR_NO_ERROR)
		rd_kafka_metadata_destroy(md);
	app->warm[app->nwarm++] = rkt;
}

static void warm_outputs(sl_app *app)
{
	warm_one(app, app->dlq_topic);
	for (int s = 0; s < app->topo->nstores; s++)
		warm_one(app, app->changelog[s]);
	for (int i = 0; i < app->topo->nsinks; i++)
		warm_one(app, app->topo->sinks[i].topic);
	for (int i = 0; i < app->topo->noutputs; i++)
		warm_one(app, app->topo->outputs[i]);
}

static int app_setup(sl_app *app, sl_errbuf *eb)
{
	const char *g = sl_config_get(app->cfg, "processing.guarantee");
	const char *dir = sl_config_get(app->cfg, "state.dir");
	char path[4096];
	int64_t parts = 12;
	int rc;

	if (app->topo->failed || app->topo->source == NULL)
		return sl_errbuf_set(eb, SL_EINVAL, "topology %s is incomplete",
				     app->topo->name);
	if (g != NULL && strcmp(g, "exactly_once") == 0)
		app->eos = 1;
	else if (g != NULL && strcmp(g, "at_least_once") != 0)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "processing.guarantee: expected "
				     "at_least_once or exactly_once, got '%s'",
				     g);
	sl_config_int(app->cfg, "commit.interval.ms", &app->commit_interval_ms,
		      NULL);
	if (app->commit_interval_ms <= 0)
		app->commit_interval_ms = 1000;

	app->app_id = strdup(sl_config_get(app->cfg, "application.id"));
	app->group_id = app->app_id ? join3(app->app_id, "-", app->topo->name)
				    : NULL;
	if (sl_config_get(app->cfg, "dead_letter.topic") != NULL)
		app->dlq_topic =
			strdup(sl_config_get(app->cfg, "dead_letter.topic"));
	else if (app->app_id != NULL)
		app->dlq_topic = join3(app->app_id, "-dead-letters", "");
	if (app->group_id == NULL || app->dlq_topic == NULL)
		return SL_ENOMEM;
	for (int s = 0; s < app->topo->nstores; s++) {
		char name[512];

		if (app->topo->stores[s].global)
			continue;
		snprintf(name, sizeof(name), "%s-%s-changelog", app->group_id,
			 app->topo->stores[s].name);
		app->changelog[s] = strdup(name);
		if (app->changelog[s] == NULL)
			return SL_ENOMEM;
	}
	for (int k = 0; k < app->topo->npuncts; k++) {
		if (app->topo->puncts[k].kind != TOPO_DAILY)
			continue;
		rc = sl_tz_load(app->topo->puncts[k].zone, &app->punct_tz[k],
				eb);
		if (rc != SL_OK)
			return rc;
	}

	/* One LMDB environment per worker and topology (see ARCHITECTURE). */
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "sluice-state",
		 app->group_id);
	rc = st_env_acquire(path, &app->env, eb);
	if (rc == SL_OK)
		rc = make_producer(app, eb);
	if (rc == SL_OK)
		rc = make_consumer(app, eb);
	if (rc == SL_OK)
		rc = make_restorer(app, eb);
	if (rc != SL_OK)
		return rc;

	sl_config_int(app->cfg, "topic.partitions", &parts, NULL);
	app->ntasks =
		sl_topic_partitions(app->producer, app->topo->source, 10000);
	if (app->ntasks == SL_ENOTFOUND)
		app->ntasks = (int)parts;
	if (app->ntasks <= 0)
		return sl_errbuf_set(
			eb, SL_EKAFKA, "cannot read metadata of %s from %s",
			app->topo->source,
			sl_config_get(app->cfg, "kafka.bootstrap.servers"));
	rc = create_topics(app, eb);
	if (rc != SL_OK)
		return rc;
	warm_outputs(app);
	app->tasks = calloc((size_t)app->ntasks, sizeof(*app->tasks));
	if (app->tasks == NULL)
		return SL_ENOMEM;
	app->standby_want = calloc((size_t)app->ntasks, 1);
	if (app->standby_want == NULL)
		return SL_ENOMEM;
	for (int s = 0; s < app->topo->nstores; s++) {
		if (app->changelog[s] == NULL)
			continue;
		app->clog_acked[s] = malloc((size_t)app->ntasks * 8);
		if (app->clog_acked[s] == NULL)
			return SL_ENOMEM;
		for (int p = 0; p < app->ntasks; p++)
			app->clog_acked[s][p] = -1;
	}
	return globals_open(app);
}

int sl_app_new(const sl_config *cfg, sl_topology *topo, sl_app **out,
	       sl_errbuf *eb)
{
	sl_app *app = calloc(1, sizeof(*app));
	int rc;

	if (app == NULL) {
		sl_topology_free(topo);
		return SL_ENOMEM;
	}
	app->cfg = cfg;
	app->topo = topo;
	pthread_mutex_init(&app->tasks_lock, NULL);
	pthread_mutex_init(&app->standby_lock, NULL);
	app->io.dead_letter = sink_dead_letter;
	app->io.runtime = app;
	rc = sl_clock_init(&app->own_clock, cfg, eb);
	app->clock = &app->own_clock;
	if (rc == SL_OK)
		rc = app_setup(app, eb);
	if (rc != SL_OK) {
		sl_app_free(app);
		return rc;
	}
	*out = app;
	return SL_OK;
}

void sl_app_set_clock(sl_app *app, const sl_clock *clock)
{
	app->clock = clock;
}

/* ---- the loop ---------------------------------------------------- */

static int subscribe(sl_app *app)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t err;

	rd_kafka_topic_partition_list_add(l, app->topo->source,
					  RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(app->consumer, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		SL_ERROR(COMP, "subscribe failed topic=%s err=%s",
			 app->topo->source, rd_kafka_err2str(err));
		return SL_EKAFKA;
	}
	return SL_OK;
}

static void loop_once(sl_app *app)
{
	int busy = restoring(app) || slices_pending(app);
	int timeout = busy ? 0 : 50;
	size_t pending;
	int n = 0;

	while (n < POLL_BATCH) {
		rd_kafka_message_t *m =
			rd_kafka_consumer_poll(app->consumer, n ? 0 : timeout);

		if (m == NULL)
			break;
		process_message(app, m);
		rd_kafka_message_destroy(m);
		n++;
	}
	rd_kafka_poll(app->producer, 0);
	if (atomic_load(&app->standby_changed)) {
		if (app->txn.txn != NULL)
			app_commit(app, 1);
		standby_sync(app);
	}
	if (restoring(app) || app->global_ready ||
	    atomic_load(&app->stats.standby_partitions) > 0) {
		restore_poll(app, 20000, only_restoring(app) ? 10 : 0);
		for (int i = 0; i < app->ntasks; i++)
			if (app->tasks[i].state == TASK_RESTORING &&
			    restore_done(app, &app->tasks[i]))
				task_start(app, &app->tasks[i]);
	}
	punctuate(app);
	pending = sinks_pending(app);
	if (pending > SINK_MAX_PENDING)
		sinks_pause(app, 1);
	else if (pending == 0 && app->paused_for_sinks &&
		 now_mono() >= app->sink_retry_ms)
		sinks_pause(app, 0); /* exactly_once: rewound, try again */
	if (now_mono() - app->last_commit_ms >= app->commit_interval_ms ||
	    app->txn.writes > TXN_MAX_WRITES ||
	    (app->sinks_failing && now_mono() >= app->sink_retry_ms))
		app_commit(app, 0);
}

/* Every partition assigned and at the end of its range. */
static int range_finished(sl_app *app)
{
	for (int i = 0; i < app->ntasks; i++)
		if (app->tasks[i].state != TASK_RUNNING ||
		    app->tasks[i].position < app->tasks[i].range_end)
			return 0;
	return sinks_pending(app) == 0;
}

void sl_app_set_range(sl_app *app, int64_t from_ms, int64_t to_ms)
{
	app->ranged = 1;
	app->range_from_ms = from_ms;
	app->range_to_ms = to_ms;
}

void sl_app_range_progress(sl_app *app, int64_t *total, int64_t *done)
{
	*total = atomic_load(&app->range_total);
	*done = atomic_load(&app->range_done);
}

int sl_app_run(sl_app *app)
{
	int rc;

	rc = globals_restore(app);
	if (rc != SL_OK) {
		char why[400];

		SL_ERROR(COMP, "global tables not loaded app=%s err=%s",
			 app->group_id, store_why(app, rc, why, sizeof(why)));
		return rc;
	}
	rc = subscribe(app);
	if (rc != SL_OK) {
		SL_ERROR(COMP, "cannot subscribe app=%s err=%s", app->group_id,
			 sl_errname(rc));
		return rc;
	}
	atomic_store(&app->ready, 1);
	app->last_commit_ms = now_mono();
	SL_INFO(COMP, "app started app=%s source=%s guarantee=%s",
		app->group_id, app->topo->source,
		app->eos ? "exactly_once" : "at_least_once");
	while (!atomic_load(&app->stop) && !app->fatal) {
		loop_once(app);
		if (app->ranged && range_finished(app)) {
			SL_INFO(COMP, "replay range done app=%s records=%lld",
				app->group_id,
				(long long)atomic_load(&app->range_done));
			break;
		}
	}

	/* Shutdown: commit, flush sinks, leave the group. */
	SL_INFO(COMP, "app stopping app=%s", app->group_id);
	if (!app->fatal) {
		for (int tries = 0; tries < 3; tries++)
			if (app_commit(app, 1) == SL_OK)
				break;
	}
	rd_kafka_consumer_close(app->consumer);
	rd_kafka_flush(app->producer, 10000);
	st_txn_abort(&app->txn);
	app->dl_window_start = INT64_MIN / 2; /* say what was kept quiet */
	dl_log_roll(app);
	SL_INFO(COMP, "app stopped app=%s", app->group_id);
	return app->fatal ? SL_EKAFKA : SL_OK;
}

void sl_app_stop(sl_app *app)
{
	atomic_store(&app->stop, 1);
}

void sl_app_free(sl_app *app)
{
	if (app == NULL)
		return;
	st_txn_abort(&app->txn);
	if (app->cgmd != NULL)
		rd_kafka_consumer_group_metadata_destroy(app->cgmd);
	if (app->restorer != NULL) {
		rd_kafka_consumer_close(app->restorer);
		rd_kafka_destroy(app->restorer);
	}
	if (app->consumer != NULL)
		rd_kafka_destroy(app->consumer);
	for (int i = 0; i < app->nwarm; i++)
		rd_kafka_topic_destroy(app->warm[i]);
	if (app->producer != NULL)
		rd_kafka_destroy(app->producer);
	st_env_release(app->env);
	for (int k = 0; k < TOPO_MAX_PUNCT; k++)
		sl_tz_free(app->punct_tz[k]);
	for (int s = 0; s < TOPO_MAX_STORES; s++) {
		free(app->changelog[s]);
		free(app->clog_acked[s]);
		free(app->global_end[s]);
		free(app->global_pos[s]);
	}
	sl_topology_free(app->topo);
	pthread_mutex_destroy(&app->tasks_lock);
	pthread_mutex_destroy(&app->standby_lock);
	free(app->standby_want);
	free(app->tasks);
	free(app->app_id);
	free(app->group_id);
	free(app->dlq_topic);
	free(app);
}
