/*
 * request.h — the screening API's request bodies turned into events.
 *
 * What POST /v1/screenings and POST /v1/journey do with a body before
 * any database or Kafka is involved: parse it (topologies/event.h's
 * byte checks: UTF-8, control characters, \u0000, one JSON object),
 * add what the server sets, and validate the result by the journey
 * rules of SPEC section 2 plus the endpoint's own.  No I/O, no clock,
 * no randomness: the caller passes identifiers and the time, so unit
 * tests and fuzzers call these directly (tests/fuzz/fuzz_api_body.c).
 *
 * Every failure is an api_bad: 400 with the field and the rule broken
 * (field "" when the whole body is at fault), or 503 when out of memory.
 */
#ifndef SL_API_REQUEST_H
#define SL_API_REQUEST_H

#include <stddef.h>

#include <cJSON.h>

#include "api/api.h"
#include "processor/err.h"

typedef struct api_bad {
	int status;	/* 400, or 503 (out of memory) */
	char field[64]; /* "" when the whole body is at fault */
	char rule[192];
} api_bad;

/*
 * A screening from a POST /v1/screenings body.  Everything belongs to
 * the struct and is freed by api_screening_clear; the string fields
 * point into `ev` and live as long as it does.
 */
typedef struct api_screening {
	char screening_id[API_UUID_LEN + 1];
	char event_id[API_UUID_LEN + 1];
	char occurred_at[32];
	int score;
	const char *user_id, *phone, *lang, *pincode, *channel;
	cJSON *ev;     /* the screening_completed event */
	char *answers; /* `answers` as JSON text, NULL when absent */
	char *payload; /* the event as JSON text (the outbox row) */
	char *reply;   /* the 201 body {"screening_id", "event_id"} */
} api_screening;

/*
 * Parse and validate a screening body (`len` bytes, need not end in
 * NUL).  The client may not send event_id, type, screening_id or
 * occurred_at: the event gets `screening_id`, `event_id` and
 * `occurred_at` (RFC 3339) as given.  SL_OK with *s filled; SL_EINVAL
 * (400) or SL_ENOMEM (503) with *bad filled and *s empty.  Call
 * api_screening_clear in every case.
 */
int api_screening_parse(const char *body, size_t len, const char *screening_id,
			const char *event_id, const char *occurred_at,
			api_screening *s, api_bad *bad);

/* Free what *s holds and zero it. */
void api_screening_clear(api_screening *s);

/*
 * Parse and validate a journey body: one event of type
 * screening_started, screening_step, opted_out or opted_in; `event_id`
 * and `occurred_at` are filled in with the given values when absent.
 * SL_OK with *out (caller cJSON_Deletes), or SL_EINVAL / SL_ENOMEM with
 * *bad filled and *out NULL.
 */
int api_journey_parse(const char *body, size_t len, const char *event_id,
		      const char *occurred_at, cJSON **out, api_bad *bad);

#endif
