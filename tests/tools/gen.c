/*
 * gen.c — a realistic campaign day pushed through the screening API.
 *
 *	tests/bin/gen --api http://127.0.0.1:8080 --token T --users N
 *		      --seed S --date YYYY-MM-DD --tally FILE
 *		      [--concurrency C] [--pincodes CSV] [--print-plan]
 *
 * N people start a screening on date D (India time).  Each one gets a
 * user id ("u-<seed>-<n>"), an Indian mobile number, a language, a real
 * pin code from the pin code directory and a channel; then:
 *
 *	screening_started     08:00-17:30 IST, occurred_at given (+05:30)
 *	screening_step x 0-4  minutes apart, never after 18:00 IST
 *	then one of
 *	  completes  ~55%     POST /v1/screenings (the API stamps the time)
 *	  abandons   ~40%     nothing more
 *	  opts out   ~5%      opted_out, before 18:00 IST
 *
 * Journey events go to POST /v1/journey.  The events of one person are
 * sent one after the other (each waits for the answer to the one
 * before), so they reach Kafka in order; up to C people are in flight
 * at once over libcurl's multi interface with keep-alive.  A request
 * is retried on a connection error, 429 or 5xx, a few times with
 * backoff, always with the same event_id and Idempotency-Key.
 *
 * Everything but timing follows from the seed: the plan of person n
 * depends only on (seed, n).  The tally (JSON) counts what the API
 * accepted, and what the workers should therefore produce:
 * reminders_expected = started, not completed, not opted out.
 *
 * Districts are looked up the way the worker's enrichment does it: of
 * a pin code's rows, the one with the most post offices names the
 * district; ties go to the smaller district name, then the smaller
 * state name (byte order); a row with district NA is chosen only when
 * the pin code has no other row.  distinct_districts counts distinct
 * (district, state) pairs, NA not counted.
 *
 * --print-plan sends nothing: it writes each request as one JSON line
 * on stdout and tallies as if every request were accepted.
 *
 * Exit status: 0 all requests accepted, 1 some request finally failed
 * or an error, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "processor/log.h"

#define GEN_MAX_STEPS 4
#define GEN_MAX_ATTEMPTS 6
#define GEN_DAY_START (8 * 3600)	  /* 08:00 IST */
#define GEN_START_LAST (17 * 3600 + 1800) /* 17:30 IST */
#define GEN_DAY_END (18 * 3600)		  /* 18:00 IST */
#define GEN_IST_OFFSET (5 * 3600 + 1800)

/* ---- deterministic randomness ------------------------------------ */

typedef struct gen_rng {
	uint64_t s;
} gen_rng;

/* splitmix64: small, fast, and good enough for test data. */
static uint64_t gen_rng_next(gen_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static uint32_t gen_rng_below(gen_rng *r, uint32_t n)
{
	return (uint32_t)(((gen_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* The stream of person n: depends on nothing but (seed, n). */
static void gen_rng_for_user(gen_rng *r, uint64_t seed, uint64_t n)
{
	r->s = seed * 0x2545f4914f6cdd1dULL ^ (n + 1) * 0x9e3779b97f4a7c15ULL;
	(void)gen_rng_next(r);
}

/* Index into `weights` (n entries, sum > 0), drawn by weight. */
static int gen_rng_weighted(gen_rng *r, const unsigned *weights, int n)
{
	unsigned total = 0, x;
	int i;

	for (i = 0; i < n; i++)
		total += weights[i];
	x = gen_rng_below(r, total);
	for (i = 0; i < n - 1; i++) {
		if (x < weights[i])
			return i;
		x -= weights[i];
	}
	return n - 1;
}

/* ---- the pin code directory --------------------------------------- */

typedef struct gen_pin {
	char code[8];
	char *district; /* owned */
	char *state;	/* owned */
	long post_offices;
} gen_pin;

/* One entry per distinct pin code: its chosen row. */
typedef struct gen_dir {
	gen_pin *pins;
	size_t n;
} gen_dir;

static int gen_is_na(const char *s)
{
	return strcmp(s, "NA") == 0;
}

/* 1 when row a is the better district for its pin code than row b. */
static int gen_row_better(const gen_pin *a, const gen_pin *b)
{
	int c;

	if (gen_is_na(a->district) != gen_is_na(b->district))
		return !gen_is_na(a->district);
	if (a->post_offices != b->post_offices)
		return a->post_offices > b->post_offices;
	c = strcmp(a->district, b->district);
	if (c != 0)
		return c < 0;
	return strcmp(a->state, b->state) < 0;
}

static int gen_pin_cmp_code(const void *a, const void *b)
{
	return strcmp(((const gen_pin *)a)->code, ((const gen_pin *)b)->code);
}

static void gen_pin_clear(gen_pin *p)
{
	free(p->district);
	free(p->state);
	p->district = p->state = NULL;
}

static void gen_dir_free(gen_dir *d)
{
	for (size_t i = 0; i < d->n; i++)
		gen_pin_clear(&d->pins[i]);
	free(d->pins);
	d->pins = NULL;
	d->n = 0;
}

/*
 * Split one CSV line "pincode,district,state,post_offices" (no quoting
 * in this file) into *p.  0 ok, -1 to skip the line (header, junk).
 */
static int gen_parse_row(char *line, gen_pin *p)
{
	char *f[4], *save = NULL, *end;
	int i;

	line[strcspn(line, "\r\n")] = '\0';
	for (i = 0; i < 4; i++) {
		f[i] = strtok_r(i == 0 ? line : NULL, ",", &save);
		if (f[i] == NULL)
			return -1;
	}
	if (strlen(f[0]) != 6 || strspn(f[0], "0123456789") != 6 ||
	    f[0][0] == '0')
		return -1;
	errno = 0;
	p->post_offices = strtol(f[3], &end, 10);
	if (errno != 0 || *end != '\0' || end == f[3])
		return -1;
	memcpy(p->code, f[0], 7);
	p->district = strdup(f[1]);
	p->state = strdup(f[2]);
	if (p->district == NULL || p->state == NULL) {
		gen_pin_clear(p);
		return -1;
	}
	return 0;
}

/* Keep, for each pin code of the sorted rows, its best row. */
static void gen_dir_pick(gen_dir *d)
{
	size_t i, out = 0;

	qsort(d->pins, d->n, sizeof(*d->pins), gen_pin_cmp_code);
	for (i = 0; i < d->n; i++) {
		if (out > 0 &&
		    strcmp(d->pins[out - 1].code, d->pins[i].code) == 0) {
			if (gen_row_better(&d->pins[i], &d->pins[out - 1])) {
				gen_pin_clear(&d->pins[out - 1]);
				d->pins[out - 1] = d->pins[i];
			} else {
				gen_pin_clear(&d->pins[i]);
			}
			continue;
		}
		d->pins[out++] = d->pins[i];
	}
	d->n = out;
}

/* Load the directory from `path`; 0 ok, -1 with a message on stderr. */
static int gen_dir_load(const char *path, gen_dir *d)
{
	FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	gen_pin row;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	f = fopen(path, "r");
	if (f == NULL) {
		SL_ERROR("gen", "cannot open pin codes file=%s err=\"%s\"",
			 path, strerror(errno));
		goto out;
	}

	while (getline(&line, &cap, f) > 0) {
		if (gen_parse_row(line, &row) != 0)
			continue;
		if (d->n == alloc) {
			size_t na = alloc ? alloc * 2 : 4096;
			gen_pin *np = realloc(d->pins, na * sizeof(*np));

			if (np == NULL) {
				gen_pin_clear(&row);
				goto out;
			}
			d->pins = np;
			alloc = na;
		}
		d->pins[d->n++] = row;
	}
	if (d->n == 0) {
		SL_ERROR("gen", "no pin codes in file=%s", path);
		goto out;
	}
	gen_dir_pick(d);
	rc = 0;
out:
	free(line);
	if (f != NULL)
		fclose(f);
	if (rc != 0)
		gen_dir_free(d);
	return rc;
}

/* ---- a person's plan ---------------------------------------------- */

enum gen_outcome {
	GEN_COMPLETES,
	GEN_ABANDONS,
	GEN_OPTS_OUT
};

static const char *const gen_langs[] = { "hi", "en", "bn", "te", "mr",
					 "ta", "gu", "kn", "ml" };
/* Nationwide mix, for people whose state has no campaign language. */
static const unsigned gen_lang_weights[] = { 45, 20, 7, 5, 6, 5, 4, 4, 4 };

/* The state's own language among the nine, or NULL. */
static const char *gen_state_lang(const char *state)
{
	static const struct {
		const char *state;
		const char *lang;
	} map[] = {
		{ "UTTAR PRADESH", "hi" },
		{ "BIHAR", "hi" },
		{ "MADHYA PRADESH", "hi" },
		{ "RAJASTHAN", "hi" },
		{ "HARYANA", "hi" },
		{ "HIMACHAL PRADESH", "hi" },
		{ "UTTARAKHAND", "hi" },
		{ "CHHATTISGARH", "hi" },
		{ "JHARKHAND", "hi" },
		{ "DELHI", "hi" },
		{ "CHANDIGARH", "hi" },
		{ "TAMIL NADU", "ta" },
		{ "PUDUCHERRY", "ta" },
		{ "KERALA", "ml" },
		{ "LAKSHADWEEP", "ml" },
		{ "KARNATAKA", "kn" },
		{ "ANDHRA PRADESH", "te" },
		{ "TELANGANA", "te" },
		{ "MAHARASHTRA", "mr" },
		{ "GOA", "mr" },
		{ "GUJARAT", "gu" },
		{ "WEST BENGAL", "bn" },
		{ "TRIPURA", "bn" },
		{ "THE DADRA AND NAGAR HAVELI AND DAMAN AND DIU", "gu" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].state, state) == 0)
			return map[i].lang;
	return NULL;
}

typedef struct gen_plan {
	char user_id[48];
	char phone[16];
	const char *lang;
	const char *channel;
	size_t pin;  /* index into the directory */
	int start_s; /* seconds after local midnight, IST */
	int nsteps;
	int step_s[GEN_MAX_STEPS];
	enum gen_outcome outcome;
	int optout_s;
	int score;
	int answers[4]; /* yes/no answers */
	const char *last_visit;
} gen_plan;

/* Seconds of day of the person's last journey event so far. */
static int gen_plan_last_s(const gen_plan *p)
{
	return p->nsteps > 0 ? p->step_s[p->nsteps - 1] : p->start_s;
}

static void gen_plan_times(gen_plan *p, gen_rng *r)
{
	int t, i, n;

	p->start_s = GEN_DAY_START +
		     (int)gen_rng_below(r, GEN_START_LAST - GEN_DAY_START + 1);
	n = (int)gen_rng_below(r, GEN_MAX_STEPS + 1);
	t = p->start_s;
	p->nsteps = 0;
	for (i = 0; i < n; i++) {
		t += 60 + (int)gen_rng_below(r, 7 * 60); /* 1-8 minutes */
		if (t > GEN_DAY_END)
			break;
		p->step_s[p->nsteps++] = t;
	}
}

static void gen_plan_outcome(gen_plan *p, gen_rng *r)
{
	static const unsigned outcome_w[] = { 55, 40, 5 };
	static const unsigned score_w[] = { 10, 20, 30, 25, 15 };
	static const char *const visits[] = { "never", "under_1y", "1_3y",
					      "over_3y" };
	int last = gen_plan_last_s(p), t, i;

	p->outcome = (enum gen_outcome)gen_rng_weighted(r, outcome_w, 3);
	t = last + 30 + (int)gen_rng_below(r, 15 * 60);
	if (t > GEN_DAY_END - 1)
		t = GEN_DAY_END - 1;
	p->optout_s = t < last ? last : t;
	p->score = 1 + gen_rng_weighted(r, score_w, 5);
	for (i = 0; i < 4; i++)
		p->answers[i] = (int)gen_rng_below(r, 2);
	p->last_visit = visits[gen_rng_below(r, 4)];
}

/* The plan of person n (0-based) of the day for `seed`. */
static void gen_plan_make(uint64_t seed, uint64_t n, const gen_dir *dir,
			  gen_plan *p)
{
	static const char *const channels[] = { "qr", "whatsapp", "call" };
	static const unsigned channel_w[] = { 50, 35, 15 };
	const char *regional;
	gen_rng r;

	memset(p, 0, sizeof(*p));
	gen_rng_for_user(&r, seed, n);
	snprintf(p->user_id, sizeof(p->user_id), "u-%" PRIu64 "-%" PRIu64, seed,
		 n + 1);
	snprintf(p->phone, sizeof(p->phone), "+91%u%09u",
		 6 + gen_rng_below(&r, 4), gen_rng_below(&r, 1000000000u));
	p->pin = gen_rng_below(&r, (uint32_t)dir->n);

	/* Most people speak their state's language; the rest the mix. */
	regional = gen_state_lang(dir->pins[p->pin].state);
	if (regional != NULL && gen_rng_below(&r, 100) < 65)
		p->lang = regional;
	else
		p->lang = gen_langs[gen_rng_weighted(&r, gen_lang_weights, 9)];
	p->channel = channels[gen_rng_weighted(&r, channel_w, 3)];

	gen_plan_times(p, &r);
	gen_plan_outcome(p, &r);
}

/* Number of requests person p makes. */
static int gen_plan_nreq(const gen_plan *p)
{
	return 1 + p->nsteps + (p->outcome == GEN_ABANDONS ? 0 : 1);
}

/* ---- requests ----------------------------------------------------- */

enum gen_kind {
	GEN_STARTED,
	GEN_STEP,
	GEN_COMPLETED,
	GEN_OPTED_OUT
};
#define GEN_NKINDS 4

static const char *const gen_kind_names[GEN_NKINDS] = { "screening_started",
							"screening_step",
							"screening_completed",
							"opted_out" };

typedef struct gen_req {
	enum gen_kind kind;
	const char *path;
	char idem[64]; /* Idempotency-Key, also the event_id */
	char *body;    /* owned, JSON */
} gen_req;

/* "2026-12-04T16:20:01+05:30" for second `s` of date `date` (IST). */
static void gen_fmt_time(const char *date, int s, char *out, size_t n)
{
	snprintf(out, n, "%sT%02d:%02d:%02d+05:30", date, s / 3600, s / 60 % 60,
		 s % 60);
}

static cJSON *gen_answers(const gen_plan *p)
{
	cJSON *a = cJSON_CreateObject();

	if (a == NULL)
		return NULL;
	cJSON_AddBoolToObject(a, "brushes_twice_daily", p->answers[0]);
	cJSON_AddBoolToObject(a, "bleeding_gums", p->answers[1]);
	cJSON_AddBoolToObject(a, "tooth_pain", p->answers[2]);
	cJSON_AddBoolToObject(a, "uses_tobacco", p->answers[3]);
	cJSON_AddStringToObject(a, "last_dental_visit", p->last_visit);
	return a;
}

/* The completion: POST /v1/screenings. */
static cJSON *gen_screening_body(const gen_plan *p, const gen_dir *dir)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "user_id", p->user_id);
	cJSON_AddStringToObject(o, "phone", p->phone);
	cJSON_AddStringToObject(o, "lang", p->lang);
	cJSON_AddStringToObject(o, "pincode", dir->pins[p->pin].code);
	cJSON_AddNumberToObject(o, "score", p->score);
	cJSON_AddStringToObject(o, "channel", p->channel);
	cJSON_AddItemToObject(o, "answers", gen_answers(p));
	return o;
}

/* A journey event: POST /v1/journey. */
static cJSON *gen_event_body(const gen_plan *p, const gen_dir *dir,
			     const char *date, enum gen_kind kind, int k,
			     const char *event_id)
{
	cJSON *o = cJSON_CreateObject();
	char ts[40];
	int s;

	if (o == NULL)
		return NULL;
	s = kind == GEN_STARTED ? p->start_s
	    : kind == GEN_STEP	? p->step_s[k - 1]
				: p->optout_s;
	gen_fmt_time(date, s, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "event_id", event_id);
	cJSON_AddStringToObject(o, "type", gen_kind_names[kind]);
	cJSON_AddStringToObject(o, "user_id", p->user_id);
	cJSON_AddStringToObject(o, "occurred_at", ts);
	cJSON_AddStringToObject(o, "channel", p->channel);
	if (kind == GEN_STARTED) {
		cJSON_AddStringToObject(o, "phone", p->phone);
		cJSON_AddStringToObject(o, "lang", p->lang);
		cJSON_AddStringToObject(o, "pincode", dir->pins[p->pin].code);
	} else if (kind == GEN_STEP) {
		cJSON_AddNumberToObject(o, "step", k);
	}
	return o;
}

/*
 * Request k (0-based) of person p into *q; q->body is the caller's to
 * free.  0 ok, -1 out of memory.
 */
static int gen_req_make(const gen_plan *p, const gen_dir *dir, const char *date,
			int k, gen_req *q)
{
	cJSON *o;

	memset(q, 0, sizeof(*q));
	if (k == 0)
		q->kind = GEN_STARTED;
	else if (k <= p->nsteps)
		q->kind = GEN_STEP;
	else
		q->kind = p->outcome == GEN_COMPLETES ? GEN_COMPLETED
						      : GEN_OPTED_OUT;
	snprintf(q->idem, sizeof(q->idem), "%s-%d", p->user_id, k);

	if (q->kind == GEN_COMPLETED) {
		q->path = "/v1/screenings";
		o = gen_screening_body(p, dir);
	} else {
		q->path = "/v1/journey";
		o = gen_event_body(p, dir, date, q->kind, k, q->idem);
	}
	if (o == NULL)
		return -1;
	q->body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return q->body != NULL ? 0 : -1;
}

/* ---- the tally ---------------------------------------------------- */

enum {
	GEN_U_STARTED = 1,
	GEN_U_COMPLETED = 2,
	GEN_U_OPTED_OUT = 4
};

typedef struct gen_tally {
	uint64_t accepted[GEN_NKINDS];
	uint64_t failures;
	uint64_t retries;
	uint64_t requests;
	uint64_t score_sum;
	unsigned char *users; /* GEN_U_* flags per person */
	size_t *user_pin;     /* pin index per person */
} gen_tally;

/* Note that request q of person n (plan p) was accepted. */
static void gen_tally_accept(gen_tally *t, uint64_t n, const gen_plan *p,
			     const gen_req *q)
{
	t->accepted[q->kind]++;
	if (q->kind == GEN_STARTED) {
		t->users[n] |= GEN_U_STARTED;
		t->user_pin[n] = p->pin;
	} else if (q->kind == GEN_COMPLETED) {
		t->users[n] |= GEN_U_COMPLETED;
		t->score_sum += (uint64_t)p->score;
	} else if (q->kind == GEN_OPTED_OUT) {
		t->users[n] |= GEN_U_OPTED_OUT;
	}
}

static int gen_cmp_district(const void *a, const void *b)
{
	const gen_pin *x = *(const gen_pin *const *)a;
	const gen_pin *y = *(const gen_pin *const *)b;
	int c = strcmp(x->district, y->district);

	return c != 0 ? c : strcmp(x->state, y->state);
}

/*
 * Distinct pin codes and distinct (district, state) pairs, NA left
 * out, over the people who started.  -1 when out of memory.
 */
static int gen_tally_reach(const gen_tally *t, uint64_t nusers,
			   const gen_dir *dir, uint64_t *npins,
			   uint64_t *ndistricts)
{
	unsigned char *seen = calloc(dir->n, 1);
	const gen_pin **reached = calloc(dir->n, sizeof(*reached));
	size_t nr = 0, i;
	int rc = -1;

	if (seen == NULL || reached == NULL)
		goto out;
	for (i = 0; i < nusers; i++) {
		if (!(t->users[i] & GEN_U_STARTED) || seen[t->user_pin[i]])
			continue;
		seen[t->user_pin[i]] = 1;
		reached[nr++] = &dir->pins[t->user_pin[i]];
	}
	*npins = nr;

	qsort(reached, nr, sizeof(*reached), gen_cmp_district);
	*ndistricts = 0;
	for (i = 0; i < nr; i++) {
		if (gen_is_na(reached[i]->district))
			continue;
		if (i > 0 &&
		    gen_cmp_district(&reached[i - 1], &reached[i]) == 0)
			continue;
		(*ndistricts)++;
	}
	rc = 0;
out:
	free(seen);
	free(reached);
	return rc;
}

typedef struct gen_opts {
	const char *api;
	const char *token;
	const char *date;
	const char *tally;
	const char *pincodes;
	uint64_t users;
	uint64_t seed;
	long concurrency;
	int print_plan;
} gen_opts;

/* Write the tally as JSON to o->tally; 0 ok, -1 failed. */
static int gen_tally_write(const gen_tally *t, const gen_opts *o,
			   const gen_dir *dir, double elapsed_s)
{
	cJSON *root = cJSON_CreateObject(), *ev;
	uint64_t started = 0, completed = 0, opted = 0, expected = 0;
	uint64_t total = 0, npins = 0, ndist = 0, i;
	char prefix[48], *text = NULL;
	FILE *f = NULL;
	int rc = -1;

	if (root == NULL ||
	    gen_tally_reach(t, o->users, dir, &npins, &ndist) != 0)
		goto out;
	for (i = 0; i < o->users; i++) {
		unsigned u = t->users[i];

		started += !!(u & GEN_U_STARTED);
		completed += !!(u & GEN_U_COMPLETED);
		opted += !!(u & GEN_U_OPTED_OUT);
		expected += (u & GEN_U_STARTED) &&
			    !(u & (GEN_U_COMPLETED | GEN_U_OPTED_OUT));
	}

	snprintf(prefix, sizeof(prefix), "u-%" PRIu64 "-", o->seed);
	cJSON_AddNumberToObject(root, "seed", (double)o->seed);
	cJSON_AddStringToObject(root, "date", o->date);
	cJSON_AddStringToObject(root, "user_prefix", prefix);
	cJSON_AddNumberToObject(root, "users", (double)o->users);
	ev = cJSON_AddObjectToObject(root, "events_sent");
	for (i = 0; i < GEN_NKINDS; i++) {
		cJSON_AddNumberToObject(ev, gen_kind_names[i],
					(double)t->accepted[i]);
		total += t->accepted[i];
	}
	cJSON_AddNumberToObject(ev, "total", (double)total);
	cJSON_AddNumberToObject(root, "users_started", (double)started);
	cJSON_AddNumberToObject(root, "users_completed", (double)completed);
	cJSON_AddNumberToObject(root, "users_opted_out", (double)opted);
	cJSON_AddNumberToObject(root, "reminders_expected", (double)expected);
	cJSON_AddNumberToObject(root, "distinct_pincodes", (double)npins);
	cJSON_AddNumberToObject(root, "distinct_districts", (double)ndist);
	cJSON_AddNumberToObject(
		root, "avg_score",
		completed ? (double)t->score_sum / (double)completed : 0.0);
	cJSON_AddNumberToObject(root, "failures", (double)t->failures);
	cJSON_AddNumberToObject(root, "retries", (double)t->retries);
	cJSON_AddNumberToObject(root, "requests", (double)t->requests);
	cJSON_AddNumberToObject(root, "elapsed_s",
				(double)(int64_t)(elapsed_s * 1000) / 1000);

	text = cJSON_Print(root);
	f = fopen(o->tally, "w");
	if (text == NULL || f == NULL) {
		SL_ERROR("gen", "cannot write tally file=%s", o->tally);
		goto out;
	}
	fprintf(f, "%s\n", text);
	rc = 0;
out:
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	free(text);
	cJSON_Delete(root);
	return rc;
}

/* ---- sending ------------------------------------------------------ */

typedef struct gen_buf {
	char *p;
	size_t len;
} gen_buf;

/* One person in flight: one easy handle working through their plan. */
typedef struct gen_slot {
	CURL *easy;
	struct curl_slist *hdrs;
	int busy;    /* a person is assigned */
	int waiting; /* request prepared, waiting for not_before */
	uint64_t user;
	gen_plan plan;
	int k; /* current request */
	int attempt;
	int64_t not_before_ms;
	gen_req req;
	gen_buf resp;
} gen_slot;

typedef struct gen_run {
	const gen_opts *o;
	const gen_dir *dir;
	gen_tally *tally;
	CURLM *multi;
	gen_slot *slots;
	uint64_t next_user;
	char auth[600];
	int nlogged; /* failures logged in detail so far */
} gen_run;

static int64_t gen_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t gen_on_body(char *data, size_t sz, size_t nm, void *ud)
{
	gen_buf *b = ud;
	size_t n = sz * nm, keep = n;

	/* Keep the first 512 bytes: enough to explain a failure. */
	if (b->len + keep > 512)
		keep = b->len < 512 ? 512 - b->len : 0;
	if (keep > 0) {
		char *np = realloc(b->p, b->len + keep + 1);

		if (np == NULL)
			return 0;
		memcpy(np + b->len, data, keep);
		b->p = np;
		b->len += keep;
		b->p[b->len] = '\0';
	}
	return n;
}

/* Set up the slot's handle for its current request and start it. */
static int gen_slot_start(gen_run *run, gen_slot *s)
{
	char url[1024], idem[96];

	curl_slist_free_all(s->hdrs);
	s->hdrs = NULL;
	snprintf(idem, sizeof(idem), "Idempotency-Key: %s", s->req.idem);
	s->hdrs = curl_slist_append(s->hdrs, "Content-Type: application/json");
	s->hdrs = curl_slist_append(s->hdrs, run->auth);
	s->hdrs = curl_slist_append(s->hdrs, idem);
	s->hdrs = curl_slist_append(s->hdrs, "Expect:");
	if (s->hdrs == NULL)
		return -1;
	snprintf(url, sizeof(url), "%s%s", run->o->api, s->req.path);
	s->resp.len = 0;

	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->req.body);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE,
			 (long)strlen(s->req.body));
	s->waiting = 0;
	run->tally->requests++;
	return curl_multi_add_handle(run->multi, s->easy) == CURLM_OK ? 0 : -1;
}

/* Prepare request s->k of the slot's person; 0 ok, -1 no memory. */
static int gen_slot_prepare(gen_run *run, gen_slot *s)
{
	free(s->req.body);
	s->req.body = NULL;
	s->attempt = 0;
	s->not_before_ms = 0;
	s->waiting = 1;
	return gen_req_make(&s->plan, run->dir, run->o->date, s->k, &s->req);
}

/* Give the slot the next person, if any.  -1 on out of memory. */
static int gen_slot_assign(gen_run *run, gen_slot *s)
{
	s->busy = 0;
	if (run->next_user >= run->o->users)
		return 0;
	s->user = run->next_user++;
	gen_plan_make(run->o->seed, s->user, run->dir, &s->plan);
	s->k = 0;
	s->busy = 1;
	return gen_slot_prepare(run, s);
}

static int gen_retryable(CURLcode cc, long status)
{
	if (cc != CURLE_OK)
		return 1;
	return status == 429 || status == 500 || status == 502 ||
	       status == 503 || status == 504;
}

/* A request of the slot finished with cc/status; move the person on. */
static int gen_slot_done(gen_run *run, gen_slot *s, CURLcode cc)
{
	long status = 0;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_OK && status >= 200 && status < 300) {
		gen_tally_accept(run->tally, s->user, &s->plan, &s->req);
		if (++s->k < gen_plan_nreq(&s->plan))
			return gen_slot_prepare(run, s);
		return gen_slot_assign(run, s);
	}

	if (gen_retryable(cc, status) && ++s->attempt < GEN_MAX_ATTEMPTS) {
		run->tally->retries++;
		s->waiting = 1;
		s->not_before_ms = gen_now_ms() + (50LL << s->attempt);
		return 0;
	}

	/* Finally failed: the rest of this person's day is skipped. */
	run->tally->failures++;
	if (run->nlogged++ < 10)
		SL_WARN("gen",
			"request failed path=%s event=%s status=%ld err=\"%s\" "
			"body=\"%.200s\"",
			s->req.path, s->req.idem, status,
			cc != CURLE_OK ? curl_easy_strerror(cc) : "",
			s->resp.p ? s->resp.p : "");
	return gen_slot_assign(run, s);
}

static int gen_slot_init(gen_run *run, gen_slot *s)
{
	s->easy = curl_easy_init();
	if (s->easy == NULL)
		return -1;
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, gen_on_body);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &s->resp);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	return gen_slot_assign(run, s);
}

static void gen_slot_free(gen_slot *s)
{
	if (s->easy != NULL)
		curl_easy_cleanup(s->easy);
	curl_slist_free_all(s->hdrs);
	free(s->req.body);
	free(s->resp.p);
}

/* Start every prepared request whose time has come; ms to wait. */
static int gen_kick(gen_run *run, long *wait_ms, int *active)
{
	int64_t now = gen_now_ms(), soonest = now + 200;
	long i;

	*active = 0;
	for (i = 0; i < run->o->concurrency; i++) {
		gen_slot *s = &run->slots[i];

		if (!s->busy)
			continue;
		(*active)++;
		if (!s->waiting)
			continue;
		if (s->not_before_ms <= now) {
			if (gen_slot_start(run, s) != 0)
				return -1;
		} else if (s->not_before_ms < soonest) {
			soonest = s->not_before_ms;
		}
	}
	*wait_ms = (long)(soonest - now);
	return 0;
}

/* Hand each finished transfer to its slot. */
static int gen_reap(gen_run *run)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(run->multi, &left)) != NULL) {
		gen_slot *s = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &s);
		curl_multi_remove_handle(run->multi, m->easy_handle);
		if (gen_slot_done(run, s, m->data.result) != 0)
			return -1;
	}
	return 0;
}

static void gen_progress(gen_run *run, int64_t *last_ms, int64_t t0)
{
	int64_t now = gen_now_ms();

	if (now - *last_ms < 5000)
		return;
	*last_ms = now;
	SL_INFO("gen",
		"progress users=%" PRIu64 "/%" PRIu64 " requests=%" PRIu64
		" retries=%" PRIu64 " failures=%" PRIu64 " elapsed_s=%.1f",
		run->next_user, run->o->users, run->tally->requests,
		run->tally->retries, run->tally->failures,
		(double)(now - t0) / 1000);
}

/* Send everyone's day; 0 when the loop ran to the end. */
static int gen_send(const gen_opts *o, const gen_dir *dir, gen_tally *t)
{
	gen_run run = { .o = o, .dir = dir, .tally = t };
	int64_t t0 = gen_now_ms(), last = t0;
	int rc = -1, running, active = 1;
	long i, wait_ms;

	snprintf(run.auth, sizeof(run.auth), "Authorization: Bearer %s",
		 o->token ? o->token : "");
	run.multi = curl_multi_init();
	run.slots = calloc((size_t)o->concurrency, sizeof(*run.slots));
	if (run.multi == NULL || run.slots == NULL)
		goto out;
	curl_multi_setopt(run.multi, CURLMOPT_MAXCONNECTS, o->concurrency);
	for (i = 0; i < o->concurrency; i++)
		if (gen_slot_init(&run, &run.slots[i]) != 0)
			goto out;

	while (active > 0) {
		if (gen_kick(&run, &wait_ms, &active) != 0)
			goto out;
		if (curl_multi_perform(run.multi, &running) != CURLM_OK)
			goto out;
		if (gen_reap(&run) != 0)
			goto out;
		if (running > 0 || wait_ms > 0)
			curl_multi_poll(run.multi, NULL, 0,
					wait_ms > 0 ? (int)wait_ms : 0, NULL);
		gen_progress(&run, &last, t0);
	}
	rc = 0;
out:
	if (run.slots != NULL) {
		for (i = 0; i < o->concurrency; i++) {
			if (run.multi != NULL && run.slots[i].easy != NULL)
				curl_multi_remove_handle(run.multi,
							 run.slots[i].easy);
			gen_slot_free(&run.slots[i]);
		}
	}
	if (run.multi != NULL)
		curl_multi_cleanup(run.multi);
	free(run.slots);
	if (rc != 0)
		SL_ERROR("gen", "sending stopped: out of memory or curl error");
	return rc;
}

/* --print-plan: every request as a JSON line, all counted accepted. */
static int gen_print_plan(const gen_opts *o, const gen_dir *dir, gen_tally *t)
{
	gen_plan p;
	gen_req q;
	uint64_t n;
	int k;

	for (n = 0; n < o->users; n++) {
		gen_plan_make(o->seed, n, dir, &p);
		for (k = 0; k < gen_plan_nreq(&p); k++) {
			if (gen_req_make(&p, dir, o->date, k, &q) != 0)
				return -1;
			printf("{\"path\":\"%s\",\"idempotency_key\":\"%s\","
			       "\"body\":%s}\n",
			       q.path, q.idem, q.body);
			t->requests++;
			gen_tally_accept(t, n, &p, &q);
			free(q.body);
		}
	}
	return fflush(stdout) == 0 ? 0 : -1;
}

/* ---- command line ------------------------------------------------- */

static void gen_usage(FILE *f)
{
	fprintf(f,
		"usage: gen --api URL --token T --users N --seed S "
		"--date YYYY-MM-DD\n"
		"           --tally FILE [--concurrency C] [--pincodes CSV] "
		"[--print-plan]\n\n"
		"Pushes a campaign day for N people through the screening API "
		"and\nwrites what was accepted to FILE as JSON.  --token "
		"defaults to\n$SLUICE_API_TOKEN, --date to today in India, "
		"--pincodes to\n../shared/data/pincode_district_state.csv, "
		"--concurrency to 64.\n--print-plan writes the requests to "
		"stdout instead of sending them.\n");
}

/* 0 when `s` is a real calendar date YYYY-MM-DD. */
static int gen_check_date(const char *s)
{
	struct tm tm = { 0 }, back;
	time_t t;
	int y, m, d;
	char extra;

	if (strlen(s) != 10 ||
	    sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	t = timegm(&tm);
	gmtime_r(&t, &back);
	return back.tm_year == y - 1900 && back.tm_mon == m - 1 &&
			       back.tm_mday == d
		       ? 0
		       : -1;
}

static void gen_today_ist(char *out, size_t n)
{
	time_t t = time(NULL) + GEN_IST_OFFSET;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%d", &tm);
}

static int gen_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-' ? 0 : -1;
}

/* 0 ok, 2 usage error (message printed), 1 --help. */
static int gen_parse_args(int argc, char **argv, gen_opts *o)
{
	static const struct option longopts[] = {
		{ "api", required_argument, NULL, 'a' },
		{ "token", required_argument, NULL, 't' },
		{ "users", required_argument, NULL, 'u' },
		{ "seed", required_argument, NULL, 's' },
		{ "date", required_argument, NULL, 'd' },
		{ "tally", required_argument, NULL, 'o' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "pincodes", required_argument, NULL, 'p' },
		{ "print-plan", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o->api = optarg;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'd':
			o->date = optarg;
			break;
		case 'o':
			o->tally = optarg;
			break;
		case 'p':
			o->pincodes = optarg;
			break;
		case 'P':
			o->print_plan = 1;
			break;
		case 'h':
			gen_usage(stdout);
			return 1;
		case 'u':
			if (gen_parse_u64(optarg, &o->users) != 0)
				goto bad;
			break;
		case 's':
			if (gen_parse_u64(optarg, &o->seed) != 0)
				goto bad;
			break;
		case 'c':
			if (gen_parse_u64(optarg, &v) != 0 || v < 1 || v > 4096)
				goto bad;
			o->concurrency = (long)v;
			break;
		default:
			goto bad;
		}
	}
	if (optind != argc || o->tally == NULL ||
	    (o->api == NULL && !o->print_plan) || gen_check_date(o->date))
		goto bad;
	return 0;
bad:
	gen_usage(stderr);
	return 2;
}

#ifndef GEN_NO_MAIN
int main(int argc, char **argv)
{
	static char today[16];
	gen_opts o = { .users = 1000, .seed = 1, .concurrency = 64 };
	gen_tally t = { 0 };
	gen_dir dir = { 0 };
	int64_t t0;
	int rc = 1, sent, curl_up = 0;

	gen_today_ist(today, sizeof(today));
	o.date = today;
	o.token = getenv("SLUICE_API_TOKEN");
	o.pincodes = "../shared/data/pincode_district_state.csv";
	rc = gen_parse_args(argc, argv, &o);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	rc = 1;

	if (gen_dir_load(o.pincodes, &dir) != 0)
		goto out;
	t.users = calloc(o.users ? o.users : 1, 1);
	t.user_pin = calloc(o.users ? o.users : 1, sizeof(*t.user_pin));
	if (t.users == NULL || t.user_pin == NULL)
		goto out;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out;
	curl_up = 1;

	t0 = gen_now_ms();
	sent = o.print_plan ? gen_print_plan(&o, &dir, &t)
			    : gen_send(&o, &dir, &t);
	if (gen_tally_write(&t, &o, &dir, (double)(gen_now_ms() - t0) / 1000))
		goto out;
	SL_INFO("gen",
		"done users=%" PRIu64 " requests=%" PRIu64 " failures=%" PRIu64
		" retries=%" PRIu64 " elapsed_s=%.2f",
		o.users, t.requests, t.failures, t.retries,
		(double)(gen_now_ms() - t0) / 1000);
	rc = sent == 0 && t.failures == 0 ? 0 : 1;
out:
	if (curl_up)
		curl_global_cleanup();
	free(t.users);
	free(t.user_pin);
	gen_dir_free(&dir);
	return rc;
}
#endif
