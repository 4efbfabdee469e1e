/*
 * log.h — one leveled logger for the whole binary.
 *
 * One line per event on stderr:
 *	2026-12-04T16:20:01.123Z INFO  worker: task assigned topic=x partition=3
 * The message is a short phrase; details follow as key=value pairs.
 * SL_LOG checks the level before any formatting is done.  Libraries
 * (state/, connectors/) return errors; the runtime decides what to log.
 * Never pass a raw phone number or a secret: use sl_mask_phone().
 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stddef.h>

enum sl_log_level {
	SL_LOG_DEBUG = 0,
	SL_LOG_INFO = 1,
	SL_LOG_WARN = 2,
	SL_LOG_ERROR = 3,
	SL_LOG_OFF = 4,
};

extern int sl_log_level;

void sl_log_write(int level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set the level from a name (debug, info, warn, error, off). */
int sl_log_set_level(const char *name);

#define SL_LOG(level, comp, ...)                                               \
	do {                                                                   \
		if ((level) >= sl_log_level)                                   \
			sl_log_write((level), (comp), __VA_ARGS__);            \
	} while (0)

#define SL_DEBUG(comp, ...) SL_LOG(SL_LOG_DEBUG, comp, __VA_ARGS__)
#define SL_INFO(comp, ...) SL_LOG(SL_LOG_INFO, comp, __VA_ARGS__)
#define SL_WARN(comp, ...) SL_LOG(SL_LOG_WARN, comp, __VA_ARGS__)
#define SL_ERROR(comp, ...) SL_LOG(SL_LOG_ERROR, comp, __VA_ARGS__)

/* Abort with file and line when an invariant breaks. */
#define SL_ASSERT(cond)                                                        \
	do {                                                                   \
		if (!(cond))                                                   \
			sl_panic(__FILE__, __LINE__, #cond);                   \
	} while (0)

_Noreturn void sl_panic(const char *file, int line, const char *what);

/*
 * Mask a phone number for logs: keeps the country prefix and the last
 * two digits ("+91******10").  Writes at most `n` bytes to `out`,
 * always terminated; returns `out`.
 */
char *sl_mask_phone(const char *phone, char *out, size_t n);

#endif
