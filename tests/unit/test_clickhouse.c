/*
 * test_clickhouse.c — the ClickHouse sink without a server: row
 * encoding, reply classification, and the sink ops over a fake
 * transport that answers the way ClickHouse 18.16 does.
 *
 * Expected values are worked out by hand: 2026-03-01T10:00:00+05:30 is
 * 04:30 UTC; 1970..2025 hold 56 years and 14 leap days, so 2026-01-01
 * is day 20454 and 2026-03-01 day 20513: 20513 * 86400 + 4.5 * 3600 =
 * 1772339400.  Reply bodies are copied from a live 18.16.1 server.
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

#include "connectors/clickhouse_int.h"
#include "connectors/dryrun.h"

/* ---- encoding ---------------------------------------------------- */

static char *encode(const char *json, int32_t partition, int64_t offset,
		    char *why, size_t why_len, int *rc)
{
	char *line = NULL;
	size_t len = 0;

	*rc = ch_encode_row(json, strlen(json), partition, offset, 1800000000,
			    &line, &len, why, why_len);
	if (line != NULL)
		assert_int_equal(len, strlen(line));
	return line;
}

static void expect_line(const char *json, int32_t partition, int64_t offset,
			const char *want)
{
	char why[256];
	int rc;
	char *line = encode(json, partition, offset, why, sizeof(why), &rc);

	assert_int_equal(rc, SL_OK);
	assert_string_equal(line, want);
	cJSON_free(line);
}

static void expect_refused(const char *json, const char *want_why)
{
	char why[256];
	int rc;
	char *line = encode(json, 0, 0, why, sizeof(why), &rc);

	assert_int_equal(rc, SL_EINVAL);
	assert_null(line);
	assert_string_equal(why, want_why);
}

static void test_encode_full_event(void **state)
{
	(void)state;
	/* phone and unknown fields dropped; columns in table order. */
	expect_line(
		"{\"event_id\":\"e1\",\"type\":\"screening_completed\","
		"\"user_id\":\"u1\","
		"\"occurred_at\":\"2026-03-01T10:00:00+05:30\","
		"\"phone\":\"+919876543210\",\"lang\":\"hi\","
		"\"pincode\":\"110001\",\"district\":\"NEW DELHI\","
		"\"state\":\"DELHI\",\"score\":4,\"screening_id\":\"s1\","
		"\"channel\":\"qr\",\"extra\":{\"a\":[1,2]}}",
		3, 42,
		"{\"event_id\":\"e1\",\"type\":\"screening_completed\","
		"\"user_id\":\"u1\",\"occurred_at\":1772339400,\"lang\":\"hi\","
		"\"pincode\":\"110001\",\"district\":\"NEW DELHI\","
		"\"state\":\"DELHI\",\"score\":4,\"step\":null,"
		"\"channel\":\"qr\",\"screening_id\":\"s1\","
		"\"kafka_partition\":3,\"kafka_offset\":42,"
		"\"ingested_at\":1800000000}");
}

static void test_encode_minimal_event(void **state)
{
	(void)state;
	/* Absent strings are "", absent numbers null; the event's Kafka
	 * coordinates win over the record's; UTC and fractions floor. */
	expect_line("{\"event_id\":\"r1\",\"type\":\"reminder_sent\","
		    "\"user_id\":\"u9\",\"occurred_at\":"
		    "\"2026-03-01T04:30:00.999Z\",\"step\":7,"
		    "\"kafka_partition\":11,\"kafka_offset\":9007199254740992}",
		    3, 42,
		    "{\"event_id\":\"r1\",\"type\":\"reminder_sent\","
		    "\"user_id\":\"u9\",\"occurred_at\":1772339400,"
		    "\"lang\":\"\",\"pincode\":\"\",\"district\":\"\","
		    "\"state\":\"\",\"score\":null,\"step\":7,"
		    "\"channel\":\"\",\"screening_id\":\"\","
		    "\"kafka_partition\":11,"
		    "\"kafka_offset\":9007199254740992,"
		    "\"ingested_at\":1800000000}");
}

static void test_encode_escapes_and_unicode(void **state)
{
	(void)state;
	/* Numeric occurred_at is Unix seconds; quotes escaped; UTF-8 kept. */
	expect_line("{\"event_id\":\"a\\\"b\",\"occurred_at\":0,"
		    "\"district\":\"\xe0\xb2\xac\xe0\xb3\x86\","
		    "\"state\":\"x\\\\y\\n\"}",
		    0, 0,
		    "{\"event_id\":\"a\\\"b\",\"type\":\"\",\"user_id\":\"\","
		    "\"occurred_at\":0,\"lang\":\"\",\"pincode\":\"\","
		    "\"district\":\"\xe0\xb2\xac\xe0\xb3\x86\","
		    "\"state\":\"x\\\\y\\n\",\"score\":null,\"step\":null,"
		    "\"channel\":\"\",\"screening_id\":\"\","
		    "\"kafka_partition\":0,\"kafka_offset\":0,"
		    "\"ingested_at\":1800000000}");
}

static void test_encode_wrong_types_pass_through(void **state)
{
	(void)state;
	/* ClickHouse judges wrong JSON types; the first duplicate wins. */
	expect_line("{\"event_id\":5,\"lang\":[\"a\"],\"score\":\"abc\","
		    "\"occurred_at\":1772339400,\"user_id\":\"u1\","
		    "\"user_id\":\"u2\"}",
		    1, 2,
		    "{\"event_id\":5,\"type\":\"\",\"user_id\":\"u1\","
		    "\"occurred_at\":1772339400,\"lang\":[\"a\"],"
		    "\"pincode\":\"\",\"district\":\"\",\"state\":\"\","
		    "\"score\":\"abc\",\"step\":null,\"channel\":\"\","
		    "\"screening_id\":\"\",\"kafka_partition\":1,"
		    "\"kafka_offset\":2,\"ingested_at\":1800000000}");
}

static void test_encode_refusals(void **state)
{
	(void)state;
	expect_refused("not json", "value: not a JSON object");
	expect_refused("[1,2]", "value: not a JSON object");
	expect_refused("{\"occurred_at\":0}", "event_id: missing");
	expect_refused("{\"event_id\":\"\",\"occurred_at\":0}",
		       "event_id: missing");
	expect_refused("{\"event_id\":null,\"occurred_at\":0}",
		       "event_id: missing");
	expect_refused("{\"event_id\":\"e\"}", "occurred_at: missing");
	expect_refused("{\"event_id\":\"e\",\"occurred_at\":"
		       "\"2026-03-01T10:00:00\"}",
		       "occurred_at: must be an RFC 3339 date-time with "
		       "offset");
	expect_refused("{\"event_id\":\"e\",\"occurred_at\":"
		       "\"1970-01-01T05:29:59+05:30\"}",
		       "occurred_at: outside ClickHouse DateTime's range "
		       "(1970 to 2106)");
	expect_refused("{\"event_id\":\"e\",\"occurred_at\":4294967296}",
		       "occurred_at: outside ClickHouse DateTime's range "
		       "(1970 to 2106)");
	expect_refused("{\"event_id\":\"e\",\"occurred_at\":0,\"score\":256}",
		       "score: must be an integer from 0 to 255");
	expect_refused("{\"event_id\":\"e\",\"occurred_at\":0,\"score\":2.5}",
		       "score: must be an integer from 0 to 255");
	expect_refused("{\"event_id\":\"e\",\"occurred_at\":0,\"step\":-1}",
		       "step: must be an integer from 0 to 4294967295");
	expect_refused("{\"event_id\":\"e\",\"occurred_at\":0,"
		       "\"kafka_partition\":65536}",
		       "kafka_partition: must be an integer from 0 to 65535");
}

/* ---- classifying replies ----------------------------------------- */

static const char body27[] =
	"Code: 27, e.displayText() = DB::Exception: Cannot parse input: "
	"expected \" before: abc\"}\\n: (while read the value of key score): "
	"(at row 3)\n, e.what() = DB::Exception\n";

static ch_verdict classify(long status, const char *body)
{
	ch_verdict v;

	ch_classify(status, body, strlen(body), &v);
	return v;
}

static void test_classify_18_16_bodies(void **state)
{
	ch_verdict v;

	(void)state;
	v = classify(200, "");
	assert_int_equal(v.cls, CH_ACCEPTED);
	assert_int_equal(v.code, 0);

	/* 18.16: a bad row is a 500 with code 27. */
	v = classify(500, body27);
	assert_int_equal(v.cls, CH_DATA);
	assert_int_equal(v.code, 27);
	assert_int_equal(v.row, 3);
	assert_string_equal(
		v.msg, "Code: 27, e.displayText() = DB::Exception: Cannot "
		       "parse input: expected \" before: abc\"}\\n: (while "
		       "read the value of key score): (at row 3)");

	v = classify(400, "Code: 26, e.displayText() = DB::Exception: Cannot "
			  "parse JSON string: expected opening quote: (while "
			  "read the value of key event_id): (at row 1)\n, "
			  "e.what() = DB::Exception\n");
	assert_int_equal(v.cls, CH_DATA);
	assert_int_equal(v.code, 26);
	assert_int_equal(v.row, 1);

	v = classify(400, "Code: 72, e.displayText() = DB::Exception: "
			  "Unsigned type must not contain '-' symbol, e.what() "
			  "= DB::Exception\n");
	assert_int_equal(v.cls, CH_DATA);
	assert_int_equal(v.row, 0);
}

static void test_classify_config_errors(void **state)
{
	ch_verdict v;

	(void)state;
	v = classify(404, "Code: 60, e.displayText() = DB::Exception: Table "
			  "default.nope doesn't exist., e.what() = "
			  "DB::Exception\n");
	assert_int_equal(v.cls, CH_CONFIG);
	assert_int_equal(v.code, 60);
	assert_string_equal(v.msg, "Code: 60, e.displayText() = "
				   "DB::Exception: Table default.nope doesn't "
				   "exist.");

	/* Unknown field: the table is not the one we migrated. */
	v = classify(500, "Code: 117, e.displayText() = DB::Exception: "
			  "Unknown field found while parsing JSONEachRow "
			  "format: zzz: (at row 1)\n, e.what() = "
			  "DB::Exception\n");
	assert_int_equal(v.cls, CH_CONFIG);

	v = classify(401, "Code: 192, e.displayText() = DB::Exception: "
			  "Unknown user bob, e.what() = DB::Exception\n");
	assert_int_equal(v.cls, CH_CONFIG);
	assert_int_equal(v.code, 192);

	v = classify(403, "");
	assert_int_equal(v.cls, CH_CONFIG);
	assert_string_equal(v.msg, "HTTP 403");

	/* The modern form: "Code: NN. DB::Exception: ..." */
	v = classify(404, "Code: 81. DB::Exception: Database x doesn't "
			  "exist. (UNKNOWN_DATABASE) (version 23.8.1.1)\n");
	assert_int_equal(v.cls, CH_CONFIG);
	assert_int_equal(v.code, 81);
}

static void test_classify_transient(void **state)
{
	ch_verdict v;

	(void)state;
	v = classify(500, "Code: 252, e.displayText() = DB::Exception: Too "
			  "many parts (300). Merges are processing "
			  "significantly slower than inserts., e.what() = "
			  "DB::Exception\n");
	assert_int_equal(v.cls, CH_TRANSIENT);
	assert_int_equal(v.code, 252);

	v = classify(500, "Code: 241, e.displayText() = DB::Exception: "
			  "Memory limit (for query) exceeded, e.what() = "
			  "DB::Exception\n");
	assert_int_equal(v.cls, CH_TRANSIENT);

	v = classify(503, "");
	assert_int_equal(v.cls, CH_TRANSIENT);
	assert_string_equal(v.msg, "HTTP 503");

	v = classify(502, "Bad Gateway");
	assert_int_equal(v.cls, CH_TRANSIENT);
	v = classify(429, "");
	assert_int_equal(v.cls, CH_TRANSIENT);

	/* An exception after a 200 header still counts. */
	v = classify(200, "Code: 209, e.displayText() = DB::Exception: "
			  "Timeout exceeded while reading from socket, "
			  "e.what() = DB::Exception\n");
	assert_int_equal(v.cls, CH_TRANSIENT);

	/* A code we do not know is never a reason to drop rows. */
	v = classify(500, "Code: 9999, e.displayText() = x\n");
	assert_int_equal(v.cls, CH_TRANSIENT);
	assert_int_equal(ch_code_class(27), CH_DATA);
	assert_int_equal(ch_code_class(193), CH_CONFIG);
	assert_int_equal(ch_code_class(1), CH_TRANSIENT);
}

/* ---- the sink over a fake ClickHouse ----------------------------- */

enum fake_mode {
	FAKE_UP,
	FAKE_DOWN,
	FAKE_NO_TABLE
};

struct fake_ch {
	enum fake_mode mode;
	int hints;	  /* say "(at row N)" like 18.16 does */
	int fail_request; /* answer this request (1-based) with 503 */
	int requests;
	char *ids[4096]; /* event_ids of accepted rows, in order */
	int nids;
	int request_rows[256];
};

/* Accept a body unless a row has score "abc", as ClickHouse would. */
static int fake_post(void *ud, const char *url, const char *body, size_t len,
		     ch_reply *r)
{
	struct fake_ch *f = ud;
	const char *p = body, *end = body + len, *nl;
	int row = 0, bad = 0, rows = 0;

	(void)url;
	memset(r, 0, sizeof(*r));
	f->requests++;
	if (f->mode == FAKE_DOWN || f->requests == f->fail_request) {
		snprintf(r->err, sizeof(r->err), "Couldn't connect to server");
		return SL_ETRANSIENT;
	}
	if (f->mode == FAKE_NO_TABLE) {
		r->status = 404;
		r->len = (size_t)snprintf(r->body, sizeof(r->body),
					  "Code: 60, e.displayText() = "
					  "DB::Exception: Table "
					  "default.journey_events doesn't "
					  "exist., e.what() = DB::Exception\n");
		return SL_OK;
	}

	/* Find the first bad row; all-or-nothing like one 18.16 block.
	 * The body is `len` bytes, not a C string. */
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		row++;
		if (bad == 0 && memmem(p, (size_t)(nl - p), "\"score\":\"abc\"",
				       13) != NULL)
			bad = row;
	}
	if (bad > 0) {
		r->status = 500;
		r->len = (size_t)snprintf(
			r->body, sizeof(r->body),
			"Code: 27, e.displayText() = DB::Exception: Cannot "
			"parse input: expected \" before: abc%s%.0d%s\n, "
			"e.what() = DB::Exception\n",
			f->hints ? " (at row " : "", f->hints ? bad : 0,
			f->hints ? ")" : "");
		return SL_OK;
	}
	for (p = body; p < end; p = nl + 1) {
		cJSON *o;

		nl = memchr(p, '\n', (size_t)(end - p));
		o = cJSON_ParseWithLength(p, (size_t)(nl - p));
		assert_non_null(o);
		f->ids[f->nids++] =
			strdup(cJSON_GetObjectItem(o, "event_id")->valuestring);
		cJSON_Delete(o);
		rows++;
	}
	if (f->requests <= 256)
		f->request_rows[f->requests - 1] = rows;
	r->status = 200;
	return SL_OK;
}

static void fake_free(struct fake_ch *f)
{
	for (int i = 0; i < f->nids; i++)
		free(f->ids[i]);
	f->nids = 0;
}

struct dl_io {
	sl_sink_io io;
	int n, fail;
	int64_t offsets[64];
	char reasons[64][512];
};

static int dl_dead_letter(sl_sink_io *io, const sl_record *rec,
			  const char *reason)
{
	struct dl_io *d = (struct dl_io *)io;

	if (d->fail)
		return SL_EKAFKA;
	assert_string_equal(rec->topic, "user_journey");
	assert_int_equal(rec->key.len, 2);
	assert_memory_equal(rec->key.data, "k1", 2);
	d->offsets[d->n] = rec->offset;
	snprintf(d->reasons[d->n], sizeof(d->reasons[0]), "%s", reason);
	d->n++;
	return SL_OK;
}

static void *new_sink(const sl_sink_ops **ops, const char *url,
		      const char *batch_rows, const char *batch_bytes,
		      const char *dry_dir)
{
	sl_config *cfg = sl_config_new();
	void *self = NULL;
	sl_errbuf eb;

	assert_non_null(cfg);
	assert_int_equal(sl_config_set(cfg, "clickhouse.url", url), SL_OK);
	if (batch_rows != NULL)
		sl_config_set(cfg, "clickhouse.batch_rows", batch_rows);
	if (batch_bytes != NULL)
		sl_config_set(cfg, "clickhouse.batch_bytes", batch_bytes);
	if (dry_dir != NULL)
		sl_config_set(cfg, "dry_run.dir", dry_dir);
	assert_int_equal(ch_sink_new(cfg, ops, &self, &eb), SL_OK);
	sl_config_free(cfg); /* the sink keeps what it needs */
	return self;
}

/* Write rows 0..n-1 of partition `part`; `bad`/`refused` mark rows. */
static void write_rows(const sl_sink_ops *ops, void *self, int32_t part, int n,
		       const int *bad, int nbad, const int *refused,
		       int nrefused)
{
	for (int i = 0; i < n; i++) {
		char buf[256], id[32] = "";
		const char *score = "3";
		sl_record rec;
		int len;

		for (int k = 0; k < nbad; k++)
			if (bad[k] == i)
				score = "\"abc\"";
		snprintf(id, sizeof(id), "\"event_id\":\"p%d-%d\",", part, i);
		for (int k = 0; k < nrefused; k++)
			if (refused[k] == i)
				id[0] = '\0';
		len = snprintf(buf, sizeof(buf),
			       "{%s\"occurred_at\":1772339400,\"score\":%s}",
			       id, score);
		rec = (sl_record){ .topic = "user_journey",
				   .partition = part,
				   .offset = 1000 + i,
				   .timestamp_ms = 1,
				   .key = { "k1", 2 },
				   .value = { buf, (size_t)len } };
		assert_int_equal(ops->write(self, &rec), SL_OK);
	}
}

/* The accepted ids are exactly p<part>-0..n-1 without `skip`, in order. */
static void expect_ids(const struct fake_ch *f, int part, int n,
		       const int *skip, int nskip)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		char want[32];
		int skipped = 0;

		for (int j = 0; j < nskip; j++)
			skipped |= skip[j] == i;
		if (skipped)
			continue;
		snprintf(want, sizeof(want), "p%d-%d", part, i);
		assert_true(k < f->nids);
		assert_string_equal(f->ids[k], want);
		k++;
	}
	assert_int_equal(k, f->nids);
}

static void run_bad_rows(int hints)
{
	struct fake_ch f = { .mode = FAKE_UP, .hints = hints };
	struct dl_io io = { .io = { .dead_letter = dl_dead_letter } };
	const int bad[] = { 10, 57, 58 };
	const sl_sink_ops *ops;
	void *self = new_sink(&ops, "http://127.0.0.1:1/", NULL, NULL, NULL);
	ch_stats st;

	ch_sink_set_transport(self, fake_post, &f);
	write_rows(ops, self, 0, 100, bad, 3, NULL, 0);
	assert_int_equal(ops->pending(self), 100);
	assert_int_equal(ops->flush(self, &io.io), SL_OK);

	assert_int_equal(ops->pending(self), 0);
	assert_int_equal(io.n, 3);
	assert_int_equal(io.offsets[0], 1010);
	assert_int_equal(io.offsets[1], 1057);
	assert_int_equal(io.offsets[2], 1058);
	assert_non_null(strstr(io.reasons[0], "clickhouse: Code: 27, "));
	expect_ids(&f, 0, 100, bad, 3);
	ch_sink_stats(self, &st);
	assert_int_equal(st.rows_sent, 97);
	assert_int_equal(st.dead_letters, 3);
	if (hints) /* 0-9, 10, 11-56, 57, 58, 59-99, and one try each */
		assert_true(f.requests <= 12);
	ops->free(self);
	fake_free(&f);
}

static void test_sink_bad_rows_with_hints(void **state)
{
	(void)state;
	run_bad_rows(1);
}

static void test_sink_bad_rows_bisect(void **state)
{
	(void)state;
	run_bad_rows(0);
}

static void test_sink_batches_by_rows_and_bytes(void **state)
{
	struct fake_ch f = { .mode = FAKE_UP };
	struct dl_io io = { .io = { .dead_letter = dl_dead_letter } };
	const sl_sink_ops *ops;
	void *self = new_sink(&ops, "http://127.0.0.1:1/", "30", NULL, NULL);

	(void)state;
	ch_sink_set_transport(self, fake_post, &f);
	write_rows(ops, self, 2, 100, NULL, 0, NULL, 0);
	assert_int_equal(ops->flush(self, &io.io), SL_OK);
	assert_int_equal(f.requests, 4);
	assert_int_equal(f.request_rows[0], 30);
	assert_int_equal(f.request_rows[3], 10);
	expect_ids(&f, 2, 100, NULL, 0);
	ops->free(self);
	fake_free(&f);

	/* Rows 0-9 are 234 bytes with the newline; 1000 bytes hold 4. */
	f = (struct fake_ch){ .mode = FAKE_UP };
	self = new_sink(&ops, "http://127.0.0.1:1/", NULL, "1000", NULL);
	ch_sink_set_transport(self, fake_post, &f);
	write_rows(ops, self, 2, 10, NULL, 0, NULL, 0);
	assert_int_equal(ops->flush(self, &io.io), SL_OK);
	assert_int_equal(f.requests, 3);
	assert_int_equal(f.request_rows[0], 4);
	assert_int_equal(f.request_rows[2], 2);
	expect_ids(&f, 2, 10, NULL, 0);
	ops->free(self);
	fake_free(&f);
}

static void test_sink_down_holds_everything(void **state)
{
	struct fake_ch f = { .mode = FAKE_DOWN };
	struct dl_io io = { .io = { .dead_letter = dl_dead_letter } };
	const sl_sink_ops *ops;
	void *self = new_sink(&ops, "http://127.0.0.1:1/", NULL, NULL, NULL);

	(void)state;
	ch_sink_set_transport(self, fake_post, &f);
	write_rows(ops, self, 1, 50, NULL, 0, NULL, 0);
	assert_int_equal(ops->flush(self, &io.io), SL_ETRANSIENT);
	assert_int_equal(ops->flush(self, &io.io), SL_ETRANSIENT);
	assert_int_equal(ops->pending(self), 50);
	assert_int_equal(io.n, 0);
	assert_non_null(strstr(ch_sink_last_error(self), "no reply from "));

	/* Back up: everything lands, once. */
	f.mode = FAKE_UP;
	assert_int_equal(ops->flush(self, &io.io), SL_OK);
	assert_int_equal(ops->pending(self), 0);
	expect_ids(&f, 1, 50, NULL, 0);
	ops->free(self);
	fake_free(&f);
}

static void test_sink_config_error_never_drops(void **state)
{
	struct fake_ch f = { .mode = FAKE_NO_TABLE };
	struct dl_io io = { .io = { .dead_letter = dl_dead_letter } };
	const int bad[] = { 3 };
	const sl_sink_ops *ops;
	void *self = new_sink(&ops, "http://127.0.0.1:1/", NULL, NULL, NULL);

	(void)state;
	ch_sink_set_transport(self, fake_post, &f);
	write_rows(ops, self, 0, 20, bad, 1, NULL, 0);
	assert_int_equal(ops->flush(self, &io.io), SL_ETRANSIENT);
	assert_int_equal(ops->pending(self), 20);
	assert_int_equal(io.n, 0);
	assert_int_equal(f.requests, 1);
	assert_non_null(strstr(ch_sink_last_error(self), "check the setup"));
	assert_non_null(strstr(ch_sink_last_error(self), "Code: 60"));
	ops->free(self);
	fake_free(&f);
}

static void test_sink_partial_failure_resumes(void **state)
{
	struct fake_ch f = { .mode = FAKE_UP, .fail_request = 2 };
	struct dl_io io = { .io = { .dead_letter = dl_dead_letter } };
	const sl_sink_ops *ops;
	void *self = new_sink(&ops, "http://127.0.0.1:1/", "10", NULL, NULL);

	(void)state;
	ch_sink_set_transport(self, fake_post, &f);
	write_rows(ops, self, 4, 25, NULL, 0, NULL, 0);

	/* The first batch lands; the second fails; the rest wait. */
	assert_int_equal(ops->flush(self, &io.io), SL_ETRANSIENT);
	assert_int_equal(ops->pending(self), 15);
	assert_int_equal(f.nids, 10);
	assert_int_equal(ops->flush(self, &io.io), SL_OK);
	assert_int_equal(ops->pending(self), 0);
	expect_ids(&f, 4, 25, NULL, 0);
	ops->free(self);
	fake_free(&f);
}

static void test_sink_refused_rows_and_failed_dead_letter(void **state)
{
	struct fake_ch f = { .mode = FAKE_UP };
	struct dl_io io = { .io = { .dead_letter = dl_dead_letter },
			    .fail = 1 };
	const int refused[] = { 0, 4 };
	const sl_sink_ops *ops;
	void *self = new_sink(&ops, "http://127.0.0.1:1/", NULL, NULL, NULL);

	(void)state;
	ch_sink_set_transport(self, fake_post, &f);
	write_rows(ops, self, 0, 8, NULL, 0, refused, 2);

	/* The dead-letter topic fails: nothing is settled past row 0. */
	assert_int_equal(ops->flush(self, &io.io), SL_ETRANSIENT);
	assert_int_equal(ops->pending(self), 8);
	assert_int_equal(f.requests, 0);

	io.fail = 0;
	assert_int_equal(ops->flush(self, &io.io), SL_OK);
	assert_int_equal(io.n, 2);
	assert_int_equal(io.offsets[0], 1000);
	assert_int_equal(io.offsets[1], 1004);
	assert_string_equal(io.reasons[0], "clickhouse: event_id: missing");
	expect_ids(&f, 0, 8, refused, 2);
	assert_int_equal(f.requests, 2); /* 1-3, then 5-7 */
	ops->free(self);
	fake_free(&f);
}

static void test_sink_discard_partition(void **state)
{
	struct fake_ch f = { .mode = FAKE_UP };
	struct dl_io io = { .io = { .dead_letter = dl_dead_letter } };
	const sl_sink_ops *ops;
	void *self = new_sink(&ops, "http://127.0.0.1:1/", NULL, NULL, NULL);

	(void)state;
	ch_sink_set_transport(self, fake_post, &f);
	write_rows(ops, self, 5, 7, NULL, 0, NULL, 0);
	write_rows(ops, self, 6, 3, NULL, 0, NULL, 0);
	assert_int_equal(ops->pending(self), 10);
	ops->discard(self, 5);
	assert_int_equal(ops->pending(self), 3);
	assert_int_equal(ops->flush(self, &io.io), SL_OK);
	expect_ids(&f, 6, 3, NULL, 0);
	ops->free(self);
	fake_free(&f);
}

static void test_sink_dry_run_file(void **state)
{
	char dir[] = "/tmp/test_clickhouse.XXXXXX", path[128], line[8192];
	struct dl_io io = { .io = { .dead_letter = dl_dead_letter } };
	const sl_sink_ops *ops;
	void *self;
	cJSON *o, *rows;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	self = new_sink(&ops, "dry", "2", NULL, dir);
	assert_true(ch_sink_is_dry(self));
	write_rows(ops, self, 0, 3, NULL, 0, NULL, 0);
	assert_int_equal(ops->flush(self, &io.io), SL_OK);
	assert_int_equal(ops->pending(self), 0);
	ops->free(self);

	/* Two requests: rows 0-1, then row 2; each the exact request. */
	snprintf(path, sizeof(path), "%s/clickhouse.jsonl", dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	o = cJSON_Parse(line);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "method")->valuestring,
			    "POST");
	assert_string_equal(cJSON_GetObjectItem(o, "query")->valuestring,
			    "INSERT INTO default.journey_events FORMAT "
			    "JSONEachRow");
	rows = cJSON_GetObjectItem(o, "rows");
	assert_int_equal(cJSON_GetArraySize(rows), 2);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 1),
						"event_id")
				    ->valuestring,
			    "p0-1");
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 1),
					     "kafka_offset")
				 ->valueint,
			 1001);
	cJSON_Delete(o);
	assert_non_null(fgets(line, sizeof(line), fp));
	o = cJSON_Parse(line);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")), 1);
	cJSON_Delete(o);
	assert_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	unlink(path);
	rmdir(dir);
}

static void test_migrate_dry(void **state)
{
	char dir[] = "/tmp/test_clickhouse.XXXXXX", path[128], line[4096];
	sl_config *cfg = sl_config_new();
	sl_errbuf eb;
	int n = 0;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	sl_config_set(cfg, "clickhouse.url", "dry");
	sl_config_set(cfg, "clickhouse.database", "campaign");
	sl_config_set(cfg, "dry_run.dir", dir);
	assert_int_equal(ch_migrate(cfg, &eb), SL_OK);

	/* A database name that is not a plain identifier is refused. */
	sl_config_set(cfg, "clickhouse.database", "x; DROP TABLE y");
	assert_int_equal(ch_migrate(cfg, &eb), SL_ECONFIG);
	sl_config_free(cfg);

	snprintf(path, sizeof(path), "%s/clickhouse.jsonl", dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		n++;
		if (n == 2) {
			assert_non_null(strstr(line,
					       "CREATE TABLE IF NOT EXISTS "
					       "campaign.journey_events ("));
			assert_non_null(strstr(
				line, "ENGINE = ReplacingMergeTree(ingested_at)"
				      " PARTITION BY toYYYYMM(occurred_at) "
				      "ORDER BY event_id"));
		}
		if (n == 3)
			assert_non_null(strstr(
				line, "CREATE VIEW IF NOT EXISTS "
				      "campaign.journey_events_dedup AS SELECT "
				      "* FROM campaign.journey_events FINAL"));
	}
	assert_int_equal(n, 3);
	fclose(fp);
	unlink(path);
	rmdir(dir);
}

static void test_redact_url(void **state)
{
	char out[256];

	(void)state;
	assert_string_equal(dr_redact_url("http://user:s3cret@127.0.0.1:8123/",
					  out, sizeof(out)),
			    "http://127.0.0.1:8123/");
	assert_string_equal(
		dr_redact_url("http://127.0.0.1:8123/?user=a&password=b&"
			      "database=c&x_key=d",
			      out, sizeof(out)),
		"http://127.0.0.1:8123/?user=a&password=***&database=c&"
		"x_key=***");
	assert_string_equal(dr_redact_url("::not a url", out, sizeof(out)),
			    "(unparsable url)");
}

/* ---- deduplication tokens (ClickHouse 22.2 and later) ------------ */

static void test_version_at_least(void **state)
{
	(void)state;
	assert_false(ch_version_at_least("18.16.1", 22, 2));
	assert_false(ch_version_at_least("22.1.3.7", 22, 2));
	assert_true(ch_version_at_least("22.2.1.1", 22, 2));
	assert_true(ch_version_at_least("23.8.2.7\n", 22, 2));
	assert_false(ch_version_at_least("21.12", 22, 2));
	assert_false(ch_version_at_least("", 22, 2));
	assert_false(ch_version_at_least("abc", 22, 2));
	assert_false(ch_version_at_least(NULL, 22, 2));
}

static void test_dedup_token(void **state)
{
	char tok[64];

	(void)state;
	assert_int_equal(ch_dedup_token("user_journey", 3, 100, 199, tok,
					sizeof(tok)),
			 SL_OK);
	assert_string_equal(tok, "user_journey-3-100-199");
	assert_int_equal(ch_dedup_token("user_journey", 3, 100, 199, tok, 8),
			 SL_ETOOBIG);
}

struct url_spy {
	char url[2048];
	int requests;
};

/* Accepts everything and keeps the last URL. */
static int spy_post(void *ud, const char *url, const char *body, size_t len,
		    ch_reply *r)
{
	struct url_spy *spy = ud;

	(void)body;
	(void)len;
	memset(r, 0, sizeof(*r));
	snprintf(spy->url, sizeof(spy->url), "%s", url);
	spy->requests++;
	r->status = 200;
	return SL_OK;
}

static void check_token(const char *version, int want_token)
{
	struct dl_io io = { .io = { .dead_letter = dl_dead_letter } };
	struct url_spy spy = { "", 0 };
	const sl_sink_ops *ops;
	void *self = new_sink(&ops, "http://127.0.0.1:1/", NULL, NULL, NULL);

	ch_sink_set_transport(self, spy_post, &spy);
	ch_sink_set_server_version(self, version);
	write_rows(ops, self, 4, 10, NULL, 0, NULL, 0);
	assert_int_equal(ops->flush(self, &io.io), SL_OK);
	assert_int_equal(spy.requests, 1);
	if (want_token)
		assert_non_null(strstr(spy.url, "insert_deduplication_token="
						"user_journey-4-1000-1009"));
	else
		assert_null(strstr(spy.url, "insert_deduplication_token"));
	ops->free(self);
}

/* 23.8 gets the token of the batch's offset range; 18.16 never. */
static void test_token_only_on_modern_servers(void **state)
{
	(void)state;
	check_token("23.8.2.7", 1);
	check_token("18.16.1", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_full_event),
		cmocka_unit_test(test_encode_minimal_event),
		cmocka_unit_test(test_encode_escapes_and_unicode),
		cmocka_unit_test(test_encode_wrong_types_pass_through),
		cmocka_unit_test(test_encode_refusals),
		cmocka_unit_test(test_classify_18_16_bodies),
		cmocka_unit_test(test_classify_config_errors),
		cmocka_unit_test(test_classify_transient),
		cmocka_unit_test(test_sink_bad_rows_with_hints),
		cmocka_unit_test(test_sink_bad_rows_bisect),
		cmocka_unit_test(test_sink_batches_by_rows_and_bytes),
		cmocka_unit_test(test_sink_down_holds_everything),
		cmocka_unit_test(test_sink_config_error_never_drops),
		cmocka_unit_test(test_sink_partial_failure_resumes),
		cmocka_unit_test(test_sink_refused_rows_and_failed_dead_letter),
		cmocka_unit_test(test_sink_discard_partition),
		cmocka_unit_test(test_sink_dry_run_file),
		cmocka_unit_test(test_migrate_dry),
		cmocka_unit_test(test_redact_url),
		cmocka_unit_test(test_version_at_least),
		cmocka_unit_test(test_dedup_token),
		cmocka_unit_test(test_token_only_on_modern_servers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
