/* util.c — identifiers, token check and hashing for the screening API. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api/api.h"

int api_uuid_v4(char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t o = 0;

	out[0] = '\0';
	if (RAND_bytes(b, sizeof(b)) != 1)
		return SL_EIO;
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0F];
	}
	out[o] = '\0';
	return SL_OK;
}

int api_is_uuid(const char *s)
{
	if (s == NULL || strlen(s) != API_UUID_LEN)
		return 0;
	for (int i = 0; i < API_UUID_LEN; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

int api_token_ok(const char *authorization, const char *token)
{
	size_t n;

	if (authorization == NULL || token == NULL || token[0] == '\0')
		return 0;
	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return 0;
	authorization += 7;
	while (*authorization == ' ')
		authorization++;

	/* The length is no secret worth hiding; the bytes are. */
	n = strlen(token);
	if (strlen(authorization) != n)
		return 0;
	return CRYPTO_memcmp(authorization, token, n) == 0;
}

int api_idem_key_ok(const char *key)
{
	size_t n;

	if (key == NULL)
		return 0;
	n = strlen(key);
	if (n == 0 || n > 255)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (key[i] < 0x20 || key[i] > 0x7E)
			return 0;
	return 1;
}

void api_sha256_hex(const void *p, size_t n, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[2 * len] = '\0';
}

int api_content_type_json(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL)
		return 1;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/json", n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

const char *api_topic_journey(const sl_config *cfg)
{
	const char *t = sl_config_get(cfg, "api.journey_topic");

	return t ? t : "user_journey";
}

const char *api_topic_reminders(const sl_config *cfg)
{
	const char *t = sl_config_get(cfg, "api.reminder_topic");

	return t ? t : "send_reminder";
}
