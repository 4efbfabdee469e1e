/*
 * clickhouse_int.h — internals of the ClickHouse sink, shared with its
 * unit tests and test tools.  The runtime and topologies use only
 * connectors/clickhouse.h.
 */
#ifndef SL_CLICKHOUSE_INT_H
#define SL_CLICKHOUSE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/clickhouse.h"
#include "connectors/httpc.h"

#define CH_TABLE "journey_events"
#define CH_VIEW "journey_events_dedup"

/* What a ClickHouse reply means for the rows that were sent. */
enum ch_class {
	CH_ACCEPTED,  /* HTTP 200, no exception: the rows are in */
	CH_TRANSIENT, /* try the same rows again later */
	CH_DATA,      /* the rows are at fault: find and dead-letter them */
	CH_CONFIG,    /* our setup is at fault (table, auth): retry later */
};

typedef struct ch_verdict {
	enum ch_class cls;
	int code;      /* ClickHouse's "Code: NN", 0 when absent */
	long row;      /* "(at row N)", 1-based in the request; 0 if absent */
	char msg[400]; /* ClickHouse's message on one line, or "" */
} ch_verdict;

/*
 * Classify a reply: HTTP status and body (NUL-terminated, `len` bytes).
 * ClickHouse 18.16 sends no exception-code header and answers 500 for
 * data errors, so the class comes from the body's "Code: NN" first
 * and from the status only when there is no code.
 */
void ch_classify(long status, const char *body, size_t len, ch_verdict *v);

/*
 * The class of an exception code alone: CH_DATA, CH_CONFIG or
 * CH_TRANSIENT (unknown codes are transient: never drop data on a
 * guess).
 */
enum ch_class ch_code_class(int code);

/*
 * Encode one enriched journey event (`len` bytes of JSON) as one
 * JSONEachRow line holding exactly the table's columns, without the
 * newline.  Times become Unix seconds; fields the table lacks are
 * dropped; kafka_partition/kafka_offset come from the event when it
 * carries them, else from `partition`/`offset`; ingested_at is
 * `ingested_s`.
 *
 * A string column whose field is not a JSON string, or a number column
 * whose field is not a JSON number, is sent as it is and ClickHouse
 * judges it.  The encoder itself refuses what ClickHouse would accept
 * wrongly: a missing or empty event_id, an occurred_at that is not RFC
 * 3339 or Unix seconds in DateTime's range, integers outside their
 * column's range (18.16 silently wraps them).
 *
 * SL_OK and *line (free with cJSON_free) and *line_len, SL_EINVAL with
 * the reason ("field: rule") in `why`, or SL_ENOMEM.
 */
int ch_encode_row(const char *json, size_t len, int32_t partition,
		  int64_t offset, int64_t ingested_s, char **line,
		  size_t *line_len, char *why, size_t why_len);

/* One HTTP exchange and the transport, as connectors/httpc.h has them. */
typedef httpc_reply ch_reply;
typedef httpc_post_fn ch_post_fn;

/* Replace the sink's HTTP transport (tests); the sink must not be dry. */
void ch_sink_set_transport(void *self, ch_post_fn fn, void *ud);
/* Tests: the server's version as `SELECT version()` would answer. */
void ch_sink_set_server_version(void *self, const char *version);

/* 1 when version string v ("22.2.1.1") is at least major.minor. */
int ch_version_at_least(const char *v, int major, int minor);
/* The insert_deduplication_token of a partition's offset range. */
int ch_dedup_token(const char *topic, int32_t partition, int64_t first,
		   int64_t last, char *out, size_t n);

typedef struct ch_stats {
	uint64_t requests;     /* INSERTs sent (or written, when dry) */
	uint64_t rows_sent;    /* rows ClickHouse accepted */
	uint64_t bytes_sent;   /* body bytes of accepted INSERTs */
	uint64_t dead_letters; /* rows dead-lettered */
	uint64_t failures;     /* flushes that returned an error */
} ch_stats;

void ch_sink_stats(void *self, ch_stats *out);

/* The most recent failure's message ("" if none); lives with the sink. */
const char *ch_sink_last_error(void *self);

/* 1 when the sink is writing to a dry-run file instead of ClickHouse. */
int ch_sink_is_dry(void *self);

#endif
