/*
 * topology.h — internals of sl_topology, shared by topology.c (the
 * builder behind sl.h) and app.c (the runtime that runs it).
 */
#ifndef SL_TOPOLOGY_H
#define SL_TOPOLOGY_H

#include "processor/sl.h"

#define TOPO_MAX_STEPS 16
#define TOPO_MAX_STORES 8
#define TOPO_MAX_PUNCT 8
#define TOPO_MAX_SINKS 8

struct topo_step {
	char *name;
	sl_step_fn fn;
	void *ud;
};

struct topo_store {
	char *name;
	char *topic; /* global tables: the source topic; else NULL */
	int global;
	sl_render_fn render;
};

enum topo_punct_kind {
	TOPO_STREAM,
	TOPO_WALL,
	TOPO_DAILY
};

struct topo_punct {
	char *name;
	enum topo_punct_kind kind;
	int64_t interval_ms;
	int minute; /* TOPO_DAILY: minutes after local midnight */
	char *zone; /* TOPO_DAILY */
	sl_punct_fn fn;
	void *ud;
};

struct topo_sink {
	char *topic;		/* topic sink, or NULL */
	const sl_sink_ops *ops; /* connector sink */
	void *self;
};

struct sl_topology {
	char *name;
	char *source;
	struct topo_step steps[TOPO_MAX_STEPS];
	int nsteps;
	struct topo_store stores[TOPO_MAX_STORES];
	int nstores;
	struct topo_punct puncts[TOPO_MAX_PUNCT];
	int npuncts;
	struct topo_sink sinks[TOPO_MAX_SINKS];
	int nsinks;
	char *outputs[TOPO_MAX_SINKS]; /* sl_topology_output */
	int noutputs;
	struct {
		void (*fn)(void *);
		void *ptr;
	} owned[TOPO_MAX_STEPS];
	int nowned;
	sl_task_init_fn init_fn;
	void *init_ud;
	int failed; /* a builder call failed: sl_app_new refuses it */
};

#endif
