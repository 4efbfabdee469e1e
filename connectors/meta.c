/*
 * meta.c — the Meta Conversions API sink.
 *
 * Events wait in one queue, in the order write() received them, across
 * partitions.  Each queued event moves through these states; `cursor`
 * is the first event not yet settled:
 *
 *	write()               flush() builds a request from the queue
 *	  | encoded -------+-- older than CAPI_MAX_AGE_S now -> dead
 *	  |                +-- batched (<= batch_size) -> POST:
 *	  |                      2xx ----------------------> accepted
 *	  |                      permanent (code 100 ...) -> dead
 *	  |                      transient, throttled,
 *	  |                      setup (190) or no reply --> stays queued;
 *	  |                          backoff set, flush returns
 *	  |                          SL_ETRANSIENT
 *	  | refused --------------------------------------> dead
 *	  |                                (dead = io->dead_letter, settled)
 *	discard(p): the partition's queued events are dropped (settled).
 *
 * The queue is emptied when every event in it is settled.  While the
 * backoff runs, flush() sends nothing and returns SL_ETRANSIENT; the
 * runtime holds the input offsets until flush() returns SL_OK, so an
 * event is lost neither by a failure nor by a crash.  A request resent
 * after a lost reply, or after a crash before the commit, carries the
 * same event_id (the screening id), and Meta counts it once.
 *
 * Meta rejects a whole request when any event is bad and names no
 * event, so a rejected request has all of its events dead-lettered
 * with Meta's message; events Meta would reject for age are taken out
 * before the request is built, so they cannot sink the others.
 * Setup errors (an expired token, missing permissions, a wrong URL)
 * are not the events' fault: they hold the queue, logged at ERROR on
 * every attempt, until an operator fixes the setup.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "connectors/batch.h"
#include "connectors/dryrun.h"
#include "connectors/httpc.h"
#include "connectors/meta.h"
#include "processor/log.h"
#include "processor/timeutil.h"

#define CAPI_COMP "meta"
#define CAPI_CONNECT_TIMEOUT_MS 5000
#define CAPI_DEFAULT_TIMEOUT_MS 10000
#define CAPI_DEFAULT_BACKOFF_MS 1000
#define CAPI_COUNTRY_CODE "91" /* the campaign's numbers are Indian */

/* ---- normalization and hashing ----------------------------------- */

int capi_normalize_phone(const char *in, const char *cc, char *out, size_t n)
{
	char digits[64];
	size_t nd = 0, skip = 0, ccl = cc != NULL ? strlen(cc) : 0;
	int international = 0;

	/* Digits only; a "+" before the first digit marks a country code. */
	for (const char *p = in; p != NULL && *p != '\0'; p++) {
		if (*p == '+' && nd == 0)
			international = 1;
		if (!isdigit((unsigned char)*p))
			continue;
		if (nd + 1 >= sizeof(digits))
			return SL_EINVAL;
		digits[nd++] = *p;
	}
	digits[nd] = '\0';

	/* "00" is the international prefix, a single "0" a trunk prefix. */
	if (nd >= 2 && digits[0] == '0' && digits[1] == '0')
		international = 1;
	while (skip < nd && digits[skip] == '0')
		skip++;
	nd -= skip;

	if (!international && nd == 10 && ccl > 0) {
		if (ccl + nd + 1 > n)
			return SL_EINVAL;
		memcpy(out, cc, ccl);
		memcpy(out + ccl, digits + skip, nd + 1);
		nd += ccl;
	} else if (nd + 1 <= n) {
		memcpy(out, digits + skip, nd + 1);
	} else {
		return SL_EINVAL;
	}
	return nd >= 7 && nd <= 15 ? SL_OK : SL_EINVAL;
}

/*
 * SHA-256 is fetched once, and each thread keeps one digest context:
 * EVP_Digest() would allocate, fetch and free on every call.
 */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha_md;
static pthread_key_t sha_key;
static int sha_key_ok;

static void sha_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void sha_init(void)
{
	sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha_key_ok = pthread_key_create(&sha_key, sha_ctx_free) == 0;
}

static EVP_MD_CTX *sha_ctx(void)
{
	EVP_MD_CTX *ctx;

	pthread_once(&sha_once, sha_init);
	if (sha_md == NULL || !sha_key_ok)
		return NULL;
	ctx = pthread_getspecific(sha_key);
	if (ctx != NULL)
		return ctx;
	ctx = EVP_MD_CTX_new();
	if (ctx != NULL && pthread_setspecific(sha_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

int capi_sha256_hex(const void *data, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx = sha_ctx();
	unsigned int n = 0;

	out[0] = '\0';
	if (ctx == NULL || !EVP_DigestInit_ex2(ctx, sha_md, NULL) ||
	    !EVP_DigestUpdate(ctx, data, len) ||
	    !EVP_DigestFinal_ex(ctx, md, &n) || n != 32)
		return SL_ENOMEM; /* OpenSSL fails only to allocate */
	for (unsigned int i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * n] = '\0';
	return SL_OK;
}

/* user_id trimmed and lowercased, in out (n bytes); its length or 0. */
static size_t normalize_user_id(const char *user_id, char *out, size_t n)
{
	size_t a = 0, b = user_id != NULL ? strlen(user_id) : 0;

	while (a < b && isspace((unsigned char)user_id[a]))
		a++;
	while (b > a && isspace((unsigned char)user_id[b - 1]))
		b--;
	if (b - a >= n)
		return 0;
	for (size_t i = a; i < b; i++)
		out[i - a] = (char)tolower((unsigned char)user_id[i]);
	out[b - a] = '\0';
	return b - a;
}

int capi_hash_external_id(const char *user_id, char *out)
{
	char buf[256];
	size_t n = normalize_user_id(user_id, buf, sizeof(buf));

	if (n == 0)
		return SL_EINVAL;
	return capi_sha256_hex(buf, n, out);
}

/* zp: lowercase, no spaces, no dashes (Meta); "" when nothing is left. */
static void normalize_zip(const char *in, char *out, size_t n)
{
	size_t o = 0;

	for (; *in != '\0' && o + 1 < n; in++)
		if (!isspace((unsigned char)*in) && *in != '-')
			out[o++] = (char)tolower((unsigned char)*in);
	out[o] = '\0';
}

/* ---- building events --------------------------------------------- */

static const char *str_field(const cJSON *obj, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* obj[name] = [SHA-256 of the len bytes of value] */
static int add_hashed(cJSON *obj, const char *name, const char *value,
		      size_t len)
{
	char hash[CAPI_HASH_LEN + 1];
	cJSON *arr, *str;

	if (capi_sha256_hex(value, len, hash) != SL_OK)
		return SL_ENOMEM;
	arr = cJSON_AddArrayToObject(obj, name);
	str = arr != NULL ? cJSON_CreateString(hash) : NULL;
	if (str == NULL)
		return SL_ENOMEM;
	cJSON_AddItemToArray(arr, str);
	return SL_OK;
}

/* user_data from the event's phone, user id and pin code. */
static int build_user_data(const cJSON *ev, cJSON *ud, char *why,
			   size_t why_len)
{
	const char *phone = str_field(ev, "phone");
	const char *pin = str_field(ev, "pincode");
	char norm[32], uid[256];
	size_t n;
	int rc = SL_OK;

	if (phone != NULL) {
		if (capi_normalize_phone(phone, CAPI_COUNTRY_CODE, norm,
					 sizeof(norm)) != SL_OK) {
			snprintf(why, why_len,
				 "phone: not 7 to 15 digits with a country "
				 "code");
			return SL_EINVAL;
		}
		rc = add_hashed(ud, "ph", norm, strlen(norm));
	}
	n = normalize_user_id(str_field(ev, "user_id"), uid, sizeof(uid));
	if (n == 0) {
		snprintf(why, why_len, "user_id: missing or blank");
		return SL_EINVAL;
	}
	if (rc == SL_OK)
		rc = add_hashed(ud, "external_id", uid, n);

	/* Country only where the number says it: +91 and 10 digits. */
	if (rc == SL_OK && phone != NULL && strlen(norm) == 12 &&
	    strncmp(norm, "91", 2) == 0)
		rc = add_hashed(ud, "country", "in", 2);
	if (rc == SL_OK && pin != NULL) {
		normalize_zip(pin, norm, sizeof(norm));
		if (norm[0] != '\0')
			rc = add_hashed(ud, "zp", norm, strlen(norm));
	}
	return rc;
}

/*
 * obj[name] = v, printed as an integer: cJSON prints every number with
 * "%1.15g" and reads it back to check, which costs more than the rest.
 */
static int add_int(cJSON *obj, const char *name, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", (long long)v);
	return cJSON_AddRawToObject(obj, name, num) ? SL_OK : SL_ENOMEM;
}

/* custom_data: the score and language, as they are. */
static int build_custom_data(const cJSON *ev, cJSON *cd)
{
	const cJSON *score = cJSON_GetObjectItemCaseSensitive(ev, "score");
	const char *lang = str_field(ev, "lang");
	double d = cJSON_IsNumber(score) ? score->valuedouble : 0;

	if (cJSON_IsNumber(score) && d == floor(d) && fabs(d) < 1e15) {
		if (add_int(cd, "score", (int64_t)d) != SL_OK)
			return SL_ENOMEM;
	} else if (cJSON_IsNumber(score) &&
		   !cJSON_AddNumberToObject(cd, "score", d)) {
		return SL_ENOMEM;
	}
	if (lang != NULL && !cJSON_AddStringToObject(cd, "lang", lang))
		return SL_ENOMEM;
	return SL_OK;
}

/* event_time: occurred_at in seconds, no later than now_s. */
static int event_time_of(const cJSON *ev, int64_t now_s, int64_t *t, char *why,
			 size_t why_len)
{
	const char *at = str_field(ev, "occurred_at");
	int64_t ms;

	if (at == NULL || sl_time_parse_rfc3339(at, &ms) != SL_OK) {
		snprintf(why, why_len,
			 "occurred_at: must be an RFC 3339 date-time with "
			 "offset");
		return SL_EINVAL;
	}
	*t = sl_floor_div(ms, 1000);
	if (*t > now_s)
		*t = now_s;
	return SL_OK;
}

/* What build_event takes besides the event. */
struct capi_build {
	const capi_event_opts *o;
	int64_t now_s;
	int64_t *event_time;
};

/* The server event of `ev`, filled into `se`; arg: a capi_build. */
static int build_event(cJSON *ev, cJSON *se, void *arg, char *why,
		       size_t why_len)
{
	const struct capi_build *b = arg;
	const capi_event_opts *o = b->o;
	int64_t *event_time = b->event_time;
	const char *sid = str_field(ev, "screening_id");
	cJSON *ud, *cd;
	int rc;

	if (sid == NULL || sid[0] == '\0') {
		snprintf(why, why_len, "screening_id: missing (the event_id)");
		return SL_EINVAL;
	}
	rc = event_time_of(ev, b->now_s, event_time, why, why_len);
	if (rc != SL_OK)
		return rc;

	if (!cJSON_AddStringToObject(se, "event_name", o->event_name) ||
	    add_int(se, "event_time", *event_time) != SL_OK ||
	    !cJSON_AddStringToObject(se, "event_id", sid) ||
	    !cJSON_AddStringToObject(se, "action_source", o->action_source))
		return SL_ENOMEM;
	if (strcmp(o->action_source, "business_messaging") == 0 &&
	    !cJSON_AddStringToObject(se, "messaging_channel", "whatsapp"))
		return SL_ENOMEM;

	ud = cJSON_AddObjectToObject(se, "user_data");
	if (ud == NULL)
		return SL_ENOMEM;
	rc = build_user_data(ev, ud, why, why_len);
	if (rc != SL_OK)
		return rc;
	cd = cJSON_AddObjectToObject(se, "custom_data");
	if (cd == NULL)
		return SL_ENOMEM;
	return build_custom_data(ev, cd);
}

int capi_encode_event(const capi_event_opts *o, const char *json, size_t len,
		      int64_t now_s, char **out, size_t *out_len,
		      int64_t *event_time, char *why, size_t why_len)
{
	struct capi_build b = { o, now_s, event_time };

	return batch_encode_json(json, len, build_event, &b, out, out_len, why,
				 why_len);
}

/* ---- classifying replies ----------------------------------------- */

/* Rate limits: wait longer, then the same request again. */
static int throttle_code(int code)
{
	return code == 4 || code == 17 || code == 32 || code == 613 ||
	       (code >= 80000 && code <= 80014);
}

/*
 * Setup errors: 190 bad or expired token, 102 session, 104 no token,
 * 10 and 200-299 permissions; 100 with subcode 33 is "object does not
 * exist or no permission" (a wrong dataset id).
 */
static int config_code(int code, int subcode)
{
	return code == 190 || code == 102 || code == 104 || code == 10 ||
	       (code >= 200 && code <= 299) || (code == 100 && subcode == 33);
}

static void copy_one_line(char *out, size_t n, const char *s)
{
	size_t o = strlen(out);

	for (; s != NULL && *s != '\0' && o + 1 < n; s++)
		out[o++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
	out[o] = '\0';
}

static long num_field(const cJSON *obj, const char *name, long dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	/* Out of range would be undefined as a cast; no such code exists. */
	if (!cJSON_IsNumber(it) || !(fabs(it->valuedouble) < 1e9))
		return dflt;
	return (long)it->valuedouble;
}

/* Fill v from a Graph error object. */
static void read_error(const cJSON *err, capi_verdict *v)
{
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(err, "is_transient");
	const char *user_msg = str_field(err, "error_user_msg");

	v->code = (int)num_field(err, "code", 0);
	v->subcode = (int)num_field(err, "error_subcode", 0);
	v->is_transient = cJSON_IsBool(tr) ? cJSON_IsTrue(tr) : -1;
	copy_one_line(v->message, sizeof(v->message),
		      str_field(err, "message"));
	if (user_msg != NULL && user_msg[0] != '\0') {
		copy_one_line(v->message, sizeof(v->message), ": ");
		copy_one_line(v->message, sizeof(v->message), user_msg);
	}
	copy_one_line(v->fbtrace, sizeof(v->fbtrace),
		      str_field(err, "fbtrace_id"));
}

void capi_classify(long status, const char *body, size_t len, capi_verdict *v)
{
	cJSON *doc = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(doc, "error");
	int graph = cJSON_IsObject(err);

	memset(v, 0, sizeof(*v));
	v->status = status;
	v->is_transient = -1;
	v->received = -1;
	if (graph)
		read_error(err, v);
	else if (cJSON_IsObject(doc))
		v->received = num_field(doc, "events_received", -1);
	cJSON_Delete(doc);

	if (status >= 200 && status < 300 && !graph)
		v->cls = CAPI_ACCEPTED;
	else if (throttle_code(v->code) || status == 429)
		v->cls = CAPI_THROTTLED;
	else if (v->is_transient == 1 || v->code == 1 || v->code == 2 ||
		 status >= 500 || status == 408)
		v->cls = CAPI_TRANSIENT;
	else if (config_code(v->code, v->subcode) || !graph)
		v->cls = CAPI_CONFIG; /* a 4xx that is no Graph error: URL */
	else
		v->cls = CAPI_PERMANENT;
	if (v->message[0] == '\0' && v->cls != CAPI_ACCEPTED)
		snprintf(v->message, sizeof(v->message), "HTTP %ld", status);
}

/* ---- HTTP -------------------------------------------------------- */

/* The client: one attempt per request; the sink decides on retries. */
static int http_new(int64_t timeout_ms, httpc **out, sl_errbuf *eb)
{
	httpc_opts o = {
		.name = "meta",
		.content_type = "application/json",
		.connect_timeout_ms = CAPI_CONNECT_TIMEOUT_MS,
		.timeout_ms = (long)timeout_ms,
	};

	return httpc_new(&o, out, eb);
}

/* ---- configuration ----------------------------------------------- */

typedef struct capi_conf {
	const char *url, *version, *dataset, *token, *test_code;
	const char *event_name, *action_source, *dry_dir;
	int64_t batch_size, timeout_ms, backoff_ms;
} capi_conf;

static const char *const action_sources[] = {
	"website",
	"app",
	"email",
	"phone_call",
	"chat",
	"physical_store",
	"system_generated",
	"business_messaging",
	"other",
};

static int valid_action_source(const char *s)
{
	for (size_t i = 0; i < sizeof(action_sources) / sizeof(*action_sources);
	     i++)
		if (strcmp(s, action_sources[i]) == 0)
			return 1;
	return 0;
}

/* "v21.0": a "v", digits, a dot, digits. */
static int valid_version(const char *s)
{
	size_t a, b;

	if (s[0] != 'v')
		return 0;
	a = strspn(s + 1, "0123456789");
	if (a == 0 || s[1 + a] != '.')
		return 0;
	b = strspn(s + 2 + a, "0123456789");
	return b > 0 && s[2 + a + b] == '\0';
}

static int valid_dataset(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n > 0 && n <= 32 && s[n] == '\0';
}

static const char *conf_str(const sl_config *cfg, const char *key,
			    const char *dflt)
{
	const char *v = sl_config_get(cfg, key);

	return v != NULL ? v : dflt;
}

static int read_numbers(const sl_config *cfg, capi_conf *c, sl_errbuf *eb)
{
	int rc;

	c->batch_size = CAPI_MAX_BATCH;
	c->timeout_ms = CAPI_DEFAULT_TIMEOUT_MS;
	c->backoff_ms = CAPI_DEFAULT_BACKOFF_MS;
	rc = sl_config_int(cfg, "meta.batch_size", &c->batch_size, eb);
	if (rc == SL_OK || rc == SL_ENOTFOUND)
		rc = sl_config_duration_ms(cfg, "meta.timeout", &c->timeout_ms,
					   eb);
	if (rc == SL_OK || rc == SL_ENOTFOUND)
		rc = sl_config_duration_ms(cfg, "meta.backoff", &c->backoff_ms,
					   eb);
	if (rc != SL_OK && rc != SL_ENOTFOUND)
		return rc;
	if (c->batch_size < 1 || c->batch_size > CAPI_MAX_BATCH)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "meta.batch_size: must be 1 to %d",
				     CAPI_MAX_BATCH);
	if (c->timeout_ms < 1 || c->backoff_ms < 1)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "meta.timeout and meta.backoff must be "
				     "positive");
	return SL_OK;
}

static int read_conf(const sl_config *cfg, capi_conf *c, sl_errbuf *eb)
{
	memset(c, 0, sizeof(*c));
	c->url = sl_config_get(cfg, "meta.url");
	c->version = conf_str(cfg, "meta.api_version", "v21.0");
	c->dataset = sl_config_get(cfg, "meta.dataset_id");
	c->token = sl_config_get(cfg, "meta.token");
	c->test_code = sl_config_get(cfg, "meta.test_event_code");
	c->event_name = conf_str(cfg, "meta.event_name", "Lead");
	c->action_source =
		conf_str(cfg, "meta.action_source", "system_generated");
	c->dry_dir = conf_str(cfg, "dry_run.dir", "dry-run");

	if (!valid_version(c->version))
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "meta.api_version: '%s' is not like "
				     "v21.0",
				     c->version);
	if (c->dataset != NULL && !valid_dataset(c->dataset))
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "meta.dataset_id: must be digits");
	if (!valid_action_source(c->action_source))
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "meta.action_source: '%s' is not one of "
				     "Meta's values",
				     c->action_source);
	if (c->token != NULL && c->dataset != NULL && c->url == NULL)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "meta.url: not set (Meta's Graph API is "
				     "https://graph.facebook.com)");
	return read_numbers(cfg, c, eb);
}

/* ---- the sink ---------------------------------------------------- */

typedef struct capi_sink {
	capi_event_opts eo;
	char *event_name, *action_source;
	char *url;	    /* holds no secret: the token is in the body */
	char safe_url[512]; /* url as it may be logged */
	char *suffix;	    /* "],\"access_token\":...}" */
	size_t batch_size;
	int64_t backoff_ms;

	batch_queue q;	/* the events; tag: event_time */
	batch_buf body; /* the request being sent */
	size_t *batch;	/* indexes into q.e of the request */

	capi_post_fn post;
	void *post_ud;
	httpc *http;	     /* NULL when dry */
	dr_writer *dry;	     /* NULL unless dry */
	capi_clock_fn clock; /* NULL: the system's clocks */
	void *clock_ud;

	int64_t retry_at_ms; /* on the monotonic clock */
	unsigned failures;   /* consecutive failed requests */
	uint64_t rng;
	int failing;
	capi_stats stats;
	sl_errbuf eb;
} capi_sink;

static int64_t wall_ms(const capi_sink *s)
{
	struct timespec ts;

	if (s->clock != NULL)
		return s->clock(s->clock_ud);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(const capi_sink *s)
{
	struct timespec ts;

	if (s->clock != NULL)
		return s->clock(s->clock_ud);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64*: jitter needs no quality, only independence from rand(). */
static uint64_t next_random(capi_sink *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ULL;
}

static int capi_write(void *self, const sl_record *rec)
{
	capi_sink *s = self;
	batch_entry *e = NULL;
	char why[256], *enc = NULL;
	size_t len = 0;
	int64_t event_time = 0;
	int rc;

	/* An event that cannot be built is dead-lettered at the flush. */
	rc = capi_encode_event(&s->eo, rec->value.data, rec->value.len,
			       wall_ms(s) / 1000, &enc, &len, &event_time, why,
			       sizeof(why));
	if (rc == SL_EINVAL)
		e = batch_push_refused(&s->q, rec, why);
	else if (rc == SL_OK)
		e = batch_push(&s->q, rec, enc, len, "");
	cJSON_free(enc);
	if (rc != SL_OK && rc != SL_EINVAL)
		return rc;
	if (e == NULL)
		return SL_ENOMEM;
	e->tag = event_time;
	return SL_OK;
}

/* Dead-letter event i and settle it. */
static int dead_letter(capi_sink *s, sl_sink_io *io, size_t i, const char *why)
{
	int rc = batch_dead_letter(&s->q, i, io, "meta", why, &s->eb);

	if (rc == SL_OK)
		s->stats.dead_letters++;
	return rc;
}

/*
 * Pick the next request's events into s->batch: up to batch_size live
 * events from the cursor on.  Refused and stale events met on the way
 * are dead-lettered.  *nb is the number picked.
 */
static int pick_batch(capi_sink *s, sl_sink_io *io, int64_t now_s, size_t *nb)
{
	int rc;

	*nb = 0;
	for (size_t i = s->q.cursor; i < s->q.n && *nb < s->batch_size; i++) {
		const batch_entry *e = &s->q.e[i];

		if (e->settled)
			continue;
		if (e->refused != NULL) {
			rc = dead_letter(s, io, i, e->refused);
		} else if (e->tag < now_s - CAPI_MAX_AGE_S) {
			rc = dead_letter(s, io, i,
					 "event_time: older than Meta's 7-day "
					 "limit (one such event would fail "
					 "the whole request)");
			s->stats.stale += rc == SL_OK;
		} else {
			s->batch[(*nb)++] = i;
			continue;
		}
		if (rc != SL_OK)
			return rc;
	}
	return SL_OK;
}

/* {"data":[e1,...,en],"access_token":...} in s->body, NUL-terminated. */
static int build_body(capi_sink *s, size_t nb)
{
	static const char head[] = "{\"data\":[";
	int rc;

	s->body.len = 0;
	rc = batch_buf_add(&s->body, head, sizeof(head) - 1);
	for (size_t i = 0; i < nb && rc == SL_OK; i++) {
		const batch_entry *e = &s->q.e[s->batch[i]];

		if (i > 0)
			rc = batch_buf_add(&s->body, ",", 1);
		if (rc == SL_OK)
			rc = batch_buf_add(&s->body, s->q.enc.p + e->enc_off,
					   e->enc_len);
	}
	if (rc == SL_OK)
		rc = batch_buf_add(&s->body, s->suffix, strlen(s->suffix));
	return rc;
}

/* Wait before the next attempt: exponential, floor by class, jitter. */
static void schedule_retry(capi_sink *s, enum capi_class cls)
{
	int64_t d, cap = 60 * s->backoff_ms;
	unsigned k = s->failures < 20 ? s->failures : 20;

	s->failures++;
	d = s->backoff_ms << k;
	if (cls == CAPI_THROTTLED && d < 5 * s->backoff_ms)
		d = 5 * s->backoff_ms;
	if (cls == CAPI_CONFIG && d < 30 * s->backoff_ms)
		d = 30 * s->backoff_ms;
	if (d > cap)
		d = cap;
	/* Half fixed, half random: spread workers that failed together. */
	d = d / 2 + (int64_t)(next_random(s) % (uint64_t)(d / 2 + 1));
	s->retry_at_ms = mono_ms(s) + d;
}

/* Dead-letter every event of a request Meta rejected for good. */
static int reject_batch(capi_sink *s, sl_sink_io *io, size_t nb,
			const capi_verdict *v)
{
	char why[520], sub[32] = "", trace[80] = "";
	int rc = SL_OK;

	if (v->subcode != 0)
		snprintf(sub, sizeof(sub), " subcode %d", v->subcode);
	if (v->fbtrace[0] != '\0')
		snprintf(trace, sizeof(trace), " (fbtrace_id %s)", v->fbtrace);
	snprintf(why, sizeof(why), "HTTP %ld code %d%s: %s%s", v->status,
		 v->code, sub, v->message, trace);
	SL_WARN(CAPI_COMP,
		"request rejected, dead-lettering its events events=%zu "
		"code=%d subcode=%d message=\"%s\"",
		nb, v->code, v->subcode, v->message);
	for (size_t i = 0; i < nb && rc == SL_OK; i++)
		rc = dead_letter(s, io, s->batch[i], why);
	return rc;
}

/* A failed attempt: hold the events, back off, say why. */
static int hold(capi_sink *s, enum capi_class cls, const capi_verdict *v,
		const char *no_reply)
{
	s->stats.transient++;
	schedule_retry(s, cls);
	if (no_reply != NULL)
		return sl_errbuf_set(&s->eb, SL_ETRANSIENT,
				     "no reply from %s: %s", s->safe_url,
				     no_reply);
	if (cls == CAPI_CONFIG)
		SL_ERROR(CAPI_COMP,
			 "Meta refuses our setup; events held until an "
			 "operator fixes it (token, permissions, meta.url, "
			 "meta.dataset_id) status=%ld code=%d message=\"%s\"",
			 v->status, v->code, v->message);
	return sl_errbuf_set(&s->eb, SL_ETRANSIENT, "%s: HTTP %ld code %d: %s",
			     cls == CAPI_THROTTLED ? "throttled" : "failed",
			     v->status, v->code, v->message);
}

/* Send the next request; SL_OK when its events are settled. */
static int send_next(capi_sink *s, sl_sink_io *io)
{
	capi_reply *r = NULL;
	capi_verdict v;
	size_t nb;
	int rc;

	rc = pick_batch(s, io, wall_ms(s) / 1000, &nb);
	if (rc != SL_OK || nb == 0)
		return rc;
	rc = build_body(s, nb);
	if (rc != SL_OK)
		return rc;
	s->stats.requests++;
	if (s->dry != NULL) {
		/* The request as it would go out, token redacted. */
		rc = dr_write_post(s->dry, s->safe_url, "content_type",
				   "application/json", "body", s->body.p,
				   &s->eb);
		memset(&v, 0, sizeof(v));
		v.cls = CAPI_ACCEPTED;
		goto settled;
	}

	r = malloc(sizeof(*r));
	if (r == NULL)
		return SL_ENOMEM;
	rc = s->post(s->post_ud, s->url, s->body.p, s->body.len, r);
	if (rc != SL_OK) {
		rc = hold(s, CAPI_TRANSIENT, NULL, r->err);
		goto out;
	}
	capi_classify(r->status, r->body, r->len, &v);
	if (v.cls == CAPI_PERMANENT) {
		rc = reject_batch(s, io, nb, &v);
		goto out;
	}
	if (v.cls != CAPI_ACCEPTED) {
		rc = hold(s, v.cls, &v, NULL);
		goto out;
	}
	if (v.received >= 0 && (size_t)v.received != nb)
		SL_WARN(CAPI_COMP,
			"Meta counted other than sent sent=%zu "
			"events_received=%ld",
			nb, v.received);
settled:
	if (rc == SL_OK) {
		for (size_t i = 0; i < nb; i++)
			batch_settle(&s->q, s->batch[i]);
		s->stats.events_sent += nb;
	}
out:
	free(r);
	return rc;
}

static int capi_flush(void *self, sl_sink_io *io)
{
	capi_sink *s = self;
	int rc = SL_OK;

	if (s->q.pending == 0)
		return SL_OK;
	if (s->retry_at_ms > mono_ms(s))
		return SL_ETRANSIENT; /* backing off: nothing sent */
	while (rc == SL_OK && s->q.pending > 0)
		rc = send_next(s, io);
	if (rc == SL_OK) {
		s->failures = 0;
		s->retry_at_ms = 0;
		batch_reset_if_done(&s->q);
	}
	return batch_flush_result(CAPI_COMP, &s->failing, rc, s->q.pending,
				  s->eb.msg, s->safe_url);
}

static size_t capi_pending(void *self)
{
	return ((capi_sink *)self)->q.pending;
}

static void capi_discard(void *self, int32_t partition)
{
	batch_discard(&((capi_sink *)self)->q, partition);
}

static void capi_free(void *self)
{
	capi_sink *s = self;

	if (s == NULL)
		return;
	batch_free(&s->q);
	free(s->body.p);
	free(s->batch);
	httpc_free(s->http);
	dr_close(s->dry);
	free(s->url);
	if (s->suffix != NULL) {
		/* It holds the token: do not leave it in freed memory. */
		memset(s->suffix, 0, strlen(s->suffix));
		free(s->suffix);
	}
	free(s->event_name);
	free(s->action_source);
	free(s);
}

static const sl_sink_ops capi_ops = {
	.name = "meta",
	.write = capi_write,
	.flush = capi_flush,
	.pending = capi_pending,
	.discard = capi_discard,
	.free = capi_free,
};

/* "],\"access_token\":...,\"test_event_code\":...}" */
static char *make_suffix(const char *token, const char *test_code)
{
	cJSON *o = cJSON_CreateObject();
	char *p = NULL, *out = NULL;
	size_t n;

	if (o == NULL || !cJSON_AddStringToObject(o, "access_token", token) ||
	    (test_code != NULL &&
	     !cJSON_AddStringToObject(o, "test_event_code", test_code)))
		goto out;
	p = cJSON_PrintUnformatted(o); /* {"access_token":...} */
	if (p == NULL)
		goto out;
	n = strlen(p);
	out = malloc(n + 2);
	if (out != NULL) {
		out[0] = ']';
		out[1] = ',';
		memcpy(out + 2, p + 1, n); /* without '{', with the NUL */
	}
	memset(p, 0, n);
out:
	cJSON_free(p);
	cJSON_Delete(o);
	return out;
}

/* <url>/<version>/<dataset>/events; placeholders where unset (dry). */
static char *make_url(const capi_conf *c)
{
	const char *base = c->url != NULL ? c->url : "{meta.url}";
	const char *ds = c->dataset != NULL ? c->dataset : "{meta.dataset_id}";
	size_t bl = strlen(base), n;
	char *u;

	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	n = bl + strlen(c->version) + strlen(ds) + sizeof("///events");
	u = malloc(n);
	if (u != NULL)
		snprintf(u, n, "%.*s/%s/%s/events", (int)bl, base, c->version,
			 ds);
	return u;
}

/* The url must be one libcurl takes, over http or https. */
static int check_url(const char *url, sl_errbuf *eb)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	int ok;

	ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	     (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok ? SL_OK
		  : sl_errbuf_set(eb, SL_ECONFIG,
				  "meta.url: not an http(s) URL");
}

static int sink_init(capi_sink *s, const capi_conf *c, int dry, sl_errbuf *eb)
{
	s->event_name = strdup(c->event_name);
	s->action_source = strdup(c->action_source);
	s->url = make_url(c);
	s->suffix = make_suffix(dry ? "***" : c->token, c->test_code);
	s->batch = calloc((size_t)c->batch_size, sizeof(*s->batch));
	if (s->event_name == NULL || s->action_source == NULL ||
	    s->url == NULL || s->suffix == NULL || s->batch == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "meta: out of memory");
	s->eo.event_name = s->event_name;
	s->eo.action_source = s->action_source;
	s->batch_size = (size_t)c->batch_size;
	s->backoff_ms = c->backoff_ms;
	s->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)s ^
		 0x9e3779b97f4a7c15ULL;
	if (dry) {
		snprintf(s->safe_url, sizeof(s->safe_url), "%s", s->url);
		return dr_open(c->dry_dir, "meta", &s->dry, eb);
	}

	if (check_url(c->url, eb) != SL_OK)
		return SL_ECONFIG;
	dr_redact_url(s->url, s->safe_url, sizeof(s->safe_url));
	s->post = httpc_post;
	return http_new(c->timeout_ms, &s->http, eb);
}

int capi_sink_new(const sl_config *cfg, const sl_sink_ops **ops, void **self,
		  sl_errbuf *eb)
{
	capi_sink *s = NULL;
	capi_conf c;
	int rc, dry;

	*ops = NULL;
	*self = NULL;
	rc = read_conf(cfg, &c, eb);
	if (rc != SL_OK)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "meta: out of memory");

	/* Without credentials: the requests go to <dry_run.dir>/meta.jsonl. */
	dry = c.token == NULL || c.dataset == NULL;
	rc = sink_init(s, &c, dry, eb);
	if (rc != SL_OK) {
		capi_free(s);
		return rc;
	}
	s->post_ud = s->http;
	*ops = &capi_ops;
	*self = s;
	return SL_OK;
}

/* ---- for tests --------------------------------------------------- */

void capi_sink_set_transport(void *self, capi_post_fn fn, void *ud)
{
	capi_sink *s = self;

	s->post = fn;
	s->post_ud = ud;
}

void capi_sink_set_clock(void *self, capi_clock_fn fn, void *ud)
{
	capi_sink *s = self;

	s->clock = fn;
	s->clock_ud = ud;
}

void capi_sink_stats(void *self, capi_stats *out)
{
	*out = ((capi_sink *)self)->stats;
}

const char *capi_sink_last_error(void *self)
{
	return ((capi_sink *)self)->eb.msg;
}

int capi_sink_is_dry(void *self)
{
	return ((capi_sink *)self)->dry != NULL;
}

int64_t capi_sink_backoff_left_ms(void *self)
{
	capi_sink *s = self;
	int64_t left = s->retry_at_ms - mono_ms(s);

	return left > 0 ? left : 0;
}
