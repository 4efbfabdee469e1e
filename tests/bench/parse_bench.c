/*
 * parse_bench.c — what the journey topology's parsing costs per event,
 * split into its parts (topologies/event.c), to find what bounds the
 * worker's throughput.
 *
 *	journey_load --print --events 200000 --invalid-permille 1 > F
 *	parse_bench --file F [--rounds R]
 *
 * F holds one "key TAB value" line per event.  For every event, each
 * round times, in separate passes over all events:
 *
 *	parse     cJSON_ParseWithLength + cJSON_Delete (the JSON library)
 *	object    ev_parse_object + cJSON_Delete (the raw bytes' checks
 *		  and the JSON, without the event rules)
 *	validate  ev_validate on an object parsed beforehand
 *	ev_parse  ev_parse + cJSON_Delete
 *	scratch   ev_parse_fields + cJSON_Delete in scratch memory, as the
 *		  journey step does before it touches the store
 *
 * The best of R rounds (default 5) counts.  Prints one line of
 * key=value, nanoseconds per event.  Exit 0, 1 on errors, 2 on usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "topologies/event.h"

typedef struct pb_events {
	char **val;
	size_t *len;
	size_t n, cap;
} pb_events;

static double pb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int pb_add(pb_events *e, const char *v, size_t len)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 4096;
		char **nv = realloc(e->val, cap * sizeof(*nv));
		size_t *nl;

		if (nv == NULL)
			return -1;
		e->val = nv;
		nl = realloc(e->len, cap * sizeof(*nl));
		if (nl == NULL)
			return -1;
		e->len = nl;
		e->cap = cap;
	}
	e->val[e->n] = malloc(len + 1);
	if (e->val[e->n] == NULL)
		return -1;
	memcpy(e->val[e->n], v, len);
	e->val[e->n][len] = '\0';
	e->len[e->n++] = len;
	return 0;
}

/* Values of "key TAB value" lines; the key is not needed. */
static int pb_load(const char *path, pb_events *e)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *tab;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		tab = strchr(line, '\t');
		if (tab == NULL)
			continue;
		tab++;
		rc = pb_add(e, tab, (size_t)(line + n - tab));
	}
	free(line);
	fclose(f);
	return rc;
}

static void pb_free(pb_events *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->val[i]);
	free(e->val);
	free(e->len);
}

static double pb_parse(const pb_events *e)
{
	double t0 = pb_now();

	for (size_t i = 0; i < e->n; i++)
		cJSON_Delete(cJSON_ParseWithLength(e->val[i], e->len[i]));
	return (pb_now() - t0) / (double)e->n;
}

/* ev_validate over objects parsed outside the timed loop. */
static double pb_validate(const pb_events *e, cJSON **objs, size_t *ok)
{
	ev_error err;
	double t0 = pb_now();

	*ok = 0;
	for (size_t i = 0; i < e->n; i++)
		if (objs[i] != NULL && ev_validate(objs[i], &err) == SL_OK)
			(*ok)++;
	return (pb_now() - t0) / (double)e->n;
}

static double pb_object(const pb_events *e)
{
	ev_error err;
	cJSON *obj;
	double t0 = pb_now();

	for (size_t i = 0; i < e->n; i++) {
		ev_parse_object(e->val[i], e->len[i], &obj, &err);
		cJSON_Delete(obj);
	}
	return (pb_now() - t0) / (double)e->n;
}

static double pb_ev_parse(const pb_events *e, size_t *ok)
{
	ev_error err;
	cJSON *obj;
	double t0 = pb_now();

	*ok = 0;
	for (size_t i = 0; i < e->n; i++) {
		if (ev_parse(e->val[i], e->len[i], &obj, &err) == SL_OK)
			(*ok)++;
		cJSON_Delete(obj);
	}
	return (pb_now() - t0) / (double)e->n;
}

static double pb_scratch(const pb_events *e)
{
	ev_fields f;
	ev_error err;
	cJSON *obj;
	double t0 = pb_now();

	for (size_t i = 0; i < e->n; i++) {
		ev_scratch_begin();
		ev_parse_fields(e->val[i], e->len[i], &obj, &f, &err);
		ev_scratch_end();
		cJSON_Delete(obj);
	}
	return (pb_now() - t0) / (double)e->n;
}

static double pb_min(double a, double b)
{
	return a == 0 || b < a ? b : a;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "rounds", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	pb_events e = { 0 };
	cJSON **objs = NULL;
	const char *file = NULL;
	double parse = 0, object = 0, validate = 0, full = 0, scratch = 0;
	size_t valid = 0, ok = 0;
	int rounds = 5, c, rc = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f')
			file = optarg;
		else if (c == 'r')
			rounds = atoi(optarg);
		else
			return 2;
	}
	if (file == NULL || rounds < 1) {
		fprintf(stderr, "usage: parse_bench --file F [--rounds R]\n");
		return 2;
	}
	if (pb_load(file, &e) != 0 || e.n == 0)
		goto out;
	objs = calloc(e.n, sizeof(*objs));
	if (objs == NULL)
		goto out;
	for (size_t i = 0; i < e.n; i++)
		objs[i] = cJSON_ParseWithLength(e.val[i], e.len[i]);
	ev_scratch_install(); /* as the journey topology does */

	for (int r = 0; r < rounds; r++) {
		parse = pb_min(parse, pb_parse(&e));
		object = pb_min(object, pb_object(&e));
		validate = pb_min(validate, pb_validate(&e, objs, &valid));
		full = pb_min(full, pb_ev_parse(&e, &ok));
		scratch = pb_min(scratch, pb_scratch(&e));
	}
	printf("events=%zu valid=%zu parse_ns=%.0f object_ns=%.0f "
	       "validate_ns=%.0f ev_parse_ns=%.0f scratch_ns=%.0f\n",
	       e.n, ok, parse, object, validate, full, scratch);
	rc = valid == ok ? 0 : 1;
out:
	if (objs != NULL)
		for (size_t i = 0; i < e.n; i++)
			cJSON_Delete(objs[i]);
	free(objs);
	pb_free(&e);
	return rc;
}
