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
	{ "analytics", analytics_topology, 1, NULL, "user_journey", no_stores },
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

int campaign_listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	if (list == NULL)
		return 1;
	for (const char *p = list; p != NULL && *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return 1;
		p = c ? c + 1 : NULL;
	}
	return 0;
}

int campaign_check_list(const char *list, sl_errbuf *eb)
{
	for (const char *p = list; p != NULL && *p;) {
		const char *c = strchr(p, ',');
		int len = c ? (int)(c - p) : (int)strlen(p);
		int known = 0;

		for (size_t i = 0; i < campaign_ntopologies && !known; i++)
			known = (size_t)len ==
					strlen(campaign_topologies[i].name) &&
				strncmp(p, campaign_topologies[i].name,
					(size_t)len) == 0;
		if (!known)
			return sl_errbuf_set(eb, SL_ECONFIG,
					     "unknown topology '%.*s' (known: "
					     "journey, analytics, whatsapp, "
					     "conversions)",
					     len, p);
		p = c ? c + 1 : NULL;
	}
	return SL_OK;
}
