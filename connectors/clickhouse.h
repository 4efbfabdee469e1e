/*
 * clickhouse.h — the ClickHouse sink connector and schema.
 */
#ifndef SL_CLICKHOUSE_H
#define SL_CLICKHOUSE_H

#include "processor/config.h"
#include "processor/err.h"
#include "processor/sl.h"

/*
 * Create the `journey_events` table (and what reads it) in
 * clickhouse.url / clickhouse.database if missing.  Idempotent.
 */
int ch_migrate(const sl_config *cfg, sl_errbuf *eb);

/*
 * A sink for the analytics topology: rows are the JSON values that
 * reach it (enriched journey events).  Runs dry into
 * <dry_run.dir>/clickhouse.jsonl when clickhouse.url is unset or "dry".
 * On success *ops and *self are ready for sl_topology_sink_connector().
 */
int ch_sink_new(const sl_config *cfg, const sl_sink_ops **ops, void **self,
		sl_errbuf *eb);

#endif
