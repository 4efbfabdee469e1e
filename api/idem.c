/*
 * idem.c — bounded in-memory idempotency table: a chained hash table for
 * lookup and a FIFO list (insertion order) for eviction and expiry.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/idem.h"

struct entry {
	char *key;
	char hash[65];
	int done, status;
	char *body;
	int64_t at;		   /* monotonic ms of idem_begin */
	struct entry *chain;	   /* next in bucket */
	struct entry *prev, *next; /* FIFO, oldest at head */
};

struct idem_cache {
	pthread_mutex_t mu;
	size_t cap, count, nbuckets;
	int64_t ttl_ms;
	struct entry **buckets;
	struct entry *head, *tail;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a. */
static size_t hash_key(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

idem_cache *idem_new(size_t cap, int64_t ttl_ms)
{
	idem_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->cap = cap ? cap : 1;
	c->ttl_ms = ttl_ms;
	c->nbuckets = 1;
	while (c->nbuckets < c->cap)
		c->nbuckets <<= 1;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void entry_free(struct entry *e)
{
	free(e->key);
	free(e->body);
	free(e);
}

void idem_free(idem_cache *c)
{
	struct entry *e, *next;

	if (c == NULL)
		return;
	for (e = c->head; e != NULL; e = next) {
		next = e->next;
		entry_free(e);
	}
	pthread_mutex_destroy(&c->mu);
	free(c->buckets);
	free(c);
}

static struct entry **find_slot(idem_cache *c, const char *key)
{
	struct entry **p = &c->buckets[hash_key(key) & (c->nbuckets - 1)];

	while (*p != NULL && strcmp((*p)->key, key) != 0)
		p = &(*p)->chain;
	return p;
}

/* Unlink from bucket and FIFO, and free. */
static void remove_entry(idem_cache *c, struct entry *e)
{
	struct entry **p = find_slot(c, e->key);

	*p = e->chain;
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	c->count--;
	entry_free(e);
}

/* Drop expired entries, and the oldest while over capacity. */
static void evict(idem_cache *c, int64_t now)
{
	while (c->head != NULL &&
	       (c->count >= c->cap || now - c->head->at > c->ttl_ms))
		remove_entry(c, c->head);
}

enum idem_state idem_begin(idem_cache *c, const char *key, const char *hash,
			   int *status, char **body)
{
	enum idem_state st = IDEM_NEW;
	int64_t now = now_ms();
	struct entry *e;

	*body = NULL;
	pthread_mutex_lock(&c->mu);
	e = *find_slot(c, key);
	if (e != NULL && now - e->at > c->ttl_ms) {
		remove_entry(c, e);
		e = NULL;
	}
	if (e != NULL) {
		if (strcmp(e->hash, hash) != 0) {
			st = IDEM_MISMATCH;
		} else if (!e->done) {
			st = IDEM_BUSY;
		} else {
			st = IDEM_REPLAY;
			*status = e->status;
			*body = strdup(e->body);
		}
		goto out;
	}

	/* Reserve.  Out of memory: answer as if new, just not remembered. */
	evict(c, now);
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->key = strdup(key)) == NULL) {
		free(e);
		goto out;
	}
	snprintf(e->hash, sizeof(e->hash), "%s", hash);
	e->at = now;
	e->chain = c->buckets[hash_key(key) & (c->nbuckets - 1)];
	c->buckets[hash_key(key) & (c->nbuckets - 1)] = e;
	e->prev = c->tail;
	if (c->tail)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	c->count++;
out:
	pthread_mutex_unlock(&c->mu);
	return st;
}

void idem_finish(idem_cache *c, const char *key, int status, const char *body)
{
	struct entry *e;

	pthread_mutex_lock(&c->mu);
	e = *find_slot(c, key);
	if (e != NULL && !e->done) {
		e->body = strdup(body);
		if (e->body == NULL) {
			remove_entry(c, e);
		} else {
			e->status = status;
			e->done = 1;
		}
	}
	pthread_mutex_unlock(&c->mu);
}

void idem_abort(idem_cache *c, const char *key)
{
	struct entry *e;

	pthread_mutex_lock(&c->mu);
	e = *find_slot(c, key);
	if (e != NULL && !e->done)
		remove_entry(c, e);
	pthread_mutex_unlock(&c->mu);
}

size_t idem_count(idem_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->mu);
	n = c->count;
	pthread_mutex_unlock(&c->mu);
	return n;
}
