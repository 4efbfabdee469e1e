/*
 * test_runtime.c — the processor runtime against librdkafka's mock
 * cluster: records reach their task's store (and only that partition's
 * database), every write is in the changelog, a worker with an empty
 * state directory restores the store from the changelog (and is not
 * ready before it has), and one with
 * its checkpoint restores nothing; daily punctuation on a manual clock
 * in Asia/Kolkata and across America/New_York's DST changes.
 * (Semantics that the mock does not model, like transactions, are
 * tested against a real broker in tests/integration.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "processor/app_int.h"
#include "processor/log.h"
#include "processor/timeutil.h"
#include "tests/unit/mock_kafka.h"

#define NKEYS 50
#define NRECORDS 2000
#define PARTS 4

static rd_kafka_t *host;
static char bootstraps[512];
static int expected[NKEYS];
static char dirs[3][64];

/* The step under test: counts records per key in store "counts". */
static int count_step(sl_ctx *ctx, const sl_record *rec, void *ud)
{
	sl_store *st = sl_ctx_store(ctx, "counts");
	char buf[32];
	sl_bytes v;
	long n = 0;

	(void)ud;
	if (sl_store_get(st, rec->key.data, rec->key.len, &v) == SL_OK) {
		snprintf(buf, sizeof(buf), "%.*s", (int)v.len,
			 (const char *)v.data);
		n = atol(buf);
	}
	snprintf(buf, sizeof(buf), "%ld", n + 1);
	return sl_store_put(st, rec->key.data, rec->key.len, buf, strlen(buf));
}

static int setup_cluster(void **state)
{
	rd_kafka_mock_cluster_t *mc;

	(void)state;
	sl_log_level = getenv("TEST_DEBUG") ? SL_LOG_DEBUG : SL_LOG_WARN;
	host = mock_kafka_new(&mc, bootstraps, sizeof(bootstraps));
	if (host == NULL)
		return -1;
	rd_kafka_mock_topic_create(mc, "in", PARTS, 1);
	rd_kafka_mock_topic_create(mc, "t-count-counts-changelog", PARTS, 1);
	rd_kafka_mock_topic_create(mc, "t-dead-letters", PARTS, 1);

	/* The input: NRECORDS records over NKEYS keys, tallied here. */
	for (int i = 0; i < NRECORDS; i++) {
		char key[16];
		int k = (i * 7) % NKEYS;

		snprintf(key, sizeof(key), "k%d", k);
		expected[k]++;
		rd_kafka_producev(host, RD_KAFKA_V_TOPIC("in"),
				  RD_KAFKA_V_KEY(key, strlen(key)),
				  RD_KAFKA_V_VALUE("x", 1),
				  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				  RD_KAFKA_V_END);
	}
	rd_kafka_flush(host, 10000);
	for (int i = 0; i < 3; i++) {
		snprintf(dirs[i], sizeof(dirs[i]), "/tmp/sluice-rt-XXXXXX");
		if (mkdtemp(dirs[i]) == NULL)
			return -1;
	}
	return 0;
}

static int teardown_cluster(void **state)
{
	char cmd[256];

	(void)state;
	rd_kafka_destroy(host);
	for (int i = 0; i < 3; i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dirs[i]);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

struct run {
	sl_app *app;
	int rc;
};

static void *runner(void *arg)
{
	struct run *r = arg;

	r->rc = sl_app_run(r->app);
	return NULL;
}

static sl_app *new_app(sl_config **cfgp, const char *dir)
{
	sl_config *cfg = sl_config_new();
	sl_topology *t = sl_topology_new("count");
	sl_errbuf eb = { { 0 } };
	sl_app *app = NULL;

	sl_config_set(cfg, "kafka.bootstrap.servers", bootstraps);
	sl_config_set(cfg, "application.id", "t");
	sl_config_set(cfg, "state.dir", dir);
	sl_config_set(cfg, "commit.interval.ms", "100");
	sl_topology_source(t, "in");
	sl_topology_store(t, "counts");
	sl_topology_step(t, "count", count_step, NULL);
	assert_int_equal(sl_app_new(cfg, t, &app, &eb), SL_OK);
	*cfgp = cfg;
	return app;
}

/* The app's tasks in state TASK_RUNNING. */
static int tasks_running(sl_app *app)
{
	int running = 0;

	pthread_mutex_lock(&app->tasks_lock);
	for (int i = 0; i < app->ntasks; i++)
		running += app->tasks[i].state == TASK_RUNNING;
	pthread_mutex_unlock(&app->tasks_lock);
	return running;
}

/*
 * Run until every task is running, `records` are processed and
 * committed (or 30 s).  Returns the records restored when app_is_ready
 * first said yes (sampled every 10 ms), -1 if it never did.
 */
static long long run_app(sl_app *app, long long records)
{
	struct run r = { app, -1 };
	pthread_t th;
	long long restored_at_ready = -1;
	int waited = 0;

	assert_int_equal(pthread_create(&th, NULL, runner, &r), 0);
	for (;;) {
		int ready;

		usleep(10 * 1000);
		waited += 10;
		ready = app_is_ready(app);
		if (ready && restored_at_ready < 0)
			restored_at_ready = atomic_load(&app->stats.restored);
		if (atomic_load(&app->stats.records) >= records && ready &&
		    atomic_load(&app->stats.commits) >= (records > 0) &&
		    tasks_running(app) == PARTS)
			break;
		if (waited >= 30000)
			fprintf(stderr, "records=%lld commits=%lld ready=%d\n",
				(long long)atomic_load(&app->stats.records),
				(long long)atomic_load(&app->stats.commits),
				ready);
		assert_true(waited < 30000);
	}
	usleep(300 * 1000); /* a commit interval or two */
	sl_app_stop(app);
	pthread_join(th, NULL);
	assert_int_equal(r.rc, SL_OK);
	return restored_at_ready;
}

/* Read every key's count straight from the LMDB files. */
static void check_counts(const char *dir)
{
	char path[256];
	st_env *env;
	st_txn t;
	int seen[NKEYS] = { 0 };

	snprintf(path, sizeof(path), "%s/t-count", dir);
	assert_int_equal(st_env_acquire(path, &env, NULL), SL_OK);
	for (int p = 0; p < PARTS; p++) {
		MDB_dbi db;
		MDB_cursor *c;
		MDB_val k, v;

		assert_int_equal(st_db_open(env, "counts", p, &db), SL_OK);
		assert_int_equal(st_txn_begin(env, 1, &t), SL_OK);
		assert_int_equal(mdb_cursor_open(t.txn, db, &c), 0);
		while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
			char ks[16], vs[16];

			snprintf(ks, sizeof(ks), "%.*s", (int)k.mv_size,
				 (char *)k.mv_data);
			snprintf(vs, sizeof(vs), "%.*s", (int)v.mv_size,
				 (char *)v.mv_data);
			/* each key in its own partition's database only */
			assert_int_equal(rd_kafka_msg_partitioner_murmur2(
						 NULL, k.mv_data, k.mv_size,
						 PARTS, NULL, NULL),
					 p);
			assert_int_equal(seen[atoi(ks + 1)], 0);
			seen[atoi(ks + 1)] = atoi(vs);
		}
		mdb_cursor_close(c);
		st_txn_abort(&t);
	}
	st_env_release(env);
	for (int k = 0; k < NKEYS; k++)
		assert_int_equal(seen[k], expected[k]);
}

static long long restored_total(sl_app *app)
{
	return atomic_load(&app->stats.restored);
}

static void test_process_restore_checkpoint(void **state)
{
	sl_config *cfg;
	sl_app *app;

	(void)state;

	/* 1. A fresh app processes everything into its store. */
	app = new_app(&cfg, dirs[0]);
	run_app(app, NRECORDS);
	assert_int_equal(atomic_load(&app->stats.records), NRECORDS);
	assert_int_equal(restored_total(app), 0);
	sl_app_free(app);
	sl_config_free(cfg);
	check_counts(dirs[0]);

	/*
	 * 2. Same application, empty state directory: input offsets are
	 * committed, so nothing is reprocessed; the store comes back from
	 * the changelog, which holds one record per processed input.
	 */
	app = new_app(&cfg, dirs[1]);
	/* not ready (/readyz) before the assignment and its restore */
	assert_int_equal(run_app(app, 0), NRECORDS);
	assert_int_equal(atomic_load(&app->stats.records), 0);
	assert_int_equal(restored_total(app), NRECORDS);
	sl_app_free(app);
	sl_config_free(cfg);
	check_counts(dirs[1]);

	/* 3. Back on the first directory: its checkpoint is current. */
	app = new_app(&cfg, dirs[0]);
	run_app(app, 0);
	assert_int_equal(restored_total(app), 0);
	sl_app_free(app);
	sl_config_free(cfg);
	check_counts(dirs[0]);
}

/* ---- punctuation on a manual clock ------------------------------- */

static pthread_mutex_t fired_lock = PTHREAD_MUTEX_INITIALIZER;
static int nfired;

static int on_daily(sl_ctx *ctx, int64_t now, void *ud)
{
	(void)ctx;
	(void)now;
	(void)ud;
	pthread_mutex_lock(&fired_lock);
	nfired++;
	pthread_mutex_unlock(&fired_lock);
	return SL_OK;
}

static int noop_step(sl_ctx *ctx, const sl_record *rec, void *ud)
{
	(void)ctx;
	(void)rec;
	(void)ud;
	return SL_OK;
}

static int fired(void)
{
	int n;

	pthread_mutex_lock(&fired_lock);
	n = nfired;
	pthread_mutex_unlock(&fired_lock);
	return n;
}

/* Move the clock to `iso` and check the count of firings after it. */
static void step_clock(sl_clock *clk, const char *iso, int want)
{
	int64_t ms;

	assert_int_equal(sl_time_parse_rfc3339(iso, &ms), SL_OK);
	sl_clock_set(clk, ms);
	for (int waited = 0; waited < 3000 && fired() < want; waited += 20)
		usleep(20 * 1000);
	usleep(300 * 1000); /* and no more than that */
	if (fired() != want)
		fprintf(stderr, "at %s: fired %d, want %d\n", iso, fired(),
			want);
	assert_int_equal(fired(), want);
}

/* An app with a daily 19:00 punctuator, running on a manual clock. */
struct daily {
	sl_config *cfg;
	sl_clock clk;
	struct run r;
	pthread_t th;
};

/* Start it at `iso` in `zone` with no firings yet; wait for its tasks. */
static void start_daily(struct daily *d, const char *app_id, const char *zone,
			const char *iso)
{
	sl_topology *t = sl_topology_new("daily");
	sl_errbuf eb = { { 0 } };
	int64_t ms;

	nfired = 0;
	assert_int_equal(sl_time_parse_rfc3339(iso, &ms), SL_OK);
	sl_clock_init_manual(&d->clk, ms);
	d->cfg = sl_config_new();
	d->r.app = NULL;
	d->r.rc = -1;
	sl_config_set(d->cfg, "kafka.bootstrap.servers", bootstraps);
	sl_config_set(d->cfg, "application.id", app_id);
	sl_config_set(d->cfg, "state.dir", dirs[2]);
	sl_topology_source(t, "in");
	sl_topology_step(t, "noop", noop_step, NULL);
	sl_topology_punctuate_daily(t, "daily", "19:00", zone, on_daily, NULL);
	assert_int_equal(sl_app_new(d->cfg, t, &d->r.app, &eb), SL_OK);
	sl_app_set_clock(d->r.app, &d->clk);
	assert_int_equal(pthread_create(&d->th, NULL, runner, &d->r), 0);
	for (int waited = 0; tasks_running(d->r.app) < PARTS; waited += 100) {
		assert_true(waited < 30000);
		usleep(100 * 1000);
	}
}

static void stop_daily(struct daily *d)
{
	sl_app_stop(d->r.app);
	pthread_join(d->th, NULL);
	sl_app_free(d->r.app);
	sl_config_free(d->cfg);
}

/*
 * 19:00 Asia/Kolkata is 13:30Z; the host's TZ (set to Los Angeles
 * here) plays no part.  Never at start-up, once per task per day, and
 * once (not three times) after a three-day pause.
 */
static void test_daily_kolkata(void **state)
{
	struct daily d;

	(void)state;
	setenv("TZ", "America/Los_Angeles", 1);
	tzset();
	/* Started at 19:30 IST, after the day's 19:00: no firing now. */
	start_daily(&d, "tp-kol", "Asia/Kolkata", "2025-06-01T14:00:00Z");
	step_clock(&d.clk, "2025-06-01T14:00:01Z", 0);
	step_clock(&d.clk, "2025-06-02T13:29:59Z", 0);
	step_clock(&d.clk, "2025-06-02T13:30:00Z", PARTS);
	step_clock(&d.clk, "2025-06-02T20:00:00Z", PARTS);
	/* A pause over three 19:00s: one firing per task, not three. */
	step_clock(&d.clk, "2025-06-05T14:00:00Z", 2 * PARTS);
	step_clock(&d.clk, "2025-06-06T13:29:00Z", 2 * PARTS);
	step_clock(&d.clk, "2025-06-06T13:30:00Z", 3 * PARTS);
	stop_daily(&d);
}

/*
 * 19:00 America/New_York: EST (UTC-5) and EDT (UTC-4) days, both
 * changes of 2025: 19:00 EST is 00:00Z the next day, 19:00 EDT 23:00Z.
 */
static void test_daily_new_york_dst(void **state)
{
	struct daily d;

	(void)state;
	/* Started at 12:00 EST. */
	start_daily(&d, "tp-ny", "America/New_York", "2025-03-08T17:00:00Z");
	/* Sat Mar 8, EST */
	step_clock(&d.clk, "2025-03-08T23:59:59Z", 0);
	step_clock(&d.clk, "2025-03-09T00:00:00Z", PARTS);
	/* Sun Mar 9, clocks went forward at 02:00: 19:00 EDT = 23:00Z */
	step_clock(&d.clk, "2025-03-09T22:59:59Z", PARTS);
	step_clock(&d.clk, "2025-03-09T23:00:00Z", 2 * PARTS);
	/* Sat Nov 1, EDT (after a long pause: one firing on arrival) */
	step_clock(&d.clk, "2025-11-01T22:59:00Z", 3 * PARTS);
	step_clock(&d.clk, "2025-11-01T23:00:00Z", 4 * PARTS);
	/* Sun Nov 2, clocks went back at 02:00: 19:00 EST = 00:00Z Nov 3 */
	step_clock(&d.clk, "2025-11-02T23:00:00Z", 4 * PARTS);
	step_clock(&d.clk, "2025-11-02T23:59:59Z", 4 * PARTS);
	step_clock(&d.clk, "2025-11-03T00:00:00Z", 5 * PARTS);
	stop_daily(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_process_restore_checkpoint),
		cmocka_unit_test(test_daily_kolkata),
		cmocka_unit_test(test_daily_new_york_dst),
	};

	return cmocka_run_group_tests(tests, setup_cluster, teardown_cluster);
}
