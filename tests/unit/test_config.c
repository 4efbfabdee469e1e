/*
 * test_config.c — what loading a configuration accepts and refuses.
 *
 * Files and SLUICE_* variables are made here, so no service is needed.
 * The expected messages are spelled out in full from the rules the
 * task set (commit.interval.ms >= 1, num.standby.replicas >= 0, ...),
 * not produced by the code under test.
 *
 * Two checks read the source tree (found from the working directory or
 * from this binary's path; the test fails if it cannot be found):
 * every key literal the code passes next to a config handle must be a
 * known key, and no SLUICE_* name in scripts/ and tests/ may draw the
 * "sets no config key" warning.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "processor/config.h"
#include "processor/log.h"

extern char **environ;

static char tmpdir[64];
static char root[PATH_MAX];

/* ---- helpers ------------------------------------------------------ */

/* Write text to <tmpdir>/name; the path goes to out. */
static void write_file(const char *name, const char *text, char *out, size_t n)
{
	FILE *f;

	snprintf(out, n, "%s/%s", tmpdir, name);
	f = fopen(out, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Load text as a file onto fresh defaults; the config is returned. */
static sl_config *load_text(const char *text, int *rc, sl_errbuf *eb,
			    char *path, size_t n)
{
	sl_config *cfg = sl_config_new();

	assert_non_null(cfg);
	write_file("test.conf", text, path, n);
	eb->msg[0] = '\0';
	*rc = sl_config_load_file(cfg, path, eb);
	return cfg;
}

/* Unset every SLUICE_* variable so the tests see only their own. */
static void clear_sluice_env(void)
{
	char names[256][128];
	size_t n = 0;

	for (char **e = environ; *e != NULL && n < 256; e++) {
		const char *eq = strchr(*e, '=');

		if (strncmp(*e, "SLUICE_", 7) == 0 && eq != NULL &&
		    eq - *e < 128)
			snprintf(names[n++], 128, "%.*s", (int)(eq - *e), *e);
	}
	for (size_t i = 0; i < n; i++)
		unsetenv(names[i]);
}

/* sl_config_load_env with stderr (the log) caught; returns the log. */
static char *load_env_logged(sl_config *cfg, int *rc, sl_errbuf *eb)
{
	char path[96];
	int fd, saved;
	off_t size;
	char *log;

	snprintf(path, sizeof(path), "%s/stderr.XXXXXX", tmpdir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	sl_log_level = SL_LOG_INFO;
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fd, 2) >= 0);
	eb->msg[0] = '\0';
	*rc = sl_config_load_env(cfg, eb);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);

	size = lseek(fd, 0, SEEK_END);
	assert_true(size >= 0);
	log = calloc(1, (size_t)size + 1);
	assert_non_null(log);
	assert_int_equal(pread(fd, log, (size_t)size, 0), size);
	close(fd);
	unlink(path);
	return log;
}

static int64_t get_int(const sl_config *cfg, const char *key)
{
	sl_errbuf eb = { { 0 } };
	int64_t v = -12345;

	assert_int_equal(sl_config_int(cfg, key, &v, &eb), SL_OK);
	return v;
}

/* ---- unknown keys in a file ---------------------------------------- */

static void test_typo_key_suggests(void **state)
{
	static const struct {
		const char *line, *msg;
	} cases[] = {
		{ "reminder.att = 20:00",
		  "unknown key 'reminder.att' (did you mean reminder.at?)" },
		{ "remnder.at = 20:00",
		  "unknown key 'remnder.at' (did you mean reminder.at?)" },
		{ "comit.interval.ms = 100",
		  "unknown key 'comit.interval.ms' (did you mean "
		  "commit.interval.ms?)" },
		{ "kafak.bootstrap.servers = 127.0.0.1:1",
		  "unknown key 'kafak.bootstrap.servers' (did you mean "
		  "kafka.bootstrap.servers?)" },
		{ "Reminder.At = 20:00",
		  "unknown key 'Reminder.At' (did you mean reminder.at?)" },
	};
	char text[256], path[128], want[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		sl_errbuf eb;
		sl_config *cfg;
		int rc;

		/* The typo is on line 3, after a comment and a good key. */
		snprintf(text, sizeof(text),
			 "# trial\napplication.id = t\n%s\n", cases[i].line);
		cfg = load_text(text, &rc, &eb, path, sizeof(path));
		snprintf(want, sizeof(want), "%s:3: %s", path, cases[i].msg);
		assert_int_equal(rc, SL_ECONFIG);
		assert_string_equal(eb.msg, want);
		sl_config_free(cfg);
	}
}

static void test_unknown_key_far_from_any(void **state)
{
	char path[128], want[512];
	sl_errbuf eb;
	int rc;
	sl_config *cfg = load_text("zzz = 1\n", &rc, &eb, path, sizeof(path));

	(void)state;
	snprintf(want, sizeof(want),
		 "%s:1: unknown key 'zzz' (docs/CONFIG.md lists the keys; "
		 "kafka.* go to librdkafka)",
		 path);
	assert_int_equal(rc, SL_ECONFIG);
	assert_string_equal(eb.msg, want);
	assert_null(sl_config_get(cfg, "zzz"));
	sl_config_free(cfg);
}

static void test_passthrough_keys(void **state)
{
	char path[128];
	sl_errbuf eb;
	int rc;
	sl_config *cfg = load_text("kafka.session.timeout.ms = 6000\n"
				   "kafka.no.such.librdkafka.property = 1\n"
				   "whatsapp.template.hi = oral_reminder_hi\n"
				   "whatsapp.template_lang.hi = hi\n",
				   &rc, &eb, path, sizeof(path));

	(void)state;
	assert_int_equal(rc, SL_OK);
	assert_string_equal(sl_config_get(cfg, "kafka.session.timeout.ms"),
			    "6000");
	assert_string_equal(sl_config_get(cfg, "whatsapp.template_lang.hi"),
			    "hi");
	sl_config_free(cfg);

	/* A family's prefix alone is no key. */
	assert_int_equal(sl_config_key_known("kafka."), 0);
	assert_int_equal(sl_config_key_known("whatsapp.template."), 0);
	assert_int_equal(sl_config_key_known("kafka.x"), 1);
	assert_int_equal(sl_config_key_known("reminder.at"), 1);
	assert_int_equal(sl_config_key_known("reminder.att"), 0);
}

/* ---- values ------------------------------------------------------- */

#define APP_ID_RULE "letters, digits, '.', '_' and '-' (not . or ..), up to 200"

static void test_bad_values(void **state)
{
	static const struct {
		const char *key, *value, *rule;
	} cases[] = {
		{ "commit.interval.ms", "-5", "an integer from 1 to 86400000" },
		{ "commit.interval.ms", "abc",
		  "an integer from 1 to 86400000" },
		{ "commit.interval.ms", "0", "an integer from 1 to 86400000" },
		{ "commit.interval.ms", "10s",
		  "an integer from 1 to 86400000" },
		{ "num.standby.replicas", "lots", "an integer from 0 to 1000" },
		{ "num.standby.replicas", "-1", "an integer from 0 to 1000" },
		{ "topic.partitions", "0", "an integer from 1 to 100000" },
		{ "topic.partitions", "twelve", "an integer from 1 to 100000" },
		{ "topic.replication.factor", "0",
		  "an integer from 1 to 32767" },
		{ "topic.replication.factor", "40000",
		  "an integer from 1 to 32767" },
		{ "reminder.max_per_user", "-1", "an integer of at least 0" },
		{ "api.max_body", "64k", "an integer" },
		{ "pg.pool_size", "many", "an integer" },
		{ "whatsapp.timeout", "5",
		  "a duration like 500ms, 30s, 90m, 1h or 7d" },
		{ "reminder.min_idle", "1 hour",
		  "a duration like 500ms, 30s, 90m, 1h or 7d" },
		{ "reminder.at", "25:00",
		  "a time of day HH:MM, 00:00 to 23:59" },
		{ "clock.speed", "nan", "a finite number" },
		{ "whatsapp.rate", "fast", "a finite number" },
		{ "clock.start", "yesterday",
		  "an RFC 3339 instant like 2026-03-01T18:55:00+05:30" },
		{ "outbox.notify", "maybe", "true or false" },
		{ "application.id", "../x", APP_ID_RULE },
		{ "application.id", "foo bar", APP_ID_RULE },
		{ "application.id", "..", APP_ID_RULE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char text[256], path[128], want[512];
		sl_errbuf eb;
		sl_config *cfg;
		int rc;

		snprintf(text, sizeof(text), "%s = %s\n", cases[i].key,
			 cases[i].value);
		cfg = load_text(text, &rc, &eb, path, sizeof(path));
		snprintf(want, sizeof(want), "%s:1: %s: expected %s, got '%s'",
			 path, cases[i].key, cases[i].rule, cases[i].value);
		assert_int_equal(rc, SL_ECONFIG);
		assert_string_equal(eb.msg, want);
		sl_config_free(cfg);
	}
}

/* An empty value unsets a key, but these are needed to run at all. */
static void test_required_not_empty(void **state)
{
	static const char *const keys[] = { "application.id",
					    "kafka.bootstrap.servers",
					    "state.dir", "reminder.at",
					    "reminder.timezone" };

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		char text[128], path[128], want[300];
		sl_errbuf eb;
		sl_config *cfg;
		int rc;

		snprintf(text, sizeof(text), "%s =\n", keys[i]);
		cfg = load_text(text, &rc, &eb, path, sizeof(path));
		snprintf(want, sizeof(want), "%s:1: %s: must not be empty",
			 path, keys[i]);
		assert_int_equal(rc, SL_ECONFIG);
		assert_string_equal(eb.msg, want);
		sl_config_free(cfg);
	}
}

static void test_good_values_load(void **state)
{
	char path[128];
	sl_errbuf eb;
	int rc;
	sl_config *cfg = load_text("commit.interval.ms = 1\n"
				   "num.standby.replicas = 0\n"
				   "topic.partitions = 100000\n"
				   "topic.replication.factor = 3\n"
				   "reminder.at = 20:00\n"
				   "reminder.max_per_user = 0\n"
				   "whatsapp.timeout = 5s\n"
				   "clock.speed = 2.5\n"
				   "clock.start = 2026-03-01T18:55:00+05:30\n"
				   "outbox.notify = off\n"
				   "api.token =\n"
				   "admin.listen = off\n",
				   &rc, &eb, path, sizeof(path));
	int minutes = -1;
	double speed = 0;

	(void)state;
	assert_int_equal(rc, SL_OK);
	assert_int_equal(get_int(cfg, "commit.interval.ms"), 1);
	assert_int_equal(get_int(cfg, "num.standby.replicas"), 0);
	assert_int_equal(get_int(cfg, "topic.partitions"), 100000);
	assert_int_equal(get_int(cfg, "topic.replication.factor"), 3);
	assert_int_equal(get_int(cfg, "reminder.max_per_user"), 0);
	assert_int_equal(sl_config_time_of_day(cfg, "reminder.at", &minutes,
					       &eb),
			 SL_OK);
	assert_int_equal(minutes, 20 * 60);
	assert_int_equal(sl_config_double(cfg, "clock.speed", &speed, &eb),
			 SL_OK);
	assert_true(speed == 2.5);
	assert_null(sl_config_get(cfg, "api.token")); /* empty: unset */
	sl_config_free(cfg);

	/* The embedded defaults are left alone when no file is read. */
	cfg = sl_config_new();
	assert_non_null(cfg);
	assert_int_equal(get_int(cfg, "commit.interval.ms"), 1000);
	assert_int_equal(get_int(cfg, "topic.partitions"), 12);
	assert_int_equal(get_int(cfg, "num.standby.replicas"), 0);
	assert_int_equal(get_int(cfg, "topic.replication.factor"), 1);
	sl_config_free(cfg);
}

/* ---- environment -------------------------------------------------- */

static void test_env_unknown_warns_only(void **state)
{
	sl_config *cfg = sl_config_new();
	sl_errbuf eb;
	char *log;
	int rc;

	(void)state;
	assert_non_null(cfg);
	clear_sluice_env();
	setenv("SLUICE_REMNDER_AT", "20:00", 1);
	setenv("SLUICE_NO_SUCH_THING", "1", 1);
	setenv("SLUICE_TOPIC_PARTITIONS", "4", 1);
	setenv("SLUICE_KAFKA_SOCKET_TIMEOUT_MS", "3000", 1);
	log = load_env_logged(cfg, &rc, &eb);
	assert_int_equal(rc, SL_OK);
	assert_non_null(strstr(log, "environment variable sets no config key, "
				    "ignored name=SLUICE_REMNDER_AT "
				    "did_you_mean=SLUICE_REMINDER_AT\n"));
	assert_non_null(strstr(log, "ignored name=SLUICE_NO_SUCH_THING\n"));
	assert_null(strstr(log, "SLUICE_TOPIC_PARTITIONS"));
	assert_null(strstr(log, "SLUICE_KAFKA"));
	assert_null(strstr(log, "20:00")); /* names only, never values */
	assert_string_equal(sl_config_get(cfg, "reminder.at"), "19:00");
	assert_int_equal(get_int(cfg, "topic.partitions"), 4);
	assert_string_equal(sl_config_get(cfg, "kafka.socket.timeout.ms"),
			    "3000");
	free(log);
	sl_config_free(cfg);
	clear_sluice_env();
}

static void test_env_bad_values(void **state)
{
	static const struct {
		const char *name, *key, *value, *rule;
	} cases[] = {
		{ "SLUICE_COMMIT_INTERVAL_MS", "commit.interval.ms", "abc",
		  "an integer from 1 to 86400000" },
		{ "SLUICE_COMMIT_INTERVAL_MS", "commit.interval.ms", "-5",
		  "an integer from 1 to 86400000" },
		{ "SLUICE_NUM_STANDBY_REPLICAS", "num.standby.replicas", "lots",
		  "an integer from 0 to 1000" },
		{ "SLUICE_TOPIC_PARTITIONS", "topic.partitions", "0",
		  "an integer from 1 to 100000" },
		{ "SLUICE_TOPIC_REPLICATION_FACTOR", "topic.replication.factor",
		  "-2", "an integer from 1 to 32767" },
		/* A key with no default is checked as well. */
		{ "SLUICE_CLOCK_START", "clock.start", "now",
		  "an RFC 3339 instant like 2026-03-01T18:55:00+05:30" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		sl_config *cfg = sl_config_new();
		char want[512];
		sl_errbuf eb;
		char *log;
		int rc;

		assert_non_null(cfg);
		clear_sluice_env();
		setenv(cases[i].name, cases[i].value, 1);
		log = load_env_logged(cfg, &rc, &eb);
		snprintf(want, sizeof(want), "%s: %s: expected %s, got '%s'",
			 cases[i].name, cases[i].key, cases[i].rule,
			 cases[i].value);
		assert_int_equal(rc, SL_ECONFIG);
		assert_string_equal(eb.msg, want);
		free(log);
		sl_config_free(cfg);
	}
	clear_sluice_env();
}

/* The value of SLUICE_<KEY>_FILE's file is checked like any other. */
static void test_env_file_value_checked(void **state)
{
	sl_config *cfg = sl_config_new();
	char path[128], want[512];
	sl_errbuf eb;
	char *log;
	int rc;

	(void)state;
	assert_non_null(cfg);
	clear_sluice_env();
	write_file("interval", "-7\n", path, sizeof(path));
	setenv("SLUICE_COMMIT_INTERVAL_MS_FILE", path, 1);
	log = load_env_logged(cfg, &rc, &eb);
	snprintf(want, sizeof(want),
		 "SLUICE_COMMIT_INTERVAL_MS_FILE: commit.interval.ms: "
		 "expected an integer from 1 to 86400000, got '-7'");
	assert_int_equal(rc, SL_ECONFIG);
	assert_string_equal(eb.msg, want);
	assert_null(strstr(log, "ignored"));
	free(log);
	sl_config_free(cfg);
	clear_sluice_env();
}

/* ---- the source tree ---------------------------------------------- */

static int is_root(const char *dir)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/processor/config.c", dir);
	return access(p, R_OK) == 0;
}

/* The checkout: the working directory, or up from this binary. */
static int find_root(void)
{
	ssize_t n;

	if (is_root(".")) {
		snprintf(root, sizeof(root), ".");
		return 1;
	}
	n = readlink("/proc/self/exe", root, sizeof(root) - 1);
	if (n <= 0)
		return 0;
	root[n] = '\0';
	for (int up = 0; up < 5; up++) {
		char *slash = strrchr(root, '/');

		if (slash == NULL)
			return 0;
		*slash = '\0';
		if (is_root(root))
			return 1;
	}
	return 0;
}

/* A whole file, NUL-terminated; NULL for a binary or unreadable one. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = calloc(1, (size_t)size + 1);
		if (buf != NULL &&
		    fread(buf, 1, (size_t)size, f) != (size_t)size) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)size;
	}
	fclose(f);
	if (buf != NULL && memchr(buf, '\0', *len) != NULL) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

#define MAX_FOUND 1024

struct found {
	char item[MAX_FOUND][128];
	char where[MAX_FOUND][160];
	size_t n;
};

static void add_found(struct found *f, const char *s, size_t len,
		      const char *where)
{
	char item[128];

	if (len == 0 || len >= sizeof(item))
		return;
	snprintf(item, sizeof(item), "%.*s", (int)len, s);
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->item[i], item) == 0)
			return;
	assert_true(f->n < MAX_FOUND);
	snprintf(f->item[f->n], sizeof(f->item[0]), "%s", item);
	snprintf(f->where[f->n++], sizeof(f->where[0]), "%s", where);
}

static int ident(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Skip blanks and newlines, then expect c; the position after it. */
static const char *expect(const char *p, char c)
{
	while (isspace((unsigned char)*p))
		p++;
	return *p == c ? p + 1 : NULL;
}

/*
 * Every string literal that follows a config handle as the next
 * argument: "<...>cfg, "key"" (sl_config_get(app->cfg, "x"), and the
 * modules' own wrappers such as cfg_int(cfg, "api.threads", ...)) and
 * the second argument of any sl_config_*() call.
 */
static void scan_keys(const char *text, const char *where, struct found *f)
{
	for (const char *p = text; (p = strstr(p, "cfg")) != NULL; p += 3) {
		const char *q = p[3] && !ident(p[3]) ? expect(p + 3, ',') : 0;

		if (q != NULL && (q = expect(q, '"')) != NULL)
			add_found(f, q, strcspn(q, "\"\n"), where);
	}
	for (const char *p = text; (p = strstr(p, "sl_config_")) != NULL;
	     p += 10) {
		const char *q = p + 10;
		int depth = 0;

		while (ident(*q))
			q++;
		if (*q != '(')
			continue;
		for (q++; *q && (depth > 0 || (*q != ',' && *q != ')')); q++)
			depth += (*q == '(') - (*q == ')');
		if (*q == ',' && (q = expect(q + 1, '"')) != NULL)
			add_found(f, q, strcspn(q, "\"\n"), where);
	}
}

/* Every SLUICE_* name in a text. */
static void scan_env_names(const char *text, const char *where, struct found *f)
{
	for (const char *p = text; (p = strstr(p, "SLUICE_")) != NULL; p += 7) {
		size_t n = 7;

		if (p > text && ident(p[-1]))
			continue;
		while (isupper((unsigned char)p[n]) ||
		       isdigit((unsigned char)p[n]) || p[n] == '_')
			n++;
		if (n > 7)
			add_found(f, p, n, where);
	}
}

static struct found *walk_found;
static int walk_env; /* 1: scan_env_names, 0: scan_keys */

static int walk_one(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	const char *base = path + ftw->base;
	size_t len = 0;
	char *text;

	(void)st;
	if (type != FTW_F)
		return 0;
	if (walk_env) {
		/* Binaries, and this file's deliberate typos, are skipped. */
		if (strstr(path, "/bin/") != NULL ||
		    strcmp(base, "test_config.c") == 0)
			return 0;
	} else {
		size_t bl = strlen(base);

		if (bl < 3 || (strcmp(base + bl - 2, ".c") != 0 &&
			       strcmp(base + bl - 2, ".h") != 0))
			return 0;
		if (strstr(path, "processor/config.") != NULL)
			return 0;
	}
	text = slurp(path, &len);
	if (text == NULL)
		return 0;
	if (walk_env)
		scan_env_names(text, path, walk_found);
	else
		scan_keys(text, path, walk_found);
	free(text);
	return 0;
}

static void walk(const char *const *rel, size_t n, int env, struct found *f)
{
	char p[PATH_MAX + 64];

	walk_found = f;
	walk_env = env;
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", root, rel[i]);
		if (stat(p, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			assert_int_equal(nftw(p, walk_one, 16, FTW_PHYS), 0);
		else
			walk_one(p, &st, FTW_F,
				 &(struct FTW){
					 .base = (int)(strrchr(p, '/') - p + 1),
				 });
	}
}

/* The scanner itself finds what it must, so the next test can fail. */
static void test_key_scanner(void **state)
{
	static const char text[] =
		"x = sl_config_get(app->cfg,\n\t\t\"no.such.key\");\n"
		"rc = cfg_int(cfg, \"other.key\", 8, 1, 9, &v, eb);\n"
		"sl_config_int(conf_of(a, b), \"third.key\", &v, NULL);\n"
		"memcpy(cfgx, \"not.a.key\", 3);\n";
	struct found *f = calloc(1, sizeof(*f));

	(void)state;
	assert_non_null(f);
	scan_keys(text, "synthetic", f);
	assert_int_equal(f->n, 3);
	assert_string_equal(f->item[0], "no.such.key");
	assert_string_equal(f->item[1], "other.key");
	assert_string_equal(f->item[2], "third.key");
	free(f);
}

/*
 * Every key the code reads is known, or a file setting it (now an
 * error for unknown keys) could not configure it.
 */
static void test_every_read_key_known(void **state)
{
	static const char *const dirs[] = { "processor",  "api",   "connectors",
					    "topologies", "state", "main.c" };
	struct found *f = calloc(1, sizeof(*f));
	size_t bad = 0;

	(void)state;
	assert_non_null(f);
	if (!find_root())
		fail_msg("cannot find the source tree (processor/config.c)");
	walk(dirs, sizeof(dirs) / sizeof(*dirs), 0, f);
	for (size_t i = 0; i < f->n; i++) {
		char key[160];
		size_t len = strlen(f->item[i]);

		/* A prefix given to sl_config_each stands for its family. */
		snprintf(key, sizeof(key), "%s%s", f->item[i],
			 f->item[i][len - 1] == '.' ? "x" : "");
		if (!sl_config_key_known(key)) {
			fprintf(stderr, "%s: key '%s' is read but unknown\n",
				f->where[i], f->item[i]);
			bad++;
		}
	}
	/* About 80 distinct keys are read today; a scanner gone blind
	 * would find none. */
	assert_true(f->n >= 60);
	assert_int_equal(bad, 0);
	free(f);
}

/*
 * No SLUICE_* name the scripts and tests use draws the warning: each
 * is set (empty, or /dev/null for a _FILE, or "x" for the keys that may
 * not be empty) and the log must stay quiet.
 */
/* A good value for a variable whose key may not be empty; else "". */
static const char *required_sample(const char *name)
{
	static const char *const samples[][2] = {
		{ "SLUICE_APPLICATION_ID", "x" },
		{ "SLUICE_KAFKA_BOOTSTRAP_SERVERS", "x" },
		{ "SLUICE_STATE_DIR", "x" },
		{ "SLUICE_REMINDER_AT", "19:00" },
		{ "SLUICE_REMINDER_TIMEZONE", "Asia/Kolkata" },
		{ "SLUICE_REMINDER_MIN_IDLE", "1h" },
		{ "SLUICE_REMINDER_MAX_PER_USER", "3" },
		{ "SLUICE_REMINDER_CATCHUP_UNTIL", "21:00" },
		{ "SLUICE_REMINDER_GIVE_UP_AFTER", "7d" },
	};

	for (size_t i = 0; i < sizeof(samples) / sizeof(*samples); i++)
		if (strcmp(name, samples[i][0]) == 0)
			return samples[i][1];
	return "";
}

static void test_script_env_names_quiet(void **state)
{
	static const char *const where[] = { "scripts",
					     "tests",
					     "Makefile",
					     "Dockerfile",
					     "docker-compose.yml",
					     "README.md" };
	struct found *f = calloc(1, sizeof(*f));
	sl_config *cfg = sl_config_new();
	int saw_bin = 0;
	sl_errbuf eb;
	char *log;
	int rc;

	(void)state;
	assert_non_null(f);
	assert_non_null(cfg);
	if (!find_root())
		fail_msg("cannot find the source tree (processor/config.c)");
	walk(where, sizeof(where) / sizeof(*where), 1, f);
	clear_sluice_env();
	for (size_t i = 0; i < f->n; i++) {
		size_t len = strlen(f->item[i]);
		int file = len > 5 &&
			   strcmp(f->item[i] + len - 5, "_FILE") == 0;

		const char *v = file ? "/dev/null"
				     : required_sample(f->item[i]);

		/* Empty unsets, except the keys that must not be empty. */
		setenv(f->item[i], v, 1);
		saw_bin |= strcmp(f->item[i], "SLUICE_BIN") == 0;
	}
	log = load_env_logged(cfg, &rc, &eb);
	if (strstr(log, "ignored name=") != NULL)
		fprintf(stderr, "%s", log);
	assert_int_equal(rc, SL_OK);
	assert_null(strstr(log, "ignored name="));
	assert_true(saw_bin);
	assert_true(f->n >= 20);
	free(log);
	free(f);
	sl_config_free(cfg);
	clear_sluice_env();
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int rm_one(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_typo_key_suggests),
		cmocka_unit_test(test_unknown_key_far_from_any),
		cmocka_unit_test(test_passthrough_keys),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_required_not_empty),
		cmocka_unit_test(test_good_values_load),
		cmocka_unit_test(test_env_unknown_warns_only),
		cmocka_unit_test(test_env_bad_values),
		cmocka_unit_test(test_env_file_value_checked),
		cmocka_unit_test(test_key_scanner),
		cmocka_unit_test(test_every_read_key_known),
		cmocka_unit_test(test_script_env_names_quiet),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
