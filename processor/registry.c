/* registry.c — worker announcements on <application.id>-workers. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <librdkafka/rdkafka.h>

#include "processor/clock.h"
#include "processor/log.h"
#include "processor/registry.h"
#include "processor/topics.h"

#define ANNOUNCE_MS 5000
#define MAX_WORKERS 256

static const char *COMP = "registry";

struct entry {
	char id[128];
	char admin[256];
	cJSON *tasks; /* {"<app>":[p,...]} */
	int64_t seen_ms;
};

struct sl_registry {
	rd_kafka_t *producer;
	rd_kafka_t *consumer;
	char *topic;
	char *self;
	char *admin;
	sl_registry_tasks_fn tasks_fn;
	void *ud;
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t lock;
	struct entry entries[MAX_WORKERS];
	int n;
	char *last_announced;
};

static void forget(struct entry *e)
{
	cJSON_Delete(e->tasks);
	memset(e, 0, sizeof(*e));
}

/* An announcement (or a tombstone, val NULL) read from the topic. */
static void learn(sl_registry *r, const char *id, size_t idlen, const char *val,
		  size_t vlen)
{
	struct entry *e = NULL;
	cJSON *o = NULL;
	const cJSON *admin;

	if (idlen == 0 || idlen >= sizeof(e->id))
		return;
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->n; i++)
		if (strlen(r->entries[i].id) == idlen &&
		    memcmp(r->entries[i].id, id, idlen) == 0)
			e = &r->entries[i];
	if (val == NULL) {
		if (e != NULL) {
			forget(e);
			*e = r->entries[--r->n];
			memset(&r->entries[r->n], 0, sizeof(*e));
		}
		goto out;
	}
	o = cJSON_ParseWithLength(val, vlen);
	admin = cJSON_GetObjectItemCaseSensitive(o, "admin");
	if (!cJSON_IsString(admin) || strlen(admin->valuestring) >= 256)
		goto out;
	if (e == NULL) {
		if (r->n == MAX_WORKERS)
			goto out;
		e = &r->entries[r->n++];
		memcpy(e->id, id, idlen);
	}
	cJSON_Delete(e->tasks);
	snprintf(e->admin, sizeof(e->admin), "%s", admin->valuestring);
	e->tasks = cJSON_DetachItemFromObjectCaseSensitive(o, "tasks");
	e->seen_ms = sl_mono_ms();
out:
	pthread_mutex_unlock(&r->lock);
	cJSON_Delete(o);
}

static void announce(sl_registry *r, int force)
{
	char *tasks = r->tasks_fn(r->ud);
	cJSON *o = cJSON_CreateObject(), *t;
	char *json = NULL;

	if (tasks == NULL || o == NULL)
		goto out;
	if (!force && r->last_announced != NULL &&
	    strcmp(tasks, r->last_announced) == 0)
		goto out;
	t = cJSON_Parse(tasks);
	cJSON_AddStringToObject(o, "admin", r->admin);
	cJSON_AddItemToObject(o, "tasks", t ? t : cJSON_CreateObject());
	json = cJSON_PrintUnformatted(o);
	if (json == NULL)
		goto out;
	rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->topic),
			  RD_KAFKA_V_PARTITION(0),
			  RD_KAFKA_V_KEY(r->self, strlen(r->self)),
			  RD_KAFKA_V_VALUE(json, strlen(json)),
			  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			  RD_KAFKA_V_END);
	free(r->last_announced);
	r->last_announced = tasks;
	tasks = NULL;
out:
	free(tasks);
	free(json);
	cJSON_Delete(o);
}

static void *run(void *arg)
{
	sl_registry *r = arg;
	int64_t next = 0;

	while (!atomic_load(&r->stop)) {
		rd_kafka_message_t *m =
			rd_kafka_consumer_poll(r->consumer, 200);
		int64_t now = sl_mono_ms();

		if (m != NULL) {
			if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
				learn(r, m->key, m->key_len, m->payload,
				      m->len);
			rd_kafka_message_destroy(m);
		}
		/* announce at once when tasks change, anyway every 5 s */
		announce(r, now >= next);
		if (now >= next)
			next = now + ANNOUNCE_MS;
		rd_kafka_poll(r->producer, 0);
	}
	return NULL;
}

static rd_kafka_t *client(rd_kafka_type_t type, const sl_config *cfg,
			  sl_errbuf *eb)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];
	rd_kafka_t *rk;

	if (sl_kafka_conf_apply(conf, cfg, eb) != SL_OK) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	if (type == RD_KAFKA_CONSUMER) {
		rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr,
				  sizeof(errstr));
		rd_kafka_conf_set(conf, "group.id", "sluice-registry-reader",
				  errstr, sizeof(errstr));
	}
	rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		sl_errbuf_set(eb, SL_EKAFKA, "registry: %s", errstr);
	}
	return rk;
}

int sl_registry_start(const sl_config *cfg, const char *self_id,
		      const char *admin_url, sl_registry_tasks_fn tasks_fn,
		      void *ud, sl_registry **out, sl_errbuf *eb)
{
	sl_registry *r = calloc(1, sizeof(*r));
	rd_kafka_topic_partition_list_t *l = NULL;
	struct sl_topic_spec spec = { NULL, 1, 1 };
	char topic[300];
	int rc = SL_ENOMEM;

	if (r == NULL)
		return SL_ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	snprintf(topic, sizeof(topic), "%s-workers",
		 sl_config_get(cfg, "application.id"));
	r->topic = strdup(topic);
	r->self = strdup(self_id);
	r->admin = strdup(admin_url);
	r->tasks_fn = tasks_fn;
	r->ud = ud;
	if (r->topic == NULL || r->self == NULL || r->admin == NULL)
		goto fail;
	rc = SL_EKAFKA;
	r->producer = client(RD_KAFKA_PRODUCER, cfg, eb);
	r->consumer = client(RD_KAFKA_CONSUMER, cfg, eb);
	if (r->producer == NULL || r->consumer == NULL)
		goto fail;
	spec.name = r->topic;
	rc = sl_topics_ensure(r->producer, cfg, &spec, 1, eb);
	if (rc != SL_OK)
		goto fail;
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, r->topic, 0)->offset =
		RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_poll_set_consumer(r->consumer);
	rd_kafka_assign(r->consumer, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (pthread_create(&r->thread, NULL, run, r) != 0) {
		rc = SL_ENOMEM;
		goto fail;
	}
	*out = r;
	return SL_OK;
fail:
	if (r->consumer != NULL)
		rd_kafka_destroy(r->consumer);
	if (r->producer != NULL)
		rd_kafka_destroy(r->producer);
	free(r->topic);
	free(r->self);
	free(r->admin);
	pthread_mutex_destroy(&r->lock);
	free(r);
	return rc;
}

static int runs(const cJSON *tasks, const char *app, int32_t partition)
{
	const cJSON *parts = cJSON_GetObjectItemCaseSensitive(tasks, app);
	const cJSON *p;

	cJSON_ArrayForEach(p, parts)
	{
		if (cJSON_IsNumber(p) && p->valueint == partition)
			return 1;
	}
	return 0;
}

int sl_registry_owner(sl_registry *r, const char *app, int32_t partition,
		      char *url, size_t n)
{
	int64_t now = sl_mono_ms();
	int rc = SL_ENOTFOUND;

	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->n; i++) {
		struct entry *e = &r->entries[i];

		if (strcmp(e->id, r->self) == 0 ||
		    now - e->seen_ms > REGISTRY_STALE_MS ||
		    !runs(e->tasks, app, partition))
			continue;
		snprintf(url, n, "%s", e->admin);
		rc = SL_OK;
		break;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static int by_id(const void *a, const void *b)
{
	return strcmp((*(const struct entry *const *)a)->id,
		      (*(const struct entry *const *)b)->id);
}

int sl_registry_standbys(sl_registry *r, const char *app, int replicas,
			 int32_t *out, int max)
{
	struct entry *live[MAX_WORKERS];
	int64_t now = sl_mono_ms();
	int n = 0, self = -1, count = 0;

	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->n; i++)
		if (now - r->entries[i].seen_ms <= REGISTRY_STALE_MS)
			live[n++] = &r->entries[i];
	qsort(live, (size_t)n, sizeof(*live), by_id);
	for (int i = 0; i < n; i++)
		if (strcmp(live[i]->id, r->self) == 0)
			self = i;
	for (int o = 0; o < n && self >= 0; o++) {
		const cJSON *parts, *p;
		int dist = (self - o + n) % n; /* how far after the owner */

		if (o == self || dist == 0 || dist > replicas)
			continue;
		parts = cJSON_GetObjectItemCaseSensitive(live[o]->tasks, app);
		cJSON_ArrayForEach(p, parts)
		{
			if (cJSON_IsNumber(p) && count < max)
				out[count++] = p->valueint;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return count;
}

void sl_registry_stop(sl_registry *r)
{
	if (r == NULL)
		return;
	atomic_store(&r->stop, 1);
	pthread_join(r->thread, NULL);
	rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->topic),
			  RD_KAFKA_V_PARTITION(0),
			  RD_KAFKA_V_KEY(r->self, strlen(r->self)),
			  RD_KAFKA_V_VALUE(NULL, 0), RD_KAFKA_V_END);
	rd_kafka_flush(r->producer, 5000);
	rd_kafka_consumer_close(r->consumer);
	rd_kafka_destroy(r->consumer);
	rd_kafka_destroy(r->producer);
	for (int i = 0; i < r->n; i++)
		forget(&r->entries[i]);
	SL_INFO(COMP, "withdrawn worker=%s", r->self);
	free(r->last_announced);
	free(r->topic);
	free(r->self);
	free(r->admin);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
