/*
 * restore.c — rebuilding stores from their changelogs, and global
 * tables from their topics.
 *
 * One extra consumer per app (the restorer, no group membership) reads
 * changelog partitions of RESTORING tasks from checkpoint + 1 to the end
 * seen when the restore began, and every partition of each global
 * table's topic, first fully before the app starts, then continuously.
 * Records are applied in the app's LMDB transaction together with the
 * checkpoint of the last applied offset.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "processor/app_int.h"
#include "processor/log.h"
#include "processor/topics.h"

static const char *COMP = "restore";

static void restorer_assign(sl_app *app, const char *topic, int32_t p,
			    int64_t offset, int add)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);
	rd_kafka_error_t *e;

	rd_kafka_topic_partition_list_add(l, topic, p)->offset = offset;
	e = add ? rd_kafka_incremental_assign(app->restorer, l)
		: rd_kafka_incremental_unassign(app->restorer, l);
	if (e != NULL) {
		SL_ERROR(COMP,
			 "restorer %s failed topic=%s partition=%d err=%s",
			 add ? "assign" : "unassign", topic, (int)p,
			 rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/*
 * Where to start reading `topic`/`p` for a store whose checkpoint is in
 * `db`: checkpoint + 1, or the log start (clearing the local data) when
 * there is no checkpoint or the log start moved past it.
 */
static int start_offset(sl_app *app, const char *store, MDB_dbi db,
			const char *topic, int32_t p, int clear_ok,
			int64_t *start, int64_t *end)
{
	int64_t lo = 0, hi = 0, ckpt = -1;
	rd_kafka_resp_err_t err;
	st_txn rt;
	uint64_t n = 0;
	int rc, have;

	/* A topic created a moment ago may have no leader yet: retry. */
	for (int tries = 0; tries < 50; tries++) {
		err = rd_kafka_query_watermark_offsets(app->producer, topic, p,
						       &lo, &hi, 10000);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR ||
		    atomic_load(&app->stop))
			break;
		usleep(200 * 1000);
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		SL_ERROR(COMP, "watermarks failed topic=%s partition=%d err=%s",
			 topic, (int)p, rd_kafka_err2str(err));
		return SL_EKAFKA;
	}
	rc = st_txn_begin(app->env, 1, &rt);
	if (rc != SL_OK)
		return rc;
	have = st_checkpoint_get(&rt, store, p, &ckpt) == SL_OK;
	st_count(&rt, db, &n);
	st_txn_abort(&rt);

	*end = hi;
	*start = have ? ckpt + 1 : lo;
	if (have && *start < lo) {
		SL_WARN(COMP,
			"changelog start moved past checkpoint, full "
			"restore store=%s partition=%d checkpoint=%" PRId64
			" log_start=%" PRId64,
			store, (int)p, ckpt, lo);
		*start = lo;
		have = 0;
	}
	if (!have && n > 0 && clear_ok) {
		rc = app_begin_lmdb(app);
		if (rc == SL_OK)
			rc = st_clear(&app->txn, db, store, p);
		if (rc != SL_OK)
			return rc;
	}
	return SL_OK;
}

int restore_open_dbs(sl_app *app, struct task *t)
{
	for (int s = 0; s < app->topo->nstores; s++) {
		int rc;

		t->restore_end[s] = -1;
		t->restore_pos[s] = -1;
		if (app->changelog[s] == NULL)
			continue;
		rc = st_db_open(app->env, app->topo->stores[s].name,
				t->partition, &t->dbi[s]);
		if (rc != SL_OK)
			return rc;
	}
	return SL_OK;
}

int restore_begin(sl_app *app, struct task *t)
{
	int rc;

	for (int s = 0; s < app->topo->nstores; s++) {
		const char *name = app->topo->stores[s].name;
		int64_t start, end;

		if (app->changelog[s] == NULL)
			continue;
		rc = start_offset(app, name, t->dbi[s], app->changelog[s],
				  t->partition, 1, &start, &end);
		if (rc != SL_OK)
			return rc;
		if (start >= end)
			continue;
		t->restore_end[s] = end;
		SL_INFO(COMP,
			"restoring store=%s partition=%d from=%" PRId64
			" to=%" PRId64,
			name, (int)t->partition, start, end);
		restorer_assign(app, app->changelog[s], t->partition, start, 1);
	}
	return SL_OK;
}

int restore_done(const sl_app *app, const struct task *t)
{
	for (int s = 0; s < app->topo->nstores; s++)
		if (t->restore_end[s] >= 0)
			return 0;
	return 1;
}

void restore_forget(sl_app *app, struct task *t)
{
	if (t->state != TASK_RESTORING)
		return;
	for (int s = 0; s < app->topo->nstores; s++) {
		if (t->restore_end[s] < 0)
			continue;
		restorer_assign(app, app->changelog[s], t->partition, 0, 0);
		t->restore_end[s] = -1;
	}
}

static int apply(sl_app *app, MDB_dbi db, const rd_kafka_message_t *m)
{
	int rc = app_begin_lmdb(app);

	if (rc != SL_OK)
		return rc;
	if (m->key == NULL || m->key_len == 0)
		return SL_OK; /* nothing to key it by: skip */
	if (m->payload == NULL)
		return st_del(&app->txn, db, m->key, m->key_len);
	return st_put(&app->txn, db, m->key, m->key_len, m->payload, m->len);
}

static int find_changelog(const sl_app *app, const char *topic)
{
	for (int s = 0; s < app->topo->nstores; s++)
		if (app->changelog[s] != NULL &&
		    strcmp(app->changelog[s], topic) == 0)
			return s;
	return -1;
}

static int find_global(const sl_app *app, const char *topic)
{
	for (int s = 0; s < app->topo->nstores; s++)
		if (app->topo->stores[s].global &&
		    strcmp(app->topo->stores[s].topic, topic) == 0)
			return s;
	return -1;
}

static void changelog_record(sl_app *app, int s, rd_kafka_message_t *m)
{
	struct task *t = &app->tasks[m->partition];

	if (t->state == TASK_NONE && t->standby) {
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    apply(app, t->dbi[s], m) == SL_OK) {
			t->restore_pos[s] = m->offset;
			atomic_fetch_add_explicit(&app->stats.standby_applied,
						  1, memory_order_relaxed);
		}
		return;
	}
	if (t->state != TASK_RESTORING || t->restore_end[s] < 0)
		return;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (apply(app, t->dbi[s], m) != SL_OK)
			return; /* latched txn: the commit aborts, we retry */
		t->restore_pos[s] = m->offset;
		t->restored++;
		atomic_fetch_add_explicit(&app->stats.restored, 1,
					  memory_order_relaxed);
	}
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ||
	    m->offset + 1 >= t->restore_end[s]) {
		t->restore_end[s] = -1;
		restorer_assign(app, app->changelog[s], t->partition, 0, 0);
	}
}

static void global_record(sl_app *app, int s, rd_kafka_message_t *m)
{
	int32_t p = m->partition;

	if (p < 0 || p >= app->global_nparts[s])
		return;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (apply(app, app->global_dbi[s], m) != SL_OK)
			return;
		app->global_pos[s][p] = m->offset;
		app->dirty = 1;
	}
	if (app->global_end[s][p] >= 0 &&
	    (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ||
	     m->offset + 1 >= app->global_end[s][p]))
		app->global_end[s][p] = -1;
}

/* Checkpoints of what this poll applied, in the same LMDB txn. */
static int write_restore_checkpoints(sl_app *app)
{
	int rc = SL_OK;

	for (int s = 0; s < app->topo->nstores && rc == SL_OK; s++) {
		const char *name = app->topo->stores[s].name;

		if (app->topo->stores[s].global) {
			for (int p = 0; p < app->global_nparts[s]; p++) {
				if (app->global_pos[s][p] < 0)
					continue;
				rc = st_checkpoint_put(&app->txn, name, p,
						       app->global_pos[s][p]);
				app->global_pos[s][p] = -1;
			}
			continue;
		}
		for (int p = 0; p < app->ntasks && rc == SL_OK; p++) {
			struct task *t = &app->tasks[p];

			if ((t->state != TASK_RESTORING && !t->standby) ||
			    t->restore_pos[s] < 0)
				continue;
			rc = st_checkpoint_put(&app->txn, name, p,
					       t->restore_pos[s]);
			t->restore_pos[s] = -1;
		}
	}
	return rc;
}

int restore_poll(sl_app *app, int max, int timeout_ms)
{
	int n = 0;

	while (n < max) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(
			app->restorer, n == 0 ? timeout_ms : 0);
		const char *topic;
		int s;

		if (m == NULL)
			break;
		n++;
		if (m->rkt == NULL) {
			rd_kafka_message_destroy(m);
			continue;
		}
		topic = rd_kafka_topic_name(m->rkt);
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
		    m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			SL_WARN(COMP, "restore read error topic=%s err=%s",
				topic, rd_kafka_message_errstr(m));
		else if ((s = find_changelog(app, topic)) >= 0 &&
			 m->partition >= 0 && m->partition < app->ntasks)
			changelog_record(app, s, m);
		else if ((s = find_global(app, topic)) >= 0)
			global_record(app, s, m);
		rd_kafka_message_destroy(m);
	}
	if (app->txn.txn != NULL)
		return write_restore_checkpoints(app);
	return SL_OK;
}

int globals_open(sl_app *app)
{
	for (int s = 0; s < app->topo->nstores; s++) {
		int rc;

		if (!app->topo->stores[s].global)
			continue;
		rc = st_db_open(app->env, app->topo->stores[s].name, -1,
				&app->global_dbi[s]);
		if (rc != SL_OK)
			return rc;
	}
	return SL_OK;
}

static int globals_caught_up(const sl_app *app)
{
	for (int s = 0; s < app->topo->nstores; s++)
		for (int p = 0; p < app->global_nparts[s]; p++)
			if (app->global_end[s][p] >= 0)
				return 0;
	return 1;
}

static int global_begin(sl_app *app, int s)
{
	const struct topo_store *st = &app->topo->stores[s];
	int n = sl_topic_partitions(app->restorer, st->topic, 10000);

	if (n <= 0) {
		SL_ERROR(COMP, "global table topic missing table=%s topic=%s",
			 st->name, st->topic);
		return n == 0 ? SL_ENOTFOUND : n;
	}
	app->global_nparts[s] = n;
	app->global_end[s] = malloc((size_t)n * sizeof(int64_t));
	app->global_pos[s] = malloc((size_t)n * sizeof(int64_t));
	if (app->global_end[s] == NULL || app->global_pos[s] == NULL)
		return SL_ENOMEM;
	for (int p = 0; p < n; p++) {
		int64_t start, end;
		/* The whole table shares one db: never clear per partition. */
		int rc = start_offset(app, st->name, app->global_dbi[s],
				      st->topic, p, 0, &start, &end);

		if (rc != SL_OK)
			return rc;
		app->global_pos[s][p] = -1;
		app->global_end[s][p] = start >= end ? -1 : end;
		restorer_assign(app, st->topic, p, start, 1);
	}
	return SL_OK;
}

int globals_restore(sl_app *app)
{
	int64_t t0 = sl_mono_ms();
	int any = 0, rc;

	for (int s = 0; s < app->topo->nstores; s++) {
		if (!app->topo->stores[s].global)
			continue;
		any = 1;
		rc = global_begin(app, s);
		if (rc != SL_OK)
			return rc;
	}
	if (!any)
		return SL_OK;
	while (!globals_caught_up(app) && !atomic_load(&app->stop)) {
		rc = restore_poll(app, 50000, 100);
		if (rc != SL_OK)
			return rc;
		if (app->txn.txn != NULL && app->txn.writes > 100000) {
			rc = st_txn_commit(&app->txn);
			if (rc != SL_OK)
				return rc;
		}
	}
	rc = st_txn_commit(&app->txn);
	app->global_ready = 1;
	SL_INFO(COMP, "global tables ready app=%s ms=%" PRId64, app->group_id,
		sl_mono_ms() - t0);
	return rc;
}

/* ---- standby replicas -------------------------------------------- */

void app_set_standby(sl_app *app, const int32_t *parts, int n)
{
	unsigned char *want = calloc((size_t)app->ntasks, 1);

	if (want == NULL)
		return;
	for (int i = 0; i < n; i++)
		if (parts[i] >= 0 && parts[i] < app->ntasks)
			want[parts[i]] = 1;
	pthread_mutex_lock(&app->standby_lock);
	if (memcmp(want, app->standby_want, (size_t)app->ntasks) != 0) {
		memcpy(app->standby_want, want, (size_t)app->ntasks);
		atomic_store(&app->standby_changed, 1);
	}
	pthread_mutex_unlock(&app->standby_lock);
	free(want);
}

/* Stop following a partition's changelogs (it is ours now, or not wanted). */
void standby_drop(sl_app *app, struct task *t)
{
	if (!t->standby)
		return;
	for (int s = 0; s < app->topo->nstores; s++)
		if (app->changelog[s] != NULL)
			restorer_assign(app, app->changelog[s], t->partition, 0,
					0);
	t->standby = 0;
	atomic_fetch_sub(&app->stats.standby_partitions, 1);
}

/* Start following a partition's changelogs from its checkpoint. */
static int standby_add(sl_app *app, struct task *t)
{
	int rc = SL_OK;

	for (int s = 0; s < app->topo->nstores && rc == SL_OK; s++) {
		int64_t start, end;

		if (app->changelog[s] == NULL)
			continue;
		rc = start_offset(app, app->topo->stores[s].name, t->dbi[s],
				  app->changelog[s], t->partition, 1, &start,
				  &end);
		if (rc == SL_OK)
			restorer_assign(app, app->changelog[s], t->partition,
					start, 1);
	}
	if (rc == SL_OK) {
		t->standby = 1;
		atomic_fetch_add(&app->stats.standby_partitions, 1);
		SL_INFO(COMP, "standby replica kept app=%s partition=%d",
			app->group_id, (int)t->partition);
	}
	return rc;
}

/*
 * Follow what the worker asked for.  Called with no write transaction
 * of this thread open: databases are opened first, then the changelogs
 * assigned (which may open the app's transaction to clear a store).
 */
void standby_sync(sl_app *app)
{
	unsigned char *want = malloc((size_t)app->ntasks);

	if (want == NULL)
		return;
	pthread_mutex_lock(&app->standby_lock);
	memcpy(want, app->standby_want, (size_t)app->ntasks);
	atomic_store(&app->standby_changed, 0);
	pthread_mutex_unlock(&app->standby_lock);

	for (int p = 0; p < app->ntasks; p++) {
		struct task *t = &app->tasks[p];

		if (t->standby && (!want[p] || t->state != TASK_NONE))
			standby_drop(app, t);
		want[p] = want[p] && !t->standby && t->state == TASK_NONE;
		if (!want[p])
			continue;
		t->partition = p;
		if (restore_open_dbs(app, t) != SL_OK)
			want[p] = 0;
	}
	for (int p = 0; p < app->ntasks; p++)
		if (want[p] && standby_add(app, &app->tasks[p]) != SL_OK)
			SL_WARN(COMP, "standby replica failed partition=%d",
				(int)p);
	free(want);
}
