/*
 * request.c — request bodies of the screening API turned into events.
 *
 *	body ──parse_object──> object ──build──> event ──ev_validate──> ok
 *	          │ (400: not UTF-8,             (400: a field the
 *	          │  not one JSON object)         server sets, a rule)
 */
#include <stdio.h>
#include <string.h>

#include "api/request.h"
#include "topologies/event.h"

static int bad_set(api_bad *bad, int rc, const char *field, const char *rule)
{
	bad->status = rc == SL_ENOMEM ? 503 : 400;
	snprintf(bad->field, sizeof(bad->field), "%s", field);
	snprintf(bad->rule, sizeof(bad->rule), "%s", rule);
	return rc;
}

static int no_memory(api_bad *bad)
{
	return bad_set(bad, SL_ENOMEM, "", "out of memory");
}

static const char *str_field(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * The body as one JSON object: ev_parse_object checks the raw bytes
 * (UTF-8, control characters, \u0000) and the JSON, not the event
 * rules, which the caller applies once the server's fields are in.
 */
static int parse_object(const char *body, size_t len, cJSON **out, api_bad *bad)
{
	ev_error err;

	if (ev_parse_object(body, len, out, &err) != SL_OK)
		return bad_set(bad, SL_EINVAL, err.field, err.rule);
	return SL_OK;
}

/* ---- POST /v1/screenings ------------------------------------------------ */

/* Fields a client may not send: the server sets them. */
static const char *const server_fields[] = { "event_id", "type", "screening_id",
					     "occurred_at" };

/* The server's members first, then the body's (moved, not copied). */
static int build_screening(cJSON *body, api_screening *s, api_bad *bad)
{
	cJSON *ev = cJSON_CreateObject();

	s->ev = ev;
	if (ev == NULL ||
	    cJSON_AddStringToObject(ev, "event_id", s->event_id) == NULL ||
	    cJSON_AddStringToObject(ev, "type", "screening_completed") ==
		    NULL ||
	    cJSON_AddStringToObject(ev, "screening_id", s->screening_id) ==
		    NULL ||
	    cJSON_AddStringToObject(ev, "occurred_at", s->occurred_at) == NULL)
		return no_memory(bad);
	while (body->child != NULL) {
		cJSON *it = cJSON_DetachItemViaPointer(body, body->child);

		if (!cJSON_AddItemToObject(ev, it->string, it)) {
			cJSON_Delete(it);
			return no_memory(bad);
		}
	}
	return SL_OK;
}

/* The event rules, then what a screening needs on top of them. */
static int check_screening(api_screening *s, api_bad *bad)
{
	const cJSON *answers;
	ev_error err;

	if (ev_validate(s->ev, &err) != SL_OK)
		return bad_set(bad, SL_EINVAL, err.field, err.rule);
	s->channel = str_field(s->ev, "channel");
	if (s->channel == NULL)
		return bad_set(bad, SL_EINVAL, "channel", "is required");
	answers = cJSON_GetObjectItemCaseSensitive(s->ev, "answers");
	if (answers != NULL && !cJSON_IsObject(answers))
		return bad_set(bad, SL_EINVAL, "answers",
			       "must be a JSON object");
	s->user_id = str_field(s->ev, "user_id");
	s->phone = str_field(s->ev, "phone");
	s->lang = str_field(s->ev, "lang");
	s->pincode = str_field(s->ev, "pincode");
	s->score = (int)cJSON_GetObjectItemCaseSensitive(s->ev, "score")
			   ->valuedouble;
	return SL_OK;
}

/* answers, payload and reply as text. */
static int screening_texts(api_screening *s, api_bad *bad)
{
	const cJSON *answers;
	cJSON *reply = cJSON_CreateObject();

	answers = cJSON_GetObjectItemCaseSensitive(s->ev, "answers");
	if (answers != NULL)
		s->answers = cJSON_PrintUnformatted(answers);
	s->payload = cJSON_PrintUnformatted(s->ev);
	if (reply != NULL &&
	    cJSON_AddStringToObject(reply, "screening_id", s->screening_id) &&
	    cJSON_AddStringToObject(reply, "event_id", s->event_id))
		s->reply = cJSON_PrintUnformatted(reply);
	cJSON_Delete(reply);
	if (s->payload == NULL || s->reply == NULL ||
	    (answers != NULL && s->answers == NULL))
		return no_memory(bad);
	return SL_OK;
}

int api_screening_parse(const char *body, size_t len, const char *screening_id,
			const char *event_id, const char *occurred_at,
			api_screening *s, api_bad *bad)
{
	cJSON *obj = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	memset(bad, 0, sizeof(*bad));
	snprintf(s->screening_id, sizeof(s->screening_id), "%s", screening_id);
	snprintf(s->event_id, sizeof(s->event_id), "%s", event_id);
	snprintf(s->occurred_at, sizeof(s->occurred_at), "%s", occurred_at);
	rc = parse_object(body, len, &obj, bad);
	if (rc != SL_OK)
		goto out;
	for (size_t i = 0; i < sizeof(server_fields) / sizeof(*server_fields);
	     i++) {
		if (cJSON_GetObjectItemCaseSensitive(obj, server_fields[i])) {
			rc = bad_set(bad, SL_EINVAL, server_fields[i],
				     "is set by the server");
			goto out;
		}
	}
	rc = build_screening(obj, s, bad);
	if (rc == SL_OK)
		rc = check_screening(s, bad);
	if (rc == SL_OK)
		rc = screening_texts(s, bad);
out:
	cJSON_Delete(obj);
	if (rc != SL_OK)
		api_screening_clear(s);
	return rc;
}

void api_screening_clear(api_screening *s)
{
	cJSON_Delete(s->ev);
	cJSON_free(s->answers);
	cJSON_free(s->payload);
	cJSON_free(s->reply);
	memset(s, 0, sizeof(*s));
}

/* ---- POST /v1/journey --------------------------------------------------- */

/* The types the chat bot may send here. */
static int journey_type_ok(const char *t)
{
	enum ev_type ty = ev_type_from_string(t);

	return ty == EV_SCREENING_STARTED || ty == EV_SCREENING_STEP ||
	       ty == EV_OPTED_OUT || ty == EV_OPTED_IN;
}

/* Fill event_id and occurred_at when absent; validate. */
static int build_journey(cJSON *ev, const char *event_id,
			 const char *occurred_at, api_bad *bad)
{
	const char *type;
	ev_error err;

	if (!cJSON_GetObjectItemCaseSensitive(ev, "event_id") &&
	    cJSON_AddStringToObject(ev, "event_id", event_id) == NULL)
		return no_memory(bad);
	if (!cJSON_GetObjectItemCaseSensitive(ev, "occurred_at") &&
	    cJSON_AddStringToObject(ev, "occurred_at", occurred_at) == NULL)
		return no_memory(bad);

	/* A known type that belongs elsewhere is the first thing to say. */
	type = str_field(ev, "type");
	if (type != NULL && ev_type_from_string(type) != EV_UNKNOWN &&
	    !journey_type_ok(type))
		return bad_set(bad, SL_EINVAL, "type",
			       "must be one of screening_started, "
			       "screening_step, opted_out, opted_in");
	if (ev_validate(ev, &err) != SL_OK)
		return bad_set(bad, SL_EINVAL, err.field, err.rule);
	return SL_OK;
}

int api_journey_parse(const char *body, size_t len, const char *event_id,
		      const char *occurred_at, cJSON **out, api_bad *bad)
{
	cJSON *ev = NULL;
	int rc;

	*out = NULL;
	memset(bad, 0, sizeof(*bad));
	rc = parse_object(body, len, &ev, bad);
	if (rc == SL_OK)
		rc = build_journey(ev, event_id, occurred_at, bad);
	if (rc == SL_OK) {
		*out = ev; /* the caller owns it now */
		ev = NULL;
	}
	cJSON_Delete(ev);
	return rc;
}
