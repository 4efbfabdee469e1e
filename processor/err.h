/*
 * err.h — the one error type of Sluice.
 *
 * Every fallible function returns an `int`: SL_OK (0) or a negative
 * SL_E* code from the table below.  The table gives each code its name
 * and message; errors of LMDB, libpq, libcurl and librdkafka are mapped
 * into it at the edge, and the library's own message is kept by the
 * caller (for example in an sl_errbuf) when it matters.
 */
#ifndef SL_ERR_H
#define SL_ERR_H

#include <stddef.h>

/* X(NAME, message) — order is the ABI: codes are -(index). */
#define SL_ERR_MAP(X)                                                          \
	X(OK, "success")                                                       \
	X(NOMEM, "out of memory")                                              \
	X(INVAL, "invalid argument")                                           \
	X(NOTFOUND, "not found")                                               \
	X(EXISTS, "already exists")                                            \
	X(IO, "input/output error")                                            \
	X(CONFIG, "bad configuration")                                         \
	X(PARSE, "malformed input")                                            \
	X(TOOBIG, "too large")                                                 \
	X(KAFKA, "kafka error")                                                \
	X(FENCED, "producer fenced by a newer instance")                       \
	X(STORE, "state store error")                                          \
	X(PG, "postgresql error")                                              \
	X(HTTP, "http error")                                                  \
	X(TRANSIENT, "transient failure, retry later")                         \
	X(PERMANENT, "permanent failure, do not retry")                        \
	X(TIMEOUT, "timed out")                                                \
	X(STATE, "operation not valid in this state")                          \
	X(UNAVAIL, "service unavailable")                                      \
	X(STOPPED, "stopped")

#define SL_ERR_ENUM_(name, msg) SL_E##name##_INDEX_,
enum {
	SL_ERR_MAP(SL_ERR_ENUM_) SL_ERR_COUNT_
};
#undef SL_ERR_ENUM_

#define SL_ERR_CODE_(name, msg) SL_E##name = -SL_E##name##_INDEX_,
enum sl_err {
	SL_ERR_MAP(SL_ERR_CODE_)
};
#undef SL_ERR_CODE_

#define SL_OK SL_EOK

/* Name ("SL_ENOMEM") and message of a code; never NULL. */
const char *sl_errname(int err);
const char *sl_strerror(int err);

/*
 * A fixed buffer for the detail of the last failure, kept by a handle
 * (SQLite keeps its message on the handle the same way).  sl_errbuf_set
 * formats into it and returns `err` so callers can write
 *	return sl_errbuf_set(&h->eb, SL_EPG, "connect: %s", msg);
 */
typedef struct sl_errbuf {
	char msg[512];
} sl_errbuf;

int sl_errbuf_set(sl_errbuf *eb, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
