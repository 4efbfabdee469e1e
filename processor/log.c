/* log.c — the leveled logger of log.h. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "processor/log.h"

int sl_log_level = SL_LOG_INFO;

static const char *const level_names[] = { "DEBUG", "INFO ", "WARN ", "ERROR" };
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void sl_log_write(int level, const char *component, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     level_names[level < 0   ? 0
				 : level > 3 ? 3
					     : level],
		     component);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);

	/* One write per line so lines from threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fputs(line, stderr);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_lock);
}

int sl_log_set_level(const char *name)
{
	static const char *const names[] = { "debug", "info", "warn", "error",
					     "off" };

	for (int i = 0; i < 5; i++) {
		if (strcasecmp(name, names[i]) == 0) {
			sl_log_level = i;
			return 0;
		}
	}
	return -1;
}

void sl_panic(const char *file, int line, const char *what)
{
	fprintf(stderr, "PANIC %s:%d: assertion failed: %s\n", file, line,
		what);
	abort();
}

char *sl_mask_phone(const char *phone, char *out, size_t n)
{
	size_t len, keep_head, i, o = 0;

	if (n == 0)
		return out;
	if (phone == NULL) {
		snprintf(out, n, "-");
		return out;
	}
	len = strlen(phone);
	keep_head = (len > 6 && phone[0] == '+') ? 3 : 0;
	for (i = 0; i < len && o + 1 < n; i++) {
		int keep = i < keep_head || i + 2 >= len;

		out[o++] = keep ? phone[i] : '*';
	}
	out[o] = '\0';
	return out;
}
