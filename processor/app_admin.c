/*
 * app_admin.c — what the admin API reads of a running app.  The app
 * thread publishes positions at each commit (app_publish); readers take
 * tasks_lock and LMDB read transactions, never the app's write txn.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/evp.h>

#include "processor/app_int.h"

void app_publish(sl_app *app)
{
	pthread_mutex_lock(&app->tasks_lock);
	for (int i = 0; i < app->ntasks; i++) {
		struct task *t = &app->tasks[i];
		int64_t lo = 0, hi = -1;

		if (t->state == TASK_NONE)
			continue;
		t->pub_position = t->position;
		if (rd_kafka_get_watermark_offsets(app->consumer,
						   app->topo->source, i, &lo,
						   &hi) == 0 &&
		    hi >= 0)
			t->pub_end = hi;
	}
	pthread_mutex_unlock(&app->tasks_lock);
}

const char *app_name(const sl_app *app)
{
	return app->group_id;
}

int app_is_ready(sl_app *app)
{
	/* Ready once the group assigned us partitions (maybe none) and
	 * none of them still restores. */
	int ready = atomic_load(&app->ready) &&
		    atomic_load(&app->assigned_once);

	pthread_mutex_lock(&app->tasks_lock);
	for (int i = 0; i < app->ntasks && ready; i++)
		if (app->tasks[i].state == TASK_RESTORING)
			ready = 0;
	pthread_mutex_unlock(&app->tasks_lock);
	return ready;
}

static const char *state_name(enum task_state s)
{
	return s == TASK_RUNNING     ? "running"
	       : s == TASK_RESTORING ? "restoring"
				     : "none";
}

void app_tasks_json(sl_app *app, void *cjson_array)
{
	cJSON *arr = cjson_array;

	pthread_mutex_lock(&app->tasks_lock);
	for (int i = 0; i < app->ntasks; i++) {
		struct task *t = &app->tasks[i];
		cJSON *o;

		if (t->state == TASK_NONE)
			continue;
		o = cJSON_CreateObject();
		if (o == NULL)
			break;
		cJSON_AddStringToObject(o, "app", app->group_id);
		cJSON_AddStringToObject(o, "topic", app->topo->source);
		cJSON_AddNumberToObject(o, "partition", i);
		cJSON_AddStringToObject(o, "state", state_name(t->state));
		cJSON_AddNumberToObject(o, "position", (double)t->pub_position);
		cJSON_AddNumberToObject(o, "end", (double)t->pub_end);
		cJSON_AddNumberToObject(
			o, "lag",
			(double)(t->pub_end > t->pub_position
					 ? t->pub_end - t->pub_position
					 : 0));
		cJSON_AddNumberToObject(o, "restored", (double)t->restored);
		cJSON_AddItemToArray(arr, o);
	}
	pthread_mutex_unlock(&app->tasks_lock);
}

static void metric(FILE *f, const char *name, const char *app, long long v)
{
	fprintf(f, "%s{app=\"%s\"} %lld\n", name, app, v);
}

static void store_sizes(sl_app *app, FILE *f)
{
	st_txn rt;

	if (st_txn_begin(app->env, 1, &rt) != SL_OK)
		return;
	pthread_mutex_lock(&app->tasks_lock);
	for (int s = 0; s < app->topo->nstores; s++) {
		uint64_t n = 0;

		if (app->topo->stores[s].global) {
			st_count(&rt, app->global_dbi[s], &n);
			fprintf(f,
				"sluice_store_entries{app=\"%s\",store=\"%s\","
				"partition=\"all\"} %" PRIu64 "\n",
				app->group_id, app->topo->stores[s].name, n);
			continue;
		}
		for (int p = 0; p < app->ntasks; p++) {
			if (app->tasks[p].state != TASK_RUNNING)
				continue;
			n = 0;
			st_count(&rt, app->tasks[p].dbi[s], &n);
			fprintf(f,
				"sluice_store_entries{app=\"%s\",store=\"%s\","
				"partition=\"%d\"} %" PRIu64 "\n",
				app->group_id, app->topo->stores[s].name, p, n);
		}
	}
	pthread_mutex_unlock(&app->tasks_lock);
	st_txn_abort(&rt);
}

void app_write_metrics(sl_app *app, FILE *f)
{
	struct app_stats *s = &app->stats;
	const char *a = app->group_id;

	metric(f, "sluice_records_total", a, atomic_load(&s->records));
	metric(f, "sluice_dead_letters_total", a,
	       atomic_load(&s->dead_letters));
	metric(f, "sluice_produced_total", a, atomic_load(&s->produced));
	metric(f, "sluice_commits_total", a, atomic_load(&s->commits));
	metric(f, "sluice_commit_failures_total", a,
	       atomic_load(&s->commit_failures));
	metric(f, "sluice_commit_us_sum", a, atomic_load(&s->commit_us_total));
	metric(f, "sluice_commit_us_max", a, atomic_load(&s->commit_us_max));
	metric(f, "sluice_punctuations_total", a, atomic_load(&s->punct_runs));
	metric(f, "sluice_punctuation_us_sum", a,
	       atomic_load(&s->punct_us_total));
	metric(f, "sluice_punctuation_us_max", a,
	       atomic_load(&s->punct_us_max));
	metric(f, "sluice_restored_records_total", a,
	       atomic_load(&s->restored));
	metric(f, "sluice_standby_partitions", a,
	       atomic_load(&s->standby_partitions));
	metric(f, "sluice_standby_records_total", a,
	       atomic_load(&s->standby_applied));
	metric(f, "sluice_sink_batches_total", a,
	       atomic_load(&s->sink_flushes));
	metric(f, "sluice_sink_errors_total", a, atomic_load(&s->sink_errors));
	pthread_mutex_lock(&app->tasks_lock);
	for (int i = 0; i < app->ntasks; i++) {
		struct task *t = &app->tasks[i];

		if (t->state != TASK_RUNNING)
			continue;
		fprintf(f,
			"sluice_partition_lag{app=\"%s\",topic=\"%s\","
			"partition=\"%d\"} %" PRId64 "\n",
			a, app->topo->source, i,
			t->pub_end > t->pub_position
				? t->pub_end - t->pub_position
				: 0);
	}
	pthread_mutex_unlock(&app->tasks_lock);
	store_sizes(app, f);
}

static char *render_default(const void *val, size_t len)
{
	cJSON *parsed = cJSON_ParseWithLength(val, len);
	char *out;

	if (parsed != NULL) {
		out = cJSON_PrintUnformatted(parsed);
		cJSON_Delete(parsed);
		return out;
	}
	out = malloc(4 * ((len + 2) / 3) + 3);
	if (out == NULL)
		return NULL;
	out[0] = '"';
	EVP_EncodeBlock((unsigned char *)out + 1, val, (int)len);
	strcat(out, "\"");
	return out;
}

/*
 * A key missing from its hashed partition may live in another one this
 * app runs: a store keyed differently from its topic (wa_sends holds
 * reminder ids in their user's partition).  SL_OK with *part set to the
 * partition it was found in, or SL_ENOTFOUND.
 */
static int look_elsewhere(sl_app *app, st_txn *rt, int s, const char *key,
			  size_t klen, MDB_val *v, int32_t *part)
{
	for (int i = 0; i < app->ntasks; i++) {
		MDB_dbi dbi;
		int running;

		if (i == *part)
			continue;
		pthread_mutex_lock(&app->tasks_lock);
		running = app->tasks[i].state == TASK_RUNNING;
		dbi = app->tasks[i].dbi[s];
		pthread_mutex_unlock(&app->tasks_lock);
		if (running && st_get(rt, dbi, key, klen, v) == SL_OK) {
			*part = i;
			return SL_OK;
		}
	}
	return SL_ENOTFOUND;
}

int app_store_lookup(sl_app *app, const char *store, const char *key,
		     char **json, int32_t *part)
{
	int s = -1, rc;
	size_t klen = strlen(key);
	MDB_dbi dbi;
	MDB_val v;
	st_txn rt;

	for (int i = 0; i < app->topo->nstores; i++)
		if (strcmp(app->topo->stores[i].name, store) == 0)
			s = i;
	if (s < 0)
		return SL_EINVAL;
	*part = rd_kafka_msg_partitioner_murmur2(NULL, key, klen, app->ntasks,
						 NULL, NULL);
	if (app->topo->stores[s].global) {
		dbi = app->global_dbi[s];
	} else {
		pthread_mutex_lock(&app->tasks_lock);
		rc = app->tasks[*part].state == TASK_RUNNING;
		dbi = app->tasks[*part].dbi[s];
		pthread_mutex_unlock(&app->tasks_lock);
		if (!rc)
			return SL_EUNAVAIL;
	}
	rc = st_txn_begin(app->env, 1, &rt);
	if (rc != SL_OK)
		return rc;
	rc = st_get(&rt, dbi, key, klen, &v);
	if (rc == SL_ENOTFOUND && !app->topo->stores[s].global)
		rc = look_elsewhere(app, &rt, s, key, klen, &v, part);
	if (rc == SL_OK) {
		sl_render_fn fn = app->topo->stores[s].render;

		*json = fn ? fn(v.mv_data, v.mv_size)
			   : render_default(v.mv_data, v.mv_size);
		if (*json == NULL)
			rc = SL_ENOMEM;
	}
	st_txn_abort(&rt);
	return rc;
}

void app_running_json(sl_app *app, void *cjson_object)
{
	cJSON *arr = cJSON_CreateArray();

	if (arr == NULL)
		return;
	pthread_mutex_lock(&app->tasks_lock);
	for (int i = 0; i < app->ntasks; i++)
		if (app->tasks[i].state == TASK_RUNNING)
			cJSON_AddItemToArray(arr, cJSON_CreateNumber(i));
	pthread_mutex_unlock(&app->tasks_lock);
	cJSON_AddItemToObject(cjson_object, app->group_id, arr);
}
