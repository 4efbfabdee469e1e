/*
 * batch.h — what the sinks that batch records (ClickHouse, Meta's
 * Conversions API) share: a growable byte buffer, the queue of the
 * records written to a sink, and the log lines at the end of a flush.
 *
 * A queue entry is one record that write() received: a copy of what a
 * dead letter needs (topic, partition, offset, timestamp, key, value),
 * and either the encoder's bytes for it or the reason the encoder
 * refused it.  An entry is pending until the sink settles it (the
 * destination accepted it, or it was dead-lettered); `cursor` is the
 * first entry not settled.  Entries may be settled out of order (a
 * discarded partition).  Once nothing is pending, batch_reset_if_done
 * empties the queue and keeps its memory for the next records.
 *
 * Ownership: a queue owns its entries and buffers (batch_free).  The
 * pointers of batch_record() point into the queue and live until the
 * next push, reset or free.
 */
#ifndef SL_BATCH_H
#define SL_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "processor/err.h"
#include "processor/sl.h"

/*
 * Bytes that grow by doubling.  After any batch_buf_add, p holds len
 * bytes and a NUL (not counted), so text in it is a C string.
 */
typedef struct batch_buf {
	char *p;
	size_t len, cap;
} batch_buf;

/* Append n bytes of d.  SL_OK or SL_ENOMEM (b unchanged). */
int batch_buf_add(batch_buf *b, const void *d, size_t n);

typedef struct batch_entry {
	int32_t partition;
	int settled;
	int64_t offset, timestamp_ms;
	size_t topic_off, key_off, key_len, val_off, val_len; /* in arena */
	size_t enc_off, enc_len; /* in enc; 0 long when refused */
	char *refused;		 /* the encoder's reason, or NULL */
	int64_t tag;		 /* the sink's own (Meta: event_time) */
} batch_entry;

typedef struct batch_queue {
	batch_entry *e;
	size_t n, cap;
	size_t cursor;	 /* entries before it are settled */
	size_t pending;	 /* entries not settled */
	batch_buf arena; /* topics, keys and values, for dead letters */
	batch_buf enc;	 /* the encoded entries, one after the other */
} batch_queue;

/*
 * Queue `rec` with its encoding: `len` bytes of `enc`, then `sep` (""
 * for nothing), appended to q->enc; the entry's enc_len counts both.
 * The new entry (pending), or NULL when out of memory (nothing queued).
 */
batch_entry *batch_push(batch_queue *q, const sl_record *rec, const char *enc,
			size_t len, const char *sep);

/* Queue `rec` as refused by the encoder for `why` (copied); as above. */
batch_entry *batch_push_refused(batch_queue *q, const sl_record *rec,
				const char *why);

/* The record of entry i, as write() received it. */
sl_record batch_record(const batch_queue *q, size_t i);

/* Settle entry i (once); the cursor moves past settled entries. */
void batch_settle(batch_queue *q, size_t i);

/*
 * Dead-letter entry i through io with the reason "<sink>: <why>" and
 * settle it.  SL_OK, or the dead letter's error with eb set (the entry
 * stays pending).
 */
int batch_dead_letter(batch_queue *q, size_t i, sl_sink_io *io,
		      const char *sink, const char *why, sl_errbuf *eb);

/* Settle every pending entry of `partition`, then reset if done. */
void batch_discard(batch_queue *q, int32_t partition);

/* Empty the queue when nothing in it is pending. */
void batch_reset_if_done(batch_queue *q);

/* Free the entries and buffers; q is empty and reusable after. */
void batch_free(batch_queue *q);

/*
 * Fill `out` from the JSON object `in`, which it may take items from;
 * SL_OK, SL_EINVAL with "field: rule" in why, or SL_ENOMEM.
 */
typedef int (*batch_build_fn)(cJSON *in, cJSON *out, void *ud, char *why,
			      size_t why_len);

/*
 * The frame of a sink's encoder: parse `len` bytes of `json` (NULL for
 * none) as an object, build() a new object from it, print that
 * unformatted.  SL_OK with *out (free with cJSON_free) and *out_len;
 * SL_EINVAL with the reason in why ("value: not a JSON object", or
 * build's); SL_ENOMEM with why "out of memory".  *out is NULL and why
 * "" unless said.
 */
int batch_encode_json(const char *json, size_t len, batch_build_fn build,
		      void *ud, char **out, size_t *out_len, char *why,
		      size_t why_len);

/*
 * The end of a flush that returned rc.  Sink ops have no error
 * channel, so the reason is logged here under component `comp`: at
 * WARN when failures start (with `pending` and `reason`), at INFO when
 * they end (with `url`, which must be safe to log); *failing remembers
 * which.  Returns what flush returns: SL_OK, SL_ENOMEM, or
 * SL_ETRANSIENT for any other failure.
 */
int batch_flush_result(const char *comp, int *failing, int rc, size_t pending,
		       const char *reason, const char *url);

#endif
