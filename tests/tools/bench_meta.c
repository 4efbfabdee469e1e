/*
 * bench_meta — the cost per event of the Meta sink's transform.
 *
 *	bench_meta [--events N]      (default 1,000,000)
 *
 * Prints one key=value line per measurement, in ns of this thread's CPU
 * time per event (so other load on the machine counts little), over N
 * screening_completed events (4,096 distinct ones, cycled):
 *	hash       the four SHA-256 digests an event needs (ph, external_id,
 *	           country, zp), on pre-normalized values
 *	normalize  capi_normalize_phone alone
 *	transform  capi_encode_event: parse the journey event, normalize,
 *	           hash, build and print the server event
 *	sink       write() and flush() of the sink over a transport that
 *	           answers 200 at once: transform plus queueing and the
 *	           1,000-event request bodies (no network)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "connectors/meta.h"
#include "processor/log.h"

#define NDISTINCT 4096

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char *events[NDISTINCT];
static volatile size_t sink_bytes; /* keeps results alive */

static void make_events(void)
{
	char json[512];
	time_t t = time(NULL) - 3600;
	struct tm tm;
	char at[40];

	gmtime_r(&t, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (int i = 0; i < NDISTINCT; i++) {
		snprintf(json, sizeof(json),
			 "{\"event_id\":\"ev-%d\",\"type\":"
			 "\"screening_completed\",\"user_id\":\"user-%d\","
			 "\"occurred_at\":\"%s\",\"phone\":\"+9198%08d\","
			 "\"lang\":\"hi\",\"pincode\":\"1100%02d\","
			 "\"score\":%d,\"screening_id\":\"scr-%d\","
			 "\"channel\":\"qr\"}",
			 i, i, at, i, i % 100, i % 5 + 1, i);
		events[i] = strdup(json);
		if (events[i] == NULL)
			exit(1);
	}
}

static void bench_hash(long n)
{
	char h[CAPI_HASH_LEN + 1];
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		capi_sha256_hex("919876543210", 12, h);
		capi_sha256_hex("user-42", 7, h);
		capi_sha256_hex("in", 2, h);
		capi_sha256_hex("110001", 6, h);
		sink_bytes += (size_t)h[0];
	}
	printf("hash ns/event=%.0f (4 SHA-256)\n", (now_ns() - t0) / n);
}

static void bench_normalize(long n)
{
	char out[32];
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		capi_normalize_phone("+91 98765-43210", "91", out, sizeof(out));
		sink_bytes += (size_t)out[0];
	}
	printf("normalize ns/event=%.0f\n", (now_ns() - t0) / n);
}

static void bench_transform(long n)
{
	const capi_event_opts o = { "Lead", "system_generated" };
	int64_t now_s = (int64_t)time(NULL), t;
	char why[256], *out;
	size_t len;
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		const char *e = events[i % NDISTINCT];

		if (capi_encode_event(&o, e, strlen(e), now_s, &out, &len, &t,
				      why, sizeof(why)) != SL_OK) {
			fprintf(stderr, "encode: %s\n", why);
			exit(1);
		}
		sink_bytes += len;
		cJSON_free(out);
	}
	printf("transform ns/event=%.0f events=%ld\n", (now_ns() - t0) / n, n);
}

static int ok_post(void *ud, const char *url, const char *body, size_t len,
		   capi_reply *r)
{
	(void)ud;
	(void)url;
	(void)body;
	sink_bytes += len;
	memset(r, 0, sizeof(*r));
	r->status = 200;
	return SL_OK;
}

static int no_dead_letter(sl_sink_io *io, const sl_record *rec,
			  const char *reason)
{
	(void)io;
	(void)rec;
	fprintf(stderr, "dead letter: %s\n", reason);
	exit(1);
}

static void bench_sink(long n)
{
	sl_config *cfg = sl_config_new();
	sl_sink_io io = { .dead_letter = no_dead_letter };
	const sl_sink_ops *ops = NULL;
	sl_errbuf eb = { { 0 } };
	void *sink = NULL;
	sl_record rec;
	double t0;

	sl_config_set(cfg, "meta.url", "http://127.0.0.1:9");
	sl_config_set(cfg, "meta.dataset_id", "1");
	sl_config_set(cfg, "meta.token", "t");
	if (capi_sink_new(cfg, &ops, &sink, &eb) != SL_OK) {
		fprintf(stderr, "sink: %s\n", eb.msg);
		exit(1);
	}
	capi_sink_set_transport(sink, ok_post, NULL);
	memset(&rec, 0, sizeof(rec));
	rec.topic = "user_journey";
	rec.key.data = "k";
	rec.key.len = 1;

	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		rec.offset = i;
		rec.value.data = events[i % NDISTINCT];
		rec.value.len = strlen(events[i % NDISTINCT]);
		if (ops->write(sink, &rec) != SL_OK)
			exit(1);
		if ((i + 1) % 10000 == 0 && ops->flush(sink, &io) != SL_OK)
			exit(1);
	}
	if (ops->flush(sink, &io) != SL_OK)
		exit(1);
	printf("sink ns/event=%.0f (write+flush, 1000-event requests)\n",
	       (now_ns() - t0) / n);
	ops->free(sink);
	sl_config_free(cfg);
}

int main(int argc, char **argv)
{
	long n = 1000000;

	if (argc == 3 && strcmp(argv[1], "--events") == 0)
		n = atol(argv[2]);
	if (n < 1) {
		fprintf(stderr, "usage: bench_meta [--events N]\n");
		return 2;
	}
	sl_log_set_level("error");
	make_events();
	bench_hash(n);
	bench_normalize(n);
	bench_transform(n);
	bench_sink(n);
	for (int i = 0; i < NDISTINCT; i++)
		free(events[i]);
	return 0;
}
