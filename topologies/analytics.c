/*
 * analytics.c — every journey event, enriched with district and state
 * from the pin code table, to ClickHouse.
 *
 *	user_journey -> enrich -> ClickHouse sink (journey_events)
 *	                  ^
 *	      global table "pincodes" (topic pincodes)
 *
 * The enriched event is the event as it came (unknown fields kept),
 * with "district" and "state" set from its pin code ("" when it has
 * none, the code is not in the table, or the table says NA) and the
 * record's Kafka coordinates as "kafka_partition" and "kafka_offset".
 */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "connectors/clickhouse.h"
#include "topologies/analytics.h"
#include "topologies/pincodes.h"
#include "topologies/sink_topo.h"

#define AN_TABLE "pincodes"

/* Set obj[name] to a string or raw JSON number, replacing any value. */
static int set_field(cJSON *obj, const char *name, const char *str,
		     long long num)
{
	char raw[24];
	cJSON *it;

	if (str != NULL)
		it = cJSON_CreateString(str);
	else {
		snprintf(raw, sizeof(raw), "%lld", num);
		it = cJSON_CreateRaw(raw);
	}
	if (it == NULL)
		return SL_ENOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
	cJSON_AddItemToObject(obj, name, it);
	return SL_OK;
}

/* District and state of the event's pin code; "" when not known. */
static int look_up(sl_ctx *ctx, const cJSON *ev, char *district, size_t dn,
		   char *state, size_t sn)
{
	const cJSON *pin = cJSON_GetObjectItemCaseSensitive(ev, "pincode");
	sl_store *table = sl_ctx_store(ctx, AN_TABLE);
	sl_bytes val;
	int rc;

	district[0] = state[0] = '\0';
	if (!cJSON_IsString(pin))
		return SL_OK; /* reminder_sent, opted_out, ... have none */
	if (table == NULL)
		return SL_ESTATE; /* the topology always declares it */
	rc = sl_store_get(table, pin->valuestring, strlen(pin->valuestring),
			  &val);
	if (rc == SL_ENOTFOUND)
		return SL_OK;
	if (rc != SL_OK)
		return rc;

	/* A value we cannot read is as good as no entry. */
	if (pc_value_place(val.data, val.len, district, dn, state, sn) != SL_OK)
		district[0] = state[0] = '\0';
	return SL_OK;
}

static int enrich(sl_ctx *ctx, const sl_record *rec, void *ud)
{
	char district[128], state[128];
	cJSON *ev = NULL;
	char *out = NULL;
	int rc;

	(void)ud;
	rc = topo_event_or_dead_letter(ctx, rec, &ev);
	if (ev == NULL)
		return rc;

	rc = look_up(ctx, ev, district, sizeof(district), state, sizeof(state));
	if (rc == SL_OK)
		rc = set_field(ev, "district", district, 0);
	if (rc == SL_OK)
		rc = set_field(ev, "state", state, 0);
	if (rc == SL_OK)
		rc = set_field(ev, "kafka_partition", NULL, rec->partition);
	if (rc == SL_OK)
		rc = set_field(ev, "kafka_offset", NULL, rec->offset);
	if (rc != SL_OK)
		goto out;

	out = cJSON_PrintUnformatted(ev);
	if (out == NULL) {
		rc = SL_ENOMEM;
		goto out;
	}
	rc = sl_ctx_forward(ctx, rec->key.data, rec->key.len, out, strlen(out),
			    rec->timestamp_ms);
out:
	cJSON_free(out);
	cJSON_Delete(ev);
	return rc;
}

int analytics_topology(const sl_config *cfg, sl_topology **out, sl_errbuf *eb)
{
	static const topo_sink_spec spec = {
		.name = "analytics",
		.table = AN_TABLE, /* from the topic "pincodes" */
		.step_name = "enrich",
		.step = enrich,
		.sink_new = ch_sink_new,
	};

	return topo_sink_topology(&spec, cfg, out, eb);
}
