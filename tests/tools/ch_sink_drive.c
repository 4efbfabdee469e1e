/*
 * ch_sink_drive — drive the ClickHouse sink without the runtime.
 *
 *	ch_sink_drive migrate
 *	ch_sink_drive run [options]
 *
 * `run` feeds synthetic enriched journey events into the sink's ops
 * and flushes, with an sl_sink_io that collects dead letters, then
 * prints key=value results (flush=, rows_sent=, dead_letters=, ...).
 * Config comes from the environment (SLUICE_CLICKHOUSE_URL, ...) and
 * --set key=value.
 *
 * Options:
 *	--rows N          records to write (default 100)
 *	--prefix S        event_id prefix (default "drive")
 *	--partition P     Kafka partition of the records (default 0)
 *	--offset O        offset of the first record (default 0)
 *	--bad I           make record I (0-based) one ClickHouse rejects
 *	                  (score "abc"); may repeat
 *	--refused I       make record I one the encoder refuses (no
 *	                  event_id); may repeat
 *	--flush-every K   flush after every K writes (default: at the end)
 *	--flush-twice     write and flush the same records twice
 *	--pause-ms P      sleep P ms after each --flush-every flush
 *	--retry-for S     on a failed flush, retry every 0.2 s for S seconds
 *	--set K=V         set a config key
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connectors/clickhouse_int.h"
#include "processor/config.h"
#include "processor/log.h"

#define MAX_MARKS 64

struct opts {
	long rows, partition, offset, flush_every, retry_for, pause_ms;
	const char *prefix;
	int flush_twice;
	long bad[MAX_MARKS], refused[MAX_MARKS];
	int nbad, nrefused;
};

struct mock_io {
	sl_sink_io io;
	long count;
	char first_reason[600];
};

static int mock_dead_letter(sl_sink_io *io, const sl_record *rec,
			    const char *reason)
{
	struct mock_io *m = (struct mock_io *)io;

	printf("dead_letter offset=%lld partition=%d reason=\"%s\"\n",
	       (long long)rec->offset, rec->partition, reason);
	if (m->count++ == 0)
		snprintf(m->first_reason, sizeof(m->first_reason), "%s",
			 reason);
	return SL_OK;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int marked(const long *list, int n, long i)
{
	for (int k = 0; k < n; k++)
		if (list[k] == i)
			return 1;
	return 0;
}

/* The value of record i: an enriched screening_completed event. */
static int event_json(const struct opts *o, long i, char *buf, size_t n)
{
	static const char *const langs[] = { "hi", "en", "bn", "te", "mr",
					     "ta", "gu", "kn", "ml" };
	char id[96], score[16];

	if (marked(o->refused, o->nrefused, i))
		id[0] = '\0';
	else
		snprintf(id, sizeof(id), "\"event_id\":\"%s-%ld\",", o->prefix,
			 i);
	if (marked(o->bad, o->nbad, i))
		snprintf(score, sizeof(score), "\"abc\"");
	else
		snprintf(score, sizeof(score), "%ld", 1 + i % 5);
	return snprintf(buf, n,
			"{%s\"type\":\"screening_completed\","
			"\"user_id\":\"u%ld\",\"occurred_at\":"
			"\"2026-03-01T10:%02ld:%02ld+05:30\","
			"\"phone\":\"+919876543210\",\"lang\":\"%s\","
			"\"pincode\":\"110001\",\"district\":\"NEW DELHI\","
			"\"state\":\"DELHI\",\"score\":%s,"
			"\"screening_id\":\"s%ld\",\"channel\":\"whatsapp\","
			"\"kafka_partition\":%ld,\"kafka_offset\":%ld}",
			id, i, (i / 60) % 60, i % 60, langs[i % 9], score, i,
			o->partition, o->offset + i);
}

/* Flush; with --retry-for, keep trying while it fails. */
static int flush(const sl_sink_ops *ops, void *self, struct mock_io *io,
		 const struct opts *o)
{
	double until = now_s() + (double)o->retry_for;
	int rc;

	for (;;) {
		rc = ops->flush(self, &io->io);
		if (rc == SL_OK || now_s() >= until)
			break;
		printf("flush=%s pending=%zu error=\"%s\"\n", sl_errname(rc),
		       ops->pending(self), ch_sink_last_error(self));
		fflush(stdout);
		usleep(200000);
	}
	return rc;
}

static int run(const sl_config *cfg, const struct opts *o)
{
	const sl_sink_ops *ops = NULL;
	struct mock_io io = { .io = { .dead_letter = mock_dead_letter } };
	void *self = NULL;
	char buf[1024];
	sl_errbuf eb;
	ch_stats st;
	double t0;
	int rc;

	rc = ch_sink_new(cfg, &ops, &self, &eb);
	if (rc != SL_OK) {
		fprintf(stderr, "ch_sink_new: %s: %s\n", sl_errname(rc),
			eb.msg);
		return 1;
	}

	t0 = now_s();
	for (int pass = 0; pass < (o->flush_twice ? 2 : 1); pass++) {
		for (long i = 0; i < o->rows && rc == SL_OK; i++) {
			int n = event_json(o, i, buf, sizeof(buf));
			sl_record rec = {
				.topic = "user_journey",
				.partition = (int32_t)o->partition,
				.offset = o->offset + i,
				.timestamp_ms = 1772339400000LL,
				.key = { "u", 1 },
				.value = { buf, (size_t)n },
			};

			rc = ops->write(self, &rec);
			if (rc != SL_OK || o->flush_every <= 0 ||
			    (i + 1) % o->flush_every != 0)
				continue;
			rc = flush(ops, self, &io, o);
			if (o->pause_ms > 0)
				usleep((useconds_t)o->pause_ms * 1000);
		}
		if (rc == SL_OK)
			rc = flush(ops, self, &io, o);
	}

	ch_sink_stats(self, &st);
	printf("flush=%s pending=%zu rows_sent=%llu requests=%llu "
	       "dead_letters=%ld dry=%d seconds=%.3f rows_per_s=%.0f\n",
	       sl_errname(rc), ops->pending(self),
	       (unsigned long long)st.rows_sent,
	       (unsigned long long)st.requests, io.count, ch_sink_is_dry(self),
	       now_s() - t0, (double)st.rows_sent / (now_s() - t0));
	if (rc != SL_OK)
		printf("error=\"%s\"\n", ch_sink_last_error(self));
	ops->free(self);
	return rc == SL_OK ? 0 : 3;
}

static int parse_opts(int argc, char **argv, sl_config *cfg, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->rows = 100;
	o->prefix = "drive";
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--flush-twice") == 0) {
			o->flush_twice = 1;
			continue;
		}
		if (v == NULL)
			return -1;
		i++;
		if (strcmp(a, "--rows") == 0)
			o->rows = atol(v);
		else if (strcmp(a, "--prefix") == 0)
			o->prefix = v;
		else if (strcmp(a, "--partition") == 0)
			o->partition = atol(v);
		else if (strcmp(a, "--offset") == 0)
			o->offset = atol(v);
		else if (strcmp(a, "--flush-every") == 0)
			o->flush_every = atol(v);
		else if (strcmp(a, "--pause-ms") == 0)
			o->pause_ms = atol(v);
		else if (strcmp(a, "--retry-for") == 0)
			o->retry_for = atol(v);
		else if (strcmp(a, "--bad") == 0 && o->nbad < MAX_MARKS)
			o->bad[o->nbad++] = atol(v);
		else if (strcmp(a, "--refused") == 0 && o->nrefused < MAX_MARKS)
			o->refused[o->nrefused++] = atol(v);
		else if (strcmp(a, "--set") == 0 && strchr(v, '=') != NULL) {
			char key[128];
			const char *eq = strchr(v, '=');

			snprintf(key, sizeof(key), "%.*s", (int)(eq - v), v);
			if (sl_config_set(cfg, key, eq + 1) != SL_OK)
				return -1;
		} else
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	sl_config *cfg = sl_config_new();
	struct opts o;
	sl_errbuf eb;
	int rc = 2;

	if (cfg == NULL || argc < 2 || sl_config_load_env(cfg, &eb) != SL_OK ||
	    parse_opts(argc, argv, cfg, &o) != 0) {
		fprintf(stderr, "usage: ch_sink_drive migrate|run [options]"
				" (see the source)\n");
		goto out;
	}
	if (strcmp(argv[1], "migrate") == 0) {
		int err = ch_migrate(cfg, &eb);

		printf("migrate=%s%s%s\n", sl_errname(err),
		       err ? " error=" : "", err ? eb.msg : "");
		rc = err == SL_OK ? 0 : 1;
	} else if (strcmp(argv[1], "run") == 0)
		rc = run(cfg, &o);
out:
	sl_config_free(cfg);
	return rc;
}
