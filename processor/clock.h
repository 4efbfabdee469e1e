/*
 * clock.h — the injectable wall clock of a worker.
 *
 * With clock.start unset and clock.speed 1 it is the system clock.
 * clock.start (RFC 3339) makes it start at that instant; clock.speed
 * makes it run that many times faster.  Tests may also drive a manual
 * clock with sl_clock_set.  Reads are thread-safe.
 */
#ifndef SL_CLOCK_H
#define SL_CLOCK_H

#include <stdint.h>

#include "processor/config.h"

typedef struct sl_clock {
	int64_t start_ms; /* clock time at mono0 */
	int64_t mono0_ms;
	double speed;
	int manual;
	int is_virtual; /* clock.start or clock.speed set */
	volatile int64_t manual_ms;
} sl_clock;

/* From clock.start and clock.speed; SL_ECONFIG on a bad value. */
int sl_clock_init(sl_clock *c, const sl_config *cfg, sl_errbuf *eb);
void sl_clock_init_manual(sl_clock *c, int64_t now_ms);
void sl_clock_set(sl_clock *c, int64_t now_ms);
int64_t sl_clock_now_ms(const sl_clock *c);
/* 1 when the clock is not the system clock. */
int sl_clock_is_virtual(const sl_clock *c);

int64_t sl_mono_ms(void);
int64_t sl_real_ms(void);

#endif
