/*
 * worker.c — `sluice worker`: runs the campaign's topologies, each as
 * its own app (consumer group <application.id>-<topology>) on its own
 * thread, and the admin API on admin.listen.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "api/http.h"
#include "processor/app_int.h"
#include "processor/cli.h"
#include "processor/log.h"
#include "processor/registry.h"
#include "processor/topics.h"
#include "topologies/campaign.h"
#include "topologies/whatsapp.h"

#define MAX_APPS 8

static const char *COMP = "worker";

struct worker {
	sl_config *cfg;
	sl_clock clock;
	sl_app *apps[MAX_APPS];
	pthread_t threads[MAX_APPS];
	int rcs[MAX_APPS];
	volatile int done[MAX_APPS];
	int napps;
	http_server *admin;
	sl_registry *registry;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice worker [--config FILE] [--topologies LIST]\n\n"
		"Runs the campaign's topologies over Kafka until SIGTERM or "
		"SIGINT\n(a second signal exits at once).  Connectors without "
		"credentials run dry\n(requests go to <dry_run.dir>/*.jsonl)."
		"\n\n"
		"  --config FILE       key = value configuration\n"
		"  --topologies LIST   comma-separated (config key "
		"worker.topologies);\n"
		"                      default: all; "
		"known:");
	for (size_t i = 0; i < campaign_ntopologies; i++)
		fprintf(f, " %s", campaign_topologies[i].name);
	fprintf(f, "\n\nAdmin API on admin.listen: /healthz /readyz /metrics "
		   "/tasks /state/{store}/{key}\n");
}

/* ---- admin API --------------------------------------------------- */

static void h_ready(const http_req *req, http_resp *resp, void *ud)
{
	struct worker *w = ud;

	(void)req;
	for (int i = 0; i < w->napps; i++) {
		if (!app_is_ready(w->apps[i])) {
			http_resp_json(resp, 503, "{\"status\":\"restoring\"}");
			return;
		}
	}
	http_resp_json(resp, 200, "{\"status\":\"ready\"}");
}

static void h_tasks(const http_req *req, http_resp *resp, void *ud)
{
	struct worker *w = ud;
	cJSON *arr = cJSON_CreateArray();

	(void)req;
	for (int i = 0; i < w->napps && arr != NULL; i++)
		app_tasks_json(w->apps[i], arr);
	http_resp_cjson(resp, 200, arr);
	cJSON_Delete(arr);
}

static void write_metrics(FILE *f, void *ud)
{
	struct worker *w = ud;

	for (int i = 0; i < w->napps; i++)
		app_write_metrics(w->apps[i], f);
	whatsapp_write_metrics(f);
	http_server_write_metrics(w->admin, f);
}

static void h_metrics(const http_req *req, http_resp *resp, void *ud)
{
	(void)req;
	http_resp_metrics(resp, write_metrics, ud);
}

struct buf {
	char *data;
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	char *d;

	if (b->len + size * n > 1 << 20)
		return 0; /* a state value is never this big */
	d = realloc(b->data, b->len + size * n + 1);
	if (d == NULL)
		return 0;
	memcpy(d + b->len, p, size * n);
	b->data = d;
	b->len += size * n;
	d[b->len] = '\0';
	return size * n;
}

/*
 * The key's partition runs on another worker: ask it (once; a
 * forwarded request is never forwarded again).
 */
static void forward(struct worker *w, const http_req *req, http_resp *resp,
		    const char *app, int32_t part)
{
	char owner[256], url[1024], where[64];
	struct curl_slist *h = NULL;
	struct buf b = { NULL, 0 };
	char *store = NULL, *key = NULL;
	long status = 0;
	CURL *c = NULL;

	snprintf(where, sizeof(where), "partition %d", (int)part);
	if (http_req_header(req, "X-Sluice-Forwarded") != NULL ||
	    w->registry == NULL ||
	    sl_registry_owner(w->registry, app, part, owner, sizeof(owner)) !=
		    SL_OK) {
		http_resp_error(resp, 503, "owner unknown (rebalancing?)",
				"key", where);
		return;
	}
	c = curl_easy_init();
	if (c == NULL)
		goto fail;
	store = curl_easy_escape(c, http_req_param(req, "store"), 0);
	key = curl_easy_escape(c, http_req_param(req, "key"), 0);
	if (store == NULL || key == NULL)
		goto fail;
	snprintf(url, sizeof(url), "%s/state/%s/%s", owner, store, key);
	h = curl_slist_append(h, "X-Sluice-Forwarded: 1");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c) != CURLE_OK)
		goto fail;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	http_resp_set(resp, (int)status, "application/json",
		      b.data ? b.data : "", b.len);
	http_resp_header(resp, "X-Sluice-Served-By", owner);
	goto out;
fail:
	http_resp_error(resp, 502, "owner did not answer", "key", where);
out:
	curl_free(store);
	curl_free(key);
	curl_slist_free_all(h);
	if (c != NULL)
		curl_easy_cleanup(c);
	free(b.data);
}

static void h_state(const http_req *req, http_resp *resp, void *ud)
{
	struct worker *w = ud;
	const char *store = http_req_param(req, "store");
	const char *key = http_req_param(req, "key");
	char *json = NULL;
	int32_t part = -1;

	for (int i = 0; i < w->napps; i++) {
		int rc = app_store_lookup(w->apps[i], store, key, &json, &part);

		if (rc == SL_EINVAL)
			continue;
		if (rc == SL_OK) {
			http_resp_json(resp, 200, json);
			free(json);
		} else if (rc == SL_ENOTFOUND) {
			http_resp_error(resp, 404, "key not found", "key",
					NULL);
		} else if (rc == SL_EUNAVAIL) {
			forward(w, req, resp, app_name(w->apps[i]), part);
		} else {
			http_resp_error(resp, 503, sl_strerror(rc), NULL, NULL);
		}
		return;
	}
	http_resp_error(resp, 404, "unknown store", "store", NULL);
}

static int admin_start(struct worker *w, sl_errbuf *eb)
{
	http_opts o = { .name = "admin",
			.listen = sl_config_get(w->cfg, "admin.listen"),
			.max_body = 4096,
			.threads = 1,
			.max_conns = 64,
			.timeout_s = 10 };

	if (o.listen == NULL || strcmp(o.listen, "off") == 0)
		return SL_OK;
	w->admin = http_server_new(&o, eb);
	if (w->admin == NULL)
		return SL_EIO;
	http_route(w->admin, "GET", "/healthz", http_h_healthz, w);
	http_route(w->admin, "GET", "/readyz", h_ready, w);
	http_route(w->admin, "GET", "/tasks", h_tasks, w);
	http_route(w->admin, "GET", "/metrics", h_metrics, w);
	http_route(w->admin, "GET", "/state/{store}/{key}", h_state, w);
	return http_server_start(w->admin, eb);
}

static char *running_tasks(void *ud)
{
	struct worker *w = ud;
	cJSON *o = cJSON_CreateObject();
	char *json;

	if (o == NULL)
		return NULL;
	for (int i = 0; i < w->napps; i++)
		app_running_json(w->apps[i], o);
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return json;
}

/* Announce this worker so others can forward state queries to it. */
static int registry_start(struct worker *w, sl_errbuf *eb)
{
	const char *adv = sl_config_get(w->cfg, "admin.advertise");
	const char *inst = sl_config_get(w->cfg, "group.instance.id");
	char url[300], id[300], host[256];

	if (w->admin == NULL)
		return SL_OK;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (adv != NULL) {
		snprintf(url, sizeof(url), "%s", adv);
	} else {
		char h[256], port[16];
		const char *listen = sl_config_get(w->cfg, "admin.listen");

		if (http_split_listen(listen, h, sizeof(h), port,
				      sizeof(port)) != SL_OK)
			return sl_errbuf_set(eb, SL_ECONFIG,
					     "admin.listen: bad address");
		if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
			snprintf(h, sizeof(h), "%s", host);
		snprintf(url, sizeof(url), "http://%s%s%s:%u",
			 strchr(h, ':') ? "[" : "", h,
			 strchr(h, ':') ? "]" : "",
			 (unsigned)http_server_port(w->admin));
	}
	if (inst != NULL)
		snprintf(id, sizeof(id), "%s", inst);
	else
		snprintf(id, sizeof(id), "%s-%ld", host, (long)getpid());
	return sl_registry_start(w->cfg, id, url, running_tasks, w,
				 &w->registry, eb);
}

/* ---- running ----------------------------------------------------- */

struct runner {
	struct worker *w;
	int i;
};

static void *run_app(void *arg)
{
	struct runner *r = arg;

	r->w->rcs[r->i] = sl_app_run(r->w->apps[r->i]);
	r->w->done[r->i] = 1;
	free(r);
	return NULL;
}

static int ensure_topics(struct worker *w, sl_errbuf *eb)
{
	static const struct sl_topic_spec specs[] = {
		{ "user_journey", 0, 0 },
		{ "send_reminder", 0, 0 },
		{ "pincodes", 0, 1 },
	};

	return sl_topics_ensure_cfg(w->cfg, specs, 3, eb);
}

static int build_apps(struct worker *w, const char *list, sl_errbuf *eb)
{
	if (campaign_check_list(list, eb) != SL_OK)
		return SL_ECONFIG;
	for (size_t i = 0; i < campaign_ntopologies; i++) {
		sl_topology *t = NULL;
		int rc;

		if (!campaign_listed(list, campaign_topologies[i].name))
			continue;
		rc = campaign_topologies[i].build(w->cfg, &t, eb);
		if (rc == SL_OK)
			rc = sl_app_new(w->cfg, t, &w->apps[w->napps], eb);
		if (rc != SL_OK)
			return rc;
		sl_app_set_clock(w->apps[w->napps], &w->clock);
		w->napps++;
	}
	if (w->napps == 0)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "no known topology in '%s'", list);
	return SL_OK;
}

/* Tell each app which partitions to keep warm (num.standby.replicas). */
static void follow_standbys(struct worker *w)
{
	int64_t replicas = 0;
	int32_t parts[1024];

	sl_config_int(w->cfg, "num.standby.replicas", &replicas, NULL);
	if (replicas <= 0 || w->registry == NULL)
		return;
	for (int i = 0; i < w->napps; i++) {
		int n = sl_registry_standbys(w->registry, app_name(w->apps[i]),
					     (int)replicas, parts, 1024);

		app_set_standby(w->apps[i], parts, n);
	}
}

static int run(struct worker *w)
{
	int rc = SL_OK, running, ticks = 0;

	for (int i = 0; i < w->napps; i++) {
		struct runner *r = malloc(sizeof(*r));

		if (r == NULL)
			return SL_ENOMEM;
		r->w = w;
		r->i = i;
		if (pthread_create(&w->threads[i], NULL, run_app, r) != 0) {
			free(r);
			return SL_ENOMEM;
		}
	}
	do {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		if (++ticks % 10 == 0)
			follow_standbys(w);
		running = 0;
		for (int i = 0; i < w->napps; i++)
			running += !w->done[i];
	} while (!sl_stop_requested && running == w->napps);

	for (int i = 0; i < w->napps && !sl_stop_requested; i++)
		if (w->done[i])
			SL_ERROR(COMP,
				 "an app stopped on its own, shutting down "
				 "app=%s err=%s",
				 app_name(w->apps[i]), sl_errname(w->rcs[i]));
	SL_INFO(COMP, "shutting down: finishing batches and committing");
	if (w->admin != NULL)
		http_server_quiesce(w->admin);
	for (int i = 0; i < w->napps; i++)
		sl_app_stop(w->apps[i]);
	for (int i = 0; i < w->napps; i++) {
		pthread_join(w->threads[i], NULL);
		if (w->rcs[i] != SL_OK)
			rc = w->rcs[i];
	}
	return rc;
}

int worker_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "topologies", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *list = NULL;
	struct worker w;
	sl_errbuf eb = { { 0 } };
	int c, rc;

	memset(&w, 0, sizeof(w));
	while ((c = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			file = optarg;
			break;
		case 't':
			list = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (sl_cli_no_operands("worker", argc, argv) != 0)
		return 2;
	w.cfg = sl_cli_config(file);
	if (w.cfg == NULL)
		return 1;
	if (list == NULL)
		list = sl_config_get(w.cfg, "worker.topologies");
	if (list == NULL)
		list = "journey,analytics,conversions,whatsapp";
	sl_signals_install();

	rc = sl_clock_init(&w.clock, w.cfg, &eb);
	if (rc == SL_OK && sl_clock_is_virtual(&w.clock)) {
		char at[32];

		sl_time_format_rfc3339(sl_clock_now_ms(&w.clock), at);
		SL_WARN(COMP,
			"VIRTUAL CLOCK: wall-clock time is simulated "
			"now=%s speed=%g (clock.start/clock.speed set)",
			at, w.clock.speed);
	}
	if (rc == SL_OK)
		rc = ensure_topics(&w, &eb);
	if (rc == SL_OK)
		rc = build_apps(&w, list, &eb);
	if (rc == SL_OK)
		rc = admin_start(&w, &eb);
	if (rc == SL_OK)
		rc = registry_start(&w, &eb);
	if (rc == SL_OK) {
		SL_INFO(COMP, "worker started topologies=%s admin=%s",
			list ? list : "all",
			w.admin ? sl_config_get(w.cfg, "admin.listen") : "off");
		rc = run(&w);
	} else {
		SL_ERROR(COMP, "cannot start: %s (%s)", eb.msg, sl_errname(rc));
	}
	sl_registry_stop(w.registry);
	http_server_free(w.admin);
	for (int i = 0; i < w.napps; i++)
		sl_app_free(w.apps[i]);
	sl_config_free(w.cfg);
	return rc == SL_OK ? 0 : 1;
}
