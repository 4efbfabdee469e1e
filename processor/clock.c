/* clock.c — the injectable wall clock of clock.h. */
#include <time.h>

#include "processor/clock.h"

int64_t sl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sl_real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sl_clock_init(sl_clock *c, const sl_config *cfg, sl_errbuf *eb)
{
	int rc;

	c->manual = 0;
	c->is_virtual = 0;
	c->speed = 1.0;
	c->mono0_ms = sl_mono_ms();
	c->start_ms = sl_real_ms();
	rc = sl_config_double(cfg, "clock.speed", &c->speed, eb);
	if (rc != SL_OK && rc != SL_ENOTFOUND)
		return rc;
	if (c->speed <= 0)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "clock.speed: must be > 0");
	c->is_virtual = c->speed != 1.0;
	rc = sl_config_instant_ms(cfg, "clock.start", &c->start_ms, eb);
	if (rc == SL_OK)
		c->is_virtual = 1;
	return rc == SL_ENOTFOUND ? SL_OK : rc;
}

void sl_clock_init_manual(sl_clock *c, int64_t now_ms)
{
	c->manual = 1;
	c->is_virtual = 1;
	c->manual_ms = now_ms;
	c->speed = 1.0;
}

void sl_clock_set(sl_clock *c, int64_t now_ms)
{
	c->manual_ms = now_ms;
}

int64_t sl_clock_now_ms(const sl_clock *c)
{
	if (c->manual)
		return c->manual_ms;
	return c->start_ms +
	       (int64_t)((double)(sl_mono_ms() - c->mono0_ms) * c->speed);
}

int sl_clock_is_virtual(const sl_clock *c)
{
	return c->is_virtual;
}
