/*
 * api.h — small pieces of the screening API that need no service:
 * identifiers, the bearer-token check, request hashing and the names
 * of the topics the API writes.
 */
#ifndef SL_API_H
#define SL_API_H

#include <stddef.h>

#include "processor/config.h"
#include "processor/err.h"

#define API_UUID_LEN 36 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" */

/*
 * A random (version 4) UUID from OpenSSL's RAND_bytes, lower-case, in
 * out (API_UUID_LEN + 1 bytes).  SL_OK, or SL_EIO if the generator
 * failed (out then holds "").
 */
int api_uuid_v4(char *out);

/* 1 when s is a UUID in canonical 8-4-4-4-12 hex form (either case). */
int api_is_uuid(const char *s);

/*
 * 1 when the Authorization header value is "Bearer <token>" (scheme in
 * any case) with exactly `token`.  The comparison takes the same time
 * wherever the first difference is.  0 for a NULL header or an empty
 * token.
 */
int api_token_ok(const char *authorization, const char *token);

/*
 * 1 when an Idempotency-Key value is acceptable: 1-255 printable ASCII
 * characters.
 */
int api_idem_key_ok(const char *key);

/* Lower-case hex SHA-256 of the n bytes at p into out (65 bytes). */
void api_sha256_hex(const void *p, size_t n, char *out);

/*
 * 1 when a Content-Type value names JSON: "application/json" with any
 * parameters, any case.  NULL (no header) counts as JSON.
 */
int api_content_type_json(const char *ct);

/* Topic names: api.journey_topic and api.reminder_topic, or defaults. */
const char *api_topic_journey(const sl_config *cfg);
const char *api_topic_reminders(const sl_config *cfg);

#endif
