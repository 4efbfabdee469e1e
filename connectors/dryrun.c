/*
 * dryrun.c — the JSON-lines file of a connector running dry.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "connectors/dryrun.h"
#include "processor/timeutil.h"

struct dr_writer {
	int fd;
	char *path;
};

/*
 * The lines may hold personal data (a WhatsApp message's phone number):
 * the file is for its owner only, and so is every directory made for it.
 */
#define DR_DIR_MODE 0700
#define DR_FILE_MODE 0600

/* mkdir -p: create every missing component of `dir`, DR_DIR_MODE. */
static int make_dirs(const char *dir, sl_errbuf *eb)
{
	char *p = strdup(dir);
	int rc = SL_OK;

	if (p == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "dry run: out of memory");
	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, DR_DIR_MODE) != 0 && errno != EEXIST) {
			rc = sl_errbuf_set(eb, SL_EIO, "dry run: mkdir %s: %s",
					   p, strerror(errno));
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, DR_DIR_MODE) != 0 && errno != EEXIST)
		rc = sl_errbuf_set(eb, SL_EIO, "dry run: mkdir %s: %s", p,
				   strerror(errno));
out:
	free(p);
	return rc;
}

int dr_open(const char *dir, const char *connector, dr_writer **out,
	    sl_errbuf *eb)
{
	dr_writer *w = NULL;
	struct stat st;
	size_t n;
	int rc;

	*out = NULL;
	if (dir == NULL || *dir == '\0' || connector == NULL)
		return sl_errbuf_set(eb, SL_EINVAL, "dry run: no directory");
	rc = make_dirs(dir, eb);
	if (rc != SL_OK)
		return rc;

	w = calloc(1, sizeof(*w));
	n = strlen(dir) + strlen(connector) + sizeof("/.jsonl");
	if (w == NULL || (w->path = malloc(n)) == NULL) {
		rc = sl_errbuf_set(eb, SL_ENOMEM, "dry run: out of memory");
		goto out;
	}
	snprintf(w->path, n, "%s/%s.jsonl", dir, connector);
	w->fd = open(w->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		     DR_FILE_MODE);
	if (w->fd < 0) {
		rc = sl_errbuf_set(eb, SL_EIO, "dry run: open %s: %s", w->path,
				   strerror(errno));
		goto out;
	}

	/* A file made before files were private (0644) is made private. */
	if (fstat(w->fd, &st) != 0 ||
	    ((st.st_mode & 077) != 0 && fchmod(w->fd, DR_FILE_MODE) != 0)) {
		rc = sl_errbuf_set(eb, SL_EIO, "dry run: make %s private: %s",
				   w->path, strerror(errno));
		close(w->fd);
		goto out;
	}
	*out = w;
	w = NULL;
out:
	if (w != NULL) {
		free(w->path);
		free(w);
	}
	return rc;
}

void dr_close(dr_writer *w)
{
	if (w == NULL)
		return;
	close(w->fd);
	free(w->path);
	free(w);
}

const char *dr_path(const dr_writer *w)
{
	return w->path;
}

int dr_write_line(dr_writer *w, const char *line, size_t len, sl_errbuf *eb)
{
	char *buf = malloc(len + 1);
	size_t done = 0;
	int rc = SL_OK;

	if (buf == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "dry run: out of memory");
	memcpy(buf, line, len);
	buf[len] = '\n';

	/* One write for the whole line keeps appends from interleaving. */
	while (done < len + 1) {
		ssize_t k = write(w->fd, buf + done, len + 1 - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = sl_errbuf_set(eb, SL_EIO, "dry run: write %s: %s",
					   w->path, strerror(errno));
			break;
		}
		done += (size_t)k;
	}
	free(buf);
	return rc;
}

int dr_write_json(dr_writer *w, const cJSON *obj, sl_errbuf *eb)
{
	char *s = cJSON_PrintUnformatted(obj);
	int rc;

	if (s == NULL)
		return sl_errbuf_set(eb, SL_ENOMEM, "dry run: out of memory");
	rc = dr_write_line(w, s, strlen(s), eb);
	cJSON_free(s);
	return rc;
}

int dr_write_post(dr_writer *w, const char *url, const char *skey,
		  const char *sval, const char *rkey, const char *raw,
		  sl_errbuf *eb)
{
	cJSON *o = cJSON_CreateObject();
	char now[32];
	int rc;

	dr_now_rfc3339(now);
	if (o == NULL || !cJSON_AddStringToObject(o, "time", now) ||
	    !cJSON_AddStringToObject(o, "method", "POST") ||
	    !cJSON_AddStringToObject(o, "url", url) ||
	    !cJSON_AddStringToObject(o, skey, sval) ||
	    (raw != NULL && !cJSON_AddRawToObject(o, rkey, raw))) {
		rc = sl_errbuf_set(eb, SL_ENOMEM, "dry run: out of memory");
		goto out;
	}
	rc = dr_write_json(w, o, eb);
out:
	cJSON_Delete(o);
	return rc;
}

/* 1 when a query parameter's name says it holds a secret. */
static int secret_param(const char *name, size_t n)
{
	static const char *const words[] = { "password", "token", "key" };

	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++) {
		size_t w = strlen(words[i]);

		for (size_t j = 0; j + w <= n; j++)
			if (strncasecmp(name + j, words[i], w) == 0)
				return 1;
	}
	return 0;
}

/* Rewrite the query of `u` with secret parameters' values as "***". */
static int mask_query(CURLU *u)
{
	char *q = NULL, *masked = NULL;
	size_t o = 0;
	int rc = -1;

	if (curl_url_get(u, CURLUPART_QUERY, &q, 0) != CURLUE_OK)
		return 0; /* no query */
	masked = malloc(strlen(q) * 2 + 4);
	if (masked == NULL)
		goto out;
	for (const char *p = q; *p != '\0';) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);

		if (eq != NULL && secret_param(p, (size_t)(eq - p))) {
			memcpy(masked + o, p, (size_t)(eq - p) + 1);
			o += (size_t)(eq - p) + 1;
			memcpy(masked + o, "***", 3);
			o += 3;
		} else {
			memcpy(masked + o, p, n);
			o += n;
		}
		p += n;
		if (*p == '&')
			masked[o++] = *p++;
	}
	masked[o] = '\0';
	rc = curl_url_set(u, CURLUPART_QUERY, masked, 0) == CURLUE_OK ? 0 : -1;
out:
	free(masked);
	curl_free(q);
	return rc;
}

char *dr_redact_url(const char *url, char *out, size_t n)
{
	CURLU *u = curl_url();
	char *s = NULL;

	if (u == NULL || url == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    mask_query(u) != 0 ||
	    curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK)
		snprintf(out, n, "(unparsable url)");
	else
		snprintf(out, n, "%s", s);
	curl_free(s);
	curl_url_cleanup(u);
	return out;
}

void dr_now_rfc3339(char *out)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	sl_time_format_rfc3339((int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000,
			       out);
}
