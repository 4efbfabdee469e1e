/*
 * topology.c — building a topology (the sl_topology_* calls of sl.h).
 *
 * Builder calls never abort: a failed call latches t->failed and
 * returns its error, and sl_app_new() refuses a failed topology.
 */
#include <stdlib.h>
#include <string.h>

#include "processor/timeutil.h"
#include "processor/topology.h"

static int fail(sl_topology *t, int err)
{
	t->failed = 1;
	return err;
}

sl_topology *sl_topology_new(const char *name)
{
	sl_topology *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->name = strdup(name);
	if (t->name == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void sl_topology_free(sl_topology *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < t->nsteps; i++)
		free(t->steps[i].name);
	for (int i = 0; i < t->nstores; i++) {
		free(t->stores[i].name);
		free(t->stores[i].topic);
	}
	for (int i = 0; i < t->npuncts; i++) {
		free(t->puncts[i].name);
		free(t->puncts[i].zone);
	}
	for (int i = 0; i < t->nsinks; i++) {
		free(t->sinks[i].topic);
		if (t->sinks[i].ops != NULL && t->sinks[i].ops->free != NULL)
			t->sinks[i].ops->free(t->sinks[i].self);
	}
	for (int i = 0; i < t->noutputs; i++)
		free(t->outputs[i]);
	for (int i = 0; i < t->nowned; i++)
		t->owned[i].fn(t->owned[i].ptr);
	free(t->source);
	free(t->name);
	free(t);
}

int sl_topology_own(sl_topology *t, void (*free_fn)(void *), void *ptr)
{
	if (t->nowned == TOPO_MAX_STEPS) {
		free_fn(ptr);
		return fail(t, SL_ETOOBIG);
	}
	t->owned[t->nowned].fn = free_fn;
	t->owned[t->nowned].ptr = ptr;
	t->nowned++;
	return SL_OK;
}

int sl_topology_source(sl_topology *t, const char *topic)
{
	if (t->source != NULL)
		return fail(t, SL_EEXISTS);
	t->source = strdup(topic);
	return t->source ? SL_OK : fail(t, SL_ENOMEM);
}

static int add_store(sl_topology *t, const char *name, const char *topic)
{
	struct topo_store *s;

	if (t->nstores == TOPO_MAX_STORES)
		return fail(t, SL_ETOOBIG);
	for (int i = 0; i < t->nstores; i++)
		if (strcmp(t->stores[i].name, name) == 0)
			return fail(t, SL_EEXISTS);
	s = &t->stores[t->nstores];
	s->name = strdup(name);
	s->topic = topic ? strdup(topic) : NULL;
	s->global = topic != NULL;
	if (s->name == NULL || (topic != NULL && s->topic == NULL)) {
		free(s->name);
		free(s->topic);
		return fail(t, SL_ENOMEM);
	}
	t->nstores++;
	return SL_OK;
}

int sl_topology_store(sl_topology *t, const char *name)
{
	return add_store(t, name, NULL);
}

int sl_topology_global_table(sl_topology *t, const char *name,
			     const char *topic)
{
	return add_store(t, name, topic);
}

int sl_topology_store_render(sl_topology *t, const char *store, sl_render_fn fn)
{
	for (int i = 0; i < t->nstores; i++) {
		if (strcmp(t->stores[i].name, store) == 0) {
			t->stores[i].render = fn;
			return SL_OK;
		}
	}
	return fail(t, SL_ENOTFOUND);
}

int sl_topology_step(sl_topology *t, const char *name, sl_step_fn fn, void *ud)
{
	struct topo_step *s;

	if (t->nsteps == TOPO_MAX_STEPS || fn == NULL)
		return fail(t, fn ? SL_ETOOBIG : SL_EINVAL);
	s = &t->steps[t->nsteps];
	s->name = strdup(name);
	if (s->name == NULL)
		return fail(t, SL_ENOMEM);
	s->fn = fn;
	s->ud = ud;
	t->nsteps++;
	return SL_OK;
}

int sl_topology_on_task_init(sl_topology *t, sl_task_init_fn fn, void *ud)
{
	t->init_fn = fn;
	t->init_ud = ud;
	return SL_OK;
}

int sl_topology_sink_topic(sl_topology *t, const char *topic)
{
	if (t->nsinks == TOPO_MAX_SINKS)
		return fail(t, SL_ETOOBIG);
	t->sinks[t->nsinks].topic = strdup(topic);
	if (t->sinks[t->nsinks].topic == NULL)
		return fail(t, SL_ENOMEM);
	t->nsinks++;
	return SL_OK;
}

int sl_topology_output(sl_topology *t, const char *topic)
{
	if (t->noutputs == TOPO_MAX_SINKS)
		return fail(t, SL_ETOOBIG);
	t->outputs[t->noutputs] = strdup(topic);
	if (t->outputs[t->noutputs] == NULL)
		return fail(t, SL_ENOMEM);
	t->noutputs++;
	return SL_OK;
}

int sl_topology_sink_connector(sl_topology *t, const sl_sink_ops *ops,
			       void *self)
{
	if (t->nsinks == TOPO_MAX_SINKS) {
		ops->free(self);
		return fail(t, SL_ETOOBIG);
	}
	t->sinks[t->nsinks].ops = ops;
	t->sinks[t->nsinks].self = self;
	t->nsinks++;
	return SL_OK;
}

static int add_punct(sl_topology *t, const char *name,
		     enum topo_punct_kind kind, sl_punct_fn fn, void *ud,
		     struct topo_punct **out)
{
	struct topo_punct *p;

	if (t->npuncts == TOPO_MAX_PUNCT || fn == NULL)
		return fail(t, fn ? SL_ETOOBIG : SL_EINVAL);
	p = &t->puncts[t->npuncts];
	memset(p, 0, sizeof(*p));
	p->name = strdup(name);
	if (p->name == NULL)
		return fail(t, SL_ENOMEM);
	p->kind = kind;
	p->fn = fn;
	p->ud = ud;
	t->npuncts++;
	*out = p;
	return SL_OK;
}

int sl_topology_punctuate(sl_topology *t, const char *name,
			  enum sl_punct_type type, int64_t interval_ms,
			  sl_punct_fn fn, void *ud)
{
	struct topo_punct *p;
	int rc;

	if (interval_ms <= 0)
		return fail(t, SL_EINVAL);
	rc = add_punct(t, name,
		       type == SL_PUNCT_STREAM_TIME ? TOPO_STREAM : TOPO_WALL,
		       fn, ud, &p);
	if (rc == SL_OK)
		p->interval_ms = interval_ms;
	return rc;
}

int sl_topology_punctuate_daily(sl_topology *t, const char *name,
				const char *hhmm, const char *zone,
				sl_punct_fn fn, void *ud)
{
	struct topo_punct *p;
	int minute, rc;

	if (sl_parse_time_of_day(hhmm, &minute) != SL_OK)
		return fail(t, SL_EINVAL);
	rc = add_punct(t, name, TOPO_DAILY, fn, ud, &p);
	if (rc != SL_OK)
		return rc;
	p->minute = minute;
	p->zone = strdup(zone);
	return p->zone ? SL_OK : fail(t, SL_ENOMEM);
}
