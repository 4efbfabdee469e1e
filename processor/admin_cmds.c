/*
 * admin_cmds.c — `sluice replay`, `sluice reset`, `sluice state`.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "processor/app_int.h"
#include "processor/topology.h"
#include "processor/cli.h"
#include "processor/log.h"
#include "processor/timeutil.h"
#include "processor/topics.h"
#include "topologies/campaign.h"

static const char *COMP = "replay";

static void replay_usage(FILE *f)
{
	fprintf(f,
		"usage: sluice replay --topology NAME [--from TIME] [--to TIME]"
		" [--config FILE]\n\n"
		"Re-runs a topology's sinks over user_journey records whose "
		"time is in\n[--from, --to) (RFC 3339; default: the whole "
		"topic up to now), in a\nconsumer group of its own, then "
		"exits.  The sinks are idempotent\n(ClickHouse dedups on "
		"event_id, Meta on event_id), so a backfill over\ndata already "
		"delivered changes nothing.  Topologies: analytics, "
		"conversions.\nA progress bar is drawn when stderr is a "
		"terminal.\n");
}

struct replay_run {
	sl_app *app;
	int rc;
	volatile int done;
};

static void *replay_thread(void *arg)
{
	struct replay_run *r = arg;

	r->rc = sl_app_run(r->app);
	r->done = 1;
	return NULL;
}

static void progress(sl_app *app, int tty, int final)
{
	int64_t total, done;
	int width = 40, fill;

	sl_app_range_progress(app, &total, &done);
	if (!tty && !final)
		return;
	fill = total > 0 ? (int)(done * width / total) : 0;
	if (fill > width)
		fill = width;
	fprintf(stderr, "%s[%.*s%*s] %lld/%lld records%s", tty ? "\r" : "",
		fill, "########################################", width - fill,
		"", (long long)done, (long long)total, final ? "\n" : "");
	fflush(stderr);
}

static int parse_time(const char *s, int64_t *ms)
{
	if (sl_time_parse_rfc3339(s, ms) == SL_OK)
		return 0;
	fprintf(stderr, "sluice replay: '%s' is not an RFC 3339 time\n", s);
	return -1;
}

int replay_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "topology", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *name = NULL;
	int64_t from = 0, to = INT64_MAX;
	struct replay_run r = { NULL, 0, 0 };
	sl_topology *topo = NULL;
	sl_errbuf eb = { { 0 } };
	sl_config *cfg = NULL;
	char id[512], dlq[512];
	pthread_t th;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "c:t:f:u:h", opts, NULL)) != -1) {
		if (c == 'c')
			file = optarg;
		else if (c == 't')
			name = optarg;
		else if (c == 'f' && parse_time(optarg, &from) != 0)
			return 2;
		else if (c == 'u' && parse_time(optarg, &to) != 0)
			return 2;
		else if (c == 'h') {
			replay_usage(stdout);
			return 0;
		} else if (c != 'f' && c != 'u') {
			replay_usage(stderr);
			return 2;
		}
	}
	if (name == NULL) {
		replay_usage(stderr);
		return 2;
	}
	cfg = sl_cli_config(file);
	if (cfg == NULL)
		return 1;
	sl_signals_install();

	/* Its own group; dead letters still go to the application's topic. */
	snprintf(dlq, sizeof(dlq), "%s-dead-letters",
		 sl_config_get(cfg, "application.id"));
	snprintf(id, sizeof(id), "%s-replay-%ld",
		 sl_config_get(cfg, "application.id"), (long)time(NULL));
	sl_config_set(cfg, "dead_letter.topic", dlq);
	sl_config_set(cfg, "application.id", id);
	if (campaign_find(name) == NULL || !campaign_find(name)->replayable) {
		fprintf(stderr,
			"sluice replay: '%s' cannot be replayed "
			"(its sinks are not idempotent)\n",
			name);
		goto out;
	}
	if (campaign_find(name)->build(cfg, &topo, &eb) != SL_OK) {
		fprintf(stderr, "sluice replay: %s\n", eb.msg);
		goto out;
	}
	rc = sl_app_new(cfg, topo, &r.app, &eb);
	if (rc != SL_OK) {
		fprintf(stderr, "sluice replay: %s\n", eb.msg);
		rc = 1;
		goto out;
	}
	sl_app_set_range(r.app, from, to);
	SL_INFO(COMP, "replay started topology=%s group=%s-%s", name, id, name);
	pthread_create(&th, NULL, replay_thread, &r);
	while (!r.done) {
		if (sl_stop_requested)
			sl_app_stop(r.app);
		progress(r.app, isatty(STDERR_FILENO), 0);
		usleep(200 * 1000);
	}
	pthread_join(th, NULL);
	progress(r.app, isatty(STDERR_FILENO), 1);
	rc = r.rc == SL_OK && !sl_stop_requested ? 0 : 1;
out:
	sl_app_free(r.app);
	sl_config_free(cfg);
	return rc;
}

/* ---- state --------------------------------------------------------- */

static size_t write_out(char *p, size_t size, size_t n, void *ud)
{
	return fwrite(p, size, n, ud);
}

int state_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "admin", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *admin = NULL;
	char url[2048], *k = NULL, *s = NULL;
	sl_config *cfg;
	long status = 0;
	CURL *c;
	int opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "c:a:h", opts, NULL)) != -1) {
		if (opt == 'c')
			file = optarg;
		else if (opt == 'a')
			admin = optarg;
		else {
			fprintf(opt == 'h' ? stdout : stderr,
				"usage: sluice state STORE KEY [--admin "
				"HOST:PORT] [--config FILE]\n\n"
				"Prints a store's value for a key as JSON, "
				"asked of any worker's admin API\n(default "
				"admin.listen); the worker forwards to the "
				"owner of the key.\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "sluice state: need STORE and KEY\n");
		return 2;
	}
	cfg = sl_cli_config(file);
	if (cfg == NULL)
		return 1;
	if (admin == NULL)
		admin = sl_config_get(cfg, "admin.listen");
	c = curl_easy_init();
	if (c == NULL)
		goto out;
	s = curl_easy_escape(c, argv[optind], 0);
	k = curl_easy_escape(c, argv[optind + 1], 0);
	snprintf(url, sizeof(url), "%s%s/state/%s/%s",
		 strstr(admin, "://") ? "" : "http://", admin, s, k);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_out);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, stdout);
	if (curl_easy_perform(c) != CURLE_OK) {
		fprintf(stderr, "sluice state: no answer from %s\n", admin);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	printf("\n");
	rc = status == 200 ? 0 : 1;
out:
	curl_free(s);
	curl_free(k);
	if (c != NULL)
		curl_easy_cleanup(c);
	sl_config_free(cfg);
	return rc;
}

/* ---- reset --------------------------------------------------------- */

struct reset {
	sl_config *cfg;
	rd_kafka_t *rk; /* a consumer without a group: admin and offsets */
	int64_t to_ms;	/* 0: the earliest offsets */
	int dry;
	int failed;
	rd_kafka_DeleteTopic_t *del[64];
	int ndel;
};

static void reset_usage(FILE *f)
{
	fprintf(f,
		"usage: sluice reset [--dry-run] [--to TIME] "
		"[--topologies LIST] [--config FILE]\n\n"
		"The application reset, with every worker stopped: for each "
		"topology's\nconsumer group, input offsets go to TIME (RFC "
		"3339; default the earliest),\nits changelog topics and the "
		"<application.id>-workers registry are\ndeleted, and this "
		"machine's state directories for it are removed.\nThe "
		"dead-letter topic is kept.  --dry-run lists what it would do."
		"\n");
}

/* Wait for one admin result event and report its error, if any. */
static int admin_wait(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
	int rc = 0;

	if (ev == NULL || rd_kafka_event_error(ev)) {
		fprintf(stderr, "sluice reset: %s: %s\n", what,
			ev ? rd_kafka_event_error_string(ev) : "timed out");
		rc = -1;
	}
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	return rc;
}

static int64_t reset_offset(struct reset *r, const char *topic, int32_t p)
{
	rd_kafka_topic_partition_list_t *l;
	int64_t lo = 0, hi = 0, off;

	rd_kafka_query_watermark_offsets(r->rk, topic, p, &lo, &hi, 10000);
	if (r->to_ms <= 0)
		return lo;
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, p)->offset = r->to_ms;
	off = hi;
	if (rd_kafka_offsets_for_times(r->rk, l, 10000) == 0 &&
	    l->elems[0].offset >= 0)
		off = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	return off;
}

static void reset_offsets(struct reset *r, const char *group, const char *topic)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_AlterConsumerGroupOffsets_t *a;
	rd_kafka_queue_t *q;
	int n = sl_topic_partitions(r->rk, topic, 10000);

	if (n <= 0)
		return;
	l = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(l, topic, p)->offset =
			reset_offset(r, topic, p);
	for (int p = 0; p < n; p++)
		printf("%s group %s: %s[%d] to offset %lld\n",
		       r->dry ? "would set" : "set", group, topic, p,
		       (long long)l->elems[p].offset);
	if (!r->dry) {
		q = rd_kafka_queue_new(r->rk);
		a = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
		rd_kafka_AlterConsumerGroupOffsets(r->rk, &a, 1, NULL, q);
		if (admin_wait(q, group) != 0)
			r->failed = 1;
		rd_kafka_AlterConsumerGroupOffsets_destroy(a);
		rd_kafka_queue_destroy(q);
	}
	rd_kafka_topic_partition_list_destroy(l);
}

static void reset_topic(struct reset *r, const char *topic)
{
	if (sl_topic_partitions(r->rk, topic, 10000) <= 0 || r->ndel == 64)
		return;
	printf("%s topic %s\n", r->dry ? "would delete" : "delete", topic);
	r->del[r->ndel++] = rd_kafka_DeleteTopic_new(topic);
}

static void reset_dir(struct reset *r, const char *group)
{
	char path[4096], cmd[4200];

	snprintf(path, sizeof(path), "%s/%s",
		 sl_config_get(r->cfg, "state.dir"), group);
	if (access(path, F_OK) != 0)
		return;
	printf("%s directory %s\n", r->dry ? "would remove" : "remove", path);
	if (r->dry || strchr(path, '\'') != NULL)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", path);
	if (system(cmd) != 0)
		r->failed = 1;
}

static void reset_topology(struct reset *r, const struct campaign_topology *c)
{
	const char *app = sl_config_get(r->cfg, "application.id");
	sl_topology *t = NULL;
	sl_errbuf eb = { { 0 } };
	char group[512], topic[1024];

	if (c->build(r->cfg, &t, &eb) != SL_OK) {
		fprintf(stderr, "sluice reset: %s: %s\n", c->name, eb.msg);
		r->failed = 1;
		return;
	}
	snprintf(group, sizeof(group), "%s-%s", app, c->name);
	reset_offsets(r, group, t->source);
	for (int s = 0; s < t->nstores; s++) {
		if (t->stores[s].global)
			continue;
		snprintf(topic, sizeof(topic), "%s-%s-changelog", group,
			 t->stores[s].name);
		reset_topic(r, topic);
	}
	reset_dir(r, group);
	sl_topology_free(t);
}

int reset_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "to", required_argument, NULL, 't' },
		{ "topologies", required_argument, NULL, 'T' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct reset r = { .failed = 0 };
	const char *file = NULL, *list = NULL;
	rd_kafka_conf_t *conf;
	char errstr[256], topic[512];
	sl_errbuf eb = { { 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "c:t:T:nh", opts, NULL)) != -1) {
		if (c == 'c')
			file = optarg;
		else if (c == 'T')
			list = optarg;
		else if (c == 'n')
			r.dry = 1;
		else if (c == 't' && sl_time_parse_rfc3339(optarg, &r.to_ms))
			return fprintf(stderr, "sluice reset: bad --to\n"), 2;
		else if (c != 't') {
			reset_usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	r.cfg = sl_cli_config(file);
	if (r.cfg == NULL)
		return 1;
	conf = rd_kafka_conf_new();
	if (sl_kafka_conf_apply(conf, r.cfg, &eb) != SL_OK) {
		fprintf(stderr, "sluice reset: %s\n", eb.msg);
		rd_kafka_conf_destroy(conf);
		sl_config_free(r.cfg);
		return 1;
	}
	r.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (r.rk == NULL) {
		fprintf(stderr, "sluice reset: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		sl_config_free(r.cfg);
		return 1;
	}
	for (size_t i = 0; i < campaign_ntopologies; i++) {
		const char *n = campaign_topologies[i].name;

		if (list == NULL || strstr(list, n) != NULL)
			reset_topology(&r, &campaign_topologies[i]);
	}
	snprintf(topic, sizeof(topic), "%s-workers",
		 sl_config_get(r.cfg, "application.id"));
	reset_topic(&r, topic);
	if (!r.dry && r.ndel > 0) {
		rd_kafka_queue_t *q = rd_kafka_queue_new(r.rk);

		rd_kafka_DeleteTopics(r.rk, r.del, (size_t)r.ndel, NULL, q);
		if (admin_wait(q, "delete topics") != 0)
			r.failed = 1;
		rd_kafka_queue_destroy(q);
	}
	rd_kafka_DeleteTopic_destroy_array(r.del, (size_t)r.ndel);
	rd_kafka_destroy(r.rk);
	sl_config_free(r.cfg);
	if (r.failed)
		fprintf(stderr, "sluice reset: incomplete (are all workers "
				"stopped?)\n");
	return r.failed ? 1 : 0;
}
