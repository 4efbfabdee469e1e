/* config.c — embedded defaults, file and environment loading. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "processor/config.h"
#include "processor/timeutil.h"

/* The embedded defaults: everything `make run` needs and nothing secret. */
static const char *const defaults[][2] = {
	{ "application.id", "sluice-campaign" },
	{ "kafka.bootstrap.servers", "127.0.0.1:9092" },
	{ "state.dir", "sluice-state" },
	{ "processing.guarantee", "at_least_once" },
	{ "commit.interval.ms", "1000" },
	{ "num.standby.replicas", "0" },
	{ "topic.partitions", "12" },
	{ "topic.replication.factor", "1" },
	{ "api.listen", "127.0.0.1:8080" },
	{ "api.max_body", "65536" },
	{ "admin.listen", "127.0.0.1:8081" },
	{ "pg.url", "postgresql://postgres@127.0.0.1:5432/sluice" },
	{ "pg.pool_size", "8" },
	{ "clickhouse.url", "http://127.0.0.1:8123" },
	{ "clickhouse.database", "default" },
	{ "clickhouse.batch_rows", "10000" },
	{ "clickhouse.batch_bytes", "16777216" },
	{ "clickhouse.timeout", "30s" },
	{ "dry_run.dir", "dry-run" },
	{ "reminder.at", "19:00" },
	{ "reminder.timezone", "Asia/Kolkata" },
	{ "reminder.min_idle", "1h" },
	{ "reminder.max_per_user", "3" },
	{ "reminder.catchup_until", "21:00" },
	{ "reminder.give_up_after", "7d" },
	{ "whatsapp.rate", "80" },
	{ "meta.api_version", "v21.0" },
	{ "meta.event_name", "Lead" },
	{ "meta.action_source", "system_generated" },
	{ "meta.batch_size", "1000" },
	{ "meta.timeout", "10s" },
	{ "meta.backoff", "1s" },
	{ "clock.speed", "1" },
	{ "log.level", "info" },
};

struct entry {
	char *key;
	char *value;
};

struct sl_config {
	struct entry *v;
	size_t n, cap;
};

static struct entry *find(const sl_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (strcmp(cfg->v[i].key, key) == 0)
			return &cfg->v[i];
	return NULL;
}

sl_config *sl_config_new(void)
{
	sl_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		if (sl_config_set(cfg, defaults[i][0], defaults[i][1]) != 0) {
			sl_config_free(cfg);
			return NULL;
		}
	}
	return cfg;
}

void sl_config_free(sl_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->v[i].key);
		free(cfg->v[i].value);
	}
	free(cfg->v);
	free(cfg);
}

int sl_config_set(sl_config *cfg, const char *key, const char *value)
{
	struct entry *e = find(cfg, key);
	char *nv = strdup(value ? value : "");

	if (nv == NULL)
		return SL_ENOMEM;
	if (e != NULL) {
		free(e->value);
		e->value = nv;
		return SL_OK;
	}
	if (cfg->n == cfg->cap) {
		size_t cap = cfg->cap ? cfg->cap * 2 : 64;
		struct entry *v = realloc(cfg->v, cap * sizeof(*v));

		if (v == NULL) {
			free(nv);
			return SL_ENOMEM;
		}
		cfg->v = v;
		cfg->cap = cap;
	}
	cfg->v[cfg->n].key = strdup(key);
	if (cfg->v[cfg->n].key == NULL) {
		free(nv);
		return SL_ENOMEM;
	}
	cfg->v[cfg->n++].value = nv;
	return SL_OK;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int sl_config_load_file(sl_config *cfg, const char *path, sl_errbuf *eb)
{
	char line[4096];
	int lineno = 0, rc = SL_OK;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return sl_errbuf_set(eb, SL_ECONFIG, "cannot open %s: %s", path,
				     strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq;
		size_t len = strlen(line);

		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n' &&
		    !feof(f)) {
			rc = sl_errbuf_set(eb, SL_ECONFIG,
					   "%s:%d: line longer than %zu bytes",
					   path, lineno, sizeof(line) - 2);
			goto out;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			rc = sl_errbuf_set(eb, SL_ECONFIG,
					   "%s:%d: expected key = value", path,
					   lineno);
			goto out;
		}
		*eq = '\0';
		rc = sl_config_set(cfg, trim(s), trim(eq + 1));
		if (rc != SL_OK)
			goto out;
	}
out:
	fclose(f);
	return rc;
}

/* "reminder.max_per_user" -> "SLUICE_REMINDER_MAX_PER_USER" */
static void env_name(const char *key, char *out, size_t n)
{
	size_t o = snprintf(out, n, "SLUICE_");

	for (; *key && o + 1 < n; key++)
		out[o++] = *key == '.' ? '_'
				       : (char)toupper((unsigned char)*key);
	out[o] = '\0';
}

static int read_secret_file(const char *path, char **out, sl_errbuf *eb)
{
	char buf[4096];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return sl_errbuf_set(eb, SL_ECONFIG, "cannot open %s: %s", path,
				     strerror(errno));
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	*out = strdup(trim(buf));
	return *out ? SL_OK : SL_ENOMEM;
}

static int load_env_key(sl_config *cfg, const char *key, sl_errbuf *eb)
{
	char name[256], fname[272];
	const char *v;
	char *secret = NULL;
	int rc;

	env_name(key, name, sizeof(name));
	v = getenv(name);
	if (v != NULL)
		return sl_config_set(cfg, key, v);
	snprintf(fname, sizeof(fname), "%s_FILE", name);
	v = getenv(fname);
	if (v == NULL)
		return SL_OK;
	rc = read_secret_file(v, &secret, eb);
	if (rc == SL_OK)
		rc = sl_config_set(cfg, key, secret);
	free(secret);
	return rc;
}

/* Keys that may be set from the environment though no default names them. */
static const char *const extra_keys[] = {
	"api.token",
	"clock.start",
	"group.instance.id",
	"meta.token",
	"meta.dataset_id",
	"meta.api_version",
	"meta.test_event_code",
	"whatsapp.token",
	"whatsapp.phone_number_id",
	"whatsapp.url",
	"meta.url",
	"worker.topologies",
	"pg.pool_size",
	"admin.listen",
	"pincodes.file",
	"admin.advertise",
	"whatsapp.version",
	"whatsapp.fallback_lang",
	"whatsapp.topic",
	"whatsapp.journey_topic",
	"whatsapp.timeout",
	"whatsapp.max_attempts",
	"whatsapp.give_up_after",
	"whatsapp.keep",
	"whatsapp.auth_retry",
	"whatsapp.batch",
	"whatsapp.max_in_flight",
	"whatsapp.connections",
	"whatsapp.template.default",
	"api.threads",
	"api.max_connections",
	"api.per_ip_limit",
	"api.timeout",
	"api.idempotency_ttl",
	"api.journey_topic",
	"api.reminder_topic",
	"pg.listen_url",
	"pg.pool_wait",
	"pg.query_timeout",
	"pg.writers",
	"pg.batch",
	"outbox.batch",
	"outbox.interval",
	"outbox.retention",
	"outbox.notify",
};

int sl_config_load_env(sl_config *cfg, sl_errbuf *eb)
{
	extern char **environ;
	int rc;

	for (size_t i = 0; i < cfg->n; i++) {
		/* sl_config_set may grow cfg->v; copy the key first. */
		char key[256];

		snprintf(key, sizeof(key), "%s", cfg->v[i].key);
		rc = load_env_key(cfg, key, eb);
		if (rc != SL_OK)
			return rc;
	}
	for (size_t i = 0; i < sizeof(extra_keys) / sizeof(*extra_keys); i++) {
		rc = load_env_key(cfg, extra_keys[i], eb);
		if (rc != SL_OK)
			return rc;
	}

	/* SLUICE_KAFKA_A_B=v -> kafka.a.b=v for any librdkafka property. */
	for (char **e = environ; *e != NULL; e++) {
		char key[256];
		const char *eq = strchr(*e, '=');
		size_t o = 0;

		if (strncmp(*e, "SLUICE_KAFKA_", 13) != 0 || eq == NULL)
			continue;
		for (const char *p = *e + 7; p < eq && o + 1 < sizeof(key); p++)
			key[o++] = *p == '_' ? '.'
					     : (char)tolower((unsigned char)*p);
		key[o] = '\0';
		if (find(cfg, key) != NULL)
			continue; /* already taken from its exact name */
		rc = sl_config_set(cfg, key, eq + 1);
		if (rc != SL_OK)
			return rc;
	}
	return SL_OK;
}

const char *sl_config_get(const sl_config *cfg, const char *key)
{
	struct entry *e = find(cfg, key);

	return (e == NULL || e->value[0] == '\0') ? NULL : e->value;
}

int sl_config_int(const sl_config *cfg, const char *key, int64_t *out,
		  sl_errbuf *eb)
{
	const char *v = sl_config_get(cfg, key);
	char *end;
	long long n;

	if (v == NULL)
		return SL_ENOTFOUND;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "%s: expected an integer, got '%s'", key,
				     v);
	*out = n;
	return SL_OK;
}

int sl_config_double(const sl_config *cfg, const char *key, double *out,
		     sl_errbuf *eb)
{
	const char *v = sl_config_get(cfg, key);
	char *end;
	double d;

	if (v == NULL)
		return SL_ENOTFOUND;
	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || *end != '\0' || end == v)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "%s: expected a number, got '%s'", key, v);
	*out = d;
	return SL_OK;
}

int sl_parse_duration_ms(const char *s, int64_t *out)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = { { "ms", 1 },
		      { "s", 1000 },
		      { "m", 60000 },
		      { "h", 3600000 },
		      { "d", 86400000 } };
	char *end;
	long long n;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		return SL_EPARSE;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return SL_EPARSE;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (n > INT64_MAX / units[i].ms)
				return SL_EPARSE;
			*out = n * units[i].ms;
			return SL_OK;
		}
	}
	return SL_EPARSE;
}

int sl_parse_time_of_day(const char *s, int *minutes)
{
	if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return SL_EPARSE;
	int h = (s[0] - '0') * 10 + (s[1] - '0');
	int m = (s[3] - '0') * 10 + (s[4] - '0');

	if (h > 23 || m > 59)
		return SL_EPARSE;
	*minutes = h * 60 + m;
	return SL_OK;
}

int sl_config_duration_ms(const sl_config *cfg, const char *key, int64_t *out,
			  sl_errbuf *eb)
{
	const char *v = sl_config_get(cfg, key);

	if (v == NULL)
		return SL_ENOTFOUND;
	if (sl_parse_duration_ms(v, out) != SL_OK)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "%s: expected a duration like 90m or 7d, "
				     "got '%s'",
				     key, v);
	return SL_OK;
}

int sl_config_time_of_day(const sl_config *cfg, const char *key, int *minutes,
			  sl_errbuf *eb)
{
	const char *v = sl_config_get(cfg, key);

	if (v == NULL)
		return SL_ENOTFOUND;
	if (sl_parse_time_of_day(v, minutes) != SL_OK)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "%s: expected HH:MM, got '%s'", key, v);
	return SL_OK;
}

int sl_config_instant_ms(const sl_config *cfg, const char *key, int64_t *out,
			 sl_errbuf *eb)
{
	const char *v = sl_config_get(cfg, key);

	if (v == NULL)
		return SL_ENOTFOUND;
	if (sl_time_parse_rfc3339(v, out) != SL_OK)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "%s: expected an RFC 3339 instant, got "
				     "'%s'",
				     key, v);
	return SL_OK;
}

int sl_config_each(const sl_config *cfg, const char *prefix,
		   sl_config_each_fn fn, void *ud)
{
	size_t plen = strlen(prefix);

	for (size_t i = 0; i < cfg->n; i++) {
		int rc;

		if (strncmp(cfg->v[i].key, prefix, plen) != 0)
			continue;
		rc = fn(cfg->v[i].key + plen, cfg->v[i].value, ud);
		if (rc != 0)
			return rc;
	}
	return SL_OK;
}

int sl_config_is_secret(const char *key)
{
	return strstr(key, "token") != NULL ||
	       strstr(key, "password") != NULL ||
	       strstr(key, "secret") != NULL || strstr(key, ".key") != NULL ||
	       strcmp(key, "pg.url") == 0 || strcmp(key, "clickhouse.url") == 0;
}

/* pg.url and clickhouse.url may carry a password: show them without it. */
static void print_redacted_url(FILE *f, const char *v)
{
	const char *at = strchr(v, '@'), *scheme = strstr(v, "://");

	if (at == NULL || scheme == NULL || at < scheme) {
		fputs(v, f);
		return;
	}
	const char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));

	if (colon == NULL) {
		fputs(v, f);
		return;
	}
	fprintf(f, "%.*s:***%s", (int)(colon - v), v, at);
}

void sl_config_dump(const sl_config *cfg, FILE *f)
{
	for (size_t i = 0; i < cfg->n; i++) {
		const char *k = cfg->v[i].key;

		fprintf(f, "%s = ", k);
		if (strstr(k, ".url") != NULL)
			print_redacted_url(f, cfg->v[i].value);
		else if (sl_config_is_secret(k))
			fputs(cfg->v[i].value[0] ? "(set)" : "", f);
		else
			fputs(cfg->v[i].value, f);
		fputc('\n', f);
	}
}
