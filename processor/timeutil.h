/*
 * timeutil.h — instants, RFC 3339 and IANA time zones, without TZ.
 *
 * Instants are milliseconds since the Unix epoch, UTC.  Zones are read
 * from the system's TZif files (/usr/share/zoneinfo, or $TZDIR), never
 * through the process-global TZ variable, so they are thread-safe and
 * do not depend on the host's TZ.
 */
#ifndef SL_TIMEUTIL_H
#define SL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "processor/err.h"

/*
 * Parse an RFC 3339 date-time with a mandatory offset ("Z", "+05:30",
 * "-04:00"), optional fraction (truncated to ms).  SL_OK or SL_EPARSE.
 * Rejects impossible dates (Feb 30), hours > 23, missing offset.
 */
int sl_time_parse_rfc3339(const char *s, int64_t *ms);

/* "2026-12-04T16:20:01.123Z"; out must hold 32 bytes. */
void sl_time_format_rfc3339(int64_t ms, char *out);

/* Days since 1970-01-01 of a civil date, and back. */
int64_t sl_days_from_civil(int y, int m, int d);
void sl_civil_from_days(int64_t days, int *y, int *m, int *d);

/* Floor division for negative instants. */
int64_t sl_floor_div(int64_t a, int64_t b);

typedef struct sl_tz sl_tz;

/*
 * Load an IANA zone by name ("Asia/Kolkata", "UTC").  SL_OK and *out,
 * SL_ENOTFOUND for an unknown zone, SL_EPARSE for a damaged file.
 * Free with sl_tz_free.
 */
int sl_tz_load(const char *name, sl_tz **out, sl_errbuf *eb);
void sl_tz_free(sl_tz *tz);
const char *sl_tz_name(const sl_tz *tz);

/* UTC offset in seconds in force at instant t (seconds). */
int32_t sl_tz_offset(const sl_tz *tz, int64_t t);

/* Local civil date at instant t (seconds). */
void sl_tz_local_date(const sl_tz *tz, int64_t t, int *y, int *m, int *d);

/* "YYYY-MM-DD" local date at instant t (seconds); out holds 11 bytes. */
void sl_tz_local_date_str(const sl_tz *tz, int64_t t, char *out);

/* Minutes since local midnight at instant t (seconds). */
int sl_tz_local_minute(const sl_tz *tz, int64_t t);

/*
 * The instant (seconds) at which the local clock reads y-m-d at
 * `minute` minutes after midnight.  In a gap (spring forward) the
 * wall time does not exist: returns the instant of the transition
 * (so 02:30 on a US spring-forward day gives 03:00 EDT, the
 * first valid local time after it).  In an overlap (fall back)
 * returns the first occurrence.
 */
int64_t sl_tz_local_to_utc(const sl_tz *tz, int y, int m, int d, int minute);

/* The next instant (seconds) strictly after t at local time `minute`. */
int64_t sl_tz_next_daily(const sl_tz *tz, int minute, int64_t t);

#endif
