/*
 * event.c — journey events (SPEC section 2): parsing and validation.
 *
 * ev_parse checks the raw bytes first, in one pass (UTF-8, control
 * characters, "\u0000", which cJSON would cut a string at), then lets
 * cJSON parse, then validates the object: one pass finds each member's
 * row of the table below, then the rules are checked in the table's
 * order, so the first broken rule is always the same one.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "processor/timeutil.h"
#include "topologies/event.h"

#define EV_ID_MAX_CHARS 64
#define EV_STEP_MAX 2147483647.0

static const char *const type_names[] = {
	[EV_UNKNOWN] = "unknown",
	[EV_SCREENING_STARTED] = "screening_started",
	[EV_SCREENING_STEP] = "screening_step",
	[EV_SCREENING_COMPLETED] = "screening_completed",
	[EV_REMINDER_SENT] = "reminder_sent",
	[EV_REMINDER_FAILED] = "reminder_failed",
	[EV_OPTED_OUT] = "opted_out",
	[EV_OPTED_IN] = "opted_in",
};
#define EV_NTYPES (sizeof(type_names) / sizeof(type_names[0]))

static const char *const langs[] = { "hi", "en", "bn", "te", "mr",
				     "ta", "gu", "kn", "ml" };

enum ev_type ev_type_from_string(const char *s)
{
	if (s == NULL)
		return EV_UNKNOWN;
	for (size_t i = 1; i < EV_NTYPES; i++)
		if (strcmp(s, type_names[i]) == 0)
			return (enum ev_type)i;
	return EV_UNKNOWN;
}

const char *ev_type_name(enum ev_type t)
{
	if ((size_t)t >= EV_NTYPES)
		return type_names[EV_UNKNOWN];
	return type_names[t];
}

/* ---- Field rules -------------------------------------------------------- */

/*
 * The length of the UTF-8 sequence that starts with the byte p[0] >=
 * 0x80 (2-4), or 0 when it is not one in strict UTF-8 (RFC 3629): no
 * overlong forms, no surrogates, nothing past U+10FFFF, no sequence
 * cut short.  `avail` bytes are readable at p.
 */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t n;

	if (c >= 0xC2 && c <= 0xDF) {
		n = 1;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 2;
		lo = c == 0xE0 ? 0xA0 : 0x80; /* overlong */
		hi = c == 0xED ? 0x9F : 0xBF; /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 3;
		lo = c == 0xF0 ? 0x90 : 0x80; /* overlong */
		hi = c == 0xF4 ? 0x8F : 0xBF; /* > U+10FFFF */
	} else {
		return 0;
	}
	if (avail - 1 < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t k = 2; k <= n; k++)
		if (p[k] < 0x80 || p[k] > 0xBF)
			return 0;
	return n + 1;
}

int ev_valid_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_seq(p + i, len - i);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* Characters (code points), not bytes, as a PostgreSQL varchar counts. */
int ev_valid_id(const char *s)
{
	size_t len, chars = 0;

	if (s == NULL)
		return 0;
	len = strlen(s);
	if (!ev_valid_utf8(s, len))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			chars++;
	return chars >= 1 && chars <= EV_ID_MAX_CHARS;
}

/*
 * "+" then 8-15 digits, no leading zero in the country code.  India
 * (+91; no other country code starts with 91) has 10-digit mobile
 * numbers starting 6-9.
 */
int ev_valid_phone(const char *s)
{
	size_t n;

	if (s == NULL || s[0] != '+' || s[1] == '0')
		return 0;
	n = strspn(s + 1, "0123456789");
	if (s[1 + n] != '\0' || n < 8 || n > 15)
		return 0;
	if (strncmp(s, "+91", 3) == 0)
		return n == 12 && s[3] >= '6' && s[3] <= '9';
	return 1;
}

int ev_valid_lang(const char *s)
{
	if (s == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(langs) / sizeof(langs[0]); i++)
		if (strcmp(s, langs[i]) == 0)
			return 1;
	return 0;
}

int ev_valid_pincode(const char *s)
{
	return s != NULL && strlen(s) == 6 && strspn(s, "0123456789") == 6 &&
	       s[0] != '0';
}

int ev_valid_channel(const char *s)
{
	return s != NULL && (strcmp(s, "qr") == 0 || strcmp(s, "call") == 0 ||
			     strcmp(s, "whatsapp") == 0);
}

static int valid_type(const char *s)
{
	return ev_type_from_string(s) != EV_UNKNOWN;
}

/* ---- The schema --------------------------------------------------------- */

#define T(x) (1u << (x))
#define ALL_TYPES 0xFFFFu

enum kind {
	K_STRING,
	K_INSTANT, /* a string, an RFC 3339 date-time kept as ms */
	K_INTEGER
};

struct field {
	const char *name;
	enum kind kind;
	int (*valid)(const char *s); /* K_STRING */
	double lo, hi;		     /* K_INTEGER */
	unsigned required;	     /* mask of T(EV_...) */
	const char *rule;
};

/* Indexed by enum ev_field, which is also the order of the checks. */
static const struct field fields[EV_NFIELDS] = {
	[EV_F_EVENT_ID] = { "event_id", K_STRING, ev_valid_id, 0, 0, ALL_TYPES,
			    "must be 1-64 characters" },
	[EV_F_TYPE] = { "type", K_STRING, valid_type, 0, 0, ALL_TYPES,
			"must be one of screening_started, screening_step, "
			"screening_completed, reminder_sent, "
			"reminder_failed, opted_out, opted_in" },
	[EV_F_USER_ID] = { "user_id", K_STRING, ev_valid_id, 0, 0, ALL_TYPES,
			   "must be 1-64 characters" },
	[EV_F_OCCURRED_AT] = { "occurred_at", K_INSTANT, NULL, 0, 0, ALL_TYPES,
			       "must be an RFC 3339 date-time with offset, "
			       "like 2025-06-01T19:00:00+05:30 or "
			       "2025-06-01T13:30:00Z" },
	[EV_F_PHONE] = { "phone", K_STRING, ev_valid_phone, 0, 0,
			 T(EV_SCREENING_STARTED) | T(EV_SCREENING_COMPLETED),
			 "must be E.164: + then 8-15 digits; for India +91 "
			 "then 10 digits starting 6-9" },
	[EV_F_LANG] = { "lang", K_STRING, ev_valid_lang, 0, 0,
			T(EV_SCREENING_STARTED) | T(EV_SCREENING_COMPLETED),
			"must be one of hi en bn te mr ta gu kn ml" },
	[EV_F_PINCODE] = { "pincode", K_STRING, ev_valid_pincode, 0, 0,
			   T(EV_SCREENING_STARTED) | T(EV_SCREENING_COMPLETED),
			   "must be 6 digits, first not 0" },
	[EV_F_SCREENING_ID] = { "screening_id", K_STRING, ev_valid_id, 0, 0,
				T(EV_SCREENING_COMPLETED),
				"must be 1-64 characters" },
	[EV_F_SCORE] = { "score", K_INTEGER, NULL, 1, 5,
			 T(EV_SCREENING_COMPLETED),
			 "must be an integer from 1 to 5" },
	[EV_F_STEP] = { "step", K_INTEGER, NULL, 1, EV_STEP_MAX,
			T(EV_SCREENING_STEP),
			"must be an integer from 1 to 2147483647" },
	[EV_F_CHANNEL] = { "channel", K_STRING, ev_valid_channel, 0, 0, 0,
			   "must be qr, call or whatsapp" },
};

/*
 * The schema row of a member's name, -1 for a name not in it: a guess
 * from the first letters, confirmed by comparing the whole name.
 */
static int field_of(const char *name)
{
	int k;

	switch (name[0]) {
	case 'e':
		k = EV_F_EVENT_ID;
		break;
	case 't':
		k = EV_F_TYPE;
		break;
	case 'u':
		k = EV_F_USER_ID;
		break;
	case 'o':
		k = EV_F_OCCURRED_AT;
		break;
	case 'p':
		k = name[1] == 'h' ? EV_F_PHONE : EV_F_PINCODE;
		break;
	case 'l':
		k = EV_F_LANG;
		break;
	case 's':
		/* name[2] exists when name[1] is not the end */
		k = name[1] == 't'		       ? EV_F_STEP
		    : name[1] == 'c' && name[2] == 'o' ? EV_F_SCORE
						       : EV_F_SCREENING_ID;
		break;
	case 'c':
		k = EV_F_CHANNEL;
		break;
	default:
		return -1;
	}
	return strcmp(name, fields[k].name) == 0 ? k : -1;
}

static int fail(ev_error *err, int rc, const char *field, const char *rule)
{
	if (err != NULL) {
		snprintf(err->field, sizeof(err->field), "%s", field);
		snprintf(err->rule, sizeof(err->rule), "%s", rule);
	}
	return rc;
}

/* NULL when the value obeys f (an instant goes to *ms), else the rule. */
static const char *check_value(const struct field *f, const cJSON *v,
			       int64_t *ms)
{
	double d;

	if (f->kind != K_INTEGER) {
		if (!cJSON_IsString(v) || v->valuestring == NULL)
			return "must be a string";
		if (f->kind == K_INSTANT)
			return sl_time_parse_rfc3339(v->valuestring, ms) ==
					       SL_OK
				       ? NULL
				       : f->rule;
		return f->valid(v->valuestring) ? NULL : f->rule;
	}
	if (!cJSON_IsNumber(v))
		return f->rule;
	d = v->valuedouble;
	if (!isfinite(d) || d < f->lo || d > f->hi || floor(d) != d)
		return f->rule;
	return NULL;
}

/*
 * One pass over the members: each schema field's first member goes to
 * f->m[], and seen[] counts them (up to 2) so that repeats can be
 * reported in the schema's order afterwards.  Like
 * cJSON_GetObjectItemCaseSensitive, a lookup ends at a member without
 * a name (possible only in objects built in code): members after it
 * are counted but not found.
 */
static void collect(const cJSON *obj, ev_fields *f,
		    unsigned char seen[EV_NFIELDS])
{
	int hidden = 0;

	for (const cJSON *it = obj->child; it != NULL; it = it->next) {
		int k;

		if (it->string == NULL) {
			hidden = 1;
			continue;
		}
		k = field_of(it->string);
		if (k < 0)
			continue;
		if (seen[k] < 2)
			seen[k]++;
		if (!hidden && f->m[k] == NULL)
			f->m[k] = it;
	}
}

int ev_validate_fields(const cJSON *obj, ev_fields *f, ev_error *err)
{
	unsigned char seen[EV_NFIELDS] = { 0 };
	const cJSON *tv;
	ev_fields own;

	if (f == NULL)
		f = &own;
	memset(f, 0, sizeof(*f));
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (!cJSON_IsObject(obj))
		return fail(err, SL_EINVAL, "", "must be a JSON object");
	collect(obj, f, seen);

	/* A repeated field could mean one thing here and another later. */
	for (int k = 0; k < EV_NFIELDS; k++)
		if (seen[k] > 1)
			return fail(err, SL_EINVAL, fields[k].name,
				    "must appear only once");

	/* The type decides what is required; its own errors come in order. */
	tv = f->m[EV_F_TYPE];
	f->type = cJSON_IsString(tv) ? ev_type_from_string(tv->valuestring)
				     : EV_UNKNOWN;

	for (int k = 0; k < EV_NFIELDS; k++) {
		const struct field *fd = &fields[k];
		const char *why;

		if (f->m[k] == NULL) {
			if (fd->required & T(f->type))
				return fail(err, SL_EINVAL, fd->name,
					    "is required");
			continue;
		}
		why = check_value(fd, f->m[k], &f->occurred_at_ms);
		if (why != NULL)
			return fail(err, SL_EINVAL, fd->name, why);
	}
	return SL_OK;
}

int ev_validate(const cJSON *obj, ev_error *err)
{
	return ev_validate_fields(obj, NULL, err);
}

/* ---- Scratch memory ----------------------------------------------------- */

#define SCRATCH_SIZE 8192 /* a journey event needs ~1.5 KB */
#define SCRATCH_ALIGN 16

static _Thread_local struct {
	_Alignas(SCRATCH_ALIGN) unsigned char block[SCRATCH_SIZE];
	size_t used;
	int on;
} scratch;

static void *scratch_malloc(size_t n)
{
	size_t need = (n + SCRATCH_ALIGN - 1) & ~(size_t)(SCRATCH_ALIGN - 1);

	if (scratch.on && need >= n && SCRATCH_SIZE - scratch.used >= need) {
		void *p = scratch.block + scratch.used;

		scratch.used += need;
		return p;
	}
	return malloc(n);
}

/* The block's memory is taken back all at once, by ev_scratch_begin. */
static void scratch_free(void *p)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)scratch.block;

	if (a >= lo && a < lo + SCRATCH_SIZE)
		return;
	free(p);
}

static void scratch_hooks(void)
{
	cJSON_Hooks h = { scratch_malloc, scratch_free };

	cJSON_InitHooks(&h);
}

void ev_scratch_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, scratch_hooks);
}

void ev_scratch_begin(void)
{
	scratch.used = 0;
	scratch.on = 1;
}

void ev_scratch_end(void)
{
	scratch.on = 0;
}

size_t ev_scratch_used(void)
{
	return scratch.used;
}

/* ---- Parsing ------------------------------------------------------------ */

static int json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Printable ASCII but '"' and '\\': no state changes, nothing to check. */
static int plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* `why`, unless the bytes from the fault on are bad UTF-8. */
static const char *raw_fail(const char *rest, size_t len, const char *why)
{
	return ev_valid_utf8(rest, len) ? why : "must be valid UTF-8";
}

/*
 * The raw bytes, in one pass: strict UTF-8 (ev_valid_utf8), and what
 * cJSON lets through: raw control characters (it skips them as white
 * space, and keeps them inside strings) and "\u0000", which ends its C
 * string early, silently shortening the value.  NULL when clean, else
 * the rule broken; bad UTF-8 anywhere is the one reported.
 *
 * Bytes >= 0x80 are never quotes, backslashes or control characters,
 * so only ASCII bytes move the in-string state.
 */
static const char *raw_check(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	int in_str = 0;
	size_t i = 0, n;

	while (i < len) {
		unsigned char c = p[i];

		if (plain(c)) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			n = utf8_seq(p + i, len - i);
			if (n == 0)
				return "must be valid UTF-8";
			i += n;
			continue;
		}
		if (c < 0x20 && (in_str || !json_space((char)c)))
			return raw_fail(buf + i, len - i,
					"must be valid JSON: control "
					"character");
		if (!in_str) {
			in_str = c == '"';
		} else if (c == '"') {
			in_str = 0;
		} else if (c == '\\' && i + 1 < len) {
			if (p[i + 1] == 'u' && i + 5 < len &&
			    memcmp(buf + i + 2, "0000", 4) == 0)
				return raw_fail(buf + i, len - i,
						"must not contain \\u0000");
			/* the escaped byte; a lead byte is checked above */
			if (p[i + 1] < 0x80)
				i++;
		}
		i++;
	}
	return NULL;
}

/*
 * One JSON object and nothing after it but white space, from bytes
 * that passed raw_check.  SL_OK with *out, or SL_EPARSE.
 */
static int parse_json(const char *buf, size_t len, cJSON **out, ev_error *err)
{
	const char *end = NULL;
	cJSON *obj;

	obj = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (obj == NULL)
		return fail(err, SL_EPARSE, "", "must be valid JSON");
	for (; end < buf + len; end++) {
		if (!json_space(*end)) {
			cJSON_Delete(obj);
			return fail(err, SL_EPARSE, "",
				    "must be one JSON value, without trailing "
				    "data");
		}
	}
	if (!cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		return fail(err, SL_EPARSE, "", "must be a JSON object");
	}
	*out = obj;
	return SL_OK;
}

int ev_parse_object(const char *buf, size_t len, cJSON **out, ev_error *err)
{
	const char *why;
	size_t skip = 0;

	*out = NULL;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	while (buf != NULL && skip < len && json_space(buf[skip]))
		skip++;
	if (buf == NULL || skip == len)
		return fail(err, SL_EPARSE, "", "must not be empty");
	if ((why = raw_check(buf, len)) != NULL)
		return fail(err, SL_EPARSE, "", why);
	return parse_json(buf, len, out, err);
}

int ev_parse_fields(const char *buf, size_t len, cJSON **out, ev_fields *f,
		    ev_error *err)
{
	cJSON *obj;
	int rc;

	*out = NULL;
	rc = ev_parse_object(buf, len, &obj, err);
	if (rc != SL_OK)
		return rc;
	rc = ev_validate_fields(obj, f, err);
	if (rc != SL_OK) {
		cJSON_Delete(obj);
		return rc;
	}
	*out = obj; /* the caller owns it now */
	return SL_OK;
}

int ev_parse(const char *buf, size_t len, cJSON **out, ev_error *err)
{
	return ev_parse_fields(buf, len, out, NULL, err);
}
