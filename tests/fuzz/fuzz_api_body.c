/*
 * fuzz_api_body.c — libFuzzer harness for the screening API's request
 * bodies: api_screening_parse and api_journey_parse (api/request.c),
 * what server.c runs on every POST before touching PostgreSQL or
 * Kafka, plus the header checks (token, Idempotency-Key, Content-Type).
 *
 * Properties besides "no crash, leak or sanitizer report": whatever
 * the API accepts, the worker accepts too (the outbox payload and the
 * journey event pass ev_parse as the right type), answers and reply
 * are JSON, and a refusal is a 400 or 503 with a rule.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/request.h"
#include "topologies/event.h"

#define SID "11111111-2222-4333-8444-555555555555"
#define EID "66666666-7777-4888-9999-aaaaaaaaaaaa"
#define NOW "2026-01-05T10:00:00.000Z"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Text the worker must take as an event of type `type`. */
static void worker_takes(const char *text, const char *type)
{
	cJSON *ev = NULL;
	ev_error err;

	if (text == NULL || ev_parse(text, strlen(text), &ev, &err) != SL_OK)
		abort();
	if (strcmp(str(ev, "type"), type) != 0)
		abort();
	cJSON_Delete(ev);
}

static void is_json(const char *text)
{
	cJSON *j = text ? cJSON_Parse(text) : NULL;

	if (j == NULL)
		abort();
	cJSON_Delete(j);
}

static void check_bad(int rc, const api_bad *bad)
{
	if ((rc == SL_EINVAL && bad->status != 400) ||
	    (rc == SL_ENOMEM && bad->status != 503) ||
	    (rc != SL_EINVAL && rc != SL_ENOMEM) || bad->rule[0] == '\0')
		abort();
}

static void screening(const char *buf, size_t size)
{
	api_screening s;
	api_bad bad;
	int rc = api_screening_parse(buf, size, SID, EID, NOW, &s, &bad);

	if (rc != SL_OK) {
		check_bad(rc, &bad);
		if (s.ev != NULL || s.payload != NULL)
			abort();
		api_screening_clear(&s);
		return;
	}
	worker_takes(s.payload, "screening_completed");
	if (s.score < 1 || s.score > 5 || !ev_valid_phone(s.phone) ||
	    !ev_valid_lang(s.lang) || !ev_valid_pincode(s.pincode) ||
	    !ev_valid_channel(s.channel) || !ev_valid_id(s.user_id))
		abort();
	if (s.answers != NULL)
		is_json(s.answers);
	is_json(s.reply);
	api_screening_clear(&s);
}

static void journey(const char *buf, size_t size)
{
	cJSON *ev = NULL;
	api_bad bad;
	char *text;
	int rc = api_journey_parse(buf, size, EID, NOW, &ev, &bad);

	if (rc != SL_OK) {
		check_bad(rc, &bad);
		if (ev != NULL)
			abort();
		return;
	}
	text = cJSON_PrintUnformatted(ev);
	worker_takes(text, str(ev, "type"));
	cJSON_free(text);
	cJSON_Delete(ev);
}

/* The same bytes as header values (up to the first NUL). */
static void headers(const char *buf, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return;
	memcpy(s, buf, size);
	s[size] = '\0';
	(void)api_idem_key_ok(s);
	(void)api_content_type_json(s);
	(void)api_is_uuid(s);
	if (api_token_ok(s, "fuzz-token-0123456789") &&
	    strstr(s, "fuzz-token-0123456789") == NULL)
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly `size` bytes, no NUL after them: as http.c passes. */
	char *buf = malloc(size ? size : 1);

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	screening(buf, size);
	journey(buf, size);
	headers(buf, size);
	free(buf);
	return 0;
}
