/*
 * pincodes.c — `sluice pincodes`: the pin code directory into Kafka.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <librdkafka/rdkafka.h>

#include "processor/cli.h"
#include "processor/log.h"
#include "processor/topics.h"
#include "topologies/pincodes.h"

#define PC_COMP "pincodes"
#define PC_DEFAULT_FILE "../shared/data/pincode_district_state.csv"
#define PC_MAX_FIELDS 16

/* ---- CSV --------------------------------------------------------- */

struct csv {
	const char *p, *end;
	size_t line;		/* lines started so far */
	size_t rec_line;	/* the line the last record starts on */
	char *f[PC_MAX_FIELDS]; /* fields of the last record, owned */
	int nf;
};

static void csv_clear(struct csv *c)
{
	for (int i = 0; i < c->nf; i++)
		free(c->f[i]);
	c->nf = 0;
}

/* Append field text [s, s+n) to the record; unquoted text is trimmed. */
static int csv_add_field(struct csv *c, const char *s, size_t n, int trim)
{
	char *f;

	while (trim && n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (trim && n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (c->nf == PC_MAX_FIELDS)
		return SL_OK; /* columns past the ones we read are ignored */
	f = strndup(s, n);
	if (f == NULL)
		return SL_ENOMEM;
	c->f[c->nf++] = f;
	return SL_OK;
}

/* A quoted field starting at c->p (on the quote); "" is a quote. */
static int csv_quoted(struct csv *c)
{
	char *buf = malloc((size_t)(c->end - c->p) + 1);
	size_t n = 0;
	int rc;

	if (buf == NULL)
		return SL_ENOMEM;
	for (c->p++;; c->p++) {
		if (c->p >= c->end) {
			free(buf);
			return SL_EPARSE; /* unterminated quote */
		}
		if (*c->p == '"' && c->p + 1 < c->end && c->p[1] == '"')
			buf[n++] = *c->p++;
		else if (*c->p == '"')
			break;
		else
			buf[n++] = *c->p;
	}
	c->p++;

	/* Text between the closing quote and the delimiter is kept. */
	while (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r')
		buf[n++] = *c->p++;
	rc = csv_add_field(c, buf, n, 0);
	free(buf);
	return rc;
}

/* Read the next record: 1 when read, 0 at the end, or an error. */
static int csv_next(struct csv *c)
{
	int rc;

	csv_clear(c);
	if (c->p >= c->end)
		return 0;
	c->rec_line = ++c->line;
	for (;;) {
		if (*c->p == '"') {
			const char *q = c->p;

			rc = csv_quoted(c);
			for (; q < c->p; q++) /* quoted newlines */
				c->line += *q == '\n';
		} else {
			size_t n = 0;

			while (c->p + n < c->end && c->p[n] != ',' &&
			       c->p[n] != '\r' && c->p[n] != '\n')
				n++;
			rc = csv_add_field(c, c->p, n, 1);
			c->p += n;
		}
		if (rc != SL_OK)
			return rc;
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			if (c->p < c->end)
				continue;
			return csv_add_field(c, "", 0, 0) == SL_OK ? 1
								   : SL_ENOMEM;
		}
		break;
	}
	if (c->p < c->end && *c->p == '\r')
		c->p++;
	if (c->p < c->end && *c->p == '\n')
		c->p++;
	return 1;
}

/* ---- rows and grouping ------------------------------------------- */

struct raw_row {
	char pin[7];
	size_t seq; /* position in the file: keeps the file's order */
	pc_row r;
};

struct raw_rows {
	struct raw_row *v;
	size_t n, cap;
};

static int valid_pincode(const char *s)
{
	if (strlen(s) != 6 || s[0] == '0')
		return 0;
	for (int i = 0; i < 6; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* "12", not "", "-1", "1x" or absurdly large. */
static int parse_count(const char *s, int64_t *out)
{
	int64_t v = 0;

	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s) || v > 100000000)
			return 0;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 1;
}

enum {
	COL_PIN,
	COL_DISTRICT,
	COL_STATE,
	COL_PO,
	NCOLS
};
static const char *const col_names[NCOLS] = { "pincode", "district", "state",
					      "post_offices" };

/* Column positions from a header record; 1 if it is one, 0 if data. */
static int read_header(const struct csv *c, int *pos, sl_errbuf *eb)
{
	int header = 0;

	for (int k = 0; k < NCOLS; k++)
		pos[k] = -1;
	for (int i = 0; i < c->nf; i++)
		for (int k = 0; k < NCOLS; k++)
			if (strcasecmp(c->f[i], col_names[k]) == 0) {
				pos[k] = i;
				header = 1;
			}
	if (!header) {
		for (int k = 0; k < NCOLS; k++)
			pos[k] = k;
		return 0;
	}
	for (int k = 0; k < NCOLS; k++)
		if (pos[k] < 0)
			return sl_errbuf_set(eb, SL_EPARSE,
					     "pin code CSV: header has no "
					     "'%s' column",
					     col_names[k]);
	return 1;
}

/* Count a skipped row, keeping the first one's line and reason. */
static int reject(pc_table *t, size_t line, const char *why, const char *what)
{
	if (t->rows_rejected++ == 0)
		snprintf(t->first_error, sizeof(t->first_error),
			 "line %zu: %s '%.64s'", line, why, what);
	return SL_OK;
}

/* Check one data record and keep it as a raw row. */
static int take_row(const struct csv *c, const int *pos, pc_table *t,
		    struct raw_rows *rr)
{
	const char *f[NCOLS];
	struct raw_row *row;
	int64_t po;

	/* A blank line is no row. */
	if (c->nf == 1 && c->f[0][0] == '\0')
		return SL_OK;
	t->rows_read++;
	for (int k = 0; k < NCOLS; k++)
		f[k] = pos[k] < c->nf ? c->f[pos[k]] : "";
	if (!valid_pincode(f[COL_PIN]))
		return reject(t, c->rec_line, "bad pin code", f[COL_PIN]);
	if (f[COL_DISTRICT][0] == '\0' || f[COL_STATE][0] == '\0')
		return reject(t, c->rec_line, "empty district or state for",
			      f[COL_PIN]);
	if (!parse_count(f[COL_PO], &po))
		return reject(t, c->rec_line, "bad post-office count",
			      f[COL_PO]);

	if (rr->n == rr->cap) {
		size_t cap = rr->cap ? rr->cap * 2 : 1024;
		struct raw_row *v = realloc(rr->v, cap * sizeof(*v));

		if (v == NULL)
			return SL_ENOMEM;
		rr->v = v;
		rr->cap = cap;
	}
	row = &rr->v[rr->n];
	memcpy(row->pin, f[COL_PIN], 7);
	row->seq = rr->n;
	row->r.post_offices = po;
	row->r.district = strdup(f[COL_DISTRICT]);
	row->r.state = strdup(f[COL_STATE]);
	if (row->r.district == NULL || row->r.state == NULL) {
		free(row->r.district);
		free(row->r.state);
		return SL_ENOMEM;
	}
	rr->n++;
	return SL_OK;
}

static int raw_cmp(const void *a, const void *b)
{
	const struct raw_row *x = a, *y = b;
	int c = strcmp(x->pin, y->pin);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Add row r (moved) to entry e, summing a repeated (district, state). */
static int entry_add(pc_entry *e, pc_row *r)
{
	pc_row *rows;

	for (size_t i = 0; i < e->nrows; i++) {
		if (strcmp(e->rows[i].district, r->district) != 0 ||
		    strcmp(e->rows[i].state, r->state) != 0)
			continue;
		e->rows[i].post_offices += r->post_offices;
		free(r->district);
		free(r->state);
		return SL_OK;
	}
	rows = realloc(e->rows, (e->nrows + 1) * sizeof(*rows));
	if (rows == NULL) {
		free(r->district);
		free(r->state);
		return SL_ENOMEM;
	}
	e->rows = rows;
	e->rows[e->nrows++] = *r;
	return SL_OK;
}

/* Sort the raw rows by pin code and fold them into t's entries. */
static int group_rows(struct raw_rows *rr, pc_table *t)
{
	size_t i = 0;
	int rc = SL_OK;

	if (rr->n > 0) /* an empty file leaves v NULL */
		qsort(rr->v, rr->n, sizeof(*rr->v), raw_cmp);
	t->entries = calloc(rr->n ? rr->n : 1, sizeof(*t->entries));
	if (t->entries == NULL)
		return SL_ENOMEM;
	for (; i < rr->n && rc == SL_OK; i++) {
		pc_entry *e = &t->entries[t->n];

		if (i == 0 || strcmp(rr->v[i].pin, rr->v[i - 1].pin) != 0) {
			e = &t->entries[t->n++];
			memcpy(e->pincode, rr->v[i].pin, 7);
		} else
			e = &t->entries[t->n - 1];
		rc = entry_add(e, &rr->v[i].r);
	}

	/* Rows not moved (after a failure) are still the raw array's. */
	for (; i < rr->n; i++) {
		free(rr->v[i].r.district);
		free(rr->v[i].r.state);
	}
	for (size_t k = 0; k < t->n; k++)
		t->entries[k].chosen =
			pc_choose(t->entries[k].rows, t->entries[k].nrows);
	return rc;
}

/* Read every record of c: the header, if any, then the rows. */
static int read_rows(struct csv *c, pc_table *t, struct raw_rows *rr,
		     sl_errbuf *eb)
{
	int pos[NCOLS], first = 1, rc;

	while ((rc = csv_next(c)) == 1) {
		if (first) {
			first = 0;
			rc = read_header(c, pos, eb);
			if (rc < 0)
				return rc;
			if (rc == 1)
				continue;
		}
		rc = take_row(c, pos, t, rr);
		if (rc != SL_OK)
			break;
	}
	if (rc == SL_EPARSE)
		return sl_errbuf_set(eb, rc,
				     "pin code CSV: line %zu: unterminated "
				     "quote",
				     c->rec_line);
	if (rc != SL_OK)
		return sl_errbuf_set(eb, rc, "out of memory");
	return SL_OK;
}

int pc_parse_csv(const char *buf, size_t len, pc_table **out, sl_errbuf *eb)
{
	struct csv c = { .p = buf, .end = buf + len };
	struct raw_rows rr = { 0 };
	pc_table *t = calloc(1, sizeof(*t));
	int rc;

	*out = NULL;
	if (t == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		c.p += 3;

	rc = read_rows(&c, t, &rr, eb);
	csv_clear(&c);
	if (rc == SL_OK) {
		rc = group_rows(&rr, t); /* moves the rows' strings */
		if (rc != SL_OK)
			sl_errbuf_set(eb, rc, "out of memory");
	} else
		for (size_t i = 0; i < rr.n; i++) {
			free(rr.v[i].r.district);
			free(rr.v[i].r.state);
		}
	free(rr.v);

	if (rc == SL_OK && t->n == 0)
		rc = sl_errbuf_set(eb, SL_EPARSE,
				   "pin code CSV: no valid row%s%s",
				   t->first_error[0] ? "; first error: " : "",
				   t->first_error);
	if (rc != SL_OK) {
		pc_table_free(t);
		return rc;
	}
	*out = t;
	return SL_OK;
}

int pc_load_file(const char *path, pc_table **out, sl_errbuf *eb)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;
	int rc = SL_OK;

	*out = NULL;
	if (f == NULL)
		return sl_errbuf_set(eb, SL_EIO, "%s: %s", path,
				     strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		rc = sl_errbuf_set(eb, SL_EIO, "%s: cannot size", path);
		goto out;
	}
	buf = malloc((size_t)size + 1);
	if (buf == NULL) {
		rc = sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
		goto out;
	}
	if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
		rc = sl_errbuf_set(eb, SL_EIO, "%s: short read", path);
		goto out;
	}
	buf[size] = '\0';
	rc = pc_parse_csv(buf, (size_t)size, out, eb);
out:
	free(buf);
	fclose(f);
	return rc;
}

void pc_table_free(pc_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		for (size_t k = 0; k < t->entries[i].nrows; k++) {
			free(t->entries[i].rows[k].district);
			free(t->entries[i].rows[k].state);
		}
		free(t->entries[i].rows);
	}
	free(t->entries);
	free(t);
}

/* ---- the choice and the record ----------------------------------- */

int pc_is_na(const pc_row *r)
{
	return strcmp(r->district, "NA") == 0;
}

/* 1 when row a names the district rather than row b. */
static int better(const pc_row *a, const pc_row *b)
{
	int c;

	if (pc_is_na(a) != pc_is_na(b))
		return !pc_is_na(a);
	if (a->post_offices != b->post_offices)
		return a->post_offices > b->post_offices;
	c = strcmp(a->district, b->district);
	if (c != 0)
		return c < 0;
	return strcmp(a->state, b->state) < 0;
}

size_t pc_choose(const pc_row *rows, size_t n)
{
	size_t best = 0;

	for (size_t i = 1; i < n; i++)
		if (better(&rows[i], &rows[best]))
			best = i;
	return best;
}

char *pc_entry_json(const pc_entry *e)
{
	const pc_row *c = &e->rows[e->chosen];
	cJSON *o = cJSON_CreateObject(), *list = NULL;
	char *s = NULL;

	if (o == NULL || !cJSON_AddStringToObject(o, "pincode", e->pincode) ||
	    !cJSON_AddStringToObject(o, "district", c->district) ||
	    !cJSON_AddStringToObject(o, "state", c->state) ||
	    (list = cJSON_AddArrayToObject(o, "districts")) == NULL)
		goto out;
	for (size_t i = 0; i < e->nrows; i++) {
		cJSON *r = cJSON_CreateObject();

		if (r == NULL)
			goto out;
		cJSON_AddItemToArray(list, r);
		if (!cJSON_AddStringToObject(r, "district",
					     e->rows[i].district) ||
		    !cJSON_AddStringToObject(r, "state", e->rows[i].state) ||
		    !cJSON_AddNumberToObject(r, "post_offices",
					     (double)e->rows[i].post_offices))
			goto out;
	}
	s = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return s;
}

int pc_value_place(const void *val, size_t len, char *district, size_t dn,
		   char *state, size_t sn)
{
	cJSON *o = cJSON_ParseWithLength(val, len);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "district");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "state");
	int rc = SL_OK;

	district[0] = state[0] = '\0';
	if (!cJSON_IsString(d) || !cJSON_IsString(s))
		rc = SL_EPARSE;
	else if (strcmp(d->valuestring, "NA") != 0) {
		snprintf(district, dn, "%s", d->valuestring);
		snprintf(state, sn, "%s", s->valuestring);
	}
	cJSON_Delete(o);
	return rc;
}

/* ---- sluice pincodes --------------------------------------------- */

struct pc_counts {
	size_t multi_district, multi_state, na_only;
};

/* Pin codes with several districts, several (non-NA) states, NA only. */
static void count_quirks(const pc_table *t, struct pc_counts *n)
{
	memset(n, 0, sizeof(*n));
	for (size_t i = 0; i < t->n; i++) {
		const pc_entry *e = &t->entries[i];
		int districts = 0, states = 0;

		for (size_t k = 0; k < e->nrows; k++) {
			districts |= strcmp(e->rows[k].district,
					    e->rows[0].district) != 0;
			states |= !pc_is_na(&e->rows[k]) &&
				  !pc_is_na(&e->rows[e->chosen]) &&
				  strcmp(e->rows[k].state,
					 e->rows[e->chosen].state) != 0;
		}
		n->multi_district += districts;
		n->multi_state += states;
		n->na_only += pc_is_na(&e->rows[e->chosen]);
	}
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *ud)
{
	size_t *failed = ud;

	(void)rk;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && (*failed)++ == 0)
		SL_ERROR(PC_COMP, "delivery failed err=\"%s\"",
			 rd_kafka_err2str(m->err));
}

/* A producer with cfg's kafka.* settings over our defaults. */
static int make_producer(const sl_config *cfg, size_t *failed, rd_kafka_t **out,
			 sl_errbuf *eb)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];
	int rc;

	*out = NULL;
	rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
	rd_kafka_conf_set(conf, "linger.ms", "20", NULL, 0);
	/* Java's partitioner, as the rest of Sluice: a key keeps its home. */
	rd_kafka_conf_set(conf, "partitioner", "murmur2_random", NULL, 0);
	rc = sl_kafka_conf_apply(conf, cfg, eb);
	if (rc != SL_OK) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, failed);
	*out = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (*out == NULL) {
		rd_kafka_conf_destroy(conf);
		return sl_errbuf_set(eb, SL_EKAFKA, "kafka: %s", errstr);
	}
	return SL_OK;
}

/* Produce one record per pin code; SL_OK once all are acknowledged. */
static int produce_all(rd_kafka_t *rk, const char *topic, const pc_table *t,
		       const size_t *failed, sl_errbuf *eb)
{
	for (size_t i = 0; i < t->n && !sl_stop_requested; i++) {
		char *v = pc_entry_json(&t->entries[i]);
		rd_kafka_resp_err_t err;

		if (v == NULL)
			return sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
		do {
			err = rd_kafka_producev(
				rk, RD_KAFKA_V_TOPIC(topic),
				RD_KAFKA_V_KEY(t->entries[i].pincode, 6),
				RD_KAFKA_V_VALUE(v, strlen(v)),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_END);
			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 100);
		} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		cJSON_free(v);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
			return sl_errbuf_set(eb, SL_EKAFKA, "produce: %s",
					     rd_kafka_err2str(err));
		rd_kafka_poll(rk, 0);
	}
	if (sl_stop_requested)
		return sl_errbuf_set(eb, SL_ESTOPPED, "interrupted");
	if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    *failed > 0)
		return sl_errbuf_set(eb, SL_EKAFKA,
				     "%zu records not acknowledged",
				     *failed + (size_t)rd_kafka_outq_len(rk));
	return SL_OK;
}

static int load_to_kafka(const sl_config *cfg, const char *topic,
			 const pc_table *t, sl_errbuf *eb)
{
	struct sl_topic_spec spec = { topic, 0, 1 };
	rd_kafka_t *rk = NULL;
	size_t failed = 0;
	int rc;

	rc = make_producer(cfg, &failed, &rk, eb);
	if (rc == SL_OK)
		rc = sl_topics_ensure(rk, cfg, &spec, 1, eb);
	if (rc == SL_OK)
		rc = produce_all(rk, topic, t, &failed, eb);
	if (rk != NULL)
		rd_kafka_destroy(rk);
	return rc;
}

static void print_records(const pc_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		char *v = pc_entry_json(&t->entries[i]);

		printf("%s\t%s\n", t->entries[i].pincode, v ? v : "null");
		cJSON_free(v);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice pincodes [--config FILE] [--file CSV] "
		"[--topic NAME] [--print]\n\n"
		"Load the pin code directory into the compacted topic "
		"`pincodes` (created\nwith topic.partitions partitions if "
		"missing), one record per pin code,\nkeyed by it, naming its "
		"district and state.  Loading the same file again\nchanges "
		"nothing.\n\n"
		"  --config FILE  key = value configuration\n"
		"  --file CSV     the directory; default: pincodes.file "
		"(SLUICE_PINCODES_FILE),\n"
		"                 else " PC_DEFAULT_FILE "\n"
		"  --topic NAME   the topic (default pincodes)\n"
		"  --print        write key<TAB>value lines to stdout instead "
		"of Kafka\n");
}

int pincodes_main(int argc, char **argv)
{
	const char *config = NULL, *file = NULL, *topic = "pincodes";
	sl_config *cfg = NULL;
	pc_table *t = NULL;
	struct pc_counts q;
	int print = 0, rc = 1;
	sl_errbuf eb = { { 0 } };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--print") == 0)
			print = 1;
		else if (strcmp(a, "--config") == 0 && v != NULL)
			config = argv[++i];
		else if (strcmp(a, "--file") == 0 && v != NULL)
			file = argv[++i];
		else if (strcmp(a, "--topic") == 0 && v != NULL)
			topic = argv[++i];
		else {
			usage(stderr);
			return 2;
		}
	}
	cfg = sl_cli_config(config);
	if (cfg == NULL)
		return 1;
	if (file == NULL)
		file = sl_config_get(cfg, "pincodes.file");
	if (file == NULL)
		file = PC_DEFAULT_FILE;
	sl_signals_install();

	if (pc_load_file(file, &t, &eb) != SL_OK) {
		SL_ERROR(PC_COMP,
			 "cannot load the directory file=%s err=\"%s\"", file,
			 eb.msg);
		goto out;
	}
	if (t->rows_rejected > 0)
		SL_WARN(PC_COMP, "rows skipped count=%zu first=\"%s\"",
			t->rows_rejected, t->first_error);
	if (print) {
		print_records(t);
		rc = 0;
		goto out;
	}
	if (load_to_kafka(cfg, topic, t, &eb) != SL_OK) {
		SL_ERROR(PC_COMP, "loading failed topic=%s err=\"%s\"", topic,
			 eb.msg);
		goto out;
	}
	count_quirks(t, &q);
	printf("pincodes: file=%s rows=%zu rejected=%zu pincodes=%zu "
	       "multi_district=%zu multi_state=%zu na_only=%zu produced=%zu "
	       "topic=%s\n",
	       file, t->rows_read, t->rows_rejected, t->n, q.multi_district,
	       q.multi_state, q.na_only, t->n, topic);
	rc = 0;
out:
	pc_table_free(t);
	sl_config_free(cfg);
	return rc;
}
