/*
 * httpc.c — the sinks' libcurl client: one kept connection, capped
 * reply bodies, failures sorted into "no reply" and "cannot ask".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "connectors/httpc.h"

struct httpc {
	CURL *curl;
	struct curl_slist *headers;
	int resend_stale, resolve_is_config;
};

static size_t body_cb(char *data, size_t size, size_t n, void *ud)
{
	httpc_reply *r = ud;
	size_t len = size * n, room = sizeof(r->body) - 1 - r->len;
	size_t take = len < room ? len : room;

	memcpy(r->body + r->len, data, take);
	r->len += take;
	r->body[r->len] = '\0';
	return len; /* drop what does not fit; the start says enough */
}

void httpc_free(httpc *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->headers);
	free(h);
}

/* Content-Type and no "Expect: 100-continue" pause before large bodies. */
static int set_headers(httpc *h, const char *content_type)
{
	char ct[128];
	struct curl_slist *l;

	snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
	l = curl_slist_append(NULL, ct);
	if (l == NULL)
		return SL_ENOMEM;
	h->headers = l;
	if (curl_slist_append(l, "Expect:") == NULL)
		return SL_ENOMEM;
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
	return SL_OK;
}

int httpc_new(const httpc_opts *o, httpc **out, sl_errbuf *eb)
{
	httpc *h = NULL;
	int rc = SL_OK;

	*out = NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = calloc(1, sizeof(*h));
	if (h == NULL || (h->curl = curl_easy_init()) == NULL) {
		rc = sl_errbuf_set(eb, SL_ENOMEM, "%s: curl init failed",
				   o->name);
		goto out;
	}
	h->resend_stale = o->resend_stale;
	h->resolve_is_config = o->resolve_is_config;
	if (set_headers(h, o->content_type) != SL_OK) {
		rc = sl_errbuf_set(eb, SL_ENOMEM, "%s: out of memory", o->name);
		goto out;
	}

	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 o->connect_timeout_ms);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	if (o->max_idle_s > 0)
		curl_easy_setopt(h->curl, CURLOPT_MAXAGE_CONN, o->max_idle_s);
	curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, body_cb);
	*out = h;
	h = NULL;
out:
	httpc_free(h);
	return rc;
}

static CURLcode perform(httpc *h, const char *url, const char *body, size_t len,
			httpc_reply *r, char *errbuf)
{
	r->len = 0;
	r->body[0] = '\0';
	errbuf[0] = '\0';
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, errbuf);
	return curl_easy_perform(h->curl);
}

/* 1 when a request failed on a kept connection the server had closed. */
static int stale_connection(httpc *h, CURLcode cc)
{
	long connects = 0;

	curl_easy_getinfo(h->curl, CURLINFO_NUM_CONNECTS, &connects);
	return connects == 0 &&
	       (cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
		cc == CURLE_GOT_NOTHING);
}

int httpc_post(void *ud, const char *url, const char *body, size_t len,
	       httpc_reply *r)
{
	httpc *h = ud;
	char errbuf[CURL_ERROR_SIZE];
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	cc = perform(h, url, body, len, r, errbuf);
	if (h->resend_stale && stale_connection(h, cc)) {
		curl_easy_setopt(h->curl, CURLOPT_FRESH_CONNECT, 1L);
		cc = perform(h, url, body, len, r, errbuf);
		curl_easy_setopt(h->curl, CURLOPT_FRESH_CONNECT, 0L);
	}

	/* Nothing of this call may outlive it in the handle. */
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);

	if (cc == CURLE_OK) {
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &r->status);
		return SL_OK;
	}
	snprintf(r->err, sizeof(r->err), "%s",
		 errbuf[0] ? errbuf : curl_easy_strerror(cc));
	if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ||
	    (h->resolve_is_config && cc == CURLE_COULDNT_RESOLVE_HOST))
		return SL_ECONFIG;
	return SL_ETRANSIENT;
}
