/*
 * event.h — journey events (SPEC section 2): parsing and validation.
 *
 * Shared by the API (which rejects bad requests with 400) and the
 * worker (which dead-letters bad records).  A failed validation names
 * the field and the rule it broke.
 */
#ifndef SL_EVENT_H
#define SL_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "processor/err.h"

enum ev_type {
	EV_UNKNOWN = 0,
	EV_SCREENING_STARTED,
	EV_SCREENING_STEP,
	EV_SCREENING_COMPLETED,
	EV_REMINDER_SENT,
	EV_REMINDER_FAILED,
	EV_OPTED_OUT,
	EV_OPTED_IN,
};

typedef struct ev_error {
	char field[64]; /* "" when the whole document is at fault */
	char rule[192]; /* human-readable: "must be 6 digits, first not 0" */
} ev_error;

/* "screening_started" -> EV_SCREENING_STARTED; EV_UNKNOWN otherwise. */
enum ev_type ev_type_from_string(const char *s);
const char *ev_type_name(enum ev_type t);

/* The schema's fields, in the order they are checked. */
enum ev_field {
	EV_F_EVENT_ID,
	EV_F_TYPE,
	EV_F_USER_ID,
	EV_F_OCCURRED_AT,
	EV_F_PHONE,
	EV_F_LANG,
	EV_F_PINCODE,
	EV_F_SCREENING_ID,
	EV_F_SCORE,
	EV_F_STEP,
	EV_F_CHANNEL,
	EV_NFIELDS
};

/*
 * What validation found in a valid event, so that its reader need not
 * look anything up again.  m[] holds the object's members of the
 * schema (NULL when absent), pointers into the object: valid until it
 * is deleted or changed.  Filled only when validation returns SL_OK.
 */
typedef struct ev_fields {
	const cJSON *m[EV_NFIELDS];
	enum ev_type type;
	int64_t occurred_at_ms; /* occurred_at as Unix milliseconds */
} ev_fields;

/* A string member's value, NULL when absent (valid events only). */
static inline const char *ev_str(const ev_fields *f, enum ev_field k)
{
	return f->m[k] != NULL ? f->m[k]->valuestring : NULL;
}

/*
 * Parse `len` bytes as one JSON object and validate it as a journey
 * event.  SL_OK with *out (caller frees with cJSON_Delete), or
 * SL_EPARSE (not valid UTF-8 or JSON, not an object) or SL_EINVAL (a
 * rule broken), *out NULL and err filled.
 */
int ev_parse(const char *buf, size_t len, cJSON **out, ev_error *err);

/* ev_parse, and on SL_OK the fields it found in *f. */
int ev_parse_fields(const char *buf, size_t len, cJSON **out, ev_fields *f,
		    ev_error *err);

/*
 * ev_parse's first half: the raw bytes and the JSON, without the event
 * rules.  SL_OK with *out (caller frees with cJSON_Delete), or
 * SL_EPARSE, *out NULL and err filled.
 */
int ev_parse_object(const char *buf, size_t len, cJSON **out, ev_error *err);

/*
 * Validate an already-parsed object; SL_OK or SL_EINVAL with err.  The
 * first broken rule in the schema's order is the one reported; a field
 * that appears twice is reported before any other rule.
 */
int ev_validate(const cJSON *obj, ev_error *err);

/* ev_validate, and on SL_OK the fields it found in *f. */
int ev_validate_fields(const cJSON *obj, ev_fields *f, ev_error *err);

/*
 * Scratch memory for parsing one event at a time on a thread.  cJSON
 * allocates every member, name and string on its own (about 20 malloc
 * and free pairs per event, ~15% of the journey step's CPU).  Between
 * ev_scratch_begin() and ev_scratch_end(), cJSON's allocations on the
 * calling thread come from a fixed per-thread block instead (malloc
 * once it is full), and freeing them does nothing.
 *
 * Rules: what cJSON allocated in between stays valid until the thread's
 * next ev_scratch_begin(), so it must be deleted (cJSON_Delete, which
 * then frees only what did not fit) before that, on the same thread,
 * and never handed to another thread.  Outside begin/end, cJSON uses
 * malloc and free as usual.
 *
 * ev_scratch_install() puts the hooks into cJSON (cJSON_InitHooks, for
 * the whole process); call it before any other thread uses cJSON.
 * Without it begin/end change nothing.
 */
void ev_scratch_install(void);
void ev_scratch_begin(void);
void ev_scratch_end(void);
/* Bytes of the calling thread's block given out since its last begin. */
size_t ev_scratch_used(void);

/* Field rules, each 1 when valid. */
int ev_valid_id(const char *s);	     /* 1-64 chars, valid UTF-8 */
int ev_valid_phone(const char *s);   /* E.164; India: +91 then [6-9]\d{9} */
int ev_valid_lang(const char *s);    /* hi en bn te mr ta gu kn ml */
int ev_valid_pincode(const char *s); /* 6 digits, first not 0 */
int ev_valid_channel(const char *s); /* qr call whatsapp */
int ev_valid_utf8(const char *s, size_t len);

#endif
