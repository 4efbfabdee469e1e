/*
 * whatsapp.c — the WhatsApp Cloud API client (see whatsapp.h).
 *
 * A send, seen from the client:
 *
 *	submit --> in flight (curl multi) -- reply --> classified --+
 *	  |               |                                         |
 *	  |               +-- network error, timeout -> TRANSIENT --+-> result
 *	  +-- dry run: request written, "dry-<n>" -----> SENT ------+   queue
 *
 * The client never retries by itself: every send yields exactly one
 * wa_result, and the caller (the whatsapp topology) decides what a
 * retry means for its durable state.  The Cloud API has no idempotency
 * key, so a reply lost after the request went out is flagged
 * maybe_sent.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "connectors/dryrun.h"
#include "connectors/whatsapp.h"

#define WA_DEFAULT_URL "https://graph.facebook.com"
#define WA_DEFAULT_VERSION "v21.0"
#define WA_DEFAULT_TEMPLATE "screening_reminder"
#define WA_DEFAULT_FALLBACK "en"
#define WA_DEFAULT_TIMEOUT_MS 15000
#define WA_CONNECT_TIMEOUT_MS 5000
#define WA_DEFAULT_CONNECTIONS 32
#define WA_MAX_REPLY (64 * 1024)
#define WA_WINDOW_MS 1000

/* ---- token bucket ------------------------------------------------ */

static double burst_for(double rate)
{
	return rate / 10 < 1 ? 1 : rate / 10;
}

/* Most takes allowed in one window at the current rate. */
static int window_max(const wa_bucket *b)
{
	int w = (int)floor(b->rate);

	if (w < 1)
		w = 1;
	return w > b->cap ? b->cap : w;
}

/* Takes in (now - 1000 ms, now]. */
static int window_used(const wa_bucket *b, int64_t now_ms)
{
	int used = 0;

	for (int i = 0; i < b->n; i++) {
		int idx = (b->head - 1 - i + b->cap) % b->cap;

		if (b->taken[idx] <= now_ms - WA_WINDOW_MS)
			break;
		used++;
	}
	return used;
}

static void refill(wa_bucket *b, int64_t now_ms)
{
	if (now_ms <= b->last_ms)
		return;
	b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last_ms = now_ms;
}

int wa_bucket_init(wa_bucket *b, double rate, int64_t now_ms)
{
	memset(b, 0, sizeof(*b));
	if (!(rate > 0) || rate > 1e6)
		return SL_EINVAL;
	b->cap = (int)ceil(rate);
	b->taken = calloc((size_t)b->cap, sizeof(*b->taken));
	if (b->taken == NULL)
		return SL_ENOMEM;
	b->rate = rate;
	b->burst = burst_for(rate);
	b->tokens = 1;
	b->last_ms = now_ms;
	return SL_OK;
}

void wa_bucket_free(wa_bucket *b)
{
	free(b->taken);
	b->taken = NULL;
}

void wa_bucket_set_rate(wa_bucket *b, double rate, int64_t now_ms)
{
	refill(b, now_ms);
	if (rate > b->cap)
		rate = b->cap;
	if (!(rate > 0))
		return;
	b->rate = rate;
	b->burst = burst_for(rate);
	if (b->tokens > b->burst)
		b->tokens = b->burst;
}

int wa_bucket_available(wa_bucket *b, int64_t now_ms)
{
	int by_tokens, by_window;

	refill(b, now_ms);
	by_tokens = (int)floor(b->tokens);
	by_window = window_max(b) - window_used(b, now_ms);
	if (by_window < 0)
		by_window = 0;
	return by_tokens < by_window ? by_tokens : by_window;
}

int wa_bucket_take(wa_bucket *b, int64_t now_ms)
{
	if (wa_bucket_available(b, now_ms) < 1)
		return 0;
	b->tokens -= 1;
	b->taken[b->head] = now_ms;
	b->head = (b->head + 1) % b->cap;
	if (b->n < b->cap)
		b->n++;
	return 1;
}

int64_t wa_bucket_wait_ms(wa_bucket *b, int64_t now_ms)
{
	int64_t by_tokens = 0, by_window = 0;
	int w = window_max(b);

	refill(b, now_ms);
	if (b->tokens < 1)
		by_tokens = (int64_t)ceil((1 - b->tokens) * 1000.0 / b->rate);
	if (window_used(b, now_ms) >= w) {
		/* the w-th most recent take must leave the window */
		int idx = (b->head - w + b->cap) % b->cap;

		by_window = b->taken[idx] + WA_WINDOW_MS - now_ms;
	}
	return by_tokens > by_window ? by_tokens : by_window;
}

/* ---- pacer ------------------------------------------------------- */

int wa_pacer_init(wa_pacer *p, double rate, int64_t now_ms)
{
	memset(p, 0, sizeof(*p));
	p->max_rate = rate;
	p->paused_until = INT64_MIN;
	p->calm_since = now_ms;
	p->last_halved = INT64_MIN;
	p->seed = (unsigned)now_ms ^ (unsigned)getpid();
	return wa_bucket_init(&p->bucket, rate, now_ms);
}

void wa_pacer_free(wa_pacer *p)
{
	wa_bucket_free(&p->bucket);
}

int wa_pacer_available(wa_pacer *p, int64_t now_ms)
{
	if (now_ms < p->paused_until)
		return 0;
	if (p->bucket.rate < p->max_rate &&
	    now_ms - p->calm_since >= WA_PACER_RECOVER_MS) {
		double r = p->bucket.rate + p->max_rate / 10;

		wa_bucket_set_rate(&p->bucket,
				   r < p->max_rate ? r : p->max_rate, now_ms);
		p->calm_since = now_ms;
	}
	return wa_bucket_available(&p->bucket, now_ms);
}

int wa_pacer_take(wa_pacer *p, int64_t now_ms)
{
	if (now_ms < p->paused_until)
		return 0;
	return wa_bucket_take(&p->bucket, now_ms);
}

int64_t wa_pacer_wait_ms(wa_pacer *p, int64_t now_ms)
{
	if (now_ms < p->paused_until)
		return p->paused_until - now_ms;
	wa_pacer_available(p, now_ms); /* wins rate back when calm */
	return wa_bucket_wait_ms(&p->bucket, now_ms);
}

int wa_pacer_paused(const wa_pacer *p, int64_t now_ms)
{
	return now_ms < p->paused_until;
}

void wa_pacer_throttled(wa_pacer *p, int64_t now_ms)
{
	int64_t pause;

	p->calm_since = now_ms;
	if (now_ms < p->paused_until)
		return; /* a reply to a send from before the pause */
	if (p->last_halved == INT64_MIN || now_ms - p->last_halved >= 1000) {
		p->last_halved = now_ms;
		wa_bucket_set_rate(&p->bucket,
				   p->bucket.rate / 2 < 1 ? 1
							  : p->bucket.rate / 2,
				   now_ms);
	}
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : 1000;
	if (p->backoff_ms > WA_PACER_MAX_BACKOFF_MS)
		p->backoff_ms = WA_PACER_MAX_BACKOFF_MS;
	/* jitter: 75% to 125% of the backoff */
	pause = p->backoff_ms * 3 / 4 +
		(int64_t)(rand_r(&p->seed) % (p->backoff_ms / 2 + 1));
	p->paused_until = now_ms + pause;
	/* Start again gently: one token when the pause ends. */
	p->bucket.tokens = 1;
	p->bucket.last_ms = p->paused_until;
}

void wa_pacer_accepted(wa_pacer *p, int64_t now_ms)
{
	if (p->last_halved == INT64_MIN ||
	    now_ms - p->last_halved >= WA_PACER_RECOVER_MS)
		p->backoff_ms = 0;
}

double wa_pacer_rate(const wa_pacer *p)
{
	return p->bucket.rate;
}

/* ---- replies ----------------------------------------------------- */

const char *wa_class_name(enum wa_class c)
{
	static const char *const names[] = {
		[WA_SENT] = "sent",
		[WA_THROTTLED] = "throttled",
		[WA_PAIR_LIMIT] = "pair_limit",
		[WA_PERMANENT] = "permanent",
		[WA_TEMPLATE] = "template",
		[WA_AUTH] = "auth",
		[WA_TRANSIENT] = "transient",
	};

	if ((unsigned)c >= sizeof(names) / sizeof(*names))
		return "unknown";
	return names[c];
}

static enum wa_class class_of(int code, long status)
{
	switch (code) {
	case 130429: /* throughput */
	case 80007:  /* WABA call rate */
	case 4:	     /* app call rate */
	case 131057: /* account in maintenance (throughput upgrade) */
		return WA_THROTTLED;
	case 131056:
		return WA_PAIR_LIMIT;
	case 190:    /* token */
	case 10:     /* permission */
	case 131031: /* account locked */
	case 368:    /* policy block */
	case 131048: /* spam rate limit: stop the campaign */
		return WA_AUTH;
	case 1:
	case 2:
	case 131000:
	case 131016: /* service unavailable */
	case 133004: /* server temporarily unavailable */
		return WA_TRANSIENT;
	default:
		break;
	}
	if (code >= 200 && code <= 299)
		return WA_AUTH;
	if (code >= 132000 && code < 133000)
		return WA_TEMPLATE;
	if (status == 429)
		return WA_THROTTLED;
	if (status >= 500 || status == 408 || status < 200)
		return WA_TRANSIENT;
	if (code == 0 && (status == 401 || status == 403))
		return WA_AUTH;
	return WA_PERMANENT;
}

static const char *json_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void wa_classify(long http_status, const char *body, size_t len, wa_result *r)
{
	cJSON *o = NULL;
	const cJSON *err, *data, *msgs, *code;
	const char *msg = NULL, *details = NULL, *id;

	r->http_status = http_status;
	r->code = 0;
	r->maybe_sent = 0;
	r->wamid[0] = '\0';
	r->message[0] = '\0';
	if (body != NULL && len > 0)
		o = cJSON_ParseWithLength(body, len);

	/* Accepted: messages[0].id. */
	if (http_status >= 200 && http_status < 300) {
		msgs = cJSON_GetObjectItemCaseSensitive(o, "messages");
		id = json_str(cJSON_GetArrayItem(msgs, 0), "id");
		r->cls = WA_SENT;
		if (id != NULL)
			snprintf(r->wamid, sizeof(r->wamid), "%s", id);
		else
			snprintf(r->message, sizeof(r->message),
				 "accepted without a message id");
		goto out;
	}

	/* An error: error.code decides, then the HTTP status. */
	err = cJSON_GetObjectItemCaseSensitive(o, "error");
	code = cJSON_GetObjectItemCaseSensitive(err, "code");
	if (cJSON_IsNumber(code))
		r->code = code->valueint;
	msg = json_str(err, "message");
	data = cJSON_GetObjectItemCaseSensitive(err, "error_data");
	details = json_str(data, "details");
	snprintf(r->message, sizeof(r->message), "%s%s%s",
		 msg ? msg : (err ? "error without a message" : "HTTP error"),
		 details ? ": " : "", details ? details : "");
	r->cls = class_of(r->code, http_status);
out:
	cJSON_Delete(o);
}

/* ---- templates --------------------------------------------------- */

struct wa_tmpl {
	char *lang;
	char *name; /* NULL: template.default */
	char *code; /* NULL: the language itself */
};

struct wa_xfer {
	CURL *easy;
	char *body;
	char *reply;
	size_t len, cap;
	uint64_t tag;
	int busy;
	char errbuf[CURL_ERROR_SIZE];
	struct wa_xfer *next; /* every transfer of the client */
};

struct wa_client {
	char *token;
	char *url;
	char *shown_url; /* redacted, for dry-run lines */
	char *default_name;
	char *fallback;
	struct wa_tmpl *tmpl;
	size_t ntmpl;
	long timeout_ms;

	int dry;
	dr_writer *dr;
	uint64_t dry_n;

	CURLM *multi;
	struct curl_slist *headers;
	struct wa_xfer *xfers;
	size_t active;

	wa_result *ready; /* FIFO of finished sends */
	size_t rhead, rtail, rcap;
};

static struct wa_tmpl *tmpl_find(const wa_client *c, const char *lang)
{
	for (size_t i = 0; i < c->ntmpl; i++)
		if (strcmp(c->tmpl[i].lang, lang) == 0)
			return &c->tmpl[i];
	return NULL;
}

/* Find or add the entry for `lang`. */
static struct wa_tmpl *tmpl_get(wa_client *c, const char *lang)
{
	struct wa_tmpl *t = tmpl_find(c, lang), *n;

	if (t != NULL)
		return t;
	n = realloc(c->tmpl, (c->ntmpl + 1) * sizeof(*n));
	if (n == NULL)
		return NULL;
	c->tmpl = n;
	t = &c->tmpl[c->ntmpl];
	memset(t, 0, sizeof(*t));
	t->lang = strdup(lang);
	if (t->lang == NULL)
		return NULL;
	c->ntmpl++;
	return t;
}

static int set_dup(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? SL_OK : SL_ENOMEM;
}

static int tmpl_name_cb(const char *key, const char *value, void *ud)
{
	wa_client *c = ud;
	struct wa_tmpl *t;

	if (value == NULL || value[0] == '\0')
		return SL_OK;
	if (strcmp(key, "default") == 0)
		return set_dup(&c->default_name, value);
	t = tmpl_get(c, key);
	return t ? set_dup(&t->name, value) : SL_ENOMEM;
}

static int tmpl_code_cb(const char *key, const char *value, void *ud)
{
	wa_client *c = ud;
	struct wa_tmpl *t;

	if (value == NULL || value[0] == '\0')
		return SL_OK;
	t = tmpl_get(c, key);
	return t ? set_dup(&t->code, value) : SL_ENOMEM;
}

void wa_client_template(const wa_client *c, const char *lang, const char **name,
			const char **code)
{
	const struct wa_tmpl *t = lang ? tmpl_find(c, lang) : NULL;

	/* No per-language keys at all: every language is configured. */
	if (t == NULL && c->ntmpl == 0 && lang != NULL && lang[0] != '\0') {
		*name = c->default_name;
		*code = lang;
		return;
	}
	if (t == NULL) {
		lang = c->fallback;
		t = tmpl_find(c, lang);
	}
	*name = t && t->name ? t->name : c->default_name;
	*code = t && t->code ? t->code : lang;
}

/* ---- request ----------------------------------------------------- */

int wa_phone_digits(const char *phone, char *out, size_t n)
{
	size_t k = 0;

	if (phone == NULL || n == 0)
		return SL_EINVAL;
	for (const char *p = phone; *p; p++) {
		if (isdigit((unsigned char)*p)) {
			if (k + 1 >= n)
				return SL_EINVAL;
			out[k++] = *p;
		} else if (!strchr("+ -().", *p)) {
			return SL_EINVAL;
		}
	}
	out[k] = '\0';
	return k >= 8 && k <= 15 && out[0] != '0' ? SL_OK : SL_EINVAL;
}

static cJSON *body_json(const wa_client *c, const wa_message *m, const char *to)
{
	const char *name, *code;
	cJSON *o = cJSON_CreateObject(), *t, *lang, *comps, *body, *params, *p;

	wa_client_template(c, m->lang, &name, &code);
	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "messaging_product", "whatsapp");
	cJSON_AddStringToObject(o, "recipient_type", "individual");
	cJSON_AddStringToObject(o, "to", to);
	cJSON_AddStringToObject(o, "type", "template");
	if (m->callback != NULL)
		cJSON_AddStringToObject(o, "biz_opaque_callback_data",
					m->callback);
	t = cJSON_AddObjectToObject(o, "template");
	if (t == NULL)
		goto fail;
	cJSON_AddStringToObject(t, "name", name);
	lang = cJSON_AddObjectToObject(t, "language");
	if (lang == NULL)
		goto fail;
	cJSON_AddStringToObject(lang, "code", code);
	comps = cJSON_AddArrayToObject(t, "components");
	body = cJSON_CreateObject();
	params = cJSON_CreateArray();
	p = cJSON_CreateObject();
	if (comps == NULL || body == NULL || params == NULL || p == NULL) {
		cJSON_Delete(body);
		cJSON_Delete(params);
		cJSON_Delete(p);
		goto fail;
	}
	cJSON_AddItemToArray(comps, body);
	cJSON_AddStringToObject(body, "type", "body");
	cJSON_AddItemToObject(body, "parameters", params);
	cJSON_AddItemToArray(params, p);
	cJSON_AddStringToObject(p, "type", "text");
	cJSON_AddStringToObject(p, "text",
				m->param && m->param[0] ? m->param : "-");
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

int wa_request_body(const wa_client *c, const wa_message *m, char **out)
{
	char to[20];
	cJSON *o;

	*out = NULL;
	if (wa_phone_digits(m->to, to, sizeof(to)) != SL_OK)
		return SL_EINVAL;
	o = body_json(c, m, to);
	if (o == NULL)
		return SL_ENOMEM;
	*out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return *out ? SL_OK : SL_ENOMEM;
}

/* ---- results ----------------------------------------------------- */

static int push_result(wa_client *c, const wa_result *r)
{
	if (c->rtail == c->rcap) {
		size_t live = c->rtail - c->rhead;

		if (c->rhead > 0) {
			memmove(c->ready, c->ready + c->rhead,
				live * sizeof(*c->ready));
		} else {
			size_t cap = c->rcap ? c->rcap * 2 : 64;
			wa_result *n = realloc(c->ready, cap * sizeof(*n));

			if (n == NULL)
				return SL_ENOMEM;
			c->ready = n;
			c->rcap = cap;
		}
		c->rhead = 0;
		c->rtail = live;
	}
	c->ready[c->rtail++] = *r;
	return SL_OK;
}

int wa_client_result(wa_client *c, wa_result *out)
{
	if (c->rhead == c->rtail)
		return 0;
	*out = c->ready[c->rhead++];
	if (c->rhead == c->rtail)
		c->rhead = c->rtail = 0;
	return 1;
}

size_t wa_client_pending(const wa_client *c)
{
	return c->active + (c->rtail - c->rhead);
}

/* ---- dry run ----------------------------------------------------- */

static int submit_dry(wa_client *c, const wa_message *m, uint64_t tag)
{
	cJSON *line = cJSON_CreateObject(), *hdrs, *body;
	char to[20], at[32];
	sl_errbuf eb;
	wa_result r;
	int rc = SL_ENOMEM;

	if (wa_phone_digits(m->to, to, sizeof(to)) != SL_OK) {
		rc = SL_EINVAL;
		goto out;
	}
	body = body_json(c, m, to);
	if (line == NULL || body == NULL) {
		cJSON_Delete(body);
		goto out;
	}
	dr_now_rfc3339(at);
	memset(&r, 0, sizeof(r));
	r.tag = tag;
	r.cls = WA_SENT;
	r.http_status = 200;
	snprintf(r.wamid, sizeof(r.wamid), "dry-%llu",
		 (unsigned long long)++c->dry_n);
	cJSON_AddStringToObject(line, "time", at);
	cJSON_AddStringToObject(line, "method", "POST");
	cJSON_AddStringToObject(line, "url", c->shown_url);
	hdrs = cJSON_AddObjectToObject(line, "headers");
	cJSON_AddStringToObject(hdrs, "Authorization", "Bearer ***");
	cJSON_AddStringToObject(hdrs, "Content-Type", "application/json");
	cJSON_AddItemToObject(line, "body", body);
	cJSON_AddStringToObject(line, "wamid", r.wamid);
	rc = dr_write_json(c->dr, line, &eb);
	if (rc == SL_OK)
		rc = push_result(c, &r);
out:
	cJSON_Delete(line);
	return rc;
}

/* ---- live sends -------------------------------------------------- */

static size_t reply_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct wa_xfer *x = ud;
	size_t n = size * nmemb;

	if (x->len + n > WA_MAX_REPLY)
		return n; /* keep the start; error bodies are small */
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 1024;
		char *p;

		while (cap < x->len + n + 1)
			cap *= 2;
		p = realloc(x->reply, cap);
		if (p == NULL)
			return 0;
		x->reply = p;
		x->cap = cap;
	}
	memcpy(x->reply + x->len, data, n);
	x->len += n;
	x->reply[x->len] = '\0';
	return n;
}

/* A free transfer (its easy handle and buffers reused), or a new one. */
static struct wa_xfer *xfer_get(wa_client *c)
{
	struct wa_xfer *x;

	for (x = c->xfers; x != NULL; x = x->next)
		if (!x->busy)
			return x;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->easy = curl_easy_init();
	if (x->easy == NULL) {
		free(x);
		return NULL;
	}
	x->next = c->xfers;
	c->xfers = x;
	return x;
}

static void xfer_setup(wa_client *c, struct wa_xfer *x)
{
	CURL *e = x->easy;

	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
	curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, c->token);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)strlen(x->body));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)WA_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, reply_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
}

int wa_client_submit(wa_client *c, const wa_message *m, uint64_t tag)
{
	struct wa_xfer *x;
	char *body = NULL;
	int rc;

	if (c->dry)
		return submit_dry(c, m, tag);
	rc = wa_request_body(c, m, &body);
	if (rc != SL_OK)
		return rc;
	x = xfer_get(c);
	if (x == NULL) {
		cJSON_free(body);
		return SL_ENOMEM;
	}
	x->body = body;
	x->len = 0;
	x->tag = tag;
	x->errbuf[0] = '\0';
	xfer_setup(c, x);
	if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
		cJSON_free(x->body);
		x->body = NULL;
		return SL_EHTTP;
	}
	x->busy = 1;
	c->active++;
	return SL_OK;
}

/* A transfer ended: classify it and queue its result. */
static void finish(wa_client *c, struct wa_xfer *x, CURLcode cc)
{
	wa_result r;
	long status = 0, reqsize = 0;

	memset(&r, 0, sizeof(r));
	if (cc == CURLE_OK) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		wa_classify(status, x->reply, x->len, &r);
	} else {
		curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &reqsize);
		r.cls = WA_TRANSIENT;
		r.maybe_sent = reqsize > 0 && cc != CURLE_COULDNT_CONNECT &&
			       cc != CURLE_COULDNT_RESOLVE_HOST;
		snprintf(r.message, sizeof(r.message), "network: %s",
			 x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
	}
	r.tag = x->tag;
	curl_multi_remove_handle(c->multi, x->easy);
	cJSON_free(x->body);
	x->body = NULL;
	x->busy = 0;
	c->active--;
	if (push_result(c, &r) != SL_OK) {
		/* TODO: a result lost to OOM leaves its entry SENDING until
		 * the topology's sweep marks it UNKNOWN. */
		return;
	}
}

int wa_client_poll(wa_client *c, int timeout_ms)
{
	CURLMsg *msg;
	int running = 0, left;

	if (c->dry || c->active == 0) {
		/* Nothing to move: just wait, as a caller pacing sends asks. */
		if (timeout_ms > 0)
			usleep((useconds_t)timeout_ms * 1000);
		return SL_OK;
	}
	if (curl_multi_perform(c->multi, &running) != CURLM_OK)
		return SL_EHTTP;
	if (timeout_ms > 0 && running > 0) {
		curl_multi_poll(c->multi, NULL, 0, timeout_ms, NULL);
		curl_multi_perform(c->multi, &running);
	}
	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		struct wa_xfer *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
				  (char **)&x);
		if (x != NULL)
			finish(c, x, msg->data.result);
	}
	return SL_OK;
}

/* ---- set-up ------------------------------------------------------ */

static char *join_url(const char *base, const char *version, const char *id)
{
	size_t blen = strlen(base);
	size_t n;
	char *u;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	n = blen + strlen(version) + strlen(id) + 16;
	u = malloc(n);
	if (u != NULL)
		snprintf(u, n, "%.*s/%s/%s/messages", (int)blen, base, version,
			 id);
	return u;
}

static int setup_live(wa_client *c, const sl_config *cfg, sl_errbuf *eb)
{
	int64_t conns = WA_DEFAULT_CONNECTIONS;
	int rc;

	rc = sl_config_int(cfg, "whatsapp.connections", &conns, eb);
	if (rc != SL_OK && rc != SL_ENOTFOUND)
		return rc;
	if (conns < 1 || conns > 1024)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "whatsapp.connections: 1 to 1024");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->multi = curl_multi_init();
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (c->headers != NULL)
		c->headers = curl_slist_append(c->headers, "Expect:");
	if (c->multi == NULL || c->headers == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "whatsapp: out of memory");
	curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
			  (long)conns);
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)conns);
	return SL_OK;
}

static int setup(wa_client *c, const sl_config *cfg, sl_errbuf *eb)
{
	const char *base = sl_config_get(cfg, "whatsapp.url");
	const char *version = sl_config_get(cfg, "whatsapp.version");
	const char *id = sl_config_get(cfg, "whatsapp.phone_number_id");
	const char *token = sl_config_get(cfg, "whatsapp.token");
	const char *fb = sl_config_get(cfg, "whatsapp.fallback_lang");
	const char *dir = sl_config_get(cfg, "dry_run.dir");
	int64_t timeout = WA_DEFAULT_TIMEOUT_MS;
	char shown[1024];
	int rc;

	rc = sl_config_duration_ms(cfg, "whatsapp.timeout", &timeout, eb);
	if (rc != SL_OK && rc != SL_ENOTFOUND)
		return rc;
	c->timeout_ms = (long)timeout;
	c->dry = token == NULL;
	if (!c->dry && id == NULL)
		return sl_errbuf_set(eb, SL_ECONFIG,
				     "whatsapp.phone_number_id is required "
				     "with whatsapp.token");
	c->url = join_url(base ? base : WA_DEFAULT_URL,
			  version ? version : WA_DEFAULT_VERSION,
			  id ? id : "PHONE_NUMBER_ID");
	c->fallback = strdup(fb ? fb : WA_DEFAULT_FALLBACK);
	if (c->url == NULL || c->fallback == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "whatsapp: out of memory");
	rc = sl_config_each(cfg, "whatsapp.template.", tmpl_name_cb, c);
	if (rc == SL_OK)
		rc = sl_config_each(cfg, "whatsapp.template_lang.",
				    tmpl_code_cb, c);
	if (rc == SL_OK && c->default_name == NULL)
		rc = set_dup(&c->default_name, WA_DEFAULT_TEMPLATE);
	if (rc != SL_OK)
		return sl_errbuf_set(eb, rc, "whatsapp: out of memory");

	if (c->dry) {
		c->shown_url =
			strdup(dr_redact_url(c->url, shown, sizeof(shown)));
		if (c->shown_url == NULL)
			return sl_errbuf_set(eb, SL_ENOMEM, "out of memory");
		return dr_open(dir ? dir : "dry-run", "whatsapp", &c->dr, eb);
	}
	c->token = strdup(token);
	if (c->token == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "whatsapp: out of memory");
	return setup_live(c, cfg, eb);
}

int wa_client_new(const sl_config *cfg, wa_client **out, sl_errbuf *eb)
{
	wa_client *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (c == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "whatsapp: out of memory");
	rc = setup(c, cfg, eb);
	if (rc != SL_OK) {
		wa_client_free(c);
		return rc;
	}
	*out = c;
	return SL_OK;
}

int wa_client_dry(const wa_client *c)
{
	return c->dry;
}

void wa_client_free(wa_client *c)
{
	struct wa_xfer *x, *next;

	if (c == NULL)
		return;
	for (x = c->xfers; x != NULL; x = next) {
		next = x->next;
		if (x->busy)
			curl_multi_remove_handle(c->multi, x->easy);
		curl_easy_cleanup(x->easy);
		cJSON_free(x->body);
		free(x->reply);
		free(x);
	}
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	curl_slist_free_all(c->headers);
	for (size_t i = 0; i < c->ntmpl; i++) {
		free(c->tmpl[i].lang);
		free(c->tmpl[i].name);
		free(c->tmpl[i].code);
	}
	free(c->tmpl);
	if (c->token != NULL) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	dr_close(c->dr);
	free(c->url);
	free(c->shown_url);
	free(c->default_name);
	free(c->fallback);
	free(c->ready);
	free(c);
}
