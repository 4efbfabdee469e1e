/*
 * rt_driver.c — drives the processor runtime on a real broker for the
 * runtime's integration tests (tests/integration/10_runtime.sh).
 *
 *   rt_driver produce BOOTSTRAP TOPIC N KEYS [START]
 *	N records i = START.. keyed k<i % KEYS> (murmur2, like Java
 *	clients), value the sequence number i; prints nothing.
 *   rt_driver run BOOTSTRAP APP_ID IN OUT STATE_DIR GUARANTEE [INSTANCE]
 *	Runs the "count" topology until SIGTERM: per input record, the
 *	store "counts" holds the number of records seen for the key, and
 *	the input's value is sent to OUT keyed by the key.  A line
 *	"ready" is printed once every assigned task runs, and at exit
 *	"records=N restored=M" (records processed, changelog records
 *	restored).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "processor/app_int.h"
#include "processor/cli.h"
#include "processor/log.h"
#include "processor/topics.h"

static const char *out_topic;

static int count_step(sl_ctx *ctx, const sl_record *rec, void *ud)
{
	sl_store *st = sl_ctx_store(ctx, "counts");
	char buf[32];
	sl_bytes v;
	long n = 0;
	int rc;

	(void)ud;
	if (sl_store_get(st, rec->key.data, rec->key.len, &v) == SL_OK) {
		snprintf(buf, sizeof(buf), "%.*s", (int)v.len,
			 (const char *)v.data);
		n = atol(buf);
	}
	snprintf(buf, sizeof(buf), "%ld", n + 1);
	rc = sl_store_put(st, rec->key.data, rec->key.len, buf, strlen(buf));
	if (rc == SL_OK)
		rc = sl_ctx_send(ctx, out_topic, rec->key.data, rec->key.len,
				 rec->value.data, rec->value.len);
	return rc;
}

static int produce(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];
	rd_kafka_t *rk;
	long n, keys, start;

	if (argc != 6 && argc != 7)
		return 2;
	n = atol(argv[4]);
	keys = atol(argv[5]);
	start = argc == 7 ? atol(argv[6]) : 0;
	rd_kafka_conf_set(conf, "bootstrap.servers", argv[2], errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "partitioner", "murmur2_random", errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "linger.ms", "20", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr,
			  sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "produce: %s\n", errstr);
		return 1;
	}
	for (long i = start; i < start + n; i++) {
		char key[32], val[32];
		rd_kafka_resp_err_t err;

		snprintf(key, sizeof(key), "k%ld", i % keys);
		snprintf(val, sizeof(val), "%ld", i);
		do {
			err = rd_kafka_producev(
				rk, RD_KAFKA_V_TOPIC(argv[3]),
				RD_KAFKA_V_KEY(key, strlen(key)),
				RD_KAFKA_V_VALUE(val, strlen(val)),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_END);
			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 50);
		} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
	}
	rd_kafka_flush(rk, 60000);
	rd_kafka_destroy(rk);
	return 0;
}

static void *runner(void *arg)
{
	sl_app *app = arg;

	sl_app_run(app);
	return NULL;
}

static int all_running(sl_app *app)
{
	int any = 0, ok = 1;

	pthread_mutex_lock(&app->tasks_lock);
	for (int i = 0; i < app->ntasks; i++) {
		any |= app->tasks[i].state != TASK_NONE;
		ok &= app->tasks[i].state != TASK_RESTORING;
	}
	pthread_mutex_unlock(&app->tasks_lock);
	return any && ok;
}

static int run(int argc, char **argv)
{
	struct sl_topic_spec out = { NULL, 0, 0 };
	sl_config *cfg = sl_config_new();
	sl_topology *t = sl_topology_new("count");
	sl_errbuf eb = { { 0 } };
	sl_app *app = NULL;
	pthread_t th;
	int said = 0, rc;

	if (argc < 8 || cfg == NULL || t == NULL)
		return 2;
	out_topic = argv[5];
	sl_config_set(cfg, "kafka.bootstrap.servers", argv[2]);
	sl_config_set(cfg, "application.id", argv[3]);
	sl_config_set(cfg, "state.dir", argv[6]);
	sl_config_set(cfg, "processing.guarantee", argv[7]);
	sl_config_set(cfg, "commit.interval.ms", "200");
	if (argc > 8)
		sl_config_set(cfg, "group.instance.id", argv[8]);
	sl_config_load_env(cfg, &eb); /* SLUICE_KAFKA_DEBUG=... etc. */
	sl_topology_source(t, argv[4]);
	sl_topology_store(t, "counts");
	sl_topology_step(t, "count", count_step, NULL);
	rc = sl_app_new(cfg, t, &app, &eb);
	if (rc != SL_OK) {
		fprintf(stderr, "rt_driver: %s: %s\n", sl_errname(rc), eb.msg);
		return 1;
	}
	out.name = out_topic;
	rc = sl_topics_ensure(app->producer, cfg, &out, 1, &eb);
	if (rc != SL_OK) {
		fprintf(stderr, "rt_driver: %s\n", eb.msg);
		return 1;
	}
	sl_signals_install();
	pthread_create(&th, NULL, runner, app);
	while (!sl_stop_requested) {
		usleep(100 * 1000);
		if (!said && all_running(app)) {
			printf("ready\n");
			fflush(stdout);
			said = 1;
		}
	}
	sl_app_stop(app);
	pthread_join(th, NULL);
	printf("records=%lld restored=%lld\n",
	       (long long)atomic_load(&app->stats.records),
	       (long long)atomic_load(&app->stats.restored));
	sl_app_free(app);
	sl_config_free(cfg);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "produce") == 0)
		return produce(argc, argv);
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		return run(argc, argv);
	fprintf(stderr, "usage: rt_driver produce|run ... (see the source)\n");
	return 2;
}
