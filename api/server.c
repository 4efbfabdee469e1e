/*
 * server.c — `sluice api`: the screening HTTP API (SPEC section 5).
 *
 *	POST /v1/screenings               screening + outbox row, one commit
 *	POST /v1/journey                  journey event straight to Kafka
 *	GET  /v1/screenings/{id}
 *	GET  /v1/users/{user_id}/screenings
 *	GET  /metrics, /healthz, /readyz  (no token)
 *
 * Every /v1 route needs the bearer token api.token.  Request bodies
 * become events in api/request.c (no I/O there; fuzzed).  A screening is
 * stored with its screening_completed event in the outbox, and its
 * Idempotency-Key if any, in one transaction (inserter.h groups the
 * screenings of concurrent requests into one call of a SQL function,
 * one round trip; it works through PgBouncer in transaction mode); the
 * relay thread (outbox.h) moves events to Kafka, so a Kafka outage
 * delays them, never loses them.  On the journey endpoint, which writes
 * no database, an Idempotency-Key is kept in memory (idem.h).
 *
 * Status codes: 400 bad input (JSON body naming field and rule), 401 no
 * or wrong token, 409 the same Idempotency-Key in flight, 413 body over
 * api.max_body, 415 Content-Type not JSON, 422 Idempotency-Key reused
 * for another request, 503 PostgreSQL or Kafka unavailable (with
 * Retry-After).  A 500 means a bug, never bad input.
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>
#include <libpq-fe.h>

#include "api/api.h"
#include "api/http.h"
#include "api/idem.h"
#include "api/inserter.h"
#include "api/outbox.h"
#include "api/pgpool.h"
#include "api/producer.h"
#include "api/request.h"
#include "processor/cli.h"
#include "processor/clock.h"
#include "processor/log.h"
#include "processor/timeutil.h"
#include "topologies/event.h"

#define COMP "api"
#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000

struct api {
	const sl_config *cfg;
	const char *token;
	const char *topic;
	sl_clock clock;
	pgpool *pool;
	ins_writer *ins;
	aprod *prod;
	outbox *ob;
	idem_cache *idem;
	http_server *http;
	int64_t idem_ttl_ms;

	_Atomic uint64_t screenings, journey_events, replays;
	_Atomic uint64_t pg_unavailable, kafka_unavailable;
};

/* ---- SQL ---------------------------------------------------------------- */

#define SQL_SCREENING_JSON                                                     \
	"json_build_object('screening_id', screening_id, 'user_id', "          \
	"user_id, 'phone', phone, 'lang', lang, 'pincode', pincode, "          \
	"'score', score, 'channel', channel, 'answers', answers, "             \
	"'event_id', event_id, 'created_at', to_char(created_at AT TIME "      \
	"ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"

static const char sql_get_one[] = "SELECT " SQL_SCREENING_JSON
				  "::text FROM screenings "
				  "WHERE screening_id = $1::uuid";

static const char sql_get_user[] =
	"SELECT json_build_object('user_id', $1::text, 'screenings', "
	"coalesce(json_agg(j ORDER BY created_at DESC, screening_id), "
	"'[]'::json))::text FROM (SELECT " SQL_SCREENING_JSON
	" AS j, created_at, screening_id FROM screenings WHERE user_id = $1 "
	"ORDER BY created_at DESC, screening_id LIMIT $2::int) t";

/* ---- small helpers ------------------------------------------------------ */

static void reply_invalid(http_resp *resp, const char *field, const char *rule)
{
	http_resp_error(resp, 400, "invalid", field, rule);
}

static void reply_unavailable(http_resp *resp, const char *what)
{
	http_resp_error(resp, 503, "unavailable", NULL, what);
	http_resp_header(resp, "Retry-After", "1");
}

static int authorized(const struct api *a, const http_req *req, http_resp *resp)
{
	if (api_token_ok(http_req_header(req, "Authorization"), a->token))
		return 1;
	http_resp_error(resp, 401, "unauthorized", NULL,
			"needs Authorization: Bearer <api.token>");
	http_resp_header(resp, "WWW-Authenticate", "Bearer");
	return 0;
}

/* Common checks of a write: token, Content-Type, Idempotency-Key. */
static int write_preamble(struct api *a, const http_req *req, http_resp *resp,
			  const char **idem_key)
{
	if (!authorized(a, req, resp))
		return 0;
	if (!api_content_type_json(http_req_header(req, "Content-Type"))) {
		http_resp_error(resp, 415, "unsupported_media_type",
				"Content-Type", "must be application/json");
		return 0;
	}
	*idem_key = http_req_header(req, "Idempotency-Key");
	if (*idem_key != NULL && !api_idem_key_ok(*idem_key)) {
		reply_invalid(resp, "Idempotency-Key",
			      "must be 1-255 printable ASCII characters");
		return 0;
	}
	return 1;
}

/* SHA-256 of method, path and body: what a retry must repeat. */
static void request_hash(const http_req *req, char *out)
{
	size_t len, n;
	const char *body = http_req_body(req, &len);
	char *buf;

	n = strlen(http_req_path(req)) + len + 8;
	buf = malloc(n);
	if (buf == NULL) {
		api_sha256_hex(body, len, out);
		return;
	}
	n = (size_t)snprintf(buf, n, "%s %s\n", http_req_method(req),
			     http_req_path(req));
	memcpy(buf + n, body, len);
	api_sha256_hex(buf, n + len, out);
	free(buf);
}

static void now_rfc3339(struct api *a, char *out)
{
	sl_time_format_rfc3339(sl_clock_now_ms(&a->clock), out);
}

static const char *str_field(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Answer a PostgreSQL failure: 503 when it is the server's state. */
static void reply_pg_error(struct api *a, http_resp *resp, int rc,
			   const sl_errbuf *eb, const char *what)
{
	if (rc == SL_EUNAVAIL || rc == SL_ETIMEOUT) {
		atomic_fetch_add(&a->pg_unavailable, 1);
		SL_WARN(COMP, "postgresql unavailable op=%s detail=\"%s\"",
			what, eb->msg);
		reply_unavailable(resp, "database unavailable, retry later");
		return;
	}
	SL_ERROR(COMP, "postgresql error op=%s detail=\"%s\"", what, eb->msg);
	http_resp_error(resp, 500, "internal", NULL, NULL);
}

/* ---- POST /v1/screenings ------------------------------------------------ */

/* Store; SL_OK with resp set (201 or the key's first answer). */
static int store_screening(struct api *a, const api_screening *s,
			   const char *key, const char *hash, http_resp *resp,
			   sl_errbuf *eb)
{
	ins_row row = { .screening_id = s->screening_id,
			.event_id = s->event_id,
			.occurred_at = s->occurred_at,
			.user_id = s->user_id,
			.phone = s->phone,
			.lang = s->lang,
			.pincode = s->pincode,
			.channel = s->channel,
			.score = s->score,
			.answers = s->answers,
			.payload = s->payload,
			.idem_key = key,
			.idem_hash = hash,
			.reply = s->reply };
	ins_result res;
	int rc = ins_store(a->ins, &row, &res);

	if (rc != SL_OK) {
		sl_errbuf_set(eb, rc, "%s", res.detail);
		goto out;
	}
	if (res.inserted) {
		http_resp_json(resp, 201, s->reply);
		goto out;
	}
	atomic_fetch_add(&a->replays, 1);
	if (strcmp(res.hash, hash) != 0) {
		http_resp_error(resp, 422, "idempotency_key_reused", NULL,
				"this Idempotency-Key was used for another "
				"request");
		goto out;
	}
	http_resp_json(resp, res.status, res.body);
	http_resp_header(resp, "Idempotent-Replayed", "true");
out:
	ins_result_clear(&res);
	return rc;
}

/* A 400 or 503 from api_bad. */
static void reply_bad(http_resp *resp, const api_bad *bad)
{
	if (bad->status == 400)
		reply_invalid(resp, bad->field, bad->rule);
	else
		http_resp_error(resp, 503, "unavailable", NULL, bad->rule);
}

/* Fresh identifiers and the time for a request; 0 with a 500 set. */
static int new_ids(struct api *a, char *id1, char *id2, char *now,
		   http_resp *resp)
{
	if (api_uuid_v4(id1) != SL_OK ||
	    (id2 != NULL && api_uuid_v4(id2) != SL_OK)) {
		http_resp_error(resp, 500, "internal", NULL, "no randomness");
		return 0;
	}
	now_rfc3339(a, now);
	return 1;
}

static void h_post_screening(const http_req *req, http_resp *resp, void *ud)
{
	struct api *a = ud;
	api_screening s = { 0 };
	api_bad bad;
	const char *key = NULL, *body;
	char sid[API_UUID_LEN + 1], eid[API_UUID_LEN + 1], now[32];
	char hash[65] = "", loc[64];
	sl_errbuf eb = { { 0 } };
	size_t len;
	int rc;

	if (!write_preamble(a, req, resp, &key) ||
	    !new_ids(a, sid, eid, now, resp))
		goto out;
	body = http_req_body(req, &len);
	if (api_screening_parse(body, len, sid, eid, now, &s, &bad) != SL_OK) {
		reply_bad(resp, &bad);
		goto out;
	}
	if (key != NULL)
		request_hash(req, hash);

	rc = store_screening(a, &s, key, key ? hash : NULL, resp, &eb);
	if (rc != SL_OK) {
		reply_pg_error(a, resp, rc, &eb, "insert screening");
		goto out;
	}
	if (http_resp_status(resp) == 201) {
		atomic_fetch_add(&a->screenings, 1);
		snprintf(loc, sizeof(loc), "/v1/screenings/%s", s.screening_id);
		http_resp_header(resp, "Location", loc);
		outbox_wake(a->ob);
	}
out:
	api_screening_clear(&s);
}

/* ---- POST /v1/journey --------------------------------------------------- */

/* Produce; sets resp and returns the 202 body (caller frees) or NULL. */
static char *produce_journey(struct api *a, const cJSON *ev, http_resp *resp)
{
	const char *user_id = str_field(ev, "user_id");
	const char *event_id = str_field(ev, "event_id");
	char *payload = cJSON_PrintUnformatted(ev), *reply = NULL;
	cJSON *r = cJSON_CreateObject();
	aprod_msg m = { a->topic, user_id, strlen(user_id), payload,
			payload ? strlen(payload) : 0 };
	sl_errbuf eb = { { 0 } };
	int rc;

	if (payload == NULL || r == NULL ||
	    cJSON_AddStringToObject(r, "event_id", event_id) == NULL ||
	    (reply = cJSON_PrintUnformatted(r)) == NULL) {
		http_resp_error(resp, 503, "unavailable", NULL,
				"out of memory");
		goto out;
	}
	rc = aprod_send(a->prod, &m, &eb);
	if (rc != SL_OK) {
		atomic_fetch_add(&a->kafka_unavailable, 1);
		SL_WARN(COMP, "journey event not produced err=%s detail=\"%s\"",
			sl_errname(rc), eb.msg);
		reply_unavailable(resp, "kafka unavailable, retry later");
		cJSON_free(reply);
		reply = NULL;
		goto out;
	}
	atomic_fetch_add(&a->journey_events, 1);
	http_resp_json(resp, 202, reply);
out:
	cJSON_free(payload);
	cJSON_Delete(r);
	return reply;
}

/* Returns 1 when the key decided the answer (replay or conflict). */
static int journey_idem_begin(struct api *a, const char *key, const char *hash,
			      http_resp *resp)
{
	char *body = NULL;
	int status = 0;

	switch (idem_begin(a->idem, key, hash, &status, &body)) {
	case IDEM_NEW:
		return 0;
	case IDEM_REPLAY:
		atomic_fetch_add(&a->replays, 1);
		if (body == NULL) {
			http_resp_error(resp, 503, "unavailable", NULL,
					"out of memory");
			return 1;
		}
		http_resp_json(resp, status, body);
		http_resp_header(resp, "Idempotent-Replayed", "true");
		free(body);
		return 1;
	case IDEM_MISMATCH:
		http_resp_error(resp, 422, "idempotency_key_reused", NULL,
				"this Idempotency-Key was used for another "
				"request");
		return 1;
	case IDEM_BUSY:
		http_resp_error(resp, 409, "in_progress", NULL,
				"a request with this Idempotency-Key is in "
				"progress");
		http_resp_header(resp, "Retry-After", "1");
		return 1;
	}
	return 0;
}

static void h_post_journey(const http_req *req, http_resp *resp, void *ud)
{
	struct api *a = ud;
	const char *key = NULL, *body;
	char eid[API_UUID_LEN + 1], now[32], hash[65], *reply;
	cJSON *ev = NULL;
	api_bad bad;
	size_t len;

	if (!write_preamble(a, req, resp, &key) ||
	    !new_ids(a, eid, NULL, now, resp))
		return;
	body = http_req_body(req, &len);
	if (api_journey_parse(body, len, eid, now, &ev, &bad) != SL_OK) {
		reply_bad(resp, &bad);
		goto out;
	}
	if (key != NULL) {
		request_hash(req, hash);
		if (journey_idem_begin(a, key, hash, resp))
			goto out;
	}

	/* Only a produced event is remembered: a 503 may be retried. */
	reply = produce_journey(a, ev, resp);
	if (key != NULL && reply != NULL)
		idem_finish(a->idem, key, 202, reply);
	else if (key != NULL)
		idem_abort(a->idem, key);
	cJSON_free(reply);
out:
	cJSON_Delete(ev);
}

/* ---- GET ---------------------------------------------------------------- */

/* Run a one-value query and answer its text as JSON (404 when no row). */
static void reply_query(struct api *a, http_resp *resp, const char *sql, int n,
			const char *const *vals, const char *what)
{
	sl_errbuf eb = { { 0 } };
	PGconn *c = NULL;
	PGresult *r = NULL;
	int rc;

	rc = pgpool_get(a->pool, &c, &eb);
	if (rc == SL_OK)
		rc = pgpool_exec(a->pool, c, sql, n, vals, &r, &eb);
	if (rc != SL_OK)
		reply_pg_error(a, resp, rc, &eb, what);
	else if (PQntuples(r) == 0)
		http_resp_error(resp, 404, "not_found", NULL, NULL);
	else
		http_resp_json(resp, 200, PQgetvalue(r, 0, 0));
	PQclear(r);
	pgpool_put(a->pool, c);
}

static void h_get_screening(const http_req *req, http_resp *resp, void *ud)
{
	struct api *a = ud;
	const char *id = http_req_param(req, "id");

	if (!authorized(a, req, resp))
		return;
	if (!api_is_uuid(id)) {
		http_resp_error(resp, 404, "not_found", NULL, NULL);
		return;
	}
	reply_query(a, resp, sql_get_one, 1, &id, "get screening");
}

static void h_get_user(const http_req *req, http_resp *resp, void *ud)
{
	struct api *a = ud;
	const char *uid = http_req_param(req, "user_id");
	const char *ls = http_req_query(req, "limit");
	char limit[16];
	const char *vals[2] = { uid, limit };
	long n = LIST_LIMIT_DEFAULT;
	char *end = NULL;

	if (!authorized(a, req, resp))
		return;
	if (!ev_valid_id(uid)) {
		reply_invalid(resp, "user_id", "must be 1-64 characters");
		return;
	}
	if (ls != NULL) {
		n = strtol(ls, &end, 10);
		if (*ls == '\0' || *end != '\0' || n < 1 ||
		    n > LIST_LIMIT_MAX) {
			reply_invalid(resp, "limit",
				      "must be an integer from 1 to 1000");
			return;
		}
	}
	snprintf(limit, sizeof(limit), "%ld", n);
	reply_query(a, resp, sql_get_user, 2, vals, "list screenings");
}

/* ---- operations --------------------------------------------------------- */

static void write_api_metrics(struct api *a, FILE *f)
{
	int in_use, connected, size;
	outbox_stats os;
	aprod_stats ps;

	pgpool_stats(a->pool, &in_use, &connected, &size);
	outbox_get_stats(a->ob, &os);
	aprod_get_stats(a->prod, &ps);
	fprintf(f,
		"# TYPE sluice_api_screenings_created_total counter\n"
		"sluice_api_screenings_created_total %llu\n"
		"# TYPE sluice_api_journey_events_total counter\n"
		"sluice_api_journey_events_total %llu\n"
		"# TYPE sluice_api_idempotent_replays_total counter\n"
		"sluice_api_idempotent_replays_total %llu\n"
		"# TYPE sluice_api_unavailable_total counter\n"
		"sluice_api_unavailable_total{dependency=\"postgresql\"} %llu\n"
		"sluice_api_unavailable_total{dependency=\"kafka\"} %llu\n",
		(unsigned long long)atomic_load(&a->screenings),
		(unsigned long long)atomic_load(&a->journey_events),
		(unsigned long long)atomic_load(&a->replays),
		(unsigned long long)atomic_load(&a->pg_unavailable),
		(unsigned long long)atomic_load(&a->kafka_unavailable));
	fprintf(f,
		"# TYPE sluice_api_pg_pool_connections gauge\n"
		"sluice_api_pg_pool_connections{state=\"in_use\"} %d\n"
		"sluice_api_pg_pool_connections{state=\"open\"} %d\n"
		"sluice_api_pg_pool_connections{state=\"max\"} %d\n",
		in_use, connected, size);
	fprintf(f,
		"# TYPE sluice_api_outbox_relayed_total counter\n"
		"sluice_api_outbox_relayed_total %llu\n"
		"# TYPE sluice_api_outbox_failed_batches_total counter\n"
		"sluice_api_outbox_failed_batches_total %llu\n"
		"# TYPE sluice_api_outbox_backlog gauge\n"
		"sluice_api_outbox_backlog %lld\n"
		"# TYPE sluice_api_outbox_oldest_unsent_seconds gauge\n"
		"sluice_api_outbox_oldest_unsent_seconds %.3f\n"
		"# TYPE sluice_api_outbox_connected gauge\n"
		"sluice_api_outbox_connected %d\n",
		(unsigned long long)os.relayed,
		(unsigned long long)os.failed_batches, (long long)os.backlog,
		os.oldest_s, os.connected);
	fprintf(f,
		"# TYPE sluice_api_kafka_delivered_total counter\n"
		"sluice_api_kafka_delivered_total %llu\n"
		"# TYPE sluice_api_kafka_failed_total counter\n"
		"sluice_api_kafka_failed_total %llu\n"
		"# TYPE sluice_api_kafka_brokers_down gauge\n"
		"sluice_api_kafka_brokers_down %d\n"
		"# TYPE sluice_api_idempotency_keys_in_memory gauge\n"
		"sluice_api_idempotency_keys_in_memory %zu\n",
		(unsigned long long)ps.delivered, (unsigned long long)ps.failed,
		ps.brokers_down, idem_count(a->idem));
}

static void write_metrics(FILE *f, void *ud)
{
	struct api *a = ud;

	http_server_write_metrics(a->http, f);
	write_api_metrics(a, f);
}

static void h_metrics(const http_req *req, http_resp *resp, void *ud)
{
	(void)req;
	http_resp_metrics(resp, write_metrics, ud);
}

/* Ready when PostgreSQL answers and Kafka's brokers are not all down. */
static void h_readyz(const http_req *req, http_resp *resp, void *ud)
{
	struct api *a = ud;
	sl_errbuf eb = { { 0 } };
	PGconn *c = NULL;
	PGresult *r = NULL;
	aprod_stats ps;
	int pg;

	(void)req;
	pg = pgpool_get(a->pool, &c, &eb);
	if (pg == SL_OK)
		pg = pgpool_exec(a->pool, c, "SELECT 1", 0, NULL, &r, &eb);
	PQclear(r);
	pgpool_put(a->pool, c);
	aprod_get_stats(a->prod, &ps);
	if (pg == SL_OK && !ps.brokers_down && !aprod_failed(a->prod)) {
		http_resp_json(resp, 200,
			       "{\"postgresql\":\"ok\",\"kafka\":\"ok\"}");
		return;
	}
	http_resp_json(resp, 503,
		       pg != SL_OK ? "{\"postgresql\":\"unavailable\"}"
				   : "{\"kafka\":\"unavailable\"}");
}

/* Drop Idempotency-Keys past api.idempotency_ttl. */
static void expire_idem_keys(struct api *a)
{
	char ttl[32];
	const char *vals[1] = { ttl };
	sl_errbuf eb = { { 0 } };
	PGconn *c = NULL;
	PGresult *r = NULL;

	snprintf(ttl, sizeof(ttl), "%lld milliseconds",
		 (long long)a->idem_ttl_ms);
	if (pgpool_get(a->pool, &c, &eb) != SL_OK)
		return;
	if (pgpool_exec(a->pool, c,
			"DELETE FROM idempotency_keys "
			"WHERE created_at < now() - $1::interval",
			1, vals, &r, &eb) != SL_OK)
		SL_WARN(COMP, "idempotency key expiry failed detail=\"%s\"",
			eb.msg);
	PQclear(r);
	pgpool_put(a->pool, c);
}

/* ---- start and stop ----------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice api [--config FILE]\n\n"
		"Serve the screening API on api.listen:\n"
		"  POST /v1/screenings   store a completed screening (201)\n"
		"  POST /v1/journey      publish a journey event (202)\n"
		"  GET  /v1/screenings/{id}\n"
		"  GET  /v1/users/{user_id}/screenings[?limit=N]\n"
		"  GET  /metrics, /healthz, /readyz\n\n"
		"/v1 routes need 'Authorization: Bearer <api.token>'; the API "
		"does not\nstart without api.token (SLUICE_API_TOKEN or "
		"SLUICE_API_TOKEN_FILE).\nRun 'sluice migrate' first.\n\n"
		"Keys: api.listen, api.token, api.max_body, api.threads,\n"
		"api.max_connections, api.per_ip_limit, api.timeout,\n"
		"api.idempotency_ttl, api.journey_topic, pg.url, "
		"pg.pool_size,\n"
		"pg.pool_wait, pg.query_timeout, pg.listen_url, pg.writers,\n"
		"pg.batch, outbox.batch, outbox.interval, outbox.retention,\n"
		"outbox.notify, and kafka.* (passed to librdkafka).\n\n"
		"  --config FILE  key = value configuration file\n"
		"  --help         this text\n");
}

/* An integer key with a default; SL_ECONFIG when it does not parse. */
static int cfg_int(const sl_config *cfg, const char *key, int64_t def,
		   int64_t lo, int64_t hi, int64_t *out, sl_errbuf *eb)
{
	int rc = sl_config_int(cfg, key, out, eb);

	if (rc == SL_ENOTFOUND) {
		*out = def;
		return SL_OK;
	}
	if (rc == SL_OK && (*out < lo || *out > hi))
		rc = sl_errbuf_set(eb, SL_ECONFIG,
				   "%s: must be from %lld to %lld", key,
				   (long long)lo, (long long)hi);
	return rc;
}

static int cfg_ms(const sl_config *cfg, const char *key, int64_t def,
		  int64_t *out, sl_errbuf *eb)
{
	int rc = sl_config_duration_ms(cfg, key, out, eb);

	if (rc == SL_ENOTFOUND) {
		*out = def;
		return SL_OK;
	}
	return rc;
}

struct settings {
	int notify;
	int64_t max_body, threads, max_conns, per_ip, timeout_ms;
	int64_t pool_size, pool_wait_ms, query_timeout_ms, writers, batch_rows;
	int64_t batch, interval_ms, retention_ms, idem_ttl_ms;
};

/* "true"/"false" (or 1/0, yes/no, on/off); absent means def. */
static int cfg_bool(const sl_config *cfg, const char *key, int def, int *out,
		    sl_errbuf *eb)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };
	const char *v = sl_config_get(cfg, key);

	*out = def;
	if (v == NULL)
		return SL_OK;
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return (*out = 1), SL_OK;
		if (strcasecmp(v, no[i]) == 0)
			return (*out = 0), SL_OK;
	}
	return sl_errbuf_set(eb, SL_ECONFIG, "%s: expected true or false", key);
}

static int read_settings(const sl_config *cfg, struct settings *s,
			 sl_errbuf *eb)
{
	int rc = cfg_bool(cfg, "outbox.notify", 1, &s->notify, eb);

	if (rc == SL_OK)
		rc = cfg_int(cfg, "api.max_body", 65536, 1, 64 << 20,
			     &s->max_body, eb);
	if (rc == SL_OK)
		rc = cfg_int(cfg, "api.threads", 0, 0, 64, &s->threads, eb);
	if (rc == SL_OK)
		rc = cfg_int(cfg, "api.max_connections", 1024, 1, 100000,
			     &s->max_conns, eb);
	if (rc == SL_OK)
		rc = cfg_int(cfg, "api.per_ip_limit", 256, 0, 100000,
			     &s->per_ip, eb);
	if (rc == SL_OK)
		rc = cfg_ms(cfg, "api.timeout", 30000, &s->timeout_ms, eb);
	if (rc == SL_OK)
		rc = cfg_ms(cfg, "api.idempotency_ttl", 86400000,
			    &s->idem_ttl_ms, eb);
	if (rc == SL_OK)
		rc = cfg_int(cfg, "pg.pool_size", 8, 1, 1000, &s->pool_size,
			     eb);
	if (rc == SL_OK)
		rc = cfg_ms(cfg, "pg.pool_wait", 2000, &s->pool_wait_ms, eb);
	if (rc == SL_OK)
		rc = cfg_int(cfg, "pg.writers", 4, 1, 256, &s->writers, eb);
	if (rc == SL_OK)
		rc = cfg_int(cfg, "pg.batch", 64, 1, 10000, &s->batch_rows, eb);
	if (rc == SL_OK)
		rc = cfg_ms(cfg, "pg.query_timeout", 5000, &s->query_timeout_ms,
			    eb);
	if (rc == SL_OK)
		rc = cfg_int(cfg, "outbox.batch", 500, 1, 100000, &s->batch,
			     eb);
	if (rc == SL_OK)
		rc = cfg_ms(cfg, "outbox.interval", 1000, &s->interval_ms, eb);
	if (rc == SL_OK)
		rc = cfg_ms(cfg, "outbox.retention", 3600000, &s->retention_ms,
			    eb);
	return rc;
}

static int add_routes(struct api *a)
{
	static const struct {
		const char *method, *pattern;
		http_handler_fn fn;
	} routes[] = {
		{ "POST", "/v1/screenings", h_post_screening },
		{ "POST", "/v1/journey", h_post_journey },
		{ "GET", "/v1/screenings/{id}", h_get_screening },
		{ "GET", "/v1/users/{user_id}/screenings", h_get_user },
		{ "GET", "/metrics", h_metrics },
		{ "GET", "/healthz", http_h_healthz },
		{ "GET", "/readyz", h_readyz },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (http_route(a->http, routes[i].method, routes[i].pattern,
			       routes[i].fn, a) != SL_OK)
			return SL_EINVAL;
	return SL_OK;
}

/*
 * Warn loudly when the schema is missing (the database may also just be
 * down now, which is no reason not to start).
 */
static void check_schema(struct api *a)
{
	const char *vals[1] = { INS_FUNCTION_SIGNATURE };
	sl_errbuf eb = { { 0 } };
	PGconn *c = NULL;
	PGresult *r = NULL;

	if (pgpool_get(a->pool, &c, &eb) != SL_OK) {
		SL_WARN(COMP,
			"postgresql unavailable at start, carrying on "
			"detail=\"%s\"",
			eb.msg);
		return;
	}
	if (pgpool_exec(a->pool, c, "SELECT to_regprocedure($1) IS NULL", 1,
			vals, &r, &eb) == SL_OK &&
	    strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		SL_ERROR(COMP, "the schema is missing or old: run 'sluice "
			       "migrate' (screenings will fail until then)");
	PQclear(r);
	pgpool_put(a->pool, c);
}

/* Build everything; on failure eb says why and the caller tears down. */
static int api_open(struct api *a, const struct settings *st, sl_errbuf *eb)
{
	const char *listen_url = sl_config_get(a->cfg, "pg.listen_url");
	pgpool_opts po = { .url = sl_config_get(a->cfg, "pg.url"),
			   .size = (int)st->pool_size,
			   .wait_ms = st->pool_wait_ms,
			   .query_timeout_ms = st->query_timeout_ms,
			   .app_name = "sluice-api" };
	outbox_opts oo = { .url = listen_url ? listen_url : po.url,
			   .batch = (int)st->batch,
			   .interval_ms = st->interval_ms,
			   .retention_ms = st->retention_ms };
	http_opts ho = { .name = "api",
			 .listen = sl_config_get(a->cfg, "api.listen"),
			 .max_body = (size_t)st->max_body,
			 .threads = (unsigned)st->threads,
			 .max_conns = (unsigned)st->max_conns,
			 .per_ip = (unsigned)st->per_ip,
			 .timeout_s =
				 (unsigned)((st->timeout_ms + 999) / 1000) };
	ins_opts io = { .topic = a->topic,
			.writers = (int)st->writers,
			.max_batch = (int)st->batch_rows,
			.max_wait_ms = st->pool_wait_ms,
			.notify = st->notify };
	int rc;

	if (po.url == NULL)
		return sl_errbuf_set(eb, SL_ECONFIG, "pg.url is not set");
	rc = sl_clock_init(&a->clock, a->cfg, eb);
	if (rc != SL_OK)
		return rc;
	if (sl_clock_is_virtual(&a->clock))
		SL_WARN(COMP, "clock.start/clock.speed set: occurred_at of "
			      "screenings follows the virtual clock");
	a->pool = pgpool_new(&po);
	a->idem = idem_new(100000, st->idem_ttl_ms);
	if (a->pool == NULL || a->idem == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
	io.pool = a->pool;
	if (ins_new(&io, &a->ins) != SL_OK)
		return sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
	check_schema(a);
	rc = aprod_new(a->cfg, &a->prod, eb);
	if (rc == SL_OK)
		rc = outbox_start(&oo, a->prod, &a->ob, eb);
	if (rc != SL_OK)
		return rc;
	a->http = http_server_new(&ho, eb);
	if (a->http == NULL)
		return SL_ECONFIG;
	if (add_routes(a) != SL_OK)
		return sl_errbuf_set(eb, SL_EINVAL, "bad route table");
	return http_server_start(a->http, eb);
}

/*
 * Stop in order: no new requests, in-flight ones done, relay, producer.
 * With Kafka down, what waits for it is given up (the outbox keeps it).
 */
static void api_close(struct api *a)
{
	aprod_stats ps = { 0 };

	http_server_quiesce(a->http);
	http_server_free(a->http);
	ins_free(a->ins);
	outbox_request_stop(a->ob);
	if (a->prod != NULL) {
		aprod_get_stats(a->prod, &ps);
		if (ps.brokers_down)
			aprod_purge(a->prod);
	}
	outbox_stop(a->ob);
	aprod_free(a->prod, 10000);
	pgpool_free(a->pool);
	idem_free(a->idem);
}

static int check_token(struct api *a)
{
	a->token = sl_config_get(a->cfg, "api.token");
	if (a->token == NULL) {
		SL_ERROR(COMP, "api.token is not set: the API refuses to run "
			       "without a bearer token; set SLUICE_API_TOKEN "
			       "(or SLUICE_API_TOKEN_FILE, or api.token in "
			       "the config file)");
		return 0;
	}
	if (strlen(a->token) < 16)
		SL_WARN(COMP, "api.token is shorter than 16 characters");
	return 1;
}

static void serve(struct api *a)
{
	int64_t last_expiry = 0;
	struct timespec tick = { 0, 200 * 1000000 };

	while (!sl_stop_requested) {
		if (aprod_failed(a->prod)) {
			SL_ERROR(COMP, "kafka producer failed fatally, "
				       "exiting so a restart gets a new one");
			return;
		}
		if (sl_mono_ms() - last_expiry >= 60000) {
			expire_idem_keys(a);
			last_expiry = sl_mono_ms();
		}
		nanosleep(&tick, NULL);
	}
	SL_INFO(COMP, "stopping: finishing requests in flight");
}

int api_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct api a = { 0 };
	struct settings st;
	const char *file = NULL;
	sl_errbuf eb = { { 0 } };
	sl_config *cfg = NULL;
	int opt, status = 1;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
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
	a.cfg = cfg;
	a.topic = api_topic_journey(cfg);
	if (!check_token(&a))
		goto out;
	if (read_settings(cfg, &st, &eb) != SL_OK) {
		SL_ERROR(COMP, "bad configuration: %s", eb.msg);
		goto out;
	}
	a.idem_ttl_ms = st.idem_ttl_ms;
	sl_signals_install();
	if (api_open(&a, &st, &eb) != SL_OK) {
		SL_ERROR(COMP, "cannot start: %s", eb.msg);
		api_close(&a);
		goto out;
	}
	SL_INFO(COMP, "listening listen=%s port=%u topic=%s pool=%lld",
		sl_config_get(cfg, "api.listen"), http_server_port(a.http),
		a.topic, (long long)st.pool_size);
	serve(&a);
	status = aprod_failed(a.prod) ? 1 : 0;
	api_close(&a);
	SL_INFO(COMP, "stopped");
out:
	sl_config_free(cfg);
	return status;
}
