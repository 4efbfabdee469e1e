/*
 * campaign.h — the campaign's topologies, by name, for the worker and
 * the admin commands (replay, reset).
 */
#ifndef SL_CAMPAIGN_H
#define SL_CAMPAIGN_H

#include <stddef.h>

#include "processor/sl.h"

struct campaign_topology {
	const char *name;
	int (*build)(const sl_config *cfg, sl_topology **out, sl_errbuf *eb);
	int replayable; /* its sinks are idempotent: safe to re-run */
};

extern const struct campaign_topology campaign_topologies[];
extern const size_t campaign_ntopologies;

/* The entry of that name, or NULL. */
const struct campaign_topology *campaign_find(const char *name);

#endif
