/*
 * migrate.c — `sluice migrate`: PostgreSQL schema, ClickHouse schema and
 * the campaign's Kafka topics, each created only when missing.
 *
 * PostgreSQL: the database of pg.url (if missing), then `screenings`,
 * `outbox` and `idempotency_keys` with the indexes every lookup needs,
 * in one transaction under an advisory lock, so two migrations at once
 * do not trip over each other.  Safe to run any number of times.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "api/api.h"
#include "api/inserter.h"
#include "api/pgpool.h"
#include "api/producer.h"
#include "connectors/clickhouse.h"
#include "processor/cli.h"
#include "processor/log.h"
#include "processor/topics.h"

#define COMP "migrate"
#define TIMEOUT_MS 30000

/* One schema object: how to tell it exists, and how to create it. */
struct object {
	const char *kind;
	const char *name;
	const char *sql;
};

static const struct object objects[] = {
	{ "table", "screenings",
	  "CREATE TABLE IF NOT EXISTS screenings ("
	  " screening_id uuid PRIMARY KEY,"
	  " user_id text NOT NULL,"
	  " phone text NOT NULL,"
	  " lang text NOT NULL,"
	  " pincode text NOT NULL,"
	  " score smallint NOT NULL CHECK (score BETWEEN 1 AND 5),"
	  " channel text,"
	  " answers jsonb,"
	  " event_id uuid NOT NULL,"
	  " created_at timestamptz NOT NULL DEFAULT now())" },
	{ "index", "screenings_user_id_idx",
	  "CREATE INDEX IF NOT EXISTS screenings_user_id_idx"
	  " ON screenings (user_id, created_at)" },
	{ "index", "screenings_phone_idx",
	  "CREATE INDEX IF NOT EXISTS screenings_phone_idx"
	  " ON screenings (phone)" },
	{ "table", "outbox",
	  "CREATE TABLE IF NOT EXISTS outbox ("
	  " id bigserial PRIMARY KEY,"
	  " topic text NOT NULL,"
	  " key text NOT NULL,"
	  " payload text NOT NULL,"
	  " created_at timestamptz NOT NULL DEFAULT now(),"
	  " sent_at timestamptz)" },
	/* "Next unsent rows in id order" reads only this small index. */
	{ "index", "outbox_unsent_idx",
	  "CREATE INDEX IF NOT EXISTS outbox_unsent_idx"
	  " ON outbox (id) WHERE sent_at IS NULL" },
	/* Sent rows past retention, for the relay's housekeeping. */
	{ "index", "outbox_sent_at_idx",
	  "CREATE INDEX IF NOT EXISTS outbox_sent_at_idx"
	  " ON outbox (sent_at) WHERE sent_at IS NOT NULL" },
	{ "table", "idempotency_keys",
	  "CREATE TABLE IF NOT EXISTS idempotency_keys ("
	  " key text PRIMARY KEY,"
	  " request_hash text NOT NULL,"
	  " status smallint NOT NULL,"
	  " body text NOT NULL,"
	  " created_at timestamptz NOT NULL DEFAULT now())" },
	{ "index", "idempotency_keys_created_at_idx",
	  "CREATE INDEX IF NOT EXISTS idempotency_keys_created_at_idx"
	  " ON idempotency_keys (created_at)" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice migrate [--config FILE] [--no-clickhouse] "
		"[--no-kafka]\n\n"
		"Create what Sluice needs, where missing (idempotent):\n"
		"  PostgreSQL (pg.url)    the database, tables screenings, "
		"outbox,\n"
		"                         idempotency_keys, their indexes and "
		"the function\n"
		"                         sluice_store_screenings\n"
		"  ClickHouse             journey_events and its views\n"
		"  Kafka                  topics user_journey and "
		"send_reminder\n"
		"                         (topic.partitions partitions)\n\n"
		"  --config FILE    key = value configuration file\n"
		"  --no-clickhouse  skip the ClickHouse schema\n"
		"  --no-kafka       skip the Kafka topics\n"
		"  --help           this text\n");
}

/* The dbname a URL or conninfo names, in buf; "" when none. */
static void url_dbname(const char *url, char *buf, size_t n)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);

	buf[0] = '\0';
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "dbname") == 0 && o->val != NULL)
			snprintf(buf, n, "%s", o->val);
	PQconninfoFree(opts);
}

/* Create pg.url's database through the `postgres` maintenance db. */
static int create_database(const char *url, sl_errbuf *eb)
{
	const char *keys[] = { "dbname", "dbname", "connect_timeout", NULL };
	const char *vals[] = { url, "postgres", "5", NULL };
	char db[128], *quoted = NULL, sql[300];
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	PGresult *r = NULL;
	const char *state;
	int rc = SL_OK;

	url_dbname(url, db, sizeof(db));
	if (PQstatus(c) != CONNECTION_OK || db[0] == '\0') {
		rc = sl_errbuf_set(eb, SL_EPG, "cannot create database: %s",
				   PQerrorMessage(c));
		goto out;
	}
	quoted = PQescapeIdentifier(c, db, strlen(db));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", quoted);
	r = PQexec(c, sql);
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    (state == NULL || strcmp(state, "42P04") != 0)) {
		rc = sl_errbuf_set(eb, SL_EPG, "create database %s: %s", db,
				   PQresultErrorMessage(r));
		goto out;
	}
	printf("postgresql: database %s created\n", db);
out:
	PQclear(r);
	PQfreemem(quoted);
	PQfinish(c);
	return rc;
}

static int pg_connect_or_create(const char *url, PGconn **c, sl_errbuf *eb)
{
	int rc = pg_connect(url, 5, "sluice-migrate", c, eb);

	if (rc == SL_OK || strstr(eb->msg, "does not exist") == NULL)
		return rc;
	rc = create_database(url, eb);
	if (rc != SL_OK)
		return rc;
	return pg_connect(url, 5, "sluice-migrate", c, eb);
}

static int exists(PGconn *c, const struct object *o, int *yes, sl_errbuf *eb)
{
	const char *vals[1] = { o->name };
	PGresult *r = NULL;
	int rc;

	rc = pg_exec_timeout(c,
			     strcmp(o->kind, "function") == 0
				     ? "SELECT to_regprocedure($1) IS NOT NULL"
				     : "SELECT to_regclass($1) IS NOT NULL",
			     1, vals, TIMEOUT_MS, &r, eb);
	if (rc == SL_OK)
		*yes = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return rc;
}

static int exec_simple(PGconn *c, const char *sql, sl_errbuf *eb)
{
	PGresult *r = NULL;
	int rc = pg_exec_timeout(c, sql, 0, NULL, TIMEOUT_MS, &r, eb);

	PQclear(r);
	return rc;
}

/* Every object in one transaction; prints what it did. */
static int migrate_pg(const sl_config *cfg, sl_errbuf *eb)
{
	const char *url = sl_config_get(cfg, "pg.url");
	int created[sizeof(objects) / sizeof(objects[0])] = { 0 };
	const struct object fn = { "function", INS_FUNCTION_SIGNATURE,
				   ins_function_sql };
	int fn_had = 0;
	PGconn *c = NULL;
	int rc;

	if (url == NULL)
		return sl_errbuf_set(eb, SL_ECONFIG, "pg.url is not set");
	rc = pg_connect_or_create(url, &c, eb);
	if (rc != SL_OK)
		goto out;
	rc = exec_simple(c, "BEGIN", eb);
	if (rc == SL_OK)
		rc = exec_simple(c,
				 "SELECT pg_advisory_xact_lock("
				 "hashtext('sluice migrate'))",
				 eb);
	for (size_t i = 0;
	     rc == SL_OK && i < sizeof(objects) / sizeof(objects[0]); i++) {
		int have = 0;

		rc = exists(c, &objects[i], &have, eb);
		if (rc == SL_OK && !have) {
			rc = exec_simple(c, objects[i].sql, eb);
			created[i] = 1;
		}
	}

	/* The function is replaced every time: its body may have changed. */
	if (rc == SL_OK)
		rc = exists(c, &fn, &fn_had, eb);
	if (rc == SL_OK)
		rc = exec_simple(c, fn.sql, eb);
	if (rc == SL_OK)
		rc = exec_simple(c, "COMMIT", eb);
	if (rc != SL_OK)
		goto out;
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
		printf("postgresql: %s %s %s\n", objects[i].kind,
		       objects[i].name, created[i] ? "created" : "present");
	printf("postgresql: function %s %s\n", fn.name,
	       fn_had ? "replaced" : "created");
out:
	PQfinish(c);
	return rc;
}

static int migrate_kafka(const sl_config *cfg, sl_errbuf *eb)
{
	const char *journey = api_topic_journey(cfg);
	const char *reminders = api_topic_reminders(cfg);
	struct sl_topic_spec specs[] = { { journey, 0, 0 },
					 { reminders, 0, 0 } };
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk = NULL;
	char err[256];
	int had[2], rc;

	rd_kafka_conf_set_log_cb(conf, sl_kafka_log_cb);
	rc = sl_kafka_conf_apply(conf, cfg, eb);
	if (rc != SL_OK) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		return sl_errbuf_set(eb, SL_EKAFKA, "kafka: %s", err);
	}

	/* Unreachable brokers: say so now, not after every timeout. */
	rc = sl_kafka_brokers_answer(rk, cfg, eb);
	if (rc != SL_OK)
		goto out;
	for (int i = 0; i < 2; i++)
		had[i] = sl_topic_partitions(rk, specs[i].name, 10000);
	rc = sl_topics_ensure(rk, cfg, specs, 2, eb);
	for (int i = 0; rc == SL_OK && i < 2; i++) {
		int now = sl_topic_partitions(rk, specs[i].name, 10000);

		printf("kafka: topic %s %s (%d partitions)\n", specs[i].name,
		       had[i] > 0 ? "present" : "created", now);
	}
out:
	rd_kafka_destroy(rk);
	return rc;
}

int migrate_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "no-clickhouse", no_argument, NULL, 'C' },
		{ "no-kafka", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	int no_ch = 0, no_kafka = 0, opt, status = 0;
	sl_errbuf eb = { { 0 } };
	sl_config *cfg;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
			break;
		case 'C':
			no_ch = 1;
			break;
		case 'K':
			no_kafka = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	cfg = sl_cli_config(file);
	if (cfg == NULL)
		return 1;

	/* Each part is attempted even if an earlier one failed. */
	if (migrate_pg(cfg, &eb) != SL_OK) {
		SL_ERROR(COMP, "postgresql schema failed detail=\"%s\"",
			 eb.msg);
		status = 1;
	}
	if (!no_ch) {
		if (ch_migrate(cfg, &eb) != SL_OK) {
			SL_ERROR(COMP, "clickhouse schema failed detail=\"%s\"",
				 eb.msg);
			status = 1;
		} else {
			printf("clickhouse: schema ready\n");
		}
	}
	if (!no_kafka && migrate_kafka(cfg, &eb) != SL_OK) {
		SL_ERROR(COMP, "kafka topics failed detail=\"%s\"", eb.msg);
		status = 1;
	}
	sl_config_free(cfg);
	return status;
}
