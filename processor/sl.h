/*
 * sl.h — the public API of the Sluice processor.
 *
 * A topology is a chain:  source topic -> steps -> sinks.
 *
 *	sl_topology *t = sl_topology_new("journey");
 *	sl_topology_source(t, "user_journey");
 *	sl_topology_store(t, "journey");
 *	sl_topology_step(t, "track", track_fn, ud);
 *	sl_topology_sink_topic(t, "out");
 *
 * The runtime (sl_app) runs one task per partition of the source topic.
 * A step receives each record of its task with an sl_ctx; it may read
 * and write the task's stores, forward a record to the next step (or,
 * after the last step, to the sinks), send to any topic, or dead-letter
 * the record.  Punctuators run per task on stream time, on the wall
 * clock (an injectable clock), or daily at a local time in an IANA zone.
 *
 * Ownership and lifetimes
 * - sl_record fields and everything read from a store (sl_bytes) are
 *   valid only until the callback returns; copy what you keep.
 * - Data passed to forward/send/put is copied; the caller keeps its own.
 * - An sl_topology is owned by the caller until sl_app_new() takes it.
 * - `ud` pointers are never freed by the runtime.
 *
 * Errors are the SL_E* codes of processor/err.h.  Bad input is not an
 * error: dead-letter it with sl_ctx_dead_letter() and return SL_OK.  A
 * step that returns an error has its record dead-lettered with the
 * error's name as the reason, and processing goes on.
 */
#ifndef SL_SL_H
#define SL_SL_H

#include <stddef.h>
#include <stdint.h>

#include "processor/config.h"
#include "processor/err.h"

typedef struct sl_topology sl_topology;
typedef struct sl_ctx sl_ctx;
typedef struct sl_store sl_store;
typedef struct sl_store_iter sl_store_iter;
typedef struct sl_app sl_app;

typedef struct sl_bytes {
	const void *data;
	size_t len;
} sl_bytes;

typedef struct sl_record {
	const char *topic;
	int32_t partition;
	int64_t offset;
	int64_t timestamp_ms; /* the record's Kafka timestamp */
	sl_bytes key;
	sl_bytes value;
} sl_record;

/* Return value of a punctuator that has more work: call me again soon. */
#define SL_MORE 1

typedef int (*sl_step_fn)(sl_ctx *ctx, const sl_record *rec, void *ud);
typedef int (*sl_punct_fn)(sl_ctx *ctx, int64_t now_ms, void *ud);
/* Called once per task after its stores are restored, before records. */
typedef int (*sl_task_init_fn)(sl_ctx *ctx, void *ud);

/* ---- building ---------------------------------------------------- */

sl_topology *sl_topology_new(const char *name);
void sl_topology_free(sl_topology *t);

int sl_topology_source(sl_topology *t, const char *topic);
/* A partitioned store; its changelog is <app>-<topology>-<name>-changelog. */
int sl_topology_store(sl_topology *t, const char *name);
/*
 * A global table: every worker holds all partitions of `topic`, read
 * into an LMDB store called `name` before any task runs, and kept up
 * to date while the app runs.  The topic itself is the changelog.
 */
int sl_topology_global_table(sl_topology *t, const char *name,
			     const char *topic);
/*
 * How the admin API shows a store's values: fn returns a malloc'ed JSON
 * text for one value (NULL when it cannot).  Without one, values are
 * shown as JSON when they are JSON, else base64.
 */
typedef char *(*sl_render_fn)(const void *val, size_t len);
int sl_topology_store_render(sl_topology *t, const char *store,
			     sl_render_fn fn);
int sl_topology_step(sl_topology *t, const char *name, sl_step_fn fn, void *ud);
/*
 * Hand `ptr` to the topology: free_fn(ptr) runs when the topology is
 * freed (for the `ud` of steps and punctuators).  On failure free_fn
 * runs at once.
 */
int sl_topology_own(sl_topology *t, void (*free_fn)(void *), void *ptr);
int sl_topology_on_task_init(sl_topology *t, sl_task_init_fn fn, void *ud);
int sl_topology_sink_topic(sl_topology *t, const char *topic);
/*
 * Declare a topic a step or punctuator sends to with sl_ctx_send, so the
 * runtime learns its metadata at start (not on the first send).
 */
int sl_topology_output(sl_topology *t, const char *topic);

enum sl_punct_type {
	SL_PUNCT_STREAM_TIME,
	SL_PUNCT_WALL_CLOCK,
};
int sl_topology_punctuate(sl_topology *t, const char *name,
			  enum sl_punct_type type, int64_t interval_ms,
			  sl_punct_fn fn, void *ud);
/*
 * Daily at `hhmm` ("19:00") local time in IANA `zone`, on the wall
 * clock.  Never at task start; after a long pause it fires once.
 */
int sl_topology_punctuate_daily(sl_topology *t, const char *name,
				const char *hhmm, const char *zone,
				sl_punct_fn fn, void *ud);

/* ---- connector sinks --------------------------------------------- */

/*
 * A connector sink receives what reaches the end of the chain.  The
 * runtime commits a partition's input offsets only after flush() has
 * returned SL_OK, so a sink that fails loses nothing.
 */
typedef struct sl_sink_io sl_sink_io;
struct sl_sink_io {
	/* Dead-letter one record the destination rejected for good. */
	int (*dead_letter)(sl_sink_io *io, const sl_record *rec,
			   const char *reason);
	void *runtime; /* private to the runtime */
};

typedef struct sl_sink_ops {
	const char *name;
	/* Buffer one record; SL_OK, or an error that stops the batch. */
	int (*write)(void *self, const sl_record *rec);
	/*
	 * Deliver everything buffered.  SL_OK: all accepted or
	 * dead-lettered through io.  SL_ETRANSIENT: nothing lost, call
	 * again later; the runtime backs off and holds offsets.
	 */
	int (*flush)(void *self, sl_sink_io *io);
	/* Records buffered and not yet flushed. */
	size_t (*pending)(void *self);
	/* Drop what is buffered for a partition that was taken away. */
	void (*discard)(void *self, int32_t partition);
	void (*free)(void *self);
} sl_sink_ops;

/* The topology takes `self` and frees it with ops->free. */
int sl_topology_sink_connector(sl_topology *t, const sl_sink_ops *ops,
			       void *self);

/* ---- inside a step or punctuator --------------------------------- */

int32_t sl_ctx_partition(const sl_ctx *ctx);
int64_t sl_ctx_now_ms(const sl_ctx *ctx); /* the (injectable) wall clock */
int64_t sl_ctx_stream_time_ms(const sl_ctx *ctx);
const sl_config *sl_ctx_config(const sl_ctx *ctx);
const char *sl_ctx_app_id(const sl_ctx *ctx);

/* Pass a record to the next step, or to the sinks after the last. */
int sl_ctx_forward(sl_ctx *ctx, const void *key, size_t klen, const void *value,
		   size_t vlen, int64_t timestamp_ms);
/* Produce to any topic, keyed; partitioned by the key's hash. */
int sl_ctx_send(sl_ctx *ctx, const char *topic, const void *key, size_t klen,
		const void *value, size_t vlen);
/* Send the record to the dead-letter topic with the reason. */
int sl_ctx_dead_letter(sl_ctx *ctx, const sl_record *rec, const char *reason);

/*
 * The input partition's next offset to process, and its end (the high
 * watermark, queried from the broker).  For "catch up first" logic.
 */
int64_t sl_ctx_input_position(const sl_ctx *ctx);
int sl_ctx_input_end(sl_ctx *ctx, int64_t *end);

/*
 * Commit now: stores, their changelogs, outputs and input offsets up to
 * the records already processed become durable before this returns.
 * For side effects (an HTTP call) that must follow a durable record of
 * the intent.  Values and iterators obtained before become invalid.
 * SL_OK, or an error after which the app rewinds to its last commit
 * (do not perform the side effect then).
 */
int sl_ctx_commit(sl_ctx *ctx);

/*
 * Wait until everything sent so far (outputs and changelog records) is
 * acknowledged by the broker, without committing: cheaper than
 * sl_ctx_commit when a later write must not overtake earlier sends.
 * SL_OK, or SL_EKAFKA when something could not be delivered (the app
 * then rewinds at its next commit).
 */
int sl_ctx_flush(sl_ctx *ctx);

/* The task's store (or a global table) by name; NULL if unknown. */
sl_store *sl_ctx_store(sl_ctx *ctx, const char *name);

/* ---- stores ------------------------------------------------------ */

/* SL_OK and *val set (valid until the callback returns), SL_ENOTFOUND. */
int sl_store_get(sl_store *s, const void *key, size_t klen, sl_bytes *val);
int sl_store_put(sl_store *s, const void *key, size_t klen, const void *val,
		 size_t vlen);
int sl_store_delete(sl_store *s, const void *key, size_t klen);
/* Entries in the store (its task's partition). */
int sl_store_count(sl_store *s, uint64_t *n);

/*
 * Iterate in key order from the first key >= start (start may be NULL).
 * Iterators live until the callback returns; free them before.
 * next: 1 with key and value set, 0 at the end, or an error.
 */
int sl_store_iter_new(sl_store *s, const void *start, size_t slen,
		      sl_store_iter **out);
int sl_store_iter_next(sl_store_iter *it, sl_bytes *key, sl_bytes *val);
void sl_store_iter_free(sl_store_iter *it);

/* ---- running ----------------------------------------------------- */

/*
 * Build an app from the config (application.id, kafka.*, state.dir,
 * processing.guarantee, commit.interval.ms, ...) and a topology, whose
 * ownership moves to the app even on failure.
 */
int sl_app_new(const sl_config *cfg, sl_topology *topo, sl_app **out,
	       sl_errbuf *eb);
/* Run until sl_app_stop(); returns SL_OK after a clean shutdown. */
int sl_app_run(sl_app *app);
/* Ask the app to stop; safe from another thread (not a signal handler). */
void sl_app_stop(sl_app *app);
void sl_app_free(sl_app *app);

#endif
