/*
 * admin_cmds.c — `sluice replay`, `sluice reset`, `sluice state`.
 */
#include <errno.h>
#include <ftw.h>
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

/* The result event of one admin request, or NULL with why on stderr. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, const char *cmd,
				    const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);

	if (ev != NULL && !rd_kafka_event_error(ev))
		return ev;
	fprintf(stderr, "sluice %s: %s: %s\n", cmd, what,
		ev ? rd_kafka_event_error_string(ev) : "timed out");
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	return NULL;
}

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
		"terminal.  A replay that ends\nwell deletes its consumer "
		"group (<application.id>-replay-<unix time>-\n<topology>); "
		"one stopped early or failed leaves it, and says which.\n");
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

/* The error of the one group of a DeleteGroups result event. */
static rd_kafka_resp_err_t delete_group_err(rd_kafka_event_t *ev)
{
	const rd_kafka_DeleteGroups_result_t *res =
		rd_kafka_event_DeleteGroups_result(ev);
	const rd_kafka_group_result_t **g = NULL;
	size_t n = 0;

	if (res != NULL)
		g = rd_kafka_DeleteGroups_result_groups(res, &n);
	if (n != 1)
		return RD_KAFKA_RESP_ERR__FAIL;
	if (rd_kafka_group_result_error(g[0]) == NULL)
		return RD_KAFKA_RESP_ERR_NO_ERROR;
	return rd_kafka_error_code(rd_kafka_group_result_error(g[0]));
}

/*
 * Delete `group`, the consumer group of a replay that ended: no one
 * uses it again.  Retried while the replay's member has not left it
 * yet.  A failure is only logged: the replay itself is done.
 */
static void replay_drop_group(const sl_config *cfg, const char *group)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FAIL;
	rd_kafka_DeleteGroup_t *g = rd_kafka_DeleteGroup_new(group);
	sl_errbuf eb = { { 0 } };
	rd_kafka_queue_t *q = NULL;
	rd_kafka_t *rk = NULL;
	char errstr[256];

	if (sl_kafka_conf_apply(conf, cfg, &eb) != SL_OK ||
	    (rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
			       sizeof(errstr))) == NULL) {
		rd_kafka_conf_destroy(conf);
		goto out;
	}
	q = rd_kafka_queue_new(rk);
	for (int tries = 0; tries < 10; tries++) {
		rd_kafka_event_t *ev;

		if (tries > 0)
			usleep(500 * 1000);
		rd_kafka_DeleteGroups(rk, &g, 1, NULL, q);
		ev = admin_wait(q, "replay", "delete group");
		if (ev == NULL)
			break;
		err = delete_group_err(ev);
		rd_kafka_event_destroy(ev);
		if (err != RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP)
			break;
	}
out:
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR ||
	    err == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
		SL_INFO(COMP, "replay group deleted group=%s", group);
	else
		SL_WARN(COMP, "replay group left behind group=%s error=%s",
			group, rd_kafka_err2str(err));
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	rd_kafka_DeleteGroup_destroy(g);
	if (rk != NULL)
		rd_kafka_destroy(rk);
}

/* --topology, --from, --to and --config; -1 to go on, else exit code. */
static int replay_args(int argc, char **argv, const char **file,
		       const char **name, int64_t *from, int64_t *to)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "topology", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:t:f:u:h", opts, NULL)) != -1) {
		if (c == 'c')
			*file = optarg;
		else if (c == 't')
			*name = optarg;
		else if (c == 'f' && parse_time(optarg, from) != 0)
			return 2;
		else if (c == 'u' && parse_time(optarg, to) != 0)
			return 2;
		else if (c == 'h') {
			replay_usage(stdout);
			return 0;
		} else if (c != 'f' && c != 'u') {
			replay_usage(stderr);
			return 2;
		}
	}
	if (sl_cli_no_operands("replay", argc, argv) != 0)
		return 2;
	if (*name == NULL) {
		replay_usage(stderr);
		return 2;
	}
	if (*from >= *to) {
		fprintf(stderr, "sluice replay: --from must be before --to: "
				"[--from, --to) holds no time\n");
		return 2;
	}
	return -1;
}

int replay_main(int argc, char **argv)
{
	const char *file = NULL, *name = NULL;
	int64_t from = 0, to = INT64_MAX;
	struct replay_run r = { NULL, 0, 0 };
	sl_topology *topo = NULL;
	sl_errbuf eb = { { 0 } };
	sl_config *cfg = NULL;
	char id[512], dlq[512], group[1024];
	pthread_t th;
	int rc;

	rc = replay_args(argc, argv, &file, &name, &from, &to);
	if (rc >= 0)
		return rc;
	rc = 1;
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
	snprintf(group, sizeof(group), "%s", r.app->group_id);
	SL_INFO(COMP, "replay started topology=%s group=%s", name, group);
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

	/* The app has left its group: a replay that ended well drops it. */
	sl_app_free(r.app);
	r.app = NULL;
	if (rc == 0)
		replay_drop_group(cfg, group);
	else
		SL_WARN(COMP, "replay group left behind group=%s", group);
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
	CURL *c = NULL;
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
	if (admin == NULL || strcmp(admin, "off") == 0) {
		fprintf(stderr, "sluice state: no admin address: admin.listen "
				"is unset or off; give --admin HOST:PORT of a "
				"running worker\n");
		rc = 2;
		goto out;
	}
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

/*
 * Reset, in order:
 *
 *   describe every group of the application --any member--> refuse
 *        | all Empty or Dead                   (nothing changed)
 *        v
 *   per topology: move the group's offsets --refused--> stop
 *        | Kafka took every offset
 *        v
 *   delete its changelogs, remove its state directory
 *        | every topology done
 *        v
 *   delete the <application.id>-workers registry
 *
 * The groups described are all the campaign's topologies', not only the
 * ones reset: every worker of the application reads the registry that
 * a reset deletes.  The dry run describes them too, and refuses alike.
 */

#define RESET_MAX 64	/* topics deleted in one call */
#define RESET_GROUPS 16 /* topologies in the campaign */

struct reset {
	sl_config *cfg;
	const char *app;  /* application.id, owned by cfg */
	const char *list; /* --topologies, or NULL: all */
	rd_kafka_t *rk;	  /* a consumer without a group: admin and offsets */
	int64_t to_ms;	  /* 0: the earliest offsets */
	int dry;
	int failed;
	rd_kafka_DeleteTopic_t *del[RESET_MAX];
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
		"dead-letter topic is kept.  While any consumer group of the "
		"application\nhas members (a worker runs), it refuses and "
		"changes nothing.  --dry-run\nlists what it would do, or the "
		"same refusal.\n");
}

static int reset_selected(const struct reset *r, const char *topology)
{
	return campaign_listed(r->list, topology);
}

/*
 * 0 when group `d` has no member (Empty, Dead or unknown to Kafka); -1
 * when it has, with the group, its state, its members' count and hosts
 * and `why` on stderr; -2 when Kafka did not describe it (why on stderr).
 */
static int group_idle(const rd_kafka_ConsumerGroupDescription_t *d,
		      const char *why)
{
	const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(d);
	const char *id = rd_kafka_ConsumerGroupDescription_group_id(d);
	rd_kafka_consumer_group_state_t st;
	size_t n;

	if (e != NULL &&
	    rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
		return 0;
	if (e != NULL) {
		fprintf(stderr,
			"sluice reset: group %s: cannot tell whether a worker "
			"uses it: %s\n",
			id, rd_kafka_error_string(e));
		return -2;
	}
	st = rd_kafka_ConsumerGroupDescription_state(d);
	n = rd_kafka_ConsumerGroupDescription_member_count(d);
	if (n == 0 && (st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY ||
		       st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD))
		return 0;

	fprintf(stderr, "sluice reset: group %s is %s with %zu member%s", id,
		rd_kafka_consumer_group_state_name(st), n, n == 1 ? "" : "s");
	for (size_t m = 0; m < n && m < 8; m++) {
		const rd_kafka_MemberDescription_t *md =
			rd_kafka_ConsumerGroupDescription_member(d, m);

		fprintf(stderr, "%s%s", m == 0 ? " (hosts: " : ", ",
			rd_kafka_MemberDescription_host(md));
	}
	fprintf(stderr, "%s%s\n", n == 0 ? "" : n > 8 ? ", ...)" : ")", why);
	return -1;
}

/*
 * Describe the group of every topology of the application: 0 when none
 * has members, -1 when some has (each on stderr), -2 when Kafka did not
 * say (why on stderr).
 */
static int reset_check_idle(struct reset *r)
{
	const rd_kafka_ConsumerGroupDescription_t **d = NULL;
	const rd_kafka_DescribeConsumerGroups_result_t *res;
	rd_kafka_queue_t *q = rd_kafka_queue_new(r->rk);
	char names[RESET_GROUPS][512], why[600];
	const char *groups[RESET_GROUPS];
	rd_kafka_event_t *ev;
	size_t n = 0, nd = 0;
	int rc = -2, idle;

	for (; n < campaign_ntopologies && n < RESET_GROUPS; n++) {
		snprintf(names[n], sizeof(names[n]), "%s-%s", r->app,
			 campaign_topologies[n].name);
		groups[n] = names[n];
	}
	rd_kafka_DescribeConsumerGroups(r->rk, groups, n, NULL, q);
	ev = admin_wait(q, "reset", "describe consumer groups");
	if (ev == NULL)
		goto out;
	res = rd_kafka_event_DescribeConsumerGroups_result(ev);
	if (res != NULL)
		d = rd_kafka_DescribeConsumerGroups_result_groups(res, &nd);
	rc = 0;
	if (nd != n) {
		fprintf(stderr, "sluice reset: Kafka described %zu of %zu\n",
			nd, n);
		rc = -2;
	}
	for (size_t i = 0; i < nd; i++) {
		const char *id =
			rd_kafka_ConsumerGroupDescription_group_id(d[i]);

		why[0] = '\0';
		for (size_t k = 0; k < n; k++)
			if (strcmp(id, names[k]) == 0 &&
			    !reset_selected(r, campaign_topologies[k].name))
				snprintf(why, sizeof(why),
					 "; its workers read the %s-workers "
					 "registry, which a reset deletes",
					 r->app);
		idle = group_idle(d[i], why);
		if (idle == -1 || (idle == -2 && rc == 0))
			rc = idle;
	}
	rd_kafka_event_destroy(ev);
out:
	rd_kafka_queue_destroy(q);
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

/*
 * What Kafka did with AlterConsumerGroupOffsets: each offset it took on
 * stdout; 0 when it took all of them, else -1 with each refusal (of the
 * group or of a partition) on stderr.
 */
static int alter_result(rd_kafka_event_t *ev, int want)
{
	const rd_kafka_AlterConsumerGroupOffsets_result_t *res =
		rd_kafka_event_AlterConsumerGroupOffsets_result(ev);
	const rd_kafka_group_result_t **g = NULL;
	size_t n = 0;
	int rc = 0, took = 0;

	if (res != NULL)
		g = rd_kafka_AlterConsumerGroupOffsets_result_groups(res, &n);
	for (size_t i = 0; i < n; i++) {
		const char *id = rd_kafka_group_result_name(g[i]);
		const rd_kafka_error_t *e = rd_kafka_group_result_error(g[i]);
		const rd_kafka_topic_partition_list_t *l =
			rd_kafka_group_result_partitions(g[i]);

		if (e != NULL) {
			fprintf(stderr,
				"sluice reset: group %s: Kafka refused "
				"the offsets: %s\n",
				id, rd_kafka_error_string(e));
			rc = -1;
		}
		for (int p = 0; l != NULL && p < l->cnt; p++) {
			const rd_kafka_topic_partition_t *tp = &l->elems[p];

			if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
				fprintf(stderr,
					"sluice reset: group %s: %s[%d]: Kafka "
					"refused the offset: %s\n",
					id, tp->topic, (int)tp->partition,
					rd_kafka_err2str(tp->err));
				rc = -1;
			} else if (e == NULL) {
				printf("set group %s: %s[%d] to offset %lld\n",
				       id, tp->topic, (int)tp->partition,
				       (long long)tp->offset);
				took++;
			}
		}
	}
	if (rc == 0 && took != want) {
		fprintf(stderr,
			"sluice reset: Kafka answered for %d of %d "
			"offsets\n",
			took, want);
		rc = -1;
	}
	return rc;
}

/* Move `group`'s offsets of `topic`; 0, or -1 when any did not move. */
static int reset_offsets(struct reset *r, const char *group, const char *topic)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_AlterConsumerGroupOffsets_t *a;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	int n = sl_topic_partitions(r->rk, topic, 10000), rc = -1;

	if (n <= 0)
		return 0;
	l = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(l, topic, p)->offset =
			reset_offset(r, topic, p);
	if (r->dry) {
		for (int p = 0; p < n; p++)
			printf("would set group %s: %s[%d] to offset %lld\n",
			       group, topic, p, (long long)l->elems[p].offset);
		rd_kafka_topic_partition_list_destroy(l);
		return 0;
	}

	q = rd_kafka_queue_new(r->rk);
	a = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
	rd_kafka_AlterConsumerGroupOffsets(r->rk, &a, 1, NULL, q);
	ev = admin_wait(q, "reset", group);
	if (ev != NULL) {
		rc = alter_result(ev, n);
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_AlterConsumerGroupOffsets_destroy(a);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_partition_list_destroy(l);
	return rc;
}

/* Queue `topic` for deletion if it exists. */
static void reset_topic(struct reset *r, const char *topic)
{
	if (sl_topic_partitions(r->rk, topic, 10000) <= 0)
		return;
	if (r->ndel == RESET_MAX) {
		fprintf(stderr, "sluice reset: more than %d topics\n",
			RESET_MAX);
		r->failed = 1;
		return;
	}
	if (r->dry)
		printf("would delete topic %s\n", topic);
	r->del[r->ndel++] = rd_kafka_DeleteTopic_new(topic);
}

/*
 * Delete the queued topics (none in a dry run): each one deleted on
 * stdout; 0, or -1 with each failure on stderr.  A topic already gone
 * counts as deleted.
 */
static int reset_delete_topics(struct reset *r)
{
	const rd_kafka_topic_result_t **t = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	size_t n = 0;
	int rc = 0;

	if (r->dry || r->ndel == 0)
		goto out;
	q = rd_kafka_queue_new(r->rk);
	rd_kafka_DeleteTopics(r->rk, r->del, (size_t)r->ndel, NULL, q);
	ev = admin_wait(q, "reset", "delete topics");
	if (ev != NULL && rd_kafka_event_DeleteTopics_result(ev) != NULL)
		t = rd_kafka_DeleteTopics_result_topics(
			rd_kafka_event_DeleteTopics_result(ev), &n);
	if (ev != NULL && n != (size_t)r->ndel)
		fprintf(stderr,
			"sluice reset: Kafka answered for %zu of %d "
			"topics\n",
			n, r->ndel);
	rc = n == (size_t)r->ndel ? 0 : -1;
	for (size_t i = 0; i < n; i++) {
		rd_kafka_resp_err_t e = rd_kafka_topic_result_error(t[i]);
		const char *name = rd_kafka_topic_result_name(t[i]);

		if (e == RD_KAFKA_RESP_ERR_NO_ERROR ||
		    e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
			printf("delete topic %s\n", name);
			continue;
		}
		fprintf(stderr, "sluice reset: delete topic %s: %s\n", name,
			rd_kafka_topic_result_error_string(t[i]));
		rc = -1;
	}
out:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	rd_kafka_DeleteTopic_destroy_array(r->del, (size_t)r->ndel);
	r->ndel = 0;
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (remove(path) == 0)
		return 0;
	fprintf(stderr, "sluice reset: remove %s: %s (%s)\n", path,
		strerror(errno), flag == FTW_DP ? "directory" : "file");
	return -1;
}

/* Remove this machine's state directory of `group`; 0 or -1. */
static int reset_dir(struct reset *r, const char *group)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s",
		 sl_config_get(r->cfg, "state.dir"), group);
	if (access(path, F_OK) != 0)
		return 0;
	if (r->dry) {
		printf("would remove directory %s\n", path);
		return 0;
	}
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return -1;
	printf("remove directory %s\n", path);
	return 0;
}

/*
 * One topology: its group's offsets, then, only when Kafka took them,
 * its changelogs and its state directory.  Names come from the campaign
 * table: nothing is built, so no connector is made.
 */
static void reset_topology(struct reset *r, const struct campaign_topology *c)
{
	char group[512], topic[1024];

	snprintf(group, sizeof(group), "%s-%s", r->app, c->name);
	if (reset_offsets(r, group, campaign_source(c, r->cfg)) != 0) {
		r->failed = 1;
		return;
	}
	for (const char *const *s = c->stores; *s != NULL; s++) {
		snprintf(topic, sizeof(topic), "%s-%s-changelog", group, *s);
		reset_topic(r, topic);
	}
	if (reset_delete_topics(r) != 0 || reset_dir(r, group) != 0)
		r->failed = 1;
}

static int reset_args(struct reset *r, int argc, char **argv, const char **file)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "to", required_argument, NULL, 't' },
		{ "topologies", required_argument, NULL, 'T' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:t:T:nh", opts, NULL)) != -1) {
		if (c == 'c')
			*file = optarg;
		else if (c == 'T')
			r->list = optarg;
		else if (c == 'n')
			r->dry = 1;
		else if (c == 't' && sl_time_parse_rfc3339(optarg, &r->to_ms))
			return fprintf(stderr, "sluice reset: bad --to\n"), 2;
		else if (c != 't') {
			reset_usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (sl_cli_no_operands("reset", argc, argv) != 0)
		return 2;
	return -1;
}

int reset_main(int argc, char **argv)
{
	struct reset r = { .failed = 0 };
	const char *file = NULL;
	rd_kafka_conf_t *conf = NULL;
	char errstr[256], topic[512];
	sl_errbuf eb = { { 0 } };
	int rc;

	rc = reset_args(&r, argc, argv, &file);
	if (rc >= 0)
		return rc;
	if (campaign_check_list(r.list, &eb) != SL_OK) {
		fprintf(stderr, "sluice reset: --topologies: %s\n", eb.msg);
		return 2;
	}
	rc = 1;
	r.cfg = sl_cli_config(file);
	if (r.cfg == NULL)
		return 1;
	r.app = sl_config_get(r.cfg, "application.id");
	conf = rd_kafka_conf_new();
	if (sl_kafka_conf_apply(conf, r.cfg, &eb) != SL_OK) {
		fprintf(stderr, "sluice reset: %s\n", eb.msg);
		goto out;
	}
	r.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (r.rk == NULL) {
		fprintf(stderr, "sluice reset: %s\n", errstr);
		goto out;
	}
	conf = NULL; /* owned by r.rk */
	if (sl_kafka_brokers_answer(r.rk, r.cfg, &eb) != SL_OK) {
		fprintf(stderr, "sluice reset: %s; nothing changed\n", eb.msg);
		goto out;
	}

	/* Nothing changes while a worker runs, or may run. */
	rc = reset_check_idle(&r);
	if (rc != 0) {
		fprintf(stderr, "sluice reset: refused, nothing %s: %s %s\n",
			r.dry ? "listed" : "changed",
			rc == -1 ? "stop every worker of"
				 : "cannot tell whether workers run for",
			r.app);
		rc = 1;
		goto out;
	}
	for (size_t i = 0; i < campaign_ntopologies && !r.failed; i++)
		if (reset_selected(&r, campaign_topologies[i].name))
			reset_topology(&r, &campaign_topologies[i]);
	if (!r.failed) {
		snprintf(topic, sizeof(topic), "%s-workers", r.app);
		reset_topic(&r, topic);
		if (reset_delete_topics(&r) != 0)
			r.failed = 1;
	}
	if (r.failed)
		fprintf(stderr, "sluice reset: incomplete, stopped at the "
				"first failure above; run it again once its "
				"cause is fixed\n");
	rc = r.failed ? 1 : 0;
out:
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	rd_kafka_DeleteTopic_destroy_array(r.del, (size_t)r.ndel);
	if (r.rk != NULL)
		rd_kafka_destroy(r.rk);
	sl_config_free(r.cfg);
	return rc;
}
