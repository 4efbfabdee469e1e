/*
 * sink_topo.c — the frame of the topologies that end in a sink.
 */
#include <stdio.h>

#include "topologies/event.h"
#include "topologies/sink_topo.h"

int topo_event_or_dead_letter(sl_ctx *ctx, const sl_record *rec, cJSON **ev)
{
	char reason[300];
	ev_error err;
	int rc;

	*ev = NULL;
	rc = ev_parse(rec->value.data, rec->value.len, ev, &err);
	if (rc == SL_EPARSE || rc == SL_EINVAL) {
		snprintf(reason, sizeof(reason), "%s: %s",
			 err.field[0] ? err.field : "value", err.rule);
		return sl_ctx_dead_letter(ctx, rec, reason);
	}
	return rc;
}

int topo_sink_topology(const topo_sink_spec *spec, const sl_config *cfg,
		       sl_topology **out, sl_errbuf *eb)
{
	sl_topology *t = sl_topology_new(spec->name);
	const sl_sink_ops *ops = NULL;
	void *sink = NULL;
	int rc;

	*out = NULL;
	if (t == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "%s: out of memory",
				     spec->name);
	rc = sl_topology_source(t, "user_journey");
	if (rc == SL_OK && spec->table != NULL)
		rc = sl_topology_global_table(t, spec->table, spec->table);
	if (rc == SL_OK)
		rc = sl_topology_step(t, spec->step_name, spec->step, NULL);
	if (rc != SL_OK) {
		sl_errbuf_set(eb, rc, "%s: building the topology: %s",
			      spec->name, sl_strerror(rc));
		goto out;
	}

	/* The topology owns the sink from here, even on failure. */
	rc = spec->sink_new(cfg, &ops, &sink, eb);
	if (rc == SL_OK) {
		rc = sl_topology_sink_connector(t, ops, sink);
		if (rc != SL_OK)
			sl_errbuf_set(eb, rc, "%s: adding the sink: %s",
				      spec->name, sl_strerror(rc));
	}
out:
	if (rc != SL_OK) {
		sl_topology_free(t);
		return rc;
	}
	*out = t;
	return SL_OK;
}
