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

/*
 * Parse `len` bytes as one JSON object and validate it as a journey
 * event.  SL_OK with *out (caller frees with cJSON_Delete), or
 * SL_EPARSE (not valid UTF-8 or JSON, not an object) or SL_EINVAL (a
 * rule broken), *out NULL and err filled.
 */
int ev_parse(const char *buf, size_t len, cJSON **out, ev_error *err);

/* Validate an already-parsed object; SL_OK or SL_EINVAL with err. */
int ev_validate(const cJSON *obj, ev_error *err);

/* Field rules, each 1 when valid. */
int ev_valid_id(const char *s);	     /* 1-64 chars, valid UTF-8 */
int ev_valid_phone(const char *s);   /* E.164; India: +91 then [6-9]\d{9} */
int ev_valid_lang(const char *s);    /* hi en bn te mr ta gu kn ml */
int ev_valid_pincode(const char *s); /* 6 digits, first not 0 */
int ev_valid_channel(const char *s); /* qr call whatsapp */
int ev_valid_utf8(const char *s, size_t len);

#endif
