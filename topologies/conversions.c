/*
 * conversions.c — completed screenings to Meta's Conversions API.
 *
 *	user_journey -> select (screening_completed) -> Meta sink
 *
 * Other event types pass by; an invalid event is dead-lettered, as in
 * every topology.  The value goes to the sink as it came: the sink
 * builds Meta's server event (hashing, event_id, batching) itself.
 */
#include <cJSON.h>

#include "connectors/meta.h"
#include "topologies/conversions.h"
#include "topologies/event.h"
#include "topologies/sink_topo.h"

static int select_completed(sl_ctx *ctx, const sl_record *rec, void *ud)
{
	const cJSON *type;
	cJSON *ev = NULL;
	int rc;

	(void)ud;
	rc = topo_event_or_dead_letter(ctx, rec, &ev);
	if (ev == NULL)
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
	static const topo_sink_spec spec = {
		.name = "conversions",
		.step_name = "select",
		.step = select_completed,
		.sink_new = capi_sink_new,
	};

	return topo_sink_topology(&spec, cfg, out, eb);
}
