/*
 * app_int.h — internals of the runtime (sl_app), shared by app.c (the
 * poll loop, commits, rebalances), restore.c (changelog restoration and
 * global tables), ctx.c (what steps and punctuators call) and the
 * worker's admin API.
 *
 * Task states (one task per input partition):
 *
 *	 assign             restored            revoke / close
 *	-------> RESTORING ----------> RUNNING ----------------> (gone)
 *	            |                                  ^
 *	            +----------------------------------+
 *	                     revoke while restoring
 *
 * RESTORING: the input partition is assigned but paused; the restorer
 *   reads each store's changelog from checkpoint+1 to the end seen when
 *   the restore began.  No record of the partition is processed.
 * RUNNING: the partition is resumed; records run through the steps;
 *   punctuators fire.  Store writes go to LMDB (the app's one write
 *   transaction) and to the changelog.
 *
 * Commit (every commit.interval.ms, on revoke and at shutdown), in app.c:
 *   at_least_once: flush the producer -> flush connector sinks -> write
 *     each store partition's acknowledged changelog offset as its
 *     checkpoint -> commit LMDB -> commit input offsets (only when every
 *     sink accepted its batch).
 *   exactly_once: flush connector sinks -> send input offsets to the
 *     Kafka transaction -> commit it -> write checkpoints -> commit LMDB.
 *     Any failure aborts both and rewinds the tasks to their last
 *     committed offsets, dropping what the sinks hold for them.  A sink
 *     that fails also pauses the input until its retry time; then the
 *     rewound records are processed again and the sink tries anew.
 */
#ifndef SL_APP_INT_H
#define SL_APP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "processor/clock.h"
#include "processor/sl.h"
#include "processor/timeutil.h"
#include "processor/topology.h"
#include "state/store.h"

enum task_state {
	TASK_NONE = 0,
	TASK_RESTORING,
	TASK_RUNNING
};

struct task_punct {
	int64_t next_ms; /* next firing on its time line */
	int in_slice;	 /* returned SL_MORE: call again soon */
};

struct task {
	int32_t partition;
	enum task_state state;
	int64_t position;  /* next input offset to process */
	int64_t committed; /* input offset committed (next to read) */
	int64_t stream_time;
	int inited;
	MDB_dbi dbi[TOPO_MAX_STORES];
	/* restore */
	int64_t restore_end[TOPO_MAX_STORES]; /* -1: store restored */
	int64_t restore_pos[TOPO_MAX_STORES]; /* last applied, or -1 */
	int64_t restored;
	int64_t restore_started_ms;
	struct task_punct punct[TOPO_MAX_PUNCT];
	int standby; /* a warm copy kept while another worker runs it */
	/* published at each commit under tasks_lock, for the admin API */
	int64_t pub_position;
	int64_t pub_end;
	int64_t range_start; /* replay: first offset of the range */
	int64_t range_end;   /* replay: offset where the range ends */
};

/* Counters read by the admin API's /metrics; relaxed atomics. */
struct app_stats {
	atomic_llong records;
	atomic_llong dead_letters;
	atomic_llong commits;
	atomic_llong commit_us_total;
	atomic_llong commit_us_max;
	atomic_llong punct_runs;
	atomic_llong punct_us_total;
	atomic_llong punct_us_max;
	atomic_llong restored;
	atomic_llong standby_applied;
	atomic_int standby_partitions;
	atomic_llong sink_flushes;
	atomic_llong sink_errors;
	atomic_llong commit_failures; /* commits aborted and rewound */
	atomic_llong produced;
};

struct sl_app {
	const sl_config *cfg;
	sl_topology *topo;
	const sl_clock *clock;
	sl_clock own_clock;
	char *app_id;
	char *group_id;
	char *dlq_topic;
	char *changelog[TOPO_MAX_STORES]; /* NULL for global tables */
	int eos;
	int64_t commit_interval_ms;

	rd_kafka_t *consumer;
	rd_kafka_t *producer;
	rd_kafka_t *restorer;
	rd_kafka_consumer_group_metadata_t *cgmd;

	st_env *env;
	st_txn txn;
	int in_kafka_txn;
	MDB_dbi global_dbi[TOPO_MAX_STORES];
	int global_nparts[TOPO_MAX_STORES];
	int64_t *global_end[TOPO_MAX_STORES]; /* per partition, -1: caught up */
	int64_t *global_pos[TOPO_MAX_STORES]; /* last applied, or -1 */
	int global_ready;

	struct task *tasks;
	int ntasks;
	pthread_mutex_t tasks_lock; /* guards tasks[] for admin readers */

	/* changelog offsets acknowledged, per store and partition */
	int64_t *clog_acked[TOPO_MAX_STORES];
	int delivery_failed;
	char delivery_error[256];

	sl_tz *punct_tz[TOPO_MAX_PUNCT];

	sl_sink_io io;
	int sinks_failing;
	int64_t sink_retry_ms;
	int64_t sink_backoff_ms;
	int paused_for_sinks;

	/* dead-letter log lines: DL_LOG_MAX a window, then only counted */
	int64_t dl_window_start;
	int dl_logged;
	long long dl_quiet;

	/* standby replicas: wanted (set by the worker), kept (app thread) */
	pthread_mutex_t standby_lock;
	unsigned char *standby_want;
	atomic_int standby_changed;

	/* replay: process only [from, to) by record time, then stop */
	int ranged;
	int64_t range_from_ms;
	int64_t range_to_ms; /* INT64_MAX: the end at task start */
	atomic_llong range_total;
	atomic_int range_done;

	/* topic handles kept so their metadata is known before a send */
	rd_kafka_topic_t *warm[2 * TOPO_MAX_SINKS + TOPO_MAX_STORES + 1];
	int nwarm;
	int punct_cursor; /* task where the next punctuation pass starts */

	int64_t last_commit_ms;
	int dirty;
	atomic_int stop;
	atomic_int ready;
	atomic_int assigned_once; /* the group gave us an assignment */
	int fatal;
	struct app_stats stats;
};

struct sl_store {
	sl_app *app;
	struct task *task; /* NULL for a global table */
	int idx;
};

struct sl_ctx {
	sl_app *app;
	struct task *task;
	const sl_record *rec; /* the input record, NULL in punctuators */
	int step;	      /* index of the running step */
	const char *step_name;
	struct sl_store stores[TOPO_MAX_STORES];
};

struct sl_store_iter {
	MDB_cursor *cur;
	int started;
	MDB_val start;
};

/* app.c */
int app_produce(sl_app *app, const char *topic, int32_t partition,
		const void *key, size_t klen, const void *val, size_t vlen,
		rd_kafka_headers_t *hdrs, void *opaque);
int app_ensure_txn(sl_app *app);
int app_commit_now(sl_app *app);
int app_begin_lmdb(sl_app *app); /* LMDB only, never a Kafka txn */
int app_run_chain(sl_ctx *ctx, int from, const sl_record *rec);
int app_dead_letter(sl_app *app, const sl_record *rec, const char *topology,
		    const char *step, const char *reason);

/*
 * Replay mode (before sl_app_run): start each partition at the first
 * record at or after from_ms, stop at the first at or after to_ms (or
 * the partition's end when the task starts), commit, and return from
 * sl_app_run when every partition has reached its end.
 */
void sl_app_set_range(sl_app *app, int64_t from_ms, int64_t to_ms);
/* Records in the range so far known, and processed; for progress. */
void sl_app_range_progress(sl_app *app, int64_t *total, int64_t *done);

/* Share a clock between the apps of one worker; tests inject theirs. */
void sl_app_set_clock(sl_app *app, const sl_clock *clock);

/*
 * Standby replicas (restore.c): the worker says which partitions this
 * app should keep warm copies of (from any thread); the app thread
 * follows their changelogs while it does not run them.
 */
void app_set_standby(sl_app *app, const int32_t *parts, int n);
void standby_sync(sl_app *app);
void standby_drop(sl_app *app, struct task *t);

/* restore.c; restore_open_dbs needs no write txn open in this thread. */
int restore_open_dbs(sl_app *app, struct task *t);
int restore_begin(sl_app *app, struct task *t);
int restore_poll(sl_app *app, int max, int timeout_ms);
int restore_done(const sl_app *app, const struct task *t);
void restore_forget(sl_app *app, struct task *t);
int globals_restore(sl_app *app);
int globals_open(sl_app *app);

/* app_admin.c: readers for the admin API, callable from any thread. */
void app_publish(sl_app *app); /* app thread: snapshot for readers */
int app_is_ready(sl_app *app);
const char *app_name(const sl_app *app);
/* Adds the app's tasks to a cJSON array. */
void app_tasks_json(sl_app *app, void *cjson_array);
void app_write_metrics(sl_app *app, FILE *f);
/* Adds "<app>": [running partitions] to a cJSON object. */
void app_running_json(sl_app *app, void *cjson_object);
/*
 * Look a key up in a store of this app: SL_OK and *json (malloc'ed),
 * SL_ENOTFOUND (no such key), SL_EUNAVAIL (the key's partition is not
 * running here; *part says which), SL_EINVAL (no such store).
 */
int app_store_lookup(sl_app *app, const char *store, const char *key,
		     char **json, int32_t *part);

#endif
