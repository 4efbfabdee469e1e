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
#include "processor/cli.h"
#include "processor/log.h"
#include "processor/timeutil.h"
#include "topologies/analytics.h"
#include "topologies/conversions.h"

static const char *COMP = "replay";

/* Topologies whose sinks are idempotent, so a replay changes nothing. */
static const struct {
	const char *name;
	int (*build)(const sl_config *, sl_topology **, sl_errbuf *);
} replayable[] = {
	{ "analytics", analytics_topology },
	{ "conversions", conversions_topology },
};

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
	for (size_t i = 0; i < sizeof(replayable) / sizeof(*replayable); i++)
		if (strcmp(name, replayable[i].name) == 0)
			rc = replayable[i].build(cfg, &topo, &eb) == SL_OK ? 0
									   : 1;
	if (topo == NULL) {
		fprintf(stderr, "sluice replay: cannot replay '%s' %s\n", name,
			eb.msg);
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

/* TODO: sluice reset is not implemented yet (offsets to a time, state
 * and internal topics cleared); it exits 2. */
int reset_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "sluice %s: not implemented yet\n", argv[0]);
	return 2;
}
