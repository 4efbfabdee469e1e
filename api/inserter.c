/*
 * inserter.c — group commit of screenings through sluice_store_screenings.
 *
 * A row's job lives on its request thread's stack:
 *
 *	ins_store: queued ──writer takes it──> in a batch ──> done (signalled)
 *	                 └──waited > max_wait_ms──────────────> done, ETIMEOUT
 *
 * Only the writer that took a job touches its result until `done`, which
 * it posts on the job's own semaphore, not under the queue's lock, so
 * a batch's waiters do not wake only to queue up on that lock behind
 * the writer.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "api/inserter.h"
#include "api/outbox.h"
#include "processor/log.h"

#define COMP "inserter"

/*
 * p_rows: a JSON array of objects, one per screening, with `idx` (its
 * place in the batch).  Returns one row per input row.
 */
const char ins_function_sql[] =
	"CREATE OR REPLACE FUNCTION sluice_store_screenings("
	"p_rows json, p_topic text, p_notify boolean) "
	"RETURNS TABLE (o_idx int, o_inserted boolean, o_hash text, "
	"o_status smallint, o_body text) "
	"LANGUAGE plpgsql AS $fn$\n"
	"DECLARE\n"
	"  r record;\n"
	"  n int := 0;\n"
	"BEGIN\n"
	"  FOR r IN SELECT * FROM json_to_recordset(p_rows) AS x(idx int,\n"
	"      screening_id uuid, user_id text, phone text, lang text,\n"
	"      pincode text, score smallint, channel text, answers jsonb,\n"
	"      event_id uuid, occurred_at timestamptz, payload text,\n"
	"      idem_key text, idem_hash text, reply text)\n"
	"    ORDER BY x.idem_key NULLS LAST, x.idx\n"
	"  LOOP\n"
	"    IF r.idem_key IS NOT NULL THEN\n"
	"      INSERT INTO idempotency_keys AS k (key, request_hash, status,\n"
	"          body)\n"
	"        VALUES (r.idem_key, r.idem_hash, 201, r.reply)\n"
	"        ON CONFLICT (key) DO NOTHING;\n"
	"      IF NOT FOUND THEN\n"
	"        RETURN QUERY SELECT r.idx, false, k.request_hash, k.status,\n"
	"            k.body FROM idempotency_keys k WHERE k.key = r.idem_key;\n"
	"        CONTINUE;\n"
	"      END IF;\n"
	"    END IF;\n"
	"    INSERT INTO screenings (screening_id, user_id, phone, lang,\n"
	"        pincode, score, channel, answers, event_id, created_at)\n"
	"      VALUES (r.screening_id, r.user_id, r.phone, r.lang, r.pincode,\n"
	"        r.score, r.channel, r.answers, r.event_id, r.occurred_at);\n"
	"    INSERT INTO outbox (topic, key, payload)\n"
	"      VALUES (p_topic, r.user_id, r.payload);\n"
	"    n := n + 1;\n"
	"    o_idx := r.idx; o_inserted := true; o_hash := NULL;\n"
	"    o_status := NULL; o_body := NULL;\n"
	"    RETURN NEXT;\n"
	"  END LOOP;\n"
	"  IF p_notify AND n > 0 THEN\n"
	"    PERFORM pg_notify('" OUTBOX_CHANNEL "', '');\n"
	"  END IF;\n"
	"END\n"
	"$fn$";

static const char call_sql[] =
	"SELECT o_idx, o_inserted, o_hash, o_status, o_body "
	"FROM sluice_store_screenings($1::json, $2, $3::boolean)";

struct job {
	const ins_row *row;
	ins_result *res;
	int rc;
	int64_t enqueued_ms;
	sem_t done;
	struct job *next;
};

struct ins_writer {
	ins_opts opts;
	char *topic;
	pthread_mutex_t mu;
	pthread_cond_t nonempty;
	struct job *head, *tail;
	int queued;
	int stop;
	int nthreads;
	pthread_t *threads;
	_Atomic uint64_t batches, rows;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Answer a job; after the post the job (on its waiter's stack) is gone. */
static void finish(ins_writer *w, struct job *j, int rc, const char *detail)
{
	(void)w;
	j->rc = rc;
	if (detail != NULL)
		snprintf(j->res->detail, sizeof(j->res->detail), "%s", detail);
	sem_post(&j->done);
}

static cJSON *row_json(const ins_row *r, int idx)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "idx", idx);
	cJSON_AddStringToObject(o, "screening_id", r->screening_id);
	cJSON_AddStringToObject(o, "user_id", r->user_id);
	cJSON_AddStringToObject(o, "phone", r->phone);
	cJSON_AddStringToObject(o, "lang", r->lang);
	cJSON_AddStringToObject(o, "pincode", r->pincode);
	cJSON_AddNumberToObject(o, "score", r->score);
	cJSON_AddStringToObject(o, "channel", r->channel);
	if (r->answers != NULL)
		cJSON_AddRawToObject(o, "answers", r->answers);
	cJSON_AddStringToObject(o, "event_id", r->event_id);
	cJSON_AddStringToObject(o, "occurred_at", r->occurred_at);
	cJSON_AddStringToObject(o, "payload", r->payload);
	if (r->idem_key != NULL) {
		cJSON_AddStringToObject(o, "idem_key", r->idem_key);
		cJSON_AddStringToObject(o, "idem_hash", r->idem_hash);
		cJSON_AddStringToObject(o, "reply", r->reply);
	}
	return o;
}

/* The batch as the function's JSON argument; NULL on out of memory. */
static char *batch_json(struct job **jobs, int n)
{
	cJSON *arr = cJSON_CreateArray();
	char *s = NULL;

	if (arr == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		cJSON *o = row_json(jobs[i]->row, i);

		if (o == NULL)
			goto out;
		cJSON_AddItemToArray(arr, o);
	}
	s = cJSON_PrintUnformatted(arr);
out:
	cJSON_Delete(arr);
	return s;
}

/* Copy the function's result rows into the jobs' results. */
static int take_results(ins_writer *w, struct job **jobs, int n,
			const PGresult *r)
{
	int got = 0;

	for (int i = 0; i < PQntuples(r); i++) {
		int idx = atoi(PQgetvalue(r, i, 0));
		ins_result *res;

		if (idx < 0 || idx >= n || jobs[idx] == NULL)
			continue;
		res = jobs[idx]->res;
		res->inserted = PQgetvalue(r, i, 1)[0] == 't';
		if (!res->inserted) {
			snprintf(res->hash, sizeof(res->hash), "%s",
				 PQgetvalue(r, i, 2));
			res->status = atoi(PQgetvalue(r, i, 3));
			res->body = strdup(PQgetvalue(r, i, 4));
		}
		got++;
		finish(w, jobs[idx],
		       res->inserted || res->body ? SL_OK : SL_ENOMEM, NULL);
		jobs[idx] = NULL;
	}
	return got;
}

static void run_batch(ins_writer *w, struct job **jobs, int n)
{
	char notify[2] = { w->opts.notify ? 't' : 'f', '\0' };
	const char *vals[3] = { NULL, w->topic, notify };
	sl_errbuf eb = { { 0 } };
	PGconn *c = NULL;
	PGresult *r = NULL;
	char *json = batch_json(jobs, n);
	int rc;

	rc = json ? pgpool_get(w->opts.pool, &c, &eb) : SL_ENOMEM;
	if (rc == SL_OK) {
		vals[0] = json;
		rc = pgpool_exec(w->opts.pool, c, call_sql, 3, vals, &r, &eb);
	}
	pgpool_put(w->opts.pool, c);
	free(json);
	if (rc == SL_OK) {
		atomic_fetch_add(&w->batches, 1);
		atomic_fetch_add(&w->rows, (uint64_t)n);
		take_results(w, jobs, n, r);
	}
	PQclear(r);

	/* An SQL error may be one row's: try each alone to find it. */
	if (rc == SL_EPG && n > 1) {
		SL_WARN(COMP,
			"batch failed, retrying its rows alone rows=%d "
			"detail=\"%s\"",
			n, eb.msg);
		for (int i = 0; i < n; i++)
			run_batch(w, &jobs[i], 1);
		return;
	}
	for (int i = 0; i < n; i++)
		if (jobs[i] != NULL)
			finish(w, jobs[i], rc == SL_OK ? SL_EPG : rc,
			       rc == SL_OK ? "no result for row" : eb.msg);
}

/* Up to max_batch queued jobs, oldest first; 0 when stopping and empty. */
static int take_jobs(ins_writer *w, struct job **jobs)
{
	int n = 0;

	pthread_mutex_lock(&w->mu);
	while (w->head == NULL && !w->stop)
		pthread_cond_wait(&w->nonempty, &w->mu);
	while (w->head != NULL && n < w->opts.max_batch) {
		jobs[n++] = w->head;
		w->head = w->head->next;
		w->queued--;
	}
	if (w->head == NULL)
		w->tail = NULL;
	pthread_mutex_unlock(&w->mu);
	return n;
}

static void *writer_main(void *arg)
{
	ins_writer *w = arg;
	struct job **jobs = calloc((size_t)w->opts.max_batch, sizeof(*jobs));
	int n;

	SL_ASSERT(jobs != NULL);
	while ((n = take_jobs(w, jobs)) > 0) {
		int64_t now = now_ms();
		int k = 0;

		/* Rows that waited too long are refused, not written. */
		for (int i = 0; i < n; i++) {
			if (now - jobs[i]->enqueued_ms > w->opts.max_wait_ms)
				finish(w, jobs[i], SL_ETIMEOUT,
				       "queued too long: database overloaded");
			else
				jobs[k++] = jobs[i];
		}
		if (k > 0)
			run_batch(w, jobs, k);
	}
	free(jobs);
	return NULL;
}

int ins_new(const ins_opts *opts, ins_writer **out)
{
	ins_writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return SL_ENOMEM;
	w->opts = *opts;
	if (w->opts.writers <= 0)
		w->opts.writers = 4;
	if (w->opts.max_batch <= 0)
		w->opts.max_batch = 64;
	if (w->opts.max_wait_ms <= 0)
		w->opts.max_wait_ms = 2000;
	if (w->opts.max_queue <= 0)
		w->opts.max_queue = 10000;
	w->topic = strdup(opts->topic);
	w->threads = calloc((size_t)w->opts.writers, sizeof(*w->threads));
	if (w->topic == NULL || w->threads == NULL) {
		free(w->topic);
		free(w->threads);
		free(w);
		return SL_ENOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->nonempty, NULL);
	for (int i = 0; i < w->opts.writers; i++) {
		if (pthread_create(&w->threads[i], NULL, writer_main, w) != 0)
			break;
		w->nthreads++;
	}
	if (w->nthreads == 0) {
		ins_free(w);
		return SL_ENOMEM;
	}
	*out = w;
	return SL_OK;
}

void ins_free(ins_writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->nonempty);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->nonempty);
	free(w->threads);
	free(w->topic);
	free(w);
}

int ins_store(ins_writer *w, const ins_row *row, ins_result *res)
{
	struct job j = { .row = row, .res = res, .enqueued_ms = now_ms() };

	memset(res, 0, sizeof(*res));
	sem_init(&j.done, 0, 0);
	pthread_mutex_lock(&w->mu);
	if (w->queued >= w->opts.max_queue || w->stop) {
		pthread_mutex_unlock(&w->mu);
		sem_destroy(&j.done);
		snprintf(res->detail, sizeof(res->detail),
			 "too many screenings waiting for the database");
		return SL_EUNAVAIL;
	}
	if (w->tail != NULL)
		w->tail->next = &j;
	else
		w->head = &j;
	w->tail = &j;
	w->queued++;
	pthread_cond_signal(&w->nonempty);
	pthread_mutex_unlock(&w->mu);

	while (sem_wait(&j.done) != 0)
		; /* EINTR: a signal, wait on */
	sem_destroy(&j.done);
	return j.rc;
}

void ins_result_clear(ins_result *res)
{
	free(res->body);
	res->body = NULL;
}

void ins_stats(ins_writer *w, uint64_t *batches, uint64_t *rows)
{
	*batches = atomic_load(&w->batches);
	*rows = atomic_load(&w->rows);
}
