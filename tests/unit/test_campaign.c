/*
 * test_campaign.c — the campaign table says what a build says.
 *
 * `sluice reset` and `sluice dev-broker` take a topology's source topic
 * and its changelogged stores from the table in topologies/campaign.c
 * instead of building it; here each topology is built (connectors dry)
 * and its real source and own stores are compared with the table, under
 * the defaults and with the source key set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "processor/config.h"
#include "processor/log.h"
#include "processor/topology.h"
#include "topologies/campaign.h"

static char dry_dir[64];

/* A config whose connectors all run dry, into a directory of the test. */
static sl_config *dry_config(void)
{
	sl_config *cfg = sl_config_new();

	assert_non_null(cfg);
	assert_int_equal(sl_config_set(cfg, "dry_run.dir", dry_dir), SL_OK);
	assert_int_equal(sl_config_set(cfg, "clickhouse.url", "dry"), SL_OK);
	return cfg;
}

/* Build c under cfg and compare with the table's entry. */
static void check_against_build(const struct campaign_topology *c,
				const sl_config *cfg)
{
	sl_topology *t = NULL;
	sl_errbuf eb = { { 0 } };
	int own = 0;

	if (c->build(cfg, &t, &eb) != SL_OK)
		fail_msg("%s: build failed: %s", c->name, eb.msg);
	assert_string_equal(t->source, campaign_source(c, cfg));
	for (int s = 0; s < t->nstores; s++) {
		if (t->stores[s].global)
			continue;
		if (c->stores[own] == NULL)
			fail_msg("%s: store %s missing from the table", c->name,
				 t->stores[s].name);
		assert_string_equal(t->stores[s].name, c->stores[own]);
		own++;
	}
	if (c->stores[own] != NULL)
		fail_msg("%s: the table names store %s the build lacks",
			 c->name, c->stores[own]);
	sl_topology_free(t);
}

static void test_table_matches_builds(void **state)
{
	sl_config *cfg = dry_config();

	(void)state;
	assert_int_equal(campaign_ntopologies, 4);
	for (size_t i = 0; i < campaign_ntopologies; i++)
		check_against_build(&campaign_topologies[i], cfg);
	sl_config_free(cfg);
}

/* A topology whose source is configurable follows its key. */
static void test_source_key_followed(void **state)
{
	const struct campaign_topology *wa = campaign_find("whatsapp");
	sl_config *cfg = dry_config();

	(void)state;
	assert_non_null(wa);
	assert_string_equal(campaign_source(wa, cfg), "send_reminder");
	assert_int_equal(sl_config_set(cfg, "whatsapp.topic", "reminders_b"),
			 SL_OK);
	assert_string_equal(campaign_source(wa, cfg), "reminders_b");
	assert_string_equal(campaign_source(campaign_find("journey"), cfg),
			    "user_journey");
	sl_config_free(cfg);
}

/* --topologies lists: whole names only; an unknown one is refused. */
static void test_topology_lists(void **state)
{
	sl_errbuf eb = { { 0 } };

	(void)state;
	assert_true(campaign_listed(NULL, "journey"));
	assert_true(campaign_listed("analytics,journey", "journey"));
	assert_false(campaign_listed("journeys", "journey"));
	assert_false(campaign_listed("journe", "journey"));
	assert_false(campaign_listed("analytics", "journey"));
	assert_int_equal(campaign_check_list(NULL, &eb), SL_OK);
	assert_int_equal(campaign_check_list("journey,whatsapp", &eb), SL_OK);
	assert_int_equal(campaign_check_list("journey,jorney", &eb),
			 SL_ECONFIG);
	assert_string_equal(eb.msg, "unknown topology 'jorney' (known: "
				    "journey, analytics, whatsapp, "
				    "conversions)");
	assert_int_equal(campaign_check_list("journey,", &eb), SL_OK);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_matches_builds),
		cmocka_unit_test(test_source_key_followed),
		cmocka_unit_test(test_topology_lists),
	};
	char tmpl[] = "/tmp/sluice-test-campaign.XXXXXX";
	char cmd[128];
	int rc;

	sl_log_set_level("error");
	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(dry_dir, sizeof(dry_dir), "%s", tmpl);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dry_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dry_dir);
	return rc;
}
