/*
 * analytics.h — the analytics topology: every journey event, enriched
 * with district and state from the pin code table, to ClickHouse.
 */
#ifndef SL_ANALYTICS_H
#define SL_ANALYTICS_H

#include "processor/sl.h"

int analytics_topology(const sl_config *cfg, sl_topology **out,
		       sl_errbuf *eb);

#endif
