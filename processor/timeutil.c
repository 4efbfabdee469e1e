/*
 * timeutil.c — instants, RFC 3339, and IANA zones read from TZif files.
 *
 * A zone is read once into an immutable sl_tz, so it can be shared by
 * threads without locks.  It holds the 64-bit transition table of the
 * TZif file (RFC 8536, versions 2 and later; version 1 files are read
 * from their 32-bit table) and the POSIX TZ string of the footer, which
 * gives local time after the last transition.  Debian ships "slim"
 * files whose table ends in 2007 for America/New_York, so the footer is
 * not an afterthought: it is most of today's time.
 *
 * Neither TZ nor localtime()/mktime() is used: they read process-global
 * state.  Leap-second zones (the right/ tree) are refused: Sluice
 * counts POSIX time, where a day is always 86400 seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "processor/timeutil.h"

#define DAY 86400
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_MAX_FILE (1024 * 1024)
#define TZ_MAX_NAME 255
#define TZ_MAX_TYPES 256
#define TZ_MAX_UTOFF (26 * 3600)
/* Instants past this (about 31 million years) are clamped. */
#define TZ_T_LIMIT ((int64_t)1000000000000000)

static const char tz_oom[] = "out of memory";

/* ---- Calendar arithmetic ---------------------------------------------- */

int64_t sl_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b != 0 && (a < 0) != (b < 0))
		q--;
	return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - sl_floor_div(a, b) * b;
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int len[12] = { 31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/*
 * Both directions count years from 1 March, so that the leap day is the
 * last day of its year, in 400-year eras of 146097 days.  Day 0 of era
 * 0 is 0000-03-01, which is 719468 days before 1970-01-01.
 */
int64_t sl_days_from_civil(int y, int m, int d)
{
	int64_t yr = (int64_t)y - (m <= 2 ? 1 : 0);
	int64_t era = sl_floor_div(yr, 400);
	int64_t yoe = yr - era * 400;
	int64_t mon = m > 2 ? m - 3 : m + 9;
	int64_t doy = (153 * mon + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

void sl_civil_from_days(int64_t days, int *y, int *m, int *d)
{
	int64_t z = days + 719468;
	int64_t era = sl_floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (yoe * 365 + yoe / 4 - yoe / 100);
	int64_t mon = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mon + 2) / 5 + 1);
	*m = (int)(mon < 10 ? mon + 3 : mon - 9);
	*y = (int)(era * 400 + yoe + (*m <= 2 ? 1 : 0));
}

static int64_t clamp_t(int64_t t)
{
	if (t > TZ_T_LIMIT)
		return TZ_T_LIMIT;
	if (t < -TZ_T_LIMIT)
		return -TZ_T_LIMIT;
	return t;
}

/* ---- RFC 3339 --------------------------------------------------------- */

/* Exactly n ASCII digits; advances *p. */
static int take_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return 0;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 1;
}

static int take_char(const char **p, char a, char b)
{
	if (**p != a && **p != b)
		return 0;
	(*p)++;
	return 1;
}

/* "Z", "z" or "+HH:MM" / "-HH:MM" into seconds east of UTC. */
static int take_offset(const char **p, int *off)
{
	int sign, hh, mm;

	if (take_char(p, 'Z', 'z')) {
		*off = 0;
		return 1;
	}
	if (**p != '+' && **p != '-')
		return 0;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!take_digits(p, 2, &hh) || !take_char(p, ':', ':') ||
	    !take_digits(p, 2, &mm) || hh > 23 || mm > 59)
		return 0;
	*off = sign * (hh * 3600 + mm * 60);
	return 1;
}

/* Optional ".d+", truncated to milliseconds. */
static int take_fraction(const char **p, int *ms)
{
	int n = 0;

	*ms = 0;
	if (**p != '.')
		return 1;
	(*p)++;
	while (**p >= '0' && **p <= '9') {
		if (n < 3)
			*ms = *ms * 10 + (**p - '0');
		n++;
		(*p)++;
	}
	for (int i = n; i < 3; i++)
		*ms *= 10;
	return n > 0;
}

/*
 * A leap second (":60") is refused: it cannot be told apart from the
 * next second in POSIX time, and no event source here produces one.
 */
int sl_time_parse_rfc3339(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac, off;
	const char *p = s;
	int64_t secs;

	if (s == NULL)
		return SL_EPARSE;

	/* Fields, in order, with their separators. */
	if (!take_digits(&p, 4, &y) || !take_char(&p, '-', '-') ||
	    !take_digits(&p, 2, &mo) || !take_char(&p, '-', '-') ||
	    !take_digits(&p, 2, &d) || !take_char(&p, 'T', 't') ||
	    !take_digits(&p, 2, &h) || !take_char(&p, ':', ':') ||
	    !take_digits(&p, 2, &mi) || !take_char(&p, ':', ':') ||
	    !take_digits(&p, 2, &sec) || !take_fraction(&p, &frac) ||
	    !take_offset(&p, &off) || *p != '\0')
		return SL_EPARSE;

	/* Ranges: a real date and a real time of day. */
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 59)
		return SL_EPARSE;

	secs = sl_days_from_civil(y, mo, d) * DAY + h * 3600 + mi * 60 + sec;
	*ms = (secs - off) * 1000 + frac;
	return SL_OK;
}

void sl_time_format_rfc3339(int64_t ms, char *out)
{
	int64_t secs = sl_floor_div(ms, 1000);
	int64_t days = sl_floor_div(secs, DAY);
	int sod = (int)(secs - days * DAY);
	int y, m, d;

	sl_civil_from_days(days, &y, &m, &d);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
		 sod / 3600, sod / 60 % 60, sod % 60, (int)floor_mod(ms, 1000));
}

/* ---- Zones ------------------------------------------------------------ */

/* A rule date of a POSIX TZ string: Jn, n or Mm.w.d, at `secs`. */
struct tz_date {
	char kind;    /* 'J' (1-365, no leap day), 'N' (0-365), 'M' */
	int n;	      /* day for J and N; month for M */
	int week;     /* M: 1-5, 5 meaning the last */
	int wday;     /* M: 0 (Sunday) - 6 */
	int32_t secs; /* local time of day, may be negative or past 24h */
};

/* The footer rule; offsets are seconds east of UTC. */
struct tz_rule {
	int32_t std_off;
	int32_t dst_off;
	int has_dst;
	struct tz_date start; /* DST starts, in standard time */
	struct tz_date end;   /* DST ends, in daylight time */
};

struct sl_tz {
	char *name;
	size_t ntrans;
	int64_t *trans;	     /* ascending instants */
	uint8_t *trans_type; /* index into type_off for each transition */
	size_t ntypes;
	int32_t *type_off;
	int has_rule;
	struct tz_rule rule;
};

/* The day (since the epoch) a rule date falls on in year y. */
static int64_t rule_day(const struct tz_date *r, int y)
{
	int64_t jan1 = sl_days_from_civil(y, 1, 1);
	int64_t first, day;

	if (r->kind == 'J')
		return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60 ? 1 : 0);
	if (r->kind == 'N')
		return jan1 + r->n;

	/* 1970-01-01 was a Thursday (4). */
	first = sl_days_from_civil(y, r->n, 1);
	day = first + floor_mod(r->wday - floor_mod(first + 4, 7), 7);
	day += 7 * (r->week - 1);
	while (day >= first + days_in_month(y, r->n))
		day -= 7;
	return day;
}

/*
 * Daylight time runs from `start` (a standard-time wall clock) to `end`
 * (a daylight-time wall clock).  In the southern hemisphere, and for
 * Dublin's negative DST, start comes after end within a year.
 */
static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
	int64_t s, e;
	int y, m, d, dst;

	if (!r->has_dst)
		return r->std_off;
	sl_civil_from_days(sl_floor_div(t + r->std_off, DAY), &y, &m, &d);
	s = rule_day(&r->start, y) * DAY + r->start.secs - r->std_off;
	e = rule_day(&r->end, y) * DAY + r->end.secs - r->dst_off;
	if (s < e)
		dst = t >= s && t < e;
	else
		dst = !(t >= e && t < s);
	return dst ? r->dst_off : r->std_off;
}

int32_t sl_tz_offset(const sl_tz *tz, int64_t t)
{
	size_t lo = 0, hi;

	if (tz->ntrans == 0)
		return tz->has_rule ? rule_offset(&tz->rule, t)
				    : tz->type_off[0];
	if (t < tz->trans[0])
		return tz->type_off[0];
	if (t > tz->trans[tz->ntrans - 1] && tz->has_rule)
		return rule_offset(&tz->rule, t);

	/* The last transition at or before t. */
	hi = tz->ntrans;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return tz->type_off[tz->trans_type[lo]];
}

const char *sl_tz_name(const sl_tz *tz)
{
	return tz->name;
}

/* Local seconds since the epoch at instant t. */
static int64_t local_secs(const sl_tz *tz, int64_t t)
{
	t = clamp_t(t);
	return t + sl_tz_offset(tz, t);
}

void sl_tz_local_date(const sl_tz *tz, int64_t t, int *y, int *m, int *d)
{
	sl_civil_from_days(sl_floor_div(local_secs(tz, t), DAY), y, m, d);
}

void sl_tz_local_date_str(const sl_tz *tz, int64_t t, char *out)
{
	int y, m, d;

	sl_tz_local_date(tz, t, &y, &m, &d);
	snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}

int sl_tz_local_minute(const sl_tz *tz, int64_t t)
{
	return (int)(floor_mod(local_secs(tz, t), DAY) / 60);
}

/*
 * Every instant whose wall clock reads `wall` is wall - o for an offset
 * o in force then, and |o| < 26 h; the offsets in force a day either
 * side of wall cover them (zones do not change twice within two days).
 * No match means a gap: the answer is the transition that opened it,
 * found by bisection between the instants the two offsets point to.
 */
int64_t sl_tz_local_to_utc(const sl_tz *tz, int y, int m, int d, int minute)
{
	int64_t wall = sl_days_from_civil(y, m, d) * DAY + (int64_t)minute * 60;
	int32_t cand[3], lo_off, hi_off, want;
	int64_t best = 0, lo, hi;
	int found = 0;

	wall = clamp_t(wall);
	cand[0] = sl_tz_offset(tz, wall - TZ_MAX_UTOFF);
	cand[1] = sl_tz_offset(tz, wall);
	cand[2] = sl_tz_offset(tz, wall + TZ_MAX_UTOFF);

	/* The earliest instant that reads `wall`. */
	for (int i = 0; i < 3; i++) {
		int64_t t = wall - cand[i];

		if (sl_tz_offset(tz, t) == cand[i] && (!found || t < best)) {
			best = t;
			found = 1;
		}
	}
	if (found)
		return best;

	/* A gap: the first instant after it. */
	lo_off = hi_off = cand[0];
	for (int i = 1; i < 3; i++) {
		lo_off = cand[i] < lo_off ? cand[i] : lo_off;
		hi_off = cand[i] > hi_off ? cand[i] : hi_off;
	}
	lo = wall - hi_off;
	hi = wall - lo_off;
	want = sl_tz_offset(tz, hi);
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		if (sl_tz_offset(tz, mid) == want)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

int64_t sl_tz_next_daily(const sl_tz *tz, int minute, int64_t t)
{
	int64_t day, cand = 0;
	int y, m, d;

	minute = (int)floor_mod(minute, 24 * 60);
	t = clamp_t(t);
	day = sl_floor_div(local_secs(tz, t), DAY);

	/*
	 * Today's time, else tomorrow's.  A day of the zone is never
	 * shorter than a few hours, so the third try always succeeds.
	 */
	for (int i = 0; i < 3; i++) {
		sl_civil_from_days(day + i, &y, &m, &d);
		cand = sl_tz_local_to_utc(tz, y, m, d, minute);
		if (cand > t)
			break;
	}
	return cand;
}

/* ---- POSIX TZ strings (the TZif footer) -------------------------------- */

/* "EST" or "<+0530>"; skips it. */
static int tzs_name(const char **p)
{
	const char *s = *p;
	size_t n = 0;

	if (*s == '<') {
		for (s++; s[n] != '>'; n++)
			if (s[n] != '+' && s[n] != '-' &&
			    !(s[n] >= '0' && s[n] <= '9') &&
			    !(s[n] >= 'A' && s[n] <= 'Z') &&
			    !(s[n] >= 'a' && s[n] <= 'z'))
				return 0;
		*p = s + n + 1;
		return n >= 3;
	}
	while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z'))
		n++;
	*p = s + n;
	return n >= 3;
}

/* [+-]h[h[h]][:mm[:ss]] with hours up to max_h; signed seconds. */
static int tzs_hms(const char **p, int max_h, int32_t *out)
{
	const char *s = *p;
	int sign = 1, h = 0, mm = 0, ss = 0, n = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	while (*s >= '0' && *s <= '9' && n < 3) {
		h = h * 10 + (*s++ - '0');
		n++;
	}
	if (n == 0 || h > max_h)
		return 0;
	if (*s == ':') {
		s++;
		if (!take_digits(&s, 2, &mm) || mm > 59)
			return 0;
		if (*s == ':') {
			s++;
			if (!take_digits(&s, 2, &ss) || ss > 59)
				return 0;
		}
	}
	*p = s;
	*out = sign * (h * 3600 + mm * 60 + ss);
	return 1;
}

/* An unsigned decimal number in [lo, hi]. */
static int tzs_num(const char **p, int lo, int hi, int *out)
{
	int v = 0, n = 0;

	while (**p >= '0' && **p <= '9' && n < 4) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	*out = v;
	return n > 0 && v >= lo && v <= hi;
}

/* ",date[/time]" */
static int tzs_date(const char **p, struct tz_date *r)
{
	if (**p != ',')
		return 0;
	(*p)++;
	memset(r, 0, sizeof(*r));
	if (**p == 'J') {
		(*p)++;
		r->kind = 'J';
		if (!tzs_num(p, 1, 365, &r->n))
			return 0;
	} else if (**p == 'M') {
		(*p)++;
		r->kind = 'M';
		if (!tzs_num(p, 1, 12, &r->n) || !take_char(p, '.', '.') ||
		    !tzs_num(p, 1, 5, &r->week) || !take_char(p, '.', '.') ||
		    !tzs_num(p, 0, 6, &r->wday))
			return 0;
	} else {
		r->kind = 'N';
		if (!tzs_num(p, 0, 365, &r->n))
			return 0;
	}
	r->secs = 2 * 3600;
	if (**p == '/') {
		(*p)++;
		/* RFC 8536 extends the hours to -167..167. */
		if (!tzs_hms(p, 167, &r->secs))
			return 0;
	}
	return 1;
}

/*
 * "EST5EDT,M3.2.0,M11.1.0", "IST-5:30", "<+0530>-5:30".  POSIX offsets
 * count hours west of Greenwich, so their sign is flipped here.
 */
static int tzs_parse(const char *s, struct tz_rule *r)
{
	int32_t off;

	memset(r, 0, sizeof(*r));
	if (!tzs_name(&s) || !tzs_hms(&s, 24, &off))
		return 0;
	r->std_off = -off;
	if (*s == '\0')
		return 1;

	/* Daylight time: a name, an optional offset and both rules. */
	if (!tzs_name(&s))
		return 0;
	r->has_dst = 1;
	r->dst_off = r->std_off + 3600;
	if (*s != ',' && *s != '\0') {
		if (!tzs_hms(&s, 24, &off))
			return 0;
		r->dst_off = -off;
	}
	return tzs_date(&s, &r->start) && tzs_date(&s, &r->end) && *s == '\0';
}

/* ---- TZif files ------------------------------------------------------- */

struct tzif_hdr {
	int version;
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The 44-byte header at *p; advances *p past it. */
static int tzif_header(const unsigned char **p, const unsigned char *end,
		       struct tzif_hdr *h)
{
	const unsigned char *s = *p;

	if (end - s < 44 || memcmp(s, "TZif", 4) != 0)
		return 0;
	h->version = s[4] == 0 ? 1 : s[4] - '0';
	if (h->version < 1 || h->version > 9)
		return 0;
	h->isutcnt = be32(s + 20);
	h->isstdcnt = be32(s + 24);
	h->leapcnt = be32(s + 28);
	h->timecnt = be32(s + 32);
	h->typecnt = be32(s + 36);
	h->charcnt = be32(s + 40);
	*p = s + 44;
	return 1;
}

/* Bytes of the data block after a header, with times of tsz bytes. */
static uint64_t tzif_block_size(const struct tzif_hdr *h, size_t tsz)
{
	return (uint64_t)h->timecnt * (tsz + 1) + (uint64_t)h->typecnt * 6 +
	       h->charcnt + (uint64_t)h->leapcnt * (tsz + 4) + h->isstdcnt +
	       h->isutcnt;
}

static const char *tzif_check(const struct tzif_hdr *h)
{
	if (h->typecnt == 0 || h->typecnt > TZ_MAX_TYPES)
		return "bad count of local time types";
	if (h->leapcnt != 0)
		return "leap-second zones are not supported";
	if ((h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
		return "bad indicator counts";
	return NULL;
}

/* Copies the transitions and types of one data block into tz. */
static const char *tzif_block(const unsigned char *s, const struct tzif_hdr *h,
			      size_t tsz, sl_tz *tz)
{
	const unsigned char *types = s + (size_t)h->timecnt * tsz;
	const unsigned char *info = types + h->timecnt;

	tz->ntrans = h->timecnt;
	tz->ntypes = h->typecnt;
	tz->trans = calloc(h->timecnt + 1, sizeof(*tz->trans));
	tz->trans_type = calloc(h->timecnt + 1, 1);
	tz->type_off = calloc(h->typecnt, sizeof(*tz->type_off));
	if (tz->trans == NULL || tz->trans_type == NULL || tz->type_off == NULL)
		return tz_oom;

	for (size_t i = 0; i < h->timecnt; i++) {
		const unsigned char *t = s + i * tsz;

		tz->trans[i] = tsz == 8 ? be64(t) : (int32_t)be32(t);
		tz->trans_type[i] = types[i];
		if (types[i] >= h->typecnt)
			return "transition to a missing type";
		if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
			return "transitions out of order";
	}
	for (size_t i = 0; i < h->typecnt; i++) {
		int32_t off = (int32_t)be32(info + i * 6);

		if (off < -TZ_MAX_UTOFF || off > TZ_MAX_UTOFF)
			return "UTC offset out of range";
		tz->type_off[i] = off;
	}
	return NULL;
}

/* The whole file: v1 block, then for v2+ the 64-bit block and footer. */
static const char *tzif_parse(const unsigned char *s, size_t len, sl_tz *tz)
{
	const unsigned char *end = s + len, *footer;
	struct tzif_hdr h;
	const char *why;
	char tzstr[256];
	size_t n;

	if (!tzif_header(&s, end, &h))
		return "not a TZif file";
	if (h.version >= 2) {
		if (tzif_block_size(&h, 4) > (uint64_t)(end - s))
			return "truncated";
		s += tzif_block_size(&h, 4);
		if (!tzif_header(&s, end, &h) || h.version < 2)
			return "bad second header";
	}
	if ((why = tzif_check(&h)) != NULL)
		return why;
	if (tzif_block_size(&h, h.version >= 2 ? 8 : 4) > (uint64_t)(end - s))
		return "truncated";
	why = tzif_block(s, &h, h.version >= 2 ? 8 : 4, tz);
	if (why != NULL || h.version < 2)
		return why;

	/* Footer: "\n" TZ-string "\n"; an empty string means no rule. */
	footer = s + tzif_block_size(&h, 8);
	if (footer >= end || *footer != '\n')
		return "missing footer";
	footer++;
	for (n = 0; footer + n < end && footer[n] != '\n'; n++)
		if (n + 1 >= sizeof(tzstr))
			return "footer too long";
	if (footer + n >= end)
		return "unterminated footer";
	memcpy(tzstr, footer, n);
	tzstr[n] = '\0';
	if (n == 0)
		return NULL;
	if (!tzs_parse(tzstr, &tz->rule))
		return "bad TZ string in footer";
	tz->has_rule = 1;
	return NULL;
}

/* Names like "Asia/Kolkata", "Etc/GMT+5": no "..", no absolute path. */
static int valid_zone_name(const char *name)
{
	size_t len = strlen(name), comp = 0;

	if (len == 0 || len > TZ_MAX_NAME || name[0] == '/')
		return 0;
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];

		if (c == '/' || c == '\0') {
			if (comp == 0 || name[i - comp] == '.')
				return 0; /* empty, ".", "..", hidden */
			comp = 0;
			continue;
		}
		if (!(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') &&
		    !(c >= '0' && c <= '9') && c != '_' && c != '-' &&
		    c != '+' && c != '.')
			return 0;
		comp++;
	}
	return 1;
}

/* Reads a regular file of at most TZ_MAX_FILE bytes into *buf. */
static int read_zone_file(const char *path, unsigned char **buf, size_t *len,
			  sl_errbuf *eb)
{
	struct stat st;
	size_t got = 0;
	int fd, rc = SL_OK;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return sl_errbuf_set(eb, SL_ENOTFOUND,
					     "%s: no such zone", path);
		return sl_errbuf_set(eb, SL_EIO, "%s: %s", path,
				     strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = sl_errbuf_set(eb, SL_ENOTFOUND, "%s: not a zone file",
				   path);
		goto out;
	}
	if (st.st_size > TZ_MAX_FILE) {
		rc = sl_errbuf_set(eb, SL_EPARSE, "%s: too large", path);
		goto out;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		rc = SL_ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, *buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = sl_errbuf_set(eb, SL_EIO, "%s: short read", path);
			goto out;
		}
		got += (size_t)r;
	}
	*len = got;
out:
	if (rc != SL_OK) {
		free(*buf);
		*buf = NULL;
	}
	close(fd);
	return rc;
}

int sl_tz_load(const char *name, sl_tz **out, sl_errbuf *eb)
{
	const char *dir = getenv("TZDIR");
	unsigned char *data = NULL;
	char path[4096];
	const char *why;
	sl_tz *tz = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (name == NULL || !valid_zone_name(name)) {
		rc = sl_errbuf_set(eb, SL_ENOTFOUND, "invalid zone name '%s'",
				   name ? name : "(null)");
		goto out;
	}
	if (dir == NULL || *dir == '\0')
		dir = TZ_DEFAULT_DIR;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		rc = sl_errbuf_set(eb, SL_ENOTFOUND, "zone path too long");
		goto out;
	}
	rc = read_zone_file(path, &data, &len, eb);
	if (rc != SL_OK)
		goto out;

	tz = calloc(1, sizeof(*tz));
	if (tz == NULL || (tz->name = strdup(name)) == NULL) {
		rc = SL_ENOMEM;
		goto out;
	}
	why = tzif_parse(data, len, tz);
	if (why != NULL) {
		rc = sl_errbuf_set(eb, why == tz_oom ? SL_ENOMEM : SL_EPARSE,
				   "%s: %s", path, why);
		goto out;
	}
	*out = tz;
	tz = NULL;
out:
	sl_tz_free(tz);
	free(data);
	return rc;
}

void sl_tz_free(sl_tz *tz)
{
	if (tz == NULL)
		return;
	free(tz->name);
	free(tz->trans);
	free(tz->trans_type);
	free(tz->type_off);
	free(tz);
}
