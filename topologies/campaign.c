/* campaign.c — the table of the campaign's topologies. */
#include <string.h>

#include "topologies/analytics.h"
#include "topologies/campaign.h"
#include "topologies/conversions.h"
#include "topologies/journey.h"
#include "topologies/whatsapp.h"

static const char *const journey_stores[] = { JOURNEY_STORE, NULL };
static const char *const whatsapp_stores[] = { WS_STORE, WS_INDEX, NULL };
static const char *const no_stores[] = { NULL };

const struct campaign_topology campaign_topologies[] = {
	{ "journey", journey_topology, 0, NULL, "user_journey",
	  journey_stores },
	{ "analytics", analytics_topology, 1, NULL, "user_journey",
	  no_stores },
	{ "whatsapp", whatsapp_topology, 0, "whatsapp.topic", "send_reminder",
	  whatsapp_stores },
	{ "conversions", conversions_topology, 1, NULL, "user_journey",
	  no_stores },
};

const size_t campaign_ntopologies =
	sizeof(campaign_topologies) / sizeof(campaign_topologies[0]);

const struct campaign_topology *campaign_find(const char *name)
{
	for (size_t i = 0; i < campaign_ntopologies; i++)
		if (strcmp(campaign_topologies[i].name, name) == 0)
			return &campaign_topologies[i];
	return NULL;
}

const char *campaign_source(const struct campaign_topology *c,
			    const sl_config *cfg)
{
	const char *v = c->source_key ? sl_config_get(cfg, c->source_key)
				      : NULL;

	return v != NULL ? v : c->source;
}
