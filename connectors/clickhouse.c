/*
 * clickhouse.c — the journey_events schema and the ClickHouse sink.
 *
 * The sink buffers rows per Kafka partition and delivers them with
 * `INSERT INTO <db>.journey_events FORMAT JSONEachRow` over HTTP.
 * Each buffered row moves through these states; `cursor` of its
 * partition separates the settled rows from the rest:
 *
 *	write()            flush()
 *	  |  encoded   ---- POST ok -----------------> accepted  \
 *	  +----------> | -- data error: bisect, then             |-> settled
 *	  |            |    the one row alone rejected -> dead    |   (cursor
 *	  |  refused   |                                          |    passes)
 *	  +----------> +--- io->dead_letter() --------> dead     /
 *	               |
 *	               +--- transient or config error: stays; flush returns
 *	                    SL_ETRANSIENT and starts from cursor next time
 *
 * A partition whose rows are all settled is emptied.  A retried
 * INSERT that ClickHouse had in fact stored leaves duplicates only in
 * the raw table: the table is a ReplacingMergeTree ordered by event_id,
 * and journey_events_dedup reads it FINAL (ClickHouse 18.16 has no
 * insert dedup for non-replicated tables; connectors.md 1.3).
 *
 * ClickHouse 18.16 sends no exception-code header and answers 500 for
 * a bad row, so replies are classified from "Code: NN" in the body
 * (connectors.md 1.4).  Unknown codes count as transient: a row is
 * dead-lettered only when ClickHouse rejects it alone with a known data
 * error, never because of our own setup.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "connectors/batch.h"
#include "connectors/clickhouse_int.h"
#include "connectors/dryrun.h"
#include "connectors/httpc.h"
#include "processor/log.h"
#include "processor/timeutil.h"

#define CH_COMP "clickhouse"
#define CH_DEFAULT_BATCH_BYTES (16u << 20)
#define CH_DEFAULT_TIMEOUT_MS 30000
#define CH_CONNECT_TIMEOUT_MS 5000
/* Debian's server closes idle connections after 3 s; do not reuse older. */
#define CH_MAX_IDLE_S 2
#define CH_DATETIME_MAX 4294967295LL

/* ---- the schema -------------------------------------------------- */

static const char ch_columns_ddl[] =
	"event_id String, type String, user_id String, "
	"occurred_at DateTime('UTC'), lang String, pincode String, "
	"district String, state String, score Nullable(UInt8), "
	"step Nullable(UInt32), channel String, screening_id String, "
	"kafka_partition UInt16, kafka_offset UInt64, "
	"ingested_at DateTime('UTC')";

/* ---- classifying replies ----------------------------------------- */

/* Rows ClickHouse cannot read: the data is at fault. */
static const int ch_data_codes[] = {
	6,   /* CANNOT_PARSE_TEXT */
	25,  /* CANNOT_PARSE_ESCAPE_SEQUENCE */
	26,  /* CANNOT_PARSE_QUOTED_STRING */
	27,  /* CANNOT_PARSE_INPUT_ASSERTION_FAILED */
	32,  /* ATTEMPT_TO_READ_AFTER_EOF */
	33,  /* CANNOT_READ_ALL_DATA */
	38,  /* CANNOT_PARSE_DATE */
	41,  /* CANNOT_PARSE_DATETIME */
	53,  /* TYPE_MISMATCH */
	69,  /* ARGUMENT_OUT_OF_BOUND */
	70,  /* CANNOT_CONVERT_TYPE */
	72,  /* CANNOT_PARSE_NUMBER */
	128, /* TOO_LARGE_ARRAY_SIZE */
	130, /* CANNOT_READ_ARRAY_FROM_TEXT */
	131, /* TOO_LARGE_STRING_SIZE */
	321, /* VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE */
	349, /* CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN */
	376, /* CANNOT_PARSE_UUID */
	407, /* DECIMAL_OVERFLOW */
};

/*
 * Our setup is at fault.  117 (INCORRECT_DATA, "Unknown field found")
 * is here, not with the data codes: the encoder sends only the table's
 * columns, so an unknown field means the table is not what we migrated.
 */
static const int ch_config_codes[] = {
	8,   /* THERE_IS_NO_COLUMN */
	10,  /* NOT_FOUND_COLUMN_IN_BLOCK */
	16,  /* NO_SUCH_COLUMN_IN_TABLE */
	47,  /* UNKNOWN_IDENTIFIER */
	60,  /* UNKNOWN_TABLE */
	62,  /* SYNTAX_ERROR */
	73,  /* UNKNOWN_FORMAT */
	81,  /* UNKNOWN_DATABASE */
	115, /* UNKNOWN_SETTING */
	117, /* INCORRECT_DATA */
	164, /* READONLY */
	192, /* UNKNOWN_USER */
	193, /* WRONG_PASSWORD */
	194, /* REQUIRED_PASSWORD */
	195, /* IP_ADDRESS_NOT_ALLOWED */
	218, /* TABLE_IS_DROPPED */
	291, /* DATABASE_ACCESS_DENIED */
	381, /* HTTP_LENGTH_REQUIRED */
	497, /* ACCESS_DENIED */
	516, /* AUTHENTICATION_FAILED */
};

static int code_in(int code, const int *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == code)
			return 1;
	return 0;
}

/*
 * TODO: a code in neither list counts as transient, so a row that
 * ClickHouse rejects with a data error we have not listed holds its
 * partition back (retried with backoff, logged) until the code is
 * added here; we prefer that to dropping rows on a guess.
 */
enum ch_class ch_code_class(int code)
{
	if (code_in(code, ch_data_codes,
		    sizeof(ch_data_codes) / sizeof(*ch_data_codes)))
		return CH_DATA;
	if (code_in(code, ch_config_codes,
		    sizeof(ch_config_codes) / sizeof(*ch_config_codes)))
		return CH_CONFIG;
	return CH_TRANSIENT;
}

/* The number after the first `tag` in s, or 0. */
static long number_after(const char *s, const char *tag)
{
	const char *p = strstr(s, tag);
	long v = 0;

	if (p == NULL)
		return 0;
	for (p += strlen(tag); isdigit((unsigned char)*p) && v < 100000000; p++)
		v = v * 10 + (*p - '0');
	return v;
}

/* ClickHouse's message on one line, without the e.what() tail. */
static void one_line_message(const char *body, size_t len, char *out, size_t n)
{
	const char *end = strstr(body, ", e.what() = ");
	size_t m = end != NULL ? (size_t)(end - body) : len;
	size_t o = 0;

	for (size_t i = 0; i < m && o + 1 < n; i++) {
		char c = body[i];

		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if (c == ' ' && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

void ch_classify(long status, const char *body, size_t len, ch_verdict *v)
{
	const char *code = strstr(body, "Code: ");

	memset(v, 0, sizeof(*v));
	if (code != NULL)
		v->code = (int)number_after(code, "Code: ");
	v->row = number_after(body, "(at row ");
	one_line_message(body, len, v->msg, sizeof(v->msg));

	/* An exception says more than the status (18.16: 500 for bad rows). */
	if (v->code > 0)
		v->cls = ch_code_class(v->code);
	else if (status == 200)
		v->cls = CH_ACCEPTED;
	else if (status >= 400 && status < 500 && status != 408 &&
		 status != 429)
		v->cls = CH_CONFIG;
	else
		v->cls = CH_TRANSIENT;
	if (v->msg[0] == '\0' && v->cls != CH_ACCEPTED)
		snprintf(v->msg, sizeof(v->msg), "HTTP %ld", status);
}

/* ---- encoding rows ----------------------------------------------- */

enum ch_kind {
	K_STRING,   /* String: "" when absent */
	K_TIME,	    /* DateTime from RFC 3339 or Unix seconds */
	K_NULLABLE, /* Nullable(UIntN): null when absent */
	K_PARTITION,
	K_OFFSET,
	K_INGESTED,
};

/* The table's columns, in order; max bounds the integer kinds. */
static const struct ch_col {
	const char *name;
	enum ch_kind kind;
	double max;
} ch_cols[] = {
	{ "event_id", K_STRING, 0 },
	{ "type", K_STRING, 0 },
	{ "user_id", K_STRING, 0 },
	{ "occurred_at", K_TIME, 0 },
	{ "lang", K_STRING, 0 },
	{ "pincode", K_STRING, 0 },
	{ "district", K_STRING, 0 },
	{ "state", K_STRING, 0 },
	{ "score", K_NULLABLE, 255 },
	{ "step", K_NULLABLE, 4294967295.0 },
	{ "channel", K_STRING, 0 },
	{ "screening_id", K_STRING, 0 },
	{ "kafka_partition", K_PARTITION, 65535 },
	{ "kafka_offset", K_OFFSET, 9007199254740992.0 }, /* 2^53 */
	{ "ingested_at", K_INGESTED, 0 },
};

#define CH_NCOLS (sizeof(ch_cols) / sizeof(*ch_cols))

/* The column called `name`, or -1. */
static int col_index(const char *name)
{
	for (size_t i = 0; i < CH_NCOLS; i++)
		if (ch_cols[i].name[0] == name[0] &&
		    strcmp(ch_cols[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int add_raw_int(cJSON *row, const char *name, long long v)
{
	char num[24];
	cJSON *it;

	snprintf(num, sizeof(num), "%lld", v);
	it = cJSON_CreateRaw(num);
	if (it == NULL)
		return SL_ENOMEM;
	cJSON_AddItemToObjectCS(row, name, it);
	return SL_OK;
}

/* Move the event's item to the row (the names are static strings). */
static void move_item(cJSON *ev, cJSON *it, cJSON *row, const char *name)
{
	cJSON_DetachItemViaPointer(ev, it);
	cJSON_AddItemToObjectCS(row, name, it);
}

/*
 * An integer column: null or `dflt` when absent, the integer when in
 * [0, max], other JSON as it is; SL_EINVAL when out of range.
 */
static int add_int_col(cJSON *row, cJSON *ev, cJSON *it, const struct ch_col *c,
		       long long dflt, char *why, size_t why_len)
{
	double d;

	if (it == NULL || cJSON_IsNull(it)) {
		if (c->kind != K_NULLABLE)
			return add_raw_int(row, c->name, dflt);
		return cJSON_AddNullToObject(row, c->name) ? SL_OK : SL_ENOMEM;
	}
	if (!cJSON_IsNumber(it)) {
		move_item(ev, it, row, c->name);
		return SL_OK;
	}
	d = it->valuedouble;
	if (d != floor(d) || d < 0 || d > c->max) {
		snprintf(why, why_len, "%s: must be an integer from 0 to %.0f",
			 c->name, c->max);
		return SL_EINVAL;
	}
	return add_raw_int(row, c->name, (long long)d);
}

/* occurred_at as Unix seconds: RFC 3339 text or a number of seconds. */
static int add_time_col(cJSON *row, const cJSON *it, char *why, size_t why_len)
{
	int64_t ms, s;

	if (cJSON_IsString(it) &&
	    sl_time_parse_rfc3339(it->valuestring, &ms) == SL_OK)
		s = sl_floor_div(ms, 1000);
	else if (cJSON_IsNumber(it) &&
		 it->valuedouble == floor(it->valuedouble) &&
		 fabs(it->valuedouble) < 1e15)
		s = (int64_t)it->valuedouble;
	else {
		snprintf(why, why_len, "occurred_at: %s",
			 it == NULL ? "missing"
				    : "must be an RFC 3339 date-time "
				      "with offset");
		return SL_EINVAL;
	}
	if (s < 0 || s > CH_DATETIME_MAX) {
		snprintf(why, why_len,
			 "occurred_at: outside ClickHouse DateTime's range "
			 "(1970 to 2106)");
		return SL_EINVAL;
	}
	return add_raw_int(row, "occurred_at", (long long)s);
}

/* One column of the row from its field `it` (NULL when absent). */
static int add_col(cJSON *row, cJSON *ev, cJSON *it, const struct ch_col *c,
		   int32_t partition, int64_t offset, int64_t ingested_s,
		   char *why, size_t why_len)
{
	switch (c->kind) {
	case K_STRING:
		/* Strings, and JSON of other types for ClickHouse to judge. */
		if (it != NULL && !cJSON_IsNull(it)) {
			move_item(ev, it, row, c->name);
			return SL_OK;
		}
		return cJSON_AddStringToObject(row, c->name, "") ? SL_OK
								 : SL_ENOMEM;
	case K_TIME:
		return add_time_col(row, it, why, why_len);
	case K_NULLABLE:
		return add_int_col(row, ev, it, c, 0, why, why_len);
	case K_PARTITION:
		return add_int_col(row, ev, it, c, partition, why, why_len);
	case K_OFFSET:
		return add_int_col(row, ev, it, c, offset, why, why_len);
	case K_INGESTED:
		return add_raw_int(row, c->name, (long long)ingested_s);
	}
	return SL_EINVAL;
}

/* What a row takes from outside its event. */
struct ch_row_at {
	int32_t partition;
	int64_t offset, ingested_s;
};

/* The columns in table order, from the event `ev`; ud: a ch_row_at. */
static int build_row(cJSON *ev, cJSON *row, void *ud, char *why, size_t why_len)
{
	const struct ch_row_at *at = ud;
	cJSON *field[CH_NCOLS] = { 0 }, *it;
	int rc = SL_OK;

	/* One pass over the event; the first of duplicate keys wins. */
	for (it = ev->child; it != NULL; it = it->next) {
		int i = it->string != NULL ? col_index(it->string) : -1;

		if (i >= 0 && field[i] == NULL)
			field[i] = it;
	}

	/* ORDER BY event_id: an empty id would collapse unrelated rows. */
	it = field[0];
	if (it == NULL || cJSON_IsNull(it) ||
	    (cJSON_IsString(it) && it->valuestring[0] == '\0')) {
		snprintf(why, why_len, "event_id: missing");
		return SL_EINVAL;
	}

	for (size_t i = 0; i < CH_NCOLS && rc == SL_OK; i++)
		rc = add_col(row, ev, field[i], &ch_cols[i], at->partition,
			     at->offset, at->ingested_s, why, why_len);
	return rc;
}

int ch_encode_row(const char *json, size_t len, int32_t partition,
		  int64_t offset, int64_t ingested_s, char **line,
		  size_t *line_len, char *why, size_t why_len)
{
	struct ch_row_at at = { partition, offset, ingested_s };

	return batch_encode_json(json, len, build_row, &at, line, line_len, why,
				 why_len);
}

/* ---- HTTP -------------------------------------------------------- */

/*
 * The client: an INSERT may be resent (the table deduplicates), and a
 * host that does not resolve is a wrong clickhouse.url.
 */
static int http_new(int64_t timeout_ms, httpc **out, sl_errbuf *eb)
{
	httpc_opts o = {
		.name = "clickhouse",
		.content_type = "text/plain",
		.connect_timeout_ms = CH_CONNECT_TIMEOUT_MS,
		.timeout_ms = (long)timeout_ms,
		.max_idle_s = CH_MAX_IDLE_S,
		.resend_stale = 1,
		.resolve_is_config = 1,
	};

	return httpc_new(&o, out, eb);
}

/* ---- configuration ----------------------------------------------- */

static int is_dry_url(const char *url)
{
	return url == NULL || strcmp(url, "dry") == 0;
}

/* [A-Za-z_][A-Za-z0-9_]*: safe to put in a query unquoted. */
static int valid_ident(const char *s)
{
	if (s == NULL || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* `base` with "query=<q>" and extra settings appended; caller frees. */
static char *url_with_query(const char *base, const char *q, int wait_end)
{
	CURLU *u = curl_url();
	char *param = NULL, *s = NULL, *out = NULL;
	size_t n = strlen(q) + sizeof("query=");

	param = malloc(n);
	if (u == NULL || param == NULL)
		goto out;
	snprintf(param, n, "query=%s", q);
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_QUERY, param,
			 CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK)
		goto out;
	if (wait_end && curl_url_set(u, CURLUPART_QUERY, "wait_end_of_query=1",
				     CURLU_APPENDQUERY) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK)
		goto out;
	out = strdup(s);
out:
	curl_free(s);
	free(param);
	curl_url_cleanup(u);
	return out;
}

typedef struct ch_conf {
	const char *url; /* NULL when dry */
	const char *db;
	const char *dry_dir;
	int64_t batch_rows, batch_bytes, timeout_ms;
} ch_conf;

static int read_conf(const sl_config *cfg, ch_conf *c, sl_errbuf *eb)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->url = sl_config_get(cfg, "clickhouse.url");
	if (is_dry_url(c->url))
		c->url = NULL;
	c->db = sl_config_get(cfg, "clickhouse.database");
	if (c->db == NULL)
		c->db = "default";
	if (!valid_ident(c->db))
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "clickhouse.database: '%s' is not a "
				     "plain identifier",
				     c->db);
	c->dry_dir = sl_config_get(cfg, "dry_run.dir");
	if (c->dry_dir == NULL)
		c->dry_dir = "dry-run";

	c->batch_rows = 10000;
	c->batch_bytes = CH_DEFAULT_BATCH_BYTES;
	c->timeout_ms = CH_DEFAULT_TIMEOUT_MS;
	rc = sl_config_int(cfg, "clickhouse.batch_rows", &c->batch_rows, eb);
	if (rc == SL_OK || rc == SL_ENOTFOUND)
		rc = sl_config_int(cfg, "clickhouse.batch_bytes",
				   &c->batch_bytes, eb);
	if (rc == SL_OK || rc == SL_ENOTFOUND)
		rc = sl_config_duration_ms(cfg, "clickhouse.timeout",
					   &c->timeout_ms, eb);
	if (rc != SL_OK && rc != SL_ENOTFOUND)
		return rc;
	if (c->batch_rows < 1 || c->batch_bytes < 1 || c->timeout_ms < 1)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "clickhouse.batch_rows, batch_bytes and "
				     "timeout must be positive");
	return SL_OK;
}

/* ---- migration --------------------------------------------------- */

static int migrate_one(httpc *h, const char *url, const char *safe_url,
		       const char *ddl, sl_errbuf *eb)
{
	ch_reply *r = malloc(sizeof(*r));
	ch_verdict v;
	int rc;

	if (r == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM,
				     "clickhouse: out of memory");
	rc = httpc_post(h, url, ddl, strlen(ddl), r);
	if (rc != SL_OK) {
		rc = sl_errbuf_set(eb,
				   rc == SL_ECONFIG ? SL_ECONFIG : SL_EUNAVAIL,
				   "clickhouse at %s: %s", safe_url, r->err);
		goto out;
	}
	ch_classify(r->status, r->body, r->len, &v);
	if (v.cls != CH_ACCEPTED)
		rc = sl_errbuf_set(
			eb, v.cls == CH_TRANSIENT ? SL_EUNAVAIL : SL_ECONFIG,
			"clickhouse at %s: HTTP %ld: %s", safe_url, r->status,
			v.msg);
out:
	free(r);
	return rc;
}

/* 1 when the server is ClickHouse 22.2 or later. */
static int server_dedups_by_token(httpc *h, const char *url)
{
	static const char q[] = "SELECT version()";
	ch_reply *r = malloc(sizeof(*r));
	int yes = 0;

	if (r != NULL && httpc_post(h, url, q, sizeof(q) - 1, r) == SL_OK &&
	    r->status == 200)
		yes = ch_version_at_least(r->body, 22, 2);
	free(r);
	return yes;
}

int ch_migrate(const sl_config *cfg, sl_errbuf *eb)
{
	char ddl[3][1024], safe[512];
	httpc *h = NULL;
	dr_writer *dry = NULL;
	ch_conf c;
	int rc;

	rc = read_conf(cfg, &c, eb);
	if (rc != SL_OK)
		return rc;
	snprintf(ddl[0], sizeof(ddl[0]), "CREATE DATABASE IF NOT EXISTS %s",
		 c.db);
	snprintf(ddl[1], sizeof(ddl[1]),
		 "CREATE TABLE IF NOT EXISTS %s." CH_TABLE " (%s) "
		 "ENGINE = ReplacingMergeTree(ingested_at) "
		 "PARTITION BY toYYYYMM(occurred_at) ORDER BY event_id",
		 c.db, ch_columns_ddl);
	snprintf(ddl[2], sizeof(ddl[2]),
		 "CREATE VIEW IF NOT EXISTS %s." CH_VIEW
		 " AS SELECT * FROM %s." CH_TABLE " FINAL",
		 c.db, c.db);

	/* Dry: the statements go to the file, as the inserts do. */
	if (c.url == NULL) {
		rc = dr_open(c.dry_dir, "clickhouse", &dry, eb);
		for (int i = 0; i < 3 && rc == SL_OK; i++)
			rc = dr_write_post(dry, "dry", "query", ddl[i], "rows",
					   NULL, eb);
		goto out;
	}

	dr_redact_url(c.url, safe, sizeof(safe));
	rc = http_new(c.timeout_ms, &h, eb);
	if (rc == SL_OK && server_dedups_by_token(h, c.url)) {
		/* MergeTree keeps no insert tokens unless given a window. */
		size_t len = strlen(ddl[1]);

		snprintf(ddl[1] + len, sizeof(ddl[1]) - len,
			 " SETTINGS non_replicated_deduplication_window = "
			 "10000");
	}
	for (int i = 0; i < 3 && rc == SL_OK; i++)
		rc = migrate_one(h, c.url, safe, ddl[i], eb);
out:
	httpc_free(h);
	dr_close(dry);
	return rc;
}

/* ---- the sink ---------------------------------------------------- */

/*
 * One partition's rows, in the order written: q.enc holds their
 * JSONEachRow lines, each ending in \n (enc_len counts it), so a run of
 * rows is one INSERT body as it is.
 */
struct ch_part {
	int32_t partition;
	batch_queue q;
};

typedef struct ch_sink {
	ch_post_fn post;
	void *post_ud;
	httpc *http;	     /* NULL when dry */
	dr_writer *dry;	     /* NULL unless dry */
	char *insert_url;    /* may hold credentials: never logged */
	char safe_url[1024]; /* insert_url without them */
	char safe_base[512]; /* clickhouse.url without them, for logs */
	char query[128];
	size_t batch_rows, batch_bytes;
	struct ch_part *parts;
	size_t nparts;
	int failing;	   /* the last flush failed */
	char *base_url;	   /* clickhouse.url: may hold credentials */
	int version_known; /* the server's version was asked */
	int dedup_token;   /* server >= 22.2: send a deduplication token */
	ch_stats stats;
	sl_errbuf eb;
} ch_sink;

static struct ch_part *part_get(ch_sink *s, int32_t partition)
{
	struct ch_part *parts;

	for (size_t i = 0; i < s->nparts; i++)
		if (s->parts[i].partition == partition)
			return &s->parts[i];
	parts = realloc(s->parts, (s->nparts + 1) * sizeof(*parts));
	if (parts == NULL)
		return NULL;
	s->parts = parts;
	memset(&parts[s->nparts], 0, sizeof(*parts));
	parts[s->nparts].partition = partition;
	return &parts[s->nparts++];
}

static int ch_write(void *self, const sl_record *rec)
{
	ch_sink *s = self;
	struct ch_part *p = part_get(s, rec->partition);
	char why[256], *line = NULL;
	size_t len = 0;
	int rc;

	if (p == NULL)
		return SL_ENOMEM;

	/* A row the encoder refuses is dead-lettered when flushed. */
	rc = ch_encode_row(rec->value.data, rec->value.len, rec->partition,
			   rec->offset, (int64_t)time(NULL), &line, &len, why,
			   sizeof(why));
	if (rc == SL_EINVAL)
		rc = batch_push_refused(&p->q, rec, why) ? SL_OK : SL_ENOMEM;
	else if (rc == SL_OK)
		rc = batch_push(&p->q, rec, line, len, "\n") ? SL_OK
							     : SL_ENOMEM;
	cJSON_free(line);
	return rc;
}

/* Dead-letter row i and settle it. */
static int dead_letter(ch_sink *s, struct ch_part *p, size_t i, sl_sink_io *io,
		       const char *why)
{
	int rc = batch_dead_letter(&p->q, i, io, "clickhouse", why, &s->eb);

	if (rc == SL_OK)
		s->stats.dead_letters++;
	return rc;
}

/* Bytes of the lines of rows [lo, hi), which follow one another. */
static size_t range_bytes(const struct ch_part *p, size_t lo, size_t hi)
{
	const batch_entry *a = &p->q.e[lo], *b = &p->q.e[hi - 1];

	return b->enc_off + b->enc_len - a->enc_off;
}

/* Rows [lo, hi) as a JSON array of their lines, for the dry-run file. */
static char *rows_as_array(const struct ch_part *p, size_t lo, size_t hi)
{
	size_t n = range_bytes(p, lo, hi);
	char *s = malloc(n + 2);

	if (s == NULL)
		return NULL;
	s[0] = '[';
	memcpy(s + 1, p->q.enc.p + p->q.e[lo].enc_off, n);
	for (size_t i = 1; i <= n; i++)
		if (s[i] == '\n')
			s[i] = i == n ? ']' : ',';
	s[n + 1] = '\0';
	return s;
}

/* Settle rows [lo, hi) as accepted. */
static void accept_range(ch_sink *s, struct ch_part *p, size_t lo, size_t hi)
{
	s->stats.rows_sent += hi - lo;
	s->stats.bytes_sent += range_bytes(p, lo, hi);
	for (size_t i = lo; i < hi; i++)
		batch_settle(&p->q, i);
}

int ch_version_at_least(const char *v, int major, int minor)
{
	int ma, mi;

	if (v == NULL || sscanf(v, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma > major || (ma == major && mi >= minor);
}

int ch_dedup_token(const char *topic, int32_t partition, int64_t first,
		   int64_t last, char *out, size_t n)
{
	int len = snprintf(out, n, "%s-%d-%lld-%lld", topic, (int)partition,
			   (long long)first, (long long)last);

	return len > 0 && (size_t)len < n ? SL_OK : SL_ETOOBIG;
}

/*
 * ClickHouse 22.2 and later deduplicate a retried INSERT by token
 * (insert_deduplication_token); 18.16 answers 404 to the setting.  Ask
 * the server once; until it answers, send no token.
 */
static void ask_version(ch_sink *s)
{
	static const char q[] = "SELECT version()";
	ch_reply *r = malloc(sizeof(*r));

	if (r == NULL || s->base_url == NULL)
		goto out;
	if (s->post(s->post_ud, s->base_url, q, sizeof(q) - 1, r) != SL_OK ||
	    r->status != 200)
		goto out;
	r->body[r->len < sizeof(r->body) ? r->len : sizeof(r->body) - 1] = '\0';
	s->version_known = 1;
	s->dedup_token = ch_version_at_least(r->body, 22, 2);
out:
	free(r);
}

/* The insert URL with the token of rows [lo, hi); caller frees. */
static char *url_with_token(ch_sink *s, struct ch_part *p, size_t lo, size_t hi)
{
	const batch_entry *a = &p->q.e[lo], *b = &p->q.e[hi - 1];
	char tok[300], param[340], *out = NULL, *str = NULL;
	CURLU *u = curl_url();

	if (u == NULL ||
	    ch_dedup_token(p->q.arena.p + a->topic_off, p->partition, a->offset,
			   b->offset, tok, sizeof(tok)) != SL_OK)
		goto out;
	snprintf(param, sizeof(param), "insert_deduplication_token=%s", tok);
	if (curl_url_set(u, CURLUPART_URL, s->insert_url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, param,
			 CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &str, 0) == CURLUE_OK)
		out = strdup(str);
out:
	curl_free(str);
	curl_url_cleanup(u);
	return out;
}

/* Send rows [lo, hi) once; SL_OK with the verdict, or no reply. */
static int post_range(ch_sink *s, struct ch_part *p, size_t lo, size_t hi,
		      ch_verdict *v)
{
	ch_reply *r = NULL;
	char *rows = NULL, *url = NULL;
	int rc;

	memset(v, 0, sizeof(*v));
	s->stats.requests++;
	if (s->dry != NULL) {
		rows = rows_as_array(p, lo, hi);
		rc = SL_ENOMEM;
		if (rows != NULL)
			rc = dr_write_post(s->dry, s->safe_url, "query",
					   s->query, "rows", rows, &s->eb);
		free(rows);
		v->cls = CH_ACCEPTED;
		return rc;
	}

	r = malloc(sizeof(*r));
	if (r == NULL)
		return SL_ENOMEM;
	if (!s->version_known)
		ask_version(s);
	url = s->dedup_token ? url_with_token(s, p, lo, hi) : NULL;
	rc = s->post(s->post_ud, url ? url : s->insert_url,
		     p->q.enc.p + p->q.e[lo].enc_off, range_bytes(p, lo, hi),
		     r);
	free(url);
	if (rc != SL_OK) {
		/* No reply: the rows may or may not be in; resend later. */
		sl_errbuf_set(&s->eb, rc, "no reply from %s: %s", s->safe_base,
			      r->err);
		rc = SL_ETRANSIENT;
	} else
		ch_classify(r->status, r->body, r->len, v);
	free(r);
	return rc;
}

/*
 * Deliver rows [lo, hi), all encoded.  On a data error, split: around
 * the row ClickHouse named ("at row N") while `hint` holds, else in
 * halves; a row rejected alone is dead-lettered.  Rows are settled in
 * order, so a failure leaves p->q.cursor at the first unsettled row.
 */
static int deliver(ch_sink *s, struct ch_part *p, size_t lo, size_t hi,
		   sl_sink_io *io, int hint)
{
	ch_verdict v;
	size_t bad;
	int rc;

	while (lo < hi) {
		rc = post_range(s, p, lo, hi, &v);
		if (rc != SL_OK)
			return rc;
		if (v.cls == CH_ACCEPTED) {
			accept_range(s, p, lo, hi);
			return SL_OK;
		}
		if (v.cls != CH_DATA) {
			sl_errbuf_set(&s->eb, SL_ETRANSIENT, "%s%s: %s",
				      v.cls == CH_CONFIG ? "check the setup of "
							 : "",
				      s->safe_base, v.msg);
			return SL_ETRANSIENT;
		}
		if (hi - lo == 1)
			return dead_letter(s, p, lo, io, v.msg);

		/* The rows before the named one parsed: try it alone. */
		if (hint && v.row >= 1 && (size_t)v.row <= hi - lo) {
			bad = lo + (size_t)v.row - 1;
			if (bad > lo && (rc = deliver(s, p, lo, bad, io, 0)))
				return rc;
			if ((rc = deliver(s, p, bad, bad + 1, io, 0)))
				return rc;
			lo = bad + 1;
			continue;
		}
		rc = deliver(s, p, lo, lo + (hi - lo) / 2, io, hint);
		if (rc != SL_OK)
			return rc;
		lo += (hi - lo) / 2;
	}
	return SL_OK;
}

/* The end of the batch starting at lo: rows, bytes, no refused row. */
static size_t batch_end(const ch_sink *s, const struct ch_part *p, size_t lo)
{
	const batch_entry *e = p->q.e;
	size_t hi = lo, bytes = 0;

	while (hi < p->q.n && e[hi].refused == NULL &&
	       hi - lo < s->batch_rows &&
	       (hi == lo || bytes + e[hi].enc_len <= s->batch_bytes))
		bytes += e[hi++].enc_len;
	return hi;
}

static int flush_part(ch_sink *s, struct ch_part *p, sl_sink_io *io)
{
	int rc;

	while (p->q.cursor < p->q.n) {
		size_t i = p->q.cursor;

		if (p->q.e[i].refused != NULL)
			rc = dead_letter(s, p, i, io, p->q.e[i].refused);
		else
			rc = deliver(s, p, i, batch_end(s, p, i), io, 1);
		if (rc != SL_OK)
			return rc;
	}
	batch_reset_if_done(&p->q);
	return SL_OK;
}

static size_t ch_pending(void *self)
{
	ch_sink *s = self;
	size_t n = 0;

	for (size_t i = 0; i < s->nparts; i++)
		n += s->parts[i].q.pending;
	return n;
}

static int ch_flush(void *self, sl_sink_io *io)
{
	ch_sink *s = self;
	int rc = SL_OK;

	/* Stop at the first failure: the others would wait on it too. */
	for (size_t i = 0; i < s->nparts && rc == SL_OK; i++)
		rc = flush_part(s, &s->parts[i], io);
	if (rc != SL_OK)
		s->stats.failures++;
	return batch_flush_result(CH_COMP, &s->failing, rc, ch_pending(s),
				  s->eb.msg, s->safe_base);
}

static void ch_discard(void *self, int32_t partition)
{
	ch_sink *s = self;

	for (size_t i = 0; i < s->nparts; i++)
		if (s->parts[i].partition == partition)
			batch_discard(&s->parts[i].q, partition);
}

static void ch_free(void *self)
{
	ch_sink *s = self;

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nparts; i++)
		batch_free(&s->parts[i].q);
	free(s->parts);
	httpc_free(s->http);
	dr_close(s->dry);
	free(s->insert_url);
	free(s->base_url);
	free(s);
}

static const sl_sink_ops ch_ops = {
	.name = "clickhouse",
	.write = ch_write,
	.flush = ch_flush,
	.pending = ch_pending,
	.discard = ch_discard,
	.free = ch_free,
};

int ch_sink_new(const sl_config *cfg, const sl_sink_ops **ops, void **self,
		sl_errbuf *eb)
{
	ch_sink *s = NULL;
	ch_conf c;
	int rc;

	*ops = NULL;
	*self = NULL;
	rc = read_conf(cfg, &c, eb);
	if (rc != SL_OK)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM,
				     "clickhouse: out of memory");
	s->batch_rows = (size_t)c.batch_rows;
	s->batch_bytes = (size_t)c.batch_bytes;
	snprintf(s->query, sizeof(s->query),
		 "INSERT INTO %s." CH_TABLE " FORMAT JSONEachRow", c.db);

	/* Dry: requests go to <dry_run.dir>/clickhouse.jsonl. */
	if (c.url == NULL) {
		snprintf(s->safe_url, sizeof(s->safe_url), "dry");
		snprintf(s->safe_base, sizeof(s->safe_base), "dry");
		rc = dr_open(c.dry_dir, "clickhouse", &s->dry, eb);
		goto out;
	}

	s->insert_url = url_with_query(c.url, s->query, 1);
	if (s->insert_url == NULL) {
		rc = sl_errbuf_set(eb, SL_ECONFIG,
				   "clickhouse.url: not a URL libcurl accepts");
		goto out;
	}
	dr_redact_url(s->insert_url, s->safe_url, sizeof(s->safe_url));
	dr_redact_url(c.url, s->safe_base, sizeof(s->safe_base));
	s->base_url = strdup(c.url);
	rc = http_new(c.timeout_ms, &s->http, eb);
	s->post = httpc_post;
	s->post_ud = s->http;
out:
	if (rc != SL_OK) {
		ch_free(s);
		return rc;
	}
	*ops = &ch_ops;
	*self = s;
	return SL_OK;
}

/* ---- for tests --------------------------------------------------- */

void ch_sink_set_transport(void *self, ch_post_fn fn, void *ud)
{
	ch_sink *s = self;

	s->post = fn;
	s->post_ud = ud;
	s->version_known = 1; /* a test transport speaks 18.16 ... */
	s->dedup_token = 0;
}

void ch_sink_set_server_version(void *self, const char *version)
{
	ch_sink *s = self;

	s->version_known = 1; /* ... unless told otherwise */
	s->dedup_token = ch_version_at_least(version, 22, 2);
}

void ch_sink_stats(void *self, ch_stats *out)
{
	*out = ((ch_sink *)self)->stats;
}

const char *ch_sink_last_error(void *self)
{
	return ((ch_sink *)self)->eb.msg;
}

int ch_sink_is_dry(void *self)
{
	return ((ch_sink *)self)->dry != NULL;
}
