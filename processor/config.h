/*
 * config.h — key=value configuration with embedded defaults.
 *
 * Precedence, lowest first: the embedded defaults (config.c), a file of
 * `key = value` lines (`#` comments), then the environment: each key K
 * is read from SLUICE_ + K upper-cased with dots as underscores
 * (reminder.at -> SLUICE_REMINDER_AT).  Any `kafka.*` key may come from
 * the environment too (SLUICE_KAFKA_SOCKET_TIMEOUT_MS ->
 * kafka.socket.timeout.ms).  A secret may come from a file: when
 * SLUICE_<KEY>_FILE is set, the file's first line is the value.
 * Secrets (keys naming a token, password or key, and the password in
 * pg.url) are never printed by sl_config_dump().
 *
 * Loading checks what it loads, so that bad configuration stops a
 * command before anything starts.  A file may set only known keys:
 * those in config.c's table, any `kafka.*` key (librdkafka checks
 * those) and `whatsapp.template.<lang>` / `whatsapp.template_lang.<lang>`;
 * another key is an error naming the file, the line and the key, with
 * "did you mean ...?" when a known key is a few edits away.  The table
 * gives each key a kind (integer, number, duration, time of day,
 * instant, boolean, string) and an integer its range; a value, from a
 * file or the environment, that does not fit is an error naming where
 * it came from, the key, the rule and the value.  A SLUICE_* variable
 * that sets no key is only logged (WARN, by name): scripts export
 * SLUICE_BIN, SLUICE_ROOT and the like, which config.c lists as not
 * configuration and does not warn about.  Values set with
 * sl_config_set() are not checked.
 *
 * Strings returned by the getters live as long as the config or until
 * the key is set again.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "processor/err.h"

typedef struct sl_config sl_config;

/* A config holding the embedded defaults; NULL when out of memory. */
sl_config *sl_config_new(void);
void sl_config_free(sl_config *cfg);

int sl_config_set(sl_config *cfg, const char *key, const char *value);

/*
 * Read a file of key = value lines, then the environment.  SL_OK, or
 * SL_ECONFIG with the reason in eb (unknown key, bad value, unreadable
 * file); keys read before the failing one stay set.
 */
int sl_config_load_file(sl_config *cfg, const char *path, sl_errbuf *eb);
int sl_config_load_env(sl_config *cfg, sl_errbuf *eb);

/* 1 when a file may set key (see above), else 0. */
int sl_config_key_known(const char *key);

/* The value, or NULL when unset or empty. */
const char *sl_config_get(const sl_config *cfg, const char *key);

/*
 * Typed getters: SL_OK and *out set, SL_ENOTFOUND when unset (out
 * untouched), SL_ECONFIG when the value does not parse (message in eb).
 */
int sl_config_int(const sl_config *cfg, const char *key, int64_t *out,
		  sl_errbuf *eb);
int sl_config_double(const sl_config *cfg, const char *key, double *out,
		     sl_errbuf *eb);
int sl_config_duration_ms(const sl_config *cfg, const char *key, int64_t *out,
			  sl_errbuf *eb);
int sl_config_time_of_day(const sl_config *cfg, const char *key, int *minutes,
			  sl_errbuf *eb);
int sl_config_instant_ms(const sl_config *cfg, const char *key, int64_t *out,
			 sl_errbuf *eb);

/* Parsers behind the getters, for values that come from elsewhere. */
int sl_parse_duration_ms(const char *s, int64_t *out);
int sl_parse_time_of_day(const char *s, int *minutes);

/* Call fn for every set key starting with prefix (prefix stripped). */
typedef int (*sl_config_each_fn)(const char *key, const char *value, void *ud);
int sl_config_each(const sl_config *cfg, const char *prefix,
		   sl_config_each_fn fn, void *ud);

/* 1 when the key holds a secret that must never be logged. */
int sl_config_is_secret(const char *key);

/* Print every set key, secrets as "(set)", to f. */
void sl_config_dump(const sl_config *cfg, FILE *f);

#endif
