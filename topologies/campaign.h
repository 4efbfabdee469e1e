/*
 * campaign.h — the campaign's topologies, by name, for the worker and
 * the admin commands (replay, reset).
 */
#ifndef SL_CAMPAIGN_H
#define SL_CAMPAIGN_H

#include <stddef.h>

#include "processor/sl.h"

/*
 * What the admin commands need to know of a topology without building it
 * (a build also makes its connectors: senders, sinks, dry-run files):
 * its source topic and its own stores, the ones with changelogs.
 * tests/unit/test_campaign.c checks these against real builds.
 */
struct campaign_topology {
	const char *name;
	int (*build)(const sl_config *cfg, sl_topology **out, sl_errbuf *eb);
	int replayable;		   /* sinks idempotent: safe to re-run */
	const char *source_key;	   /* config key naming the source, or NULL */
	const char *source;	   /* the source when that key is unset */
	const char *const *stores; /* own stores, NULL-terminated */
};

extern const struct campaign_topology campaign_topologies[];
extern const size_t campaign_ntopologies;

/* The entry of that name, or NULL. */
const struct campaign_topology *campaign_find(const char *name);

/* 1 when name is an item of the comma-separated list (NULL: all). */
int campaign_listed(const char *list, const char *name);

/*
 * SL_OK when every item of the comma-separated list names a topology
 * of the table (NULL: all do); else SL_ECONFIG naming the first that
 * does not, and the known ones.
 */
int campaign_check_list(const char *list, sl_errbuf *eb);

/* The topology's source topic under cfg. */
const char *campaign_source(const struct campaign_topology *c,
			    const sl_config *cfg);

#endif
