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
int sl_config_load_file(sl_config *cfg, const char *path, sl_errbuf *eb);
int sl_config_load_env(sl_config *cfg, sl_errbuf *eb);

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
