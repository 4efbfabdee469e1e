/*
 * batch.c — the buffer and record queue of the batching sinks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/batch.h"
#include "processor/log.h"

int batch_buf_add(batch_buf *b, const void *d, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->len + n + 1 > b->cap) {
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL)
			return SL_ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
	return SL_OK;
}

/* Copy what a dead letter needs of `rec` into the arena. */
static int keep_record(batch_queue *q, batch_entry *e, const sl_record *rec)
{
	const char *topic = rec->topic != NULL ? rec->topic : "";

	e->partition = rec->partition;
	e->offset = rec->offset;
	e->timestamp_ms = rec->timestamp_ms;
	e->topic_off = q->arena.len;
	if (batch_buf_add(&q->arena, topic, strlen(topic) + 1) != SL_OK)
		return SL_ENOMEM;
	e->key_off = q->arena.len;
	e->key_len = rec->key.len;
	if (batch_buf_add(&q->arena, rec->key.data, rec->key.len) != SL_OK)
		return SL_ENOMEM;
	e->val_off = q->arena.len;
	e->val_len = rec->value.len;
	return batch_buf_add(&q->arena, rec->value.data, rec->value.len);
}

/*
 * A new entry at q->n with the record kept, not yet counted: the push
 * counts it once its encoding is in, or takes back what it added.
 */
static batch_entry *entry_new(batch_queue *q, const sl_record *rec)
{
	batch_entry *e;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 1024;
		batch_entry *es = realloc(q->e, cap * sizeof(*es));

		if (es == NULL)
			return NULL;
		q->e = es;
		q->cap = cap;
	}
	e = &q->e[q->n];
	memset(e, 0, sizeof(*e));
	if (keep_record(q, e, rec) != SL_OK) {
		q->arena.len = e->topic_off;
		return NULL;
	}
	return e;
}

batch_entry *batch_push(batch_queue *q, const sl_record *rec, const char *enc,
			size_t len, const char *sep)
{
	batch_entry *e = entry_new(q, rec);
	size_t seplen = strlen(sep);

	if (e == NULL)
		return NULL;
	e->enc_off = q->enc.len;
	e->enc_len = len + seplen;
	if (batch_buf_add(&q->enc, enc, len) != SL_OK ||
	    batch_buf_add(&q->enc, sep, seplen) != SL_OK) {
		q->enc.len = e->enc_off;
		q->arena.len = e->topic_off;
		return NULL;
	}
	q->n++;
	q->pending++;
	return e;
}

batch_entry *batch_push_refused(batch_queue *q, const sl_record *rec,
				const char *why)
{
	batch_entry *e = entry_new(q, rec);

	if (e == NULL)
		return NULL;
	e->enc_off = q->enc.len;
	e->refused = strdup(why);
	if (e->refused == NULL) {
		q->arena.len = e->topic_off;
		return NULL;
	}
	q->n++;
	q->pending++;
	return e;
}

sl_record batch_record(const batch_queue *q, size_t i)
{
	const batch_entry *e = &q->e[i];
	sl_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.topic = q->arena.p + e->topic_off;
	rec.partition = e->partition;
	rec.offset = e->offset;
	rec.timestamp_ms = e->timestamp_ms;
	rec.key.data = q->arena.p + e->key_off;
	rec.key.len = e->key_len;
	rec.value.data = q->arena.p + e->val_off;
	rec.value.len = e->val_len;
	return rec;
}

void batch_settle(batch_queue *q, size_t i)
{
	if (q->e[i].settled)
		return;
	q->e[i].settled = 1;
	q->pending--;
	while (q->cursor < q->n && q->e[q->cursor].settled)
		q->cursor++;
}

int batch_dead_letter(batch_queue *q, size_t i, sl_sink_io *io,
		      const char *sink, const char *why, sl_errbuf *eb)
{
	sl_record rec = batch_record(q, i);
	char reason[600];
	int rc;

	snprintf(reason, sizeof(reason), "%s: %s", sink, why);
	rc = io->dead_letter(io, &rec, reason);
	if (rc != SL_OK)
		return sl_errbuf_set(eb, rc, "dead letter failed: %s",
				     sl_strerror(rc));
	batch_settle(q, i);
	return SL_OK;
}

void batch_discard(batch_queue *q, int32_t partition)
{
	for (size_t i = q->cursor; i < q->n; i++)
		if (q->e[i].partition == partition)
			batch_settle(q, i);
	batch_reset_if_done(q);
}

void batch_reset_if_done(batch_queue *q)
{
	if (q->pending != 0)
		return;
	for (size_t i = 0; i < q->n; i++)
		free(q->e[i].refused);
	q->n = q->cursor = 0;
	q->arena.len = q->enc.len = 0;
}

void batch_free(batch_queue *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->e[i].refused);
	free(q->e);
	free(q->arena.p);
	free(q->enc.p);
	memset(q, 0, sizeof(*q));
}

int batch_encode_json(const char *json, size_t len, batch_build_fn build,
		      void *ud, char **out, size_t *out_len, char *why,
		      size_t why_len)
{
	cJSON *in = NULL, *obj = NULL;
	int rc;

	*out = NULL;
	*out_len = 0;
	why[0] = '\0';
	in = json != NULL ? cJSON_ParseWithLength(json, len) : NULL;
	if (!cJSON_IsObject(in)) {
		snprintf(why, why_len, "value: not a JSON object");
		rc = SL_EINVAL;
		goto out;
	}
	obj = cJSON_CreateObject();
	if (obj == NULL) {
		rc = SL_ENOMEM;
		goto out;
	}
	rc = build(in, obj, ud, why, why_len);
	if (rc != SL_OK)
		goto out;

	*out = cJSON_PrintUnformatted(obj);
	if (*out == NULL) {
		rc = SL_ENOMEM;
		goto out;
	}
	*out_len = strlen(*out);
out:
	if (rc == SL_ENOMEM)
		snprintf(why, why_len, "out of memory");
	cJSON_Delete(in);
	cJSON_Delete(obj);
	return rc;
}

int batch_flush_result(const char *comp, int *failing, int rc, size_t pending,
		       const char *reason, const char *url)
{
	if (rc != SL_OK) {
		if (!*failing)
			SL_WARN(comp,
				"flush failed, will retry err=%s pending=%zu "
				"reason=\"%s\"",
				sl_errname(rc), pending, reason);
		*failing = 1;
		return rc == SL_ENOMEM ? rc : SL_ETRANSIENT;
	}
	if (*failing)
		SL_INFO(comp, "flush recovered url=%s", url);
	*failing = 0;
	return SL_OK;
}
