/*
 * conversions.c — completed screenings to Meta's Conversions API.
 *
 *	user_journey -> select (screening_completed) -> Meta sink
 *
 * Other event types pass by; an invalid event is dead-lettered, as in
 * every topology.  The value goes to the sink as it came: the sink
 * builds Meta's server event (hashing, event_id, batching) itself.
 */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "connectors/meta.h"
#include "topologies/conversions.h"
#include "topologies/event.h"

static int select_completed(sl_ctx *ctx, const sl_record *rec, void *ud)
{
	const cJSON *type;
	cJSON *ev = NULL;
	char reason[300];
	ev_error err;
	int rc;

	(void)ud;
	rc = ev_parse(rec->value.data, rec->value.len, &ev, &err);
	if (rc == SL_EPARSE || rc == SL_EINVAL) {
		snprintf(reason, sizeof(reason), "%s: %s",
			 err.field[0] ? err.field : "value", err.rule);
		return sl_ctx_dead_letter(ctx, rec, reason);
	}
	if (rc != SL_OK)
		return rc;

	type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	if (cJSON_IsString(type) &&
	    ev_type_from_string(type->valuestring) == EV_SCREENING_COMPLETED)
		rc = sl_ctx_forward(ctx, rec->key.data, rec->key.len,
				    rec->value.data, rec->value.len,
				    rec->timestamp_ms);
	cJSON_Delete(ev);
	return rc;
}

int conversions_topology(const sl_config *cfg, sl_topology **out, sl_errbuf *eb)
{
	sl_topology *t = sl_topology_new("conversions");
	const sl_sink_ops *ops = NULL;
	void *sink = NULL;
	int rc;

	*out = NULL;
	if (t == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM,
				     "conversions: out of memory");
	rc = sl_topology_source(t, "user_journey");
	if (rc == SL_OK)
		rc = sl_topology_step(t, "select", select_completed, NULL);
	if (rc != SL_OK) {
		sl_errbuf_set(eb, rc, "conversions: building the topology: %s",
			      sl_strerror(rc));
		goto out;
	}

	/* The topology owns the sink from here, even on failure. */
	rc = capi_sink_new(cfg, &ops, &sink, eb);
	if (rc == SL_OK) {
		rc = sl_topology_sink_connector(t, ops, sink);
		if (rc != SL_OK)
			sl_errbuf_set(eb, rc,
				      "conversions: adding the sink: %s",
				      sl_strerror(rc));
	}
out:
	if (rc != SL_OK) {
		sl_topology_free(t);
		return rc;
	}
	*out = t;
	return SL_OK;
}
