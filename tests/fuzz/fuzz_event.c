/*
 * fuzz_event.c — libFuzzer harness for ev_parse (topologies/event.c),
 * the parser every journey record and API body goes through.
 *
 * Besides "no crash, leak or sanitizer report", it checks two
 * properties: an accepted event printed by cJSON is accepted again
 * unchanged in meaning (same type, user_id and event_id), and a refused
 * one always says why.  Built and run by tests/fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "topologies/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A member's string value, "" when absent. */
static const char *str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Printed and parsed again, the event must be the same event. */
static void round_trip(const cJSON *ev)
{
	char *text = cJSON_PrintUnformatted(ev);
	cJSON *again = NULL;
	ev_error err;

	if (text == NULL)
		abort();
	if (ev_parse(text, strlen(text), &again, &err) != SL_OK)
		abort(); /* accepted once, refused after printing */
	if (strcmp(str(ev, "type"), str(again, "type")) != 0 ||
	    strcmp(str(ev, "user_id"), str(again, "user_id")) != 0 ||
	    strcmp(str(ev, "event_id"), str(again, "event_id")) != 0)
		abort();
	cJSON_Delete(again);
	cJSON_free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly `size` bytes, so ASan sees any over-read. */
	char *buf = malloc(size ? size : 1);
	cJSON *ev = NULL;
	ev_error err;
	int rc;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	rc = ev_parse(buf, size, &ev, &err);
	if (rc == SL_OK) {
		if (ev == NULL ||
		    ev_type_from_string(str(ev, "type")) == EV_UNKNOWN)
			abort();
		round_trip(ev);
	} else if (ev != NULL || err.rule[0] == '\0' ||
		   (rc != SL_EPARSE && rc != SL_EINVAL)) {
		abort();
	}
	cJSON_Delete(ev);
	free(buf);
	return 0;
}
