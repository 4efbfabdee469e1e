/*
 * registry.h — which worker runs which partitions, so that any worker
 * can answer a state query by asking the owner.
 *
 * Every worker announces itself on the compacted topic
 * <application.id>-workers (key: its worker id; value: JSON with its
 * admin URL and, per app, the partitions it runs), when its tasks change
 * and every few seconds; it deletes its entry when it stops.  Every
 * worker reads the whole topic into memory.  Entries not refreshed for
 * REGISTRY_STALE_MS are ignored (a worker killed with -9).
 *
 * Threads: one thread of its own; sl_registry_owner may be called from
 * any thread.
 */
#ifndef SL_REGISTRY_H
#define SL_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "processor/config.h"

#define REGISTRY_STALE_MS 30000

typedef struct sl_registry sl_registry;

/* Returns a malloc'ed JSON object {"<app>":[partitions...]}, or NULL. */
typedef char *(*sl_registry_tasks_fn)(void *ud);

/*
 * Start announcing `self_id` at `admin_url` with the tasks that
 * tasks_fn reports, and reading everyone's announcements.
 */
int sl_registry_start(const sl_config *cfg, const char *self_id,
		      const char *admin_url, sl_registry_tasks_fn tasks_fn,
		      void *ud, sl_registry **out, sl_errbuf *eb);

/*
 * The admin URL of the worker running `partition` of `app`, other than
 * this one, into url (n bytes).  SL_OK or SL_ENOTFOUND.
 */
int sl_registry_owner(sl_registry *r, const char *app, int32_t partition,
		      char *url, size_t n);

/*
 * The partitions of `app` this worker should keep standby replicas of:
 * for each partition another live worker runs, the `replicas` workers
 * that follow the owner in worker-id order keep a copy.  Writes at most
 * max partitions to out; returns how many.
 */
int sl_registry_standbys(sl_registry *r, const char *app, int replicas,
			 int32_t *out, int max);

/* Withdraw this worker's entry and stop. NULL is a no-op. */
void sl_registry_stop(sl_registry *r);

#endif
