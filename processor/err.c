/* err.c — names and messages of the error table in err.h. */
#include <stdarg.h>
#include <stdio.h>

#include "processor/err.h"

#define SL_ERR_NAME_(name, msg) "SL_E" #name,
#define SL_ERR_MSG_(name, msg) msg,
static const char *const names[] = { SL_ERR_MAP(SL_ERR_NAME_) };
static const char *const msgs[] = { SL_ERR_MAP(SL_ERR_MSG_) };

static int index_of(int err)
{
	int i = -err;

	return (i >= 0 && i < SL_ERR_COUNT_) ? i : -1;
}

const char *sl_errname(int err)
{
	int i = index_of(err);

	return i < 0 ? "SL_E?" : names[i];
}

const char *sl_strerror(int err)
{
	int i = index_of(err);

	return i < 0 ? "unknown error" : msgs[i];
}

int sl_errbuf_set(sl_errbuf *eb, int err, const char *fmt, ...)
{
	va_list ap;

	if (eb == NULL)
		return err;
	va_start(ap, fmt);
	vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
	va_end(ap);
	return err;
}
