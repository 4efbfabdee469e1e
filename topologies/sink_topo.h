/*
 * sink_topo.h — what the topologies that end in a sink connector
 * (analytics to ClickHouse, conversions to Meta) share: the journey
 * event of a record, with invalid ones dead-lettered, and the topology
 * itself around one step.
 */
#ifndef SL_SINK_TOPO_H
#define SL_SINK_TOPO_H

#include <cJSON.h>

#include "processor/sl.h"

/*
 * The journey event in rec's value (topologies/event.h): SL_OK with
 * *ev, which the caller deletes with cJSON_Delete.  An event that is
 * not valid JSON or breaks a rule is dead-lettered with the reason
 * "field: rule" ("value: rule" when no field is to blame); *ev is then
 * NULL and the dead letter's result returned.  Any other failure: *ev
 * NULL and the error.
 */
int topo_event_or_dead_letter(sl_ctx *ctx, const sl_record *rec, cJSON **ev);

/* How a sink connector is made (ch_sink_new, capi_sink_new). */
typedef int (*topo_sink_new_fn)(const sl_config *cfg, const sl_sink_ops **ops,
				void **self, sl_errbuf *eb);

/* A topology that reads user_journey through one step into a sink. */
typedef struct topo_sink_spec {
	const char *name; /* of the topology; prefixes eb's messages */
	/* A global table the step reads (from the topic of that name). */
	const char *table; /* or NULL */
	const char *step_name;
	sl_step_fn step;
	topo_sink_new_fn sink_new;
} topo_sink_spec;

/*
 * Build the topology of `spec`, its sink made from cfg.  SL_OK and *out
 * (the caller's until sl_app_new takes it), or an error with eb set.
 */
int topo_sink_topology(const topo_sink_spec *spec, const sl_config *cfg,
		       sl_topology **out, sl_errbuf *eb);

#endif
