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

/*
 * The next item of a comma-separated list at *p: its start, its length
 * in *len, *p moved past it; NULL when the list is used up.
 */
static const char *next_item(const char **p, size_t *len)
{
	const char *item = *p, *comma;

	if (item == NULL || *item == '\0')
		return NULL;
	comma = strchr(item, ',');
	*len = comma ? (size_t)(comma - item) : strlen(item);
	*p = comma ? comma + 1 : NULL;
	return item;
}

static int item_is(const char *item, size_t len, const char *name)
{
	return len == strlen(name) && strncmp(item, name, len) == 0;
}

int campaign_listed(const char *list, const char *name)
{
	const char *p = list, *item;
	size_t len;

	if (list == NULL)
		return 1;
	while ((item = next_item(&p, &len)) != NULL)
		if (item_is(item, len, name))
			return 1;
	return 0;
}

int campaign_check_list(const char *list, sl_errbuf *eb)
{
	const char *p = list, *item;
	size_t len;

	while ((item = next_item(&p, &len)) != NULL) {
		int known = 0;

		for (size_t i = 0; i < campaign_ntopologies && !known; i++)
			known = item_is(item, len, campaign_topologies[i].name);
		if (!known)
			return sl_errbuf_set(eb, SL_ECONFIG,
					     "unknown topology '%.*s' (known: "
					     "journey, analytics, whatsapp, "
					     "conversions)",
					     (int)len, item);
	}
	return SL_OK;
}
