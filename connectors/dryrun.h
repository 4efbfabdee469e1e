/*
 * dryrun.h — the JSON-lines file a connector writes instead of sending.
 *
 * A connector with no credentials configured runs dry: every request it
 * would have sent is appended, one JSON object per line, to
 * <dry_run.dir>/<connector>.jsonl, so a new user can read exactly what
 * would go out.  Each line is written with one write(2) on a file opened
 * with O_APPEND, so lines from several writers never interleave.
 *
 * A writer is not thread-safe; use one per thread or lock around it.
 */
#ifndef SL_DRYRUN_H
#define SL_DRYRUN_H

#include <stddef.h>

#include <cJSON.h>

#include "processor/err.h"

typedef struct dr_writer dr_writer;

/*
 * Open (create if missing) <dir>/<connector>.jsonl for appending,
 * creating `dir` and its missing parents if needed.  The lines may hold
 * personal data, so the file is created 0600 (an existing one readable
 * by others is chmod'ed 0600) and every directory made here 0700;
 * existing directories are left as they are.  SL_OK and *out, or SL_EIO
 * with the reason in eb.  Free with dr_close.
 */
int dr_open(const char *dir, const char *connector, dr_writer **out,
	    sl_errbuf *eb);
void dr_close(dr_writer *w);

/* The file's path; lives as long as the writer. */
const char *dr_path(const dr_writer *w);

/*
 * Append one line: `len` bytes of `line` (one JSON value, no newline in
 * it) and a newline.  SL_OK or SL_EIO with the reason in eb.
 */
int dr_write_line(dr_writer *w, const char *line, size_t len, sl_errbuf *eb);

/* Print `obj` unformatted and append it as one line. */
int dr_write_json(dr_writer *w, const cJSON *obj, sl_errbuf *eb);

/*
 * Append the line of a POST to `url` (safe to show, see dr_redact_url):
 * {"time": now, "method": "POST", "url": url, skey: sval, rkey: raw},
 * with `raw` JSON text put in as it is; NULL raw leaves rkey out.
 * SL_OK, or SL_ENOMEM / SL_EIO with the reason in eb.
 */
int dr_write_post(dr_writer *w, const char *url, const char *skey,
		  const char *sval, const char *rkey, const char *raw,
		  sl_errbuf *eb);

/*
 * Copy `url` into `out` (n bytes, always terminated) without its
 * user name and password, and with the value of every query parameter
 * whose name holds "password", "token" or "key" replaced by "***", so
 * it can be logged or written to a dry-run file:
 * "http://u:p@h:8123/?password=x" -> "http://h:8123/?password=***".
 * A URL libcurl cannot parse becomes "(unparsable url)", never the raw
 * text, which may hold a password.  Returns `out`.
 */
char *dr_redact_url(const char *url, char *out, size_t n);

/* Current wall clock as RFC 3339 in `out` (32 bytes), for "time" fields. */
void dr_now_rfc3339(char *out);

#endif
