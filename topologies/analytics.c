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
#include "topologies/event.h"
#include "topologies/pincodes.h"

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
	char district[128], state[128], reason[300];
	cJSON *ev = NULL;
	char *out = NULL;
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
	sl_topology *t = sl_topology_new("analytics");
	const sl_sink_ops *ops = NULL;
	void *sink = NULL;
	int rc;

	*out = NULL;
	if (t == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "analytics: out of memory");
	rc = sl_topology_source(t, "user_journey");
	if (rc == SL_OK)
		rc = sl_topology_global_table(t, AN_TABLE, "pincodes");
	if (rc == SL_OK)
		rc = sl_topology_step(t, "enrich", enrich, NULL);
	if (rc != SL_OK) {
		sl_errbuf_set(eb, rc, "analytics: building the topology: %s",
			      sl_strerror(rc));
		goto out;
	}

	/* The topology owns the sink from here, even on failure. */
	rc = ch_sink_new(cfg, &ops, &sink, eb);
	if (rc == SL_OK) {
		rc = sl_topology_sink_connector(t, ops, sink);
		if (rc != SL_OK)
			sl_errbuf_set(eb, rc, "analytics: adding the sink: %s",
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
