/*
 * test_api_failfast.c — with nothing listening (127.0.0.1 port 1), the
 * PostgreSQL pool and the Kafka producer fail quickly instead of
 * hanging, which is what lets the API answer 503 at once.  Needs no
 * service.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "api/pgpool.h"
#include "api/producer.h"
#include "processor/log.h"

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_pool_down(void **state)
{
	pgpool_opts o = { .url = "postgresql://postgres@127.0.0.1:1/x",
			  .size = 2,
			  .retry_ms = 400 };
	pgpool *p = pgpool_new(&o);
	sl_errbuf eb = { { 0 } };
	PGconn *c = NULL;
	int64_t t0;
	int in_use, connected, size;

	(void)state;
	assert_non_null(p);

	/* Refused at once. */
	t0 = ms_now();
	assert_int_equal(pgpool_get(p, &c, &eb), SL_EUNAVAIL);
	assert_true(ms_now() - t0 < 1000);
	assert_non_null(strstr(eb.msg, "connect"));

	/* Within retry_ms: no new attempt, the pool says so. */
	t0 = ms_now();
	assert_int_equal(pgpool_get(p, &c, &eb), SL_EUNAVAIL);
	assert_true(ms_now() - t0 < 50);
	assert_non_null(strstr(eb.msg, "ms ago"));

	/* Failed checkouts give their slot back. */
	pgpool_stats(p, &in_use, &connected, &size);
	assert_int_equal(in_use, 0);
	assert_int_equal(connected, 0);
	assert_int_equal(size, 2);
	pgpool_free(p);
}

static void test_producer_down(void **state)
{
	sl_config *cfg = sl_config_new();
	sl_errbuf eb = { { 0 } };
	aprod_msg m = { "t", "k", 1, "v", 1 };
	aprod_stats st = { 0 };
	aprod *p = NULL;
	int64_t t0;

	(void)state;
	sl_log_level = SL_LOG_OFF; /* librdkafka's connect errors */
	sl_config_set(cfg, "kafka.bootstrap.servers", "127.0.0.1:1");
	assert_int_equal(aprod_new(cfg, &p, &eb), SL_OK);

	/* librdkafka notices every broker is down within a few seconds. */
	t0 = ms_now();
	while (ms_now() - t0 < 5000) {
		aprod_get_stats(p, &st);
		if (st.brokers_down)
			break;
		struct timespec pause = { 0, 50 * 1000000 };

		nanosleep(&pause, NULL);
	}
	assert_true(st.brokers_down);

	/* Then a send fails fast rather than waiting out the timeout. */
	t0 = ms_now();
	assert_int_equal(aprod_send(p, &m, &eb), SL_EUNAVAIL);
	assert_true(ms_now() - t0 < 100);
	assert_false(aprod_failed(p));
	aprod_free(p, 0);
	sl_config_free(cfg);
}

static void test_producer_bad_config(void **state)
{
	sl_config *cfg = sl_config_new();
	sl_errbuf eb = { { 0 } };
	aprod *p = NULL;

	(void)state;
	sl_config_set(cfg, "kafka.no.such.property", "1");
	assert_int_equal(aprod_new(cfg, &p, &eb), SL_ECONFIG);
	assert_non_null(strstr(eb.msg, "no.such.property"));
	assert_null(p);
	sl_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_down),
		cmocka_unit_test(test_producer_down),
		cmocka_unit_test(test_producer_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
