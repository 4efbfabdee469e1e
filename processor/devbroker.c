/*
 * devbroker.c — `sluice dev-broker`: a zero-setup Kafka for trying Sluice
 * on a laptop, librdkafka's in-process mock cluster.
 *
 * The mock cluster cannot create topics through the admin API, so this
 * creates up front every topic the campaign's worker uses for the
 * configured application.id.  It is for development only: the mock
 * keeps ~5 MiB per partition and does not model transactions (see
 * docs/KNOWN_LIMITATIONS.md); tests of semantics use the real broker.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "processor/cli.h"
#include "processor/log.h"
#include "processor/topology.h"
#include "topologies/campaign.h"

#define DEVBROKER_MAX 16 /* --brokers: a laptop's mock cluster */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice dev-broker [--brokers N] [--config FILE]\n\n"
		"Runs an in-process mock Kafka cluster of N brokers "
		"(1..%d, default 1)\nuntil SIGINT/SIGTERM and prints "
		"`export SLUICE_KAFKA_BOOTSTRAP_SERVERS=...`\nfor other "
		"shells.  It creates the campaign's topics for "
		"application.id\nfirst.  Development only.\n",
		DEVBROKER_MAX);
}

/* --brokers: 0 and *n, or -1 with the usage error on stderr. */
static int parse_brokers(const char *s, int *n)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > DEVBROKER_MAX) {
		fprintf(stderr,
			"sluice dev-broker: --brokers must be 1..%d, not "
			"'%s'\n",
			DEVBROKER_MAX, s);
		return -1;
	}
	*n = (int)v;
	return 0;
}

static void create(rd_kafka_mock_cluster_t *mc, const char *topic, int n)
{
	rd_kafka_mock_topic_create(mc, topic, n, 1);
}

/*
 * Changelogs and the dead-letter and registry topics of the app, named
 * from the campaign table (no topology is built).
 */
static void create_internal(rd_kafka_mock_cluster_t *mc, sl_config *cfg, int n)
{
	const char *app = sl_config_get(cfg, "application.id");
	char name[600];

	for (size_t i = 0; i < campaign_ntopologies; i++) {
		const struct campaign_topology *c = &campaign_topologies[i];

		for (const char *const *s = c->stores; *s != NULL; s++) {
			snprintf(name, sizeof(name), "%s-%s-%s-changelog", app,
				 c->name, *s);
			create(mc, name, n);
		}
	}
	snprintf(name, sizeof(name), "%s-dead-letters", app);
	create(mc, name, n);
	snprintf(name, sizeof(name), "%s-workers", app);
	create(mc, name, 1);
}

int devbroker_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "brokers", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	rd_kafka_conf_t *conf;
	rd_kafka_mock_cluster_t *mc;
	char errstr[256], brokers[16];
	rd_kafka_t *rk;
	sl_config *cfg;
	int64_t parts = 12;
	int c, nbrokers = 1;

	while ((c = getopt_long(argc, argv, "c:b:h", opts, NULL)) != -1) {
		if (c == 'c')
			file = optarg;
		else if (c == 'b') {
			if (parse_brokers(optarg, &nbrokers) != 0)
				return 2;
		} else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (sl_cli_no_operands("dev-broker", argc, argv) != 0)
		return 2;
	cfg = sl_cli_config(file);
	if (cfg == NULL)
		return 1;
	sl_config_int(cfg, "topic.partitions", &parts, NULL);
	snprintf(brokers, sizeof(brokers), "%d", nbrokers);
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "test.mock.num.brokers", brokers, errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    (rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
			       sizeof(errstr))) == NULL) {
		fprintf(stderr, "sluice dev-broker: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		sl_config_free(cfg);
		return 1;
	}
	mc = rd_kafka_handle_mock_cluster(rk);
	create(mc, "user_journey", (int)parts);
	create(mc, "send_reminder", (int)parts);
	create(mc, "pincodes", (int)parts);
	create_internal(mc, cfg, (int)parts);
	sl_signals_install();
	printf("export SLUICE_KAFKA_BOOTSTRAP_SERVERS=%s\n",
	       rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	SL_WARN("dev-broker", "mock cluster up: development only, no "
			      "transactions, ~5 MiB per partition");
	while (!sl_stop_requested)
		usleep(200 * 1000);
	rd_kafka_destroy(rk);
	sl_config_free(cfg);
	return 0;
}
