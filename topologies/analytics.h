/*
 * analytics.h — the analytics topology: every journey event, enriched
 * with district and state from the pin code table, to ClickHouse.
 */
#ifndef SL_ANALYTICS_H
#define SL_ANALYTICS_H

#include "processor/sl.h"

/*
 * Build the topology: source user_journey, global table "pincodes"
 * (topic pincodes, loaded by `sluice pincodes`), a step that validates
 * each event (bad ones are dead-lettered with "field: rule") and adds
 * district, state, kafka_partition and kafka_offset, and the ClickHouse
 * sink of connectors/clickhouse.h (dry when clickhouse.url is unset or
 * "dry").  SL_OK and *out (the caller's until sl_app_new takes it), or
 * an error with eb set.
 */
int analytics_topology(const sl_config *cfg, sl_topology **out, sl_errbuf *eb);

#endif
