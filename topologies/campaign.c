/* campaign.c — the table of the campaign's topologies. */
#include <string.h>

#include "topologies/analytics.h"
#include "topologies/campaign.h"
#include "topologies/conversions.h"
#include "topologies/journey.h"
#include "topologies/whatsapp.h"

const struct campaign_topology campaign_topologies[] = {
	{ "journey", journey_topology, 0 },
	{ "analytics", analytics_topology, 1 },
	{ "whatsapp", whatsapp_topology, 0 },
	{ "conversions", conversions_topology, 1 },
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
