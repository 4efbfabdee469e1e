/* timeutil.c — placeholder; implemented by the time-zone work. */
#include "processor/timeutil.h"

/* TODO: temporary minimal parser until timeutil.c lands. */
int sl_time_parse_rfc3339(const char *s, int64_t *ms)
{
	(void)s;
	(void)ms;
	return SL_EPARSE;
}
