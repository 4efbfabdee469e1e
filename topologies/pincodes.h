/*
 * pincodes.h — the pin code directory: CSV in, one record per pin code
 * out to the compacted topic `pincodes`, read back by the analytics
 * topology's global table.
 *
 * The CSV has a row per (pincode, district, state) with the number of
 * post offices behind it (../shared/data/README.md).  A pin code may
 * have several rows, in several districts and even states, and rows
 * whose district is "NA".  One of them names the pin code's district
 * and state (pc_choose): the row with the most post offices; ties go
 * to the smaller district, then the smaller state, in byte order; an
 * NA row is chosen only when the pin code has no other.
 *
 * The record: key = the pin code, value =
 *	{"pincode":"110003","district":"South East","state":"DELHI",
 *	 "districts":[{"district":"NEW DELHI","state":"DELHI",
 *	               "post_offices":3}, ...]}
 * with "districts" in the file's order.  The same file always gives
 * the same records, so loading it again changes nothing once the topic
 * is compacted.
 */
#ifndef SL_PINCODES_H
#define SL_PINCODES_H

#include <stddef.h>
#include <stdint.h>

#include "processor/err.h"

typedef struct pc_row {
	char *district;
	char *state;
	int64_t post_offices;
} pc_row;

typedef struct pc_entry {
	char pincode[7];
	pc_row *rows; /* file order; a repeated (district, state) is summed */
	size_t nrows;
	size_t chosen; /* rows[chosen] names the district: pc_choose() */
} pc_entry;

typedef struct pc_table {
	pc_entry *entries; /* sorted by pin code */
	size_t n;
	size_t rows_read;      /* data rows in the file */
	size_t rows_rejected;  /* malformed rows, skipped */
	char first_error[256]; /* "line 7: ..." of the first rejected row */
} pc_table;

/*
 * Parse `len` bytes of CSV (RFC 4180 quoting, LF or CRLF, an optional
 * UTF-8 BOM).  A first line naming the columns (pincode, district,
 * state, post_offices in any order) is a header; without one the
 * columns are in that order.  Rows with a bad pin code (6 digits, first
 * not 0), an empty district or state, or a post-office count that is
 * not a non-negative integer are skipped and counted.
 * SL_OK and *out (free with pc_table_free), SL_EPARSE when the header
 * lacks a column or no row is valid, SL_ENOMEM.
 */
int pc_parse_csv(const char *buf, size_t len, pc_table **out, sl_errbuf *eb);

/* Read and parse a file; SL_EIO when it cannot be read. */
int pc_load_file(const char *path, pc_table **out, sl_errbuf *eb);

void pc_table_free(pc_table *t);

/* 1 when the row's district is "NA" (the directory's "not known"). */
int pc_is_na(const pc_row *r);

/* The index of the row that names the district (n > 0). */
size_t pc_choose(const pc_row *rows, size_t n);

/* The record value of an entry; free with cJSON_free; NULL on ENOMEM. */
char *pc_entry_json(const pc_entry *e);

/*
 * District and state from a record value of the `pincodes` topic, into
 * `district` and `state` (dn and sn bytes, always terminated); "" for
 * an NA row.  SL_OK, or SL_EPARSE when the value is not such a record.
 */
int pc_value_place(const void *val, size_t len, char *district, size_t dn,
		   char *state, size_t sn);

#endif
