/*
 * test_reminders.c — the journey topology's 7 PM reminders (SPEC section
 * 4) on librdkafka's mock cluster with a manual clock, at the exact
 * boundaries a sped-up clock cannot hit (tests/integration/
 * 60_reminders.sh covers restarts, lag and kill -9 on a real broker):
 *
 * - reminder.min_idle is inclusive: idle exactly 1 h at 19:00 is
 *   reminded, 1 h minus a second is not (and is, the next day);
 * - reminder.catchup_until is inclusive to the minute: a worker up at
 *   21:00:30 still reminds, one up at 21:01:00 skips the day;
 * - the reminder's date is the local date of reminder.timezone: 19:00 in
 *   Los Angeles is 02:00Z the next day, the id carries the local date;
 *   and reminder.at moves the time;
 * - the record's fields (reminder_id, user_id, phone, lang, local_date,
 *   reminder_number, emitted_at);
 * - WhatsApp 131050 (reminder_failed) suppresses a user, 131026 does
 *   not; opted_in after opted_out reminds again.
 *
 * Every test has its own application id, user ids and dates (years
 * apart), since every app reads the whole user_journey topic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "processor/app_int.h"
#include "processor/log.h"
#include "processor/timeutil.h"
#include "tests/unit/mock_kafka.h"
#include "topologies/journey.h"

#define PARTS 3
#define MAX_RECS 64

static rd_kafka_t *host;
static char bootstraps[512];
static char dir[64];
static long long produced;

/* ---- output ---------------------------------------------------------- */

/* One reader of send_reminder for the whole run, and what it has read. */
static rd_kafka_t *reader;
static cJSON *seen[4096];
static int nseen;

static void reader_open(void)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(PARTS);
	char errstr[256];

	rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "group.id", "rm-reader", errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr,
			  sizeof(errstr));
	reader = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	assert_non_null(reader);
	for (int p = 0; p < PARTS; p++)
		rd_kafka_topic_partition_list_add(l, "send_reminder", p)
			->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(reader, l),
			 RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Read send_reminder up to its current end. */
static void drain(void)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(PARTS);
	int64_t lo, hi[PARTS];
	int done = 0;

	for (int p = 0; p < PARTS; p++) {
		assert_int_equal(rd_kafka_query_watermark_offsets(
					 reader, "send_reminder", p, &lo,
					 &hi[p], 5000),
				 RD_KAFKA_RESP_ERR_NO_ERROR);
		rd_kafka_topic_partition_list_add(l, "send_reminder", p);
	}
	for (int waited = 0; !done; waited += 20) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(reader, 20);

		assert_true(waited < 10000);
		if (m != NULL && m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    nseen < (int)(sizeof(seen) / sizeof(*seen)))
			seen[nseen++] =
				cJSON_ParseWithLength(m->payload, m->len);
		if (m != NULL)
			rd_kafka_message_destroy(m);
		rd_kafka_position(reader, l);
		done = 1;
		for (int p = 0; p < PARTS; p++)
			done &= hi[p] == 0 || l->elems[p].offset >= hi[p];
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/*
 * The send_reminder records (values) of users starting with `prefix`,
 * in `out` (owned by the reader); returns how many.
 */
static int reminders(const char *prefix, cJSON **out)
{
	int n = 0;

	drain();
	for (int i = 0; i < nseen && n < MAX_RECS; i++) {
		cJSON *u = cJSON_GetObjectItemCaseSensitive(seen[i], "user_id");

		if (cJSON_IsString(u) &&
		    strncmp(u->valuestring, prefix, strlen(prefix)) == 0)
			out[n++] = seen[i];
	}
	return n;
}

static int setup(void **state)
{
	rd_kafka_mock_cluster_t *mc;
	static const char *const apps[] = { "rm-idle", "rm-late1", "rm-late2",
					    "rm-la", "rm-rules" };

	(void)state;
	sl_log_level = getenv("TEST_DEBUG") ? SL_LOG_DEBUG : SL_LOG_WARN;
	host = mock_kafka_new(&mc, bootstraps, sizeof(bootstraps));
	if (host == NULL)
		return -1;
	rd_kafka_mock_topic_create(mc, "user_journey", PARTS, 1);
	rd_kafka_mock_topic_create(mc, "send_reminder", PARTS, 1);
	for (size_t i = 0; i < sizeof(apps) / sizeof(*apps); i++) {
		char name[128];

		snprintf(name, sizeof(name), "%s-journey-journey-changelog",
			 apps[i]);
		rd_kafka_mock_topic_create(mc, name, PARTS, 1);
		snprintf(name, sizeof(name), "%s-dead-letters", apps[i]);
		rd_kafka_mock_topic_create(mc, name, PARTS, 1);
	}
	snprintf(dir, sizeof(dir), "/tmp/sluice-rm-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	reader_open();
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	for (int i = 0; i < nseen; i++)
		cJSON_Delete(seen[i]);
	rd_kafka_consumer_close(reader);
	rd_kafka_destroy(reader);
	rd_kafka_destroy(host);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- input --------------------------------------------------------- */

/* One journey event of `user` at `at`; `extra` adds JSON fields. */
static void event(const char *type, const char *user, const char *at,
		  const char *extra)
{
	char v[768];
	int n;

	n = snprintf(v, sizeof(v),
		     "{\"event_id\":\"%s-%s-%s\",\"type\":\"%s\","
		     "\"user_id\":\"%s\",\"occurred_at\":\"%s\","
		     "\"phone\":\"+919812345678\",\"lang\":\"ta\","
		     "\"pincode\":\"600001\"%s}",
		     user, type, at, type, user, at, extra ? extra : "");
	assert_true(n > 0 && (size_t)n < sizeof(v));
	assert_int_equal(
		rd_kafka_producev(host, RD_KAFKA_V_TOPIC("user_journey"),
				  RD_KAFKA_V_KEY(user, strlen(user)),
				  RD_KAFKA_V_VALUE(v, (size_t)n),
				  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				  RD_KAFKA_V_END),
		RD_KAFKA_RESP_ERR_NO_ERROR);
	assert_int_equal(rd_kafka_flush(host, 10000),
			 RD_KAFKA_RESP_ERR_NO_ERROR);
	produced++;
}

/* ---- the app --------------------------------------------------------- */

struct run {
	sl_app *app;
	sl_config *cfg;
	sl_clock clock;
	pthread_t th;
	int rc;
};

static void *runner(void *arg)
{
	struct run *r = arg;

	r->rc = sl_app_run(r->app);
	return NULL;
}

static void clock_at(struct run *r, const char *iso)
{
	int64_t ms;

	assert_int_equal(sl_time_parse_rfc3339(iso, &ms), SL_OK);
	sl_clock_set(&r->clock, ms);
}

/*
 * Start the journey topology as `app_id` with its clock at `iso`, the
 * config's other keys as "key", "value" pairs (NULL-terminated), and
 * wait until it has read every event produced so far.
 */
static void start(struct run *r, const char *app_id, const char *iso, ...)
{
	sl_topology *t = NULL;
	sl_errbuf eb = { { 0 } };
	const char *k;
	va_list ap;
	int64_t ms;

	memset(r, 0, sizeof(*r));
	r->cfg = sl_config_new();
	sl_config_set(r->cfg, "kafka.bootstrap.servers", bootstraps);
	sl_config_set(r->cfg, "application.id", app_id);
	sl_config_set(r->cfg, "state.dir", dir);
	sl_config_set(r->cfg, "commit.interval.ms", "100");
	/*
	 * Each partition's 19:00 tick asks the broker for the input's end,
	 * which waits behind the consumer's long-poll fetch: keep it short.
	 */
	sl_config_set(r->cfg, "kafka.fetch.wait.max.ms", "10");
	va_start(ap, iso);
	while ((k = va_arg(ap, const char *)) != NULL)
		sl_config_set(r->cfg, k, va_arg(ap, const char *));
	va_end(ap);
	assert_int_equal(journey_topology(r->cfg, &t, &eb), SL_OK);
	assert_int_equal(sl_app_new(r->cfg, t, &r->app, &eb), SL_OK);
	assert_int_equal(sl_time_parse_rfc3339(iso, &ms), SL_OK);
	sl_clock_init_manual(&r->clock, ms);
	sl_app_set_clock(r->app, &r->clock);
	assert_int_equal(pthread_create(&r->th, NULL, runner, r), 0);
	for (int waited = 0; atomic_load(&r->app->stats.records) < produced;
	     waited += 20) {
		assert_true(waited < 30000);
		usleep(20 * 1000);
	}
}

/*
 * Set the clock and let the reminders' tick and any scan run.  The tick
 * runs every 5 s of clock time: a tick happens at `iso` only when the
 * previous one was 5 s or more before.
 */
static void settle(struct run *r, const char *iso)
{
	clock_at(r, iso);
	usleep(400 * 1000);
}

static void stop(struct run *r)
{
	sl_app_stop(r->app);
	pthread_join(r->th, NULL);
	assert_int_equal(r->rc, SL_OK);
	sl_app_free(r->app);
	sl_config_free(r->cfg);
}

static const char *field(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/*
 * The reminder ids of `prefix`'s users are exactly `want` (a
 * NULL-terminated list, any order).
 */
static void expect_ids(const char *prefix, ...)
{
	cJSON *got[MAX_RECS];
	int n, nwant = 0;
	const char *w;
	va_list ap;

	va_start(ap, prefix);
	while (va_arg(ap, const char *) != NULL)
		nwant++;
	va_end(ap);
	/* Wait for a late scan (up to 10 s), then for one more record. */
	for (int waited = 0;; waited += 200) {
		n = reminders(prefix, got);
		if (n >= nwant || waited >= 10000)
			break;
		usleep(200 * 1000);
	}
	usleep(300 * 1000);
	n = reminders(prefix, got);
	nwant = 0;
	va_start(ap, prefix);
	while ((w = va_arg(ap, const char *)) != NULL) {
		int found = 0;

		for (int i = 0; i < n; i++)
			found += strcmp(field(got[i], "reminder_id"), w) == 0;
		if (found != 1)
			fprintf(stderr, "%s: seen %d times\n", w, found);
		assert_int_equal(found, 1);
		nwant++;
	}
	va_end(ap);
	if (n != nwant)
		for (int i = 0; i < n; i++)
			fprintf(stderr, "got %s\n",
				field(got[i], "reminder_id"));
	assert_int_equal(n, nwant);
}

/* ---- tests ----------------------------------------------------------- */

/* min_idle (1 h) is inclusive; the record carries what SPEC asks. */
static void test_min_idle_boundary_and_record(void **state)
{
	struct run r;
	cJSON *got[MAX_RECS];
	int n;

	(void)state;
	event("screening_started", "idle-a", "2101-03-01T18:00:00+05:30", NULL);
	event("screening_started", "idle-b", "2101-03-01T18:00:01+05:30", NULL);
	start(&r, "rm-idle", "2101-03-01T18:59:00+05:30", NULL);
	settle(&r, "2101-03-01T18:59:54+05:30");
	expect_ids("idle-", NULL);
	settle(&r, "2101-03-01T19:00:00+05:30");
	expect_ids("idle-", "idle-a:2101-03-01", NULL);

	n = reminders("idle-a", got);
	assert_int_equal(n, 1);
	assert_string_equal(field(got[0], "user_id"), "idle-a");
	assert_string_equal(field(got[0], "phone"), "+919812345678");
	assert_string_equal(field(got[0], "lang"), "ta");
	assert_string_equal(field(got[0], "local_date"), "2101-03-01");
	assert_string_equal(field(got[0], "emitted_at"),
			    "2101-03-01T13:30:00.000Z");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(got[0],
							  "reminder_number")
				 ->valueint,
			 1);

	/* The next evening both; a is on its second. */
	settle(&r, "2101-03-02T19:00:00+05:30");
	expect_ids("idle-", "idle-a:2101-03-01", "idle-a:2101-03-02",
		   "idle-b:2101-03-02", NULL);
	stop(&r);
}

/* Up at 21:00:30 still reminds; up at 21:01 skips the day. */
static void test_catchup_until_boundary(void **state)
{
	struct run r;

	(void)state;
	event("screening_started", "late1-a", "2111-05-10T10:00:00+05:30",
	      NULL);
	start(&r, "rm-late1", "2111-05-10T21:00:30+05:30", NULL);
	settle(&r, "2111-05-10T21:00:35+05:30");
	expect_ids("late1-", "late1-a:2111-05-10", NULL);
	stop(&r);

	event("screening_started", "late2-a", "2121-07-20T10:00:00+05:30",
	      NULL);
	start(&r, "rm-late2", "2121-07-20T21:01:00+05:30", NULL);
	settle(&r, "2121-07-20T21:01:05+05:30");
	settle(&r, "2121-07-20T23:59:00+05:30");
	expect_ids("late2-", NULL);
	/* The skipped day is not made up; the next one goes as usual. */
	settle(&r, "2121-07-21T19:00:00+05:30");
	expect_ids("late2-", "late2-a:2121-07-21", NULL);
	stop(&r);
}

/*
 * reminder.timezone and reminder.at: 19:30 in Los Angeles (PDT, UTC-7)
 * is 02:30Z the next day; the reminder is dated with the local day.
 */
static void test_zone_local_date(void **state)
{
	struct run r;
	cJSON *got[MAX_RECS];

	(void)state;
	event("screening_started", "la-a", "2131-06-15T09:00:00-07:00", NULL);
	start(&r, "rm-la", "2131-06-15T19:00:00-07:00", "reminder.timezone",
	      "America/Los_Angeles", "reminder.at", "19:30", NULL);
	settle(&r, "2131-06-16T02:29:54Z");
	expect_ids("la-", NULL);
	settle(&r, "2131-06-16T02:30:00Z");
	expect_ids("la-", "la-a:2131-06-15", NULL);
	assert_int_equal(reminders("la-a", got), 1);
	assert_string_equal(field(got[0], "local_date"), "2131-06-15");
	assert_string_equal(field(got[0], "emitted_at"),
			    "2131-06-16T02:30:00.000Z");
	stop(&r);
}

/*
 * WhatsApp 131050 (the user stopped marketing messages) suppresses the
 * user; 131026 (undeliverable) does not.  opted_in after opted_out
 * reminds again.
 */
static void test_suppression_and_opt_in(void **state)
{
	struct run r;

	(void)state;
	event("screening_started", "rules-sup", "2141-09-01T10:00:00+05:30",
	      NULL);
	event("reminder_failed", "rules-sup", "2141-09-01T10:10:00+05:30",
	      ",\"error_code\":\"131050\"");
	event("screening_started", "rules-und", "2141-09-01T10:00:00+05:30",
	      NULL);
	event("reminder_failed", "rules-und", "2141-09-01T10:10:00+05:30",
	      ",\"error_code\":\"131026\"");
	event("screening_started", "rules-out", "2141-09-01T10:00:00+05:30",
	      NULL);
	event("opted_out", "rules-out", "2141-09-01T11:00:00+05:30", NULL);
	event("screening_started", "rules-back", "2141-09-01T10:00:00+05:30",
	      NULL);
	event("opted_out", "rules-back", "2141-09-01T11:00:00+05:30", NULL);
	event("opted_in", "rules-back", "2141-09-01T12:00:00+05:30", NULL);
	start(&r, "rm-rules", "2141-09-01T18:59:00+05:30", NULL);
	settle(&r, "2141-09-01T19:00:00+05:30");
	expect_ids("rules-", "rules-und:2141-09-01", "rules-back:2141-09-01",
		   NULL);
	stop(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_min_idle_boundary_and_record),
		cmocka_unit_test(test_catchup_until_boundary),
		cmocka_unit_test(test_zone_local_date),
		cmocka_unit_test(test_suppression_and_opt_in),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
