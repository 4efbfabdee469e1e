/*
 * config.c — the table of known keys with their defaults, kinds and
 * ranges; file and environment loading, which refuse unknown keys and
 * values that do not fit their key.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "processor/config.h"
#include "processor/log.h"
#include "processor/timeutil.h"

enum kind {
	KIND_STRING,
	KIND_INTEGER,	  /* sl_config_int, within [lo, hi] */
	KIND_NUMBER,	  /* sl_config_double, finite */
	KIND_DURATION,	  /* sl_config_duration_ms */
	KIND_TIME_OF_DAY, /* sl_config_time_of_day */
	KIND_INSTANT,	  /* sl_config_instant_ms */
	KIND_BOOLEAN,	  /* true/false, 1/0, yes/no, on/off */
	KIND_NAME,	  /* Kafka's name characters; names paths too */
};

struct known {
	const char *key;
	const char *def; /* the embedded default; NULL for none */
	enum kind kind;
	int64_t lo, hi; /* KIND_INTEGER only */
};

/* clang-format off */
#define STRING(k, d) { (k), (d), KIND_STRING, 0, 0 }
#define INTEGER(k, d, lo, hi) { (k), (d), KIND_INTEGER, (lo), (hi) }
#define NUMBER(k, d) { (k), (d), KIND_NUMBER, 0, 0 }
#define DURATION(k, d) { (k), (d), KIND_DURATION, 0, 0 }
#define TIME_OF_DAY(k, d) { (k), (d), KIND_TIME_OF_DAY, 0, 0 }
#define INSTANT(k, d) { (k), (d), KIND_INSTANT, 0, 0 }
#define BOOLEAN(k, d) { (k), (d), KIND_BOOLEAN, 0, 0 }
#define NAME(k, d) { (k), (d), KIND_NAME, 0, 0 }
/* clang-format on */

/* An integer whose range the component reading it checks. */
#define ANY_INTEGER(k, d) INTEGER(k, d, INT64_MIN, INT64_MAX)

/*
 * Every key Sluice reads (tests/unit/test_config.c fails when the code
 * reads one missing here), in the order sl_config_dump() shows them.
 * The defaults are everything `make run` needs and nothing secret.
 * Ranges are given here for the keys whose readers take the value as
 * it comes; the others are range-checked by the component reading them
 * (api/server.c, topologies/whatsapp.c, connectors/), which gives the
 * same "key: must be ..." error when it starts.
 */
static const struct known known[] = {
	NAME("application.id", "sluice-campaign"),
	STRING("kafka.bootstrap.servers", "127.0.0.1:9092"),
	STRING("state.dir", "sluice-state"),
	STRING("processing.guarantee", "at_least_once"),
	INTEGER("commit.interval.ms", "1000", 1, 86400000),
	INTEGER("num.standby.replicas", "0", 0, 1000),
	INTEGER("topic.partitions", "12", 1, 100000),
	INTEGER("topic.replication.factor", "1", 1, 32767),
	STRING("api.listen", "127.0.0.1:8080"),
	ANY_INTEGER("api.max_body", "65536"),
	STRING("admin.listen", "127.0.0.1:8081"),
	STRING("pg.url", "postgresql://postgres@127.0.0.1:5432/sluice"),
	ANY_INTEGER("pg.pool_size", "8"),
	STRING("clickhouse.url", "http://127.0.0.1:8123"),
	STRING("clickhouse.database", "default"),
	ANY_INTEGER("clickhouse.batch_rows", "10000"),
	ANY_INTEGER("clickhouse.batch_bytes", "16777216"),
	DURATION("clickhouse.timeout", "30s"),
	STRING("dry_run.dir", "dry-run"),
	TIME_OF_DAY("reminder.at", "19:00"),
	STRING("reminder.timezone", "Asia/Kolkata"),
	DURATION("reminder.min_idle", "1h"),
	INTEGER("reminder.max_per_user", "3", 0, INT64_MAX),
	TIME_OF_DAY("reminder.catchup_until", "21:00"),
	DURATION("reminder.give_up_after", "7d"),
	NUMBER("whatsapp.rate", "80"),
	STRING("meta.api_version", "v21.0"),
	STRING("meta.event_name", "Lead"),
	STRING("meta.action_source", "system_generated"),
	ANY_INTEGER("meta.batch_size", "1000"),
	DURATION("meta.timeout", "10s"),
	DURATION("meta.backoff", "1s"),
	NUMBER("clock.speed", "1"),
	STRING("log.level", "info"),

	/* No default: unset unless a file or the environment sets them. */
	STRING("api.token", NULL),
	INSTANT("clock.start", NULL),
	STRING("group.instance.id", NULL),
	STRING("dead_letter.topic", NULL),
	STRING("meta.token", NULL),
	STRING("meta.dataset_id", NULL),
	STRING("meta.test_event_code", NULL),
	STRING("meta.url", NULL),
	STRING("whatsapp.token", NULL),
	STRING("whatsapp.phone_number_id", NULL),
	STRING("whatsapp.url", NULL),
	STRING("worker.topologies", NULL),
	STRING("pincodes.file", NULL),
	STRING("admin.advertise", NULL),
	STRING("whatsapp.version", NULL),
	STRING("whatsapp.fallback_lang", NULL),
	STRING("whatsapp.topic", NULL),
	STRING("whatsapp.journey_topic", NULL),
	DURATION("whatsapp.timeout", NULL),
	ANY_INTEGER("whatsapp.max_attempts", NULL),
	DURATION("whatsapp.give_up_after", NULL),
	DURATION("whatsapp.keep", NULL),
	DURATION("whatsapp.auth_retry", NULL),
	ANY_INTEGER("whatsapp.batch", NULL),
	ANY_INTEGER("whatsapp.max_in_flight", NULL),
	ANY_INTEGER("whatsapp.connections", NULL),
	STRING("whatsapp.template.default", NULL),
	ANY_INTEGER("api.threads", NULL),
	ANY_INTEGER("api.max_connections", NULL),
	ANY_INTEGER("api.per_ip_limit", NULL),
	DURATION("api.timeout", NULL),
	DURATION("api.idempotency_ttl", NULL),
	STRING("api.journey_topic", NULL),
	STRING("api.reminder_topic", NULL),
	STRING("pg.listen_url", NULL),
	DURATION("pg.pool_wait", NULL),
	DURATION("pg.query_timeout", NULL),
	ANY_INTEGER("pg.writers", NULL),
	ANY_INTEGER("pg.batch", NULL),
	ANY_INTEGER("outbox.batch", NULL),
	DURATION("outbox.interval", NULL),
	DURATION("outbox.retention", NULL),
	BOOLEAN("outbox.notify", NULL),
};

#define NKNOWN (sizeof(known) / sizeof(known[0]))

/*
 * Key families whose members are not listed: any librdkafka property,
 * and the WhatsApp template of a language (name and language code).
 */
static const char *const passthrough[] = {
	"kafka.",
	"whatsapp.template.",
	"whatsapp.template_lang.",
};

/*
 * SLUICE_* environment variables that are not configuration: the
 * scripts' and tests' own settings.  They load nothing and draw no
 * warning.
 */
static const char *const not_config_env[] = {
	"SLUICE_BIN",		      /* the binary the tests run */
	"SLUICE_ROOT",		      /* scripts/lib.sh: the checkout */
	"SLUICE_KEEP_SERVICES",	      /* scripts/test.sh */
	"SLUICE_PGBOUNCER_URL",	      /* scripts/services.sh export */
	"SLUICE_UNIT_TIMEOUT",	      /* scripts/test.sh */
	"SLUICE_INTEGRATION_TIMEOUT", /* scripts/test.sh */
	"SLUICE_STYLE_VERBOSE",	      /* scripts/check-style.sh */
	"SLUICE_TEST_KEEP",	      /* tests/integration */
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
	for (size_t i = 0; i < NKNOWN; i++) {
		if (known[i].def == NULL)
			continue;
		if (sl_config_set(cfg, known[i].key, known[i].def) != SL_OK) {
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

/* ---- known keys, typo suggestions, value checks ------------------- */

static const struct known *known_key(const char *key)
{
	for (size_t i = 0; i < NKNOWN; i++)
		if (strcmp(known[i].key, key) == 0)
			return &known[i];
	return NULL;
}

int sl_config_key_known(const char *key)
{
	if (known_key(key) != NULL)
		return 1;
	for (size_t i = 0; i < sizeof(passthrough) / sizeof(*passthrough);
	     i++) {
		size_t n = strlen(passthrough[i]);

		if (strncmp(key, passthrough[i], n) == 0 && key[n] != '\0')
			return 1;
	}
	return 0;
}

#define MAX_TYPO_LEN 64

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

static int same_ci(char a, char b)
{
	return tolower((unsigned char)a) == tolower((unsigned char)b);
}

/*
 * Edits (insert, delete, replace, swap two neighbours) from a to b,
 * ignoring case; SIZE_MAX for strings longer than MAX_TYPO_LEN.  Three
 * rows of the matrix are kept: the swap looks two rows back.
 */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t r[3][MAX_TYPO_LEN + 1];

	if (la > MAX_TYPO_LEN || lb > MAX_TYPO_LEN)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		r[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *cur = r[i % 3], *prev = r[(i - 1) % 3];
		size_t *back = r[(i + 1) % 3]; /* row i - 2 */

		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + !same_ci(a[i - 1], b[j - 1]);

			cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, sub);
			if (i > 1 && j > 1 && same_ci(a[i - 1], b[j - 2]) &&
			    same_ci(a[i - 2], b[j - 1]) &&
			    back[j - 2] + 1 < cur[j])
				cur[j] = back[j - 2] + 1;
		}
	}
	return r[la % 3][lb];
}

/* How many edits still read as a typo of a name this long. */
static size_t typo_limit(size_t len)
{
	return len <= 4 ? 1 : len <= 10 ? 2 : 3;
}

/* The known key a typo of key, or NULL when none is close. */
static const char *suggest_key(const char *key)
{
	size_t best = typo_limit(strlen(key)) + 1;
	const char *near = NULL;

	for (size_t i = 0; i < NKNOWN; i++) {
		size_t d = edit_distance(key, known[i].key);

		if (d < best) {
			best = d;
			near = known[i].key;
		}
	}
	return near;
}

static int parse_int(const char *v, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v)
		return SL_EPARSE;
	*out = n;
	return SL_OK;
}

static int parse_bool(const char *v)
{
	static const char *const words[] = {
		"true", "false", "1", "0", "yes", "no", "on", "off",
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (strcasecmp(v, words[i]) == 0)
			return SL_OK;
	return SL_EPARSE;
}

/* The rule an integer key's value must follow, in words. */
static void int_rule(const struct known *k, char *out, size_t n)
{
	if (k->lo == INT64_MIN && k->hi == INT64_MAX)
		snprintf(out, n, "an integer");
	else if (k->hi == INT64_MAX)
		snprintf(out, n, "an integer of at least %lld",
			 (long long)k->lo);
	else
		snprintf(out, n, "an integer from %lld to %lld",
			 (long long)k->lo, (long long)k->hi);
}

/* Keys whose empty value would leave nothing to run with. */
static const char *const required[] = {
	"application.id",
	"kafka.bootstrap.servers",
	"state.dir",
	"reminder.at",
	"reminder.timezone",
	"reminder.min_idle",
	"reminder.max_per_user",
	"reminder.catchup_until",
	"reminder.give_up_after",
};

/*
 * A name that becomes topics, groups and state directories (the
 * application id): Kafka's topic characters only, and not "." or ".."
 * (a path out of state.dir).
 */
static int valid_name(const char *v)
{
	if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0 || strlen(v) > 200)
		return 0;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' &&
		    *p != '-')
			return 0;
	return 1;
}

/*
 * SL_OK when v suits k's kind and range; else SL_ECONFIG with
 * "<where>: <key>: expected <rule>, got '<v>'" in eb.  An empty value
 * means unset (sl_config_get returns NULL for it) and suits every key
 * but those in required[].
 */
static int check_value(const struct known *k, const char *where, const char *v,
		       sl_errbuf *eb)
{
	char rule[96];
	int64_t n = 0;
	int minutes, ok = 0;
	double d;
	char *end;

	if (v[0] == '\0') {
		for (size_t i = 0; i < sizeof(required) / sizeof(*required);
		     i++)
			if (strcmp(k->key, required[i]) == 0)
				return sl_errbuf_set(
					eb, SL_ECONFIG,
					"%s: %s: must not be empty", where,
					k->key);
		return SL_OK;
	}
	switch (k->kind) {
	case KIND_STRING:
		return SL_OK;
	case KIND_NAME:
		snprintf(rule, sizeof(rule),
			 "letters, digits, '.', '_' and '-' (not . or ..), "
			 "up to 200");
		ok = valid_name(v);
		break;
	case KIND_INTEGER:
		int_rule(k, rule, sizeof(rule));
		ok = parse_int(v, &n) == SL_OK && n >= k->lo && n <= k->hi;
		break;
	case KIND_NUMBER:
		snprintf(rule, sizeof(rule), "a finite number");
		errno = 0;
		d = strtod(v, &end);
		ok = errno == 0 && *end == '\0' && end != v && isfinite(d);
		break;
	case KIND_DURATION:
		snprintf(rule, sizeof(rule),
			 "a duration like 500ms, 30s, 90m, 1h or 7d");
		ok = sl_parse_duration_ms(v, &n) == SL_OK;
		break;
	case KIND_TIME_OF_DAY:
		snprintf(rule, sizeof(rule),
			 "a time of day HH:MM, 00:00 to 23:59");
		ok = sl_parse_time_of_day(v, &minutes) == SL_OK;
		break;
	case KIND_INSTANT:
		snprintf(rule, sizeof(rule),
			 "an RFC 3339 instant like "
			 "2026-03-01T18:55:00+05:30");
		ok = sl_time_parse_rfc3339(v, &n) == SL_OK;
		break;
	case KIND_BOOLEAN:
		snprintf(rule, sizeof(rule), "true or false");
		ok = parse_bool(v) == SL_OK;
		break;
	}
	if (ok)
		return SL_OK;
	return sl_errbuf_set(eb, SL_ECONFIG, "%s: %s: expected %s, got '%.80s'",
			     where, k->key, rule, v);
}

/* SL_OK when a file may set key to value; else SL_ECONFIG, said in eb. */
static int check_entry(const char *where, const char *key, const char *value,
		       sl_errbuf *eb)
{
	const struct known *k = known_key(key);
	const char *near;

	if (k != NULL)
		return check_value(k, where, value, eb);
	if (sl_config_key_known(key))
		return SL_OK;
	near = suggest_key(key);
	if (near != NULL)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "%s: unknown key '%.100s' (did you mean "
				     "%s?)",
				     where, key, near);
	return sl_errbuf_set(eb, SL_ECONFIG,
			     "%s: unknown key '%.100s' (docs/CONFIG.md lists "
			     "the keys; kafka.* go to librdkafka)",
			     where, key);
}

/* ---- loading ------------------------------------------------------ */

int sl_config_load_file(sl_config *cfg, const char *path, sl_errbuf *eb)
{
	char line[4096], where[512];
	int lineno = 0, rc = SL_OK;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return sl_errbuf_set(eb, SL_ECONFIG, "cannot open %s: %s", path,
				     strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *key, *value;
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
		key = trim(s);
		value = trim(eq + 1);
		snprintf(where, sizeof(where), "%.400s:%d", path, lineno);
		rc = check_entry(where, key, value, eb);
		if (rc == SL_OK)
			rc = sl_config_set(cfg, key, value);
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

/* Set key from SLUICE_<KEY> or the file SLUICE_<KEY>_FILE names. */
static int load_env_key(sl_config *cfg, const char *key, sl_errbuf *eb)
{
	const struct known *k = known_key(key);
	char name[256], fname[272];
	const char *v;
	char *secret = NULL;
	int rc;

	env_name(key, name, sizeof(name));
	v = getenv(name);
	if (v != NULL) {
		rc = k ? check_value(k, name, v, eb) : SL_OK;
		return rc == SL_OK ? sl_config_set(cfg, key, v) : rc;
	}
	snprintf(fname, sizeof(fname), "%s_FILE", name);
	v = getenv(fname);
	if (v == NULL)
		return SL_OK;
	rc = read_secret_file(v, &secret, eb);
	if (rc == SL_OK && k != NULL)
		rc = check_value(k, fname, secret, eb);
	if (rc == SL_OK)
		rc = sl_config_set(cfg, key, secret);
	free(secret);
	return rc;
}

/* 1 when name is SLUICE_<KEY> or SLUICE_<KEY>_FILE for this key. */
static int env_names_key(const char *name, const char *key)
{
	char want[256];
	size_t n;

	env_name(key, want, sizeof(want));
	n = strlen(want);
	return strncmp(name, want, n) == 0 &&
	       (name[n] == '\0' || strcmp(name + n, "_FILE") == 0);
}

/* 1 when sl_config_load_env reads the SLUICE_* variable name. */
static int env_is_used(const sl_config *cfg, const char *name)
{
	if (strncmp(name, "SLUICE_KAFKA_", 13) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(not_config_env) / sizeof(*not_config_env);
	     i++)
		if (strcmp(name, not_config_env[i]) == 0)
			return 1;
	for (size_t i = 0; i < NKNOWN; i++)
		if (env_names_key(name, known[i].key))
			return 1;
	for (size_t i = 0; i < cfg->n; i++)
		if (env_names_key(name, cfg->v[i].key))
			return 1;
	return 0;
}

/* The SLUICE_* name of the known key name is a typo of, or "". */
static void suggest_env(const char *name, char *out, size_t n)
{
	size_t best = typo_limit(strlen(name) - 7) + 1;
	char cand[256];

	out[0] = '\0';
	for (size_t i = 0; i < NKNOWN; i++) {
		size_t d;

		env_name(known[i].key, cand, sizeof(cand));
		d = edit_distance(name + 7, cand + 7);
		if (d < best) {
			best = d;
			snprintf(out, n, "%s", cand);
		}
	}
}

/*
 * A SLUICE_* variable that feeds no key is most likely a typo; it is
 * not an error, since scripts export settings of their own (see
 * not_config_env), but it is said once, by name only (the value may be
 * a secret).
 */
static void warn_unused_env(const sl_config *cfg)
{
	extern char **environ;

	for (char **e = environ; *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		char name[256], near[256];

		if (strncmp(*e, "SLUICE_", 7) != 0 || eq == NULL ||
		    (size_t)(eq - *e) >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
		if (env_is_used(cfg, name))
			continue;
		suggest_env(name, near, sizeof(near));
		if (near[0] != '\0')
			SL_WARN("config",
				"environment variable sets no config key, "
				"ignored name=%s did_you_mean=%s",
				name, near);
		else
			SL_WARN("config",
				"environment variable sets no config key, "
				"ignored name=%s",
				name);
	}
}

int sl_config_load_env(sl_config *cfg, sl_errbuf *eb)
{
	extern char **environ;
	int rc;

	/* Keys already set: defaults, and the file's (kafka.* included). */
	for (size_t i = 0; i < cfg->n; i++) {
		/* sl_config_set may grow cfg->v; copy the key first. */
		char key[256];

		snprintf(key, sizeof(key), "%s", cfg->v[i].key);
		rc = load_env_key(cfg, key, eb);
		if (rc != SL_OK)
			return rc;
	}

	/* Known keys that nothing has set yet. */
	for (size_t i = 0; i < NKNOWN; i++) {
		if (find(cfg, known[i].key) != NULL)
			continue;
		rc = load_env_key(cfg, known[i].key, eb);
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
	warn_unused_env(cfg);
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

	if (v == NULL)
		return SL_ENOTFOUND;
	if (parse_int(v, out) != SL_OK)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "%s: expected an integer, got '%s'", key,
				     v);
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
