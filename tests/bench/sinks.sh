#!/usr/bin/env bash
# sinks.sh — what the two analytics-side sinks cost (issue 5's benchmarks).
#
#   tests/bench/sinks.sh [ROWS]          (default 200000)
#
# ClickHouse: ROWS enriched journey events through the ClickHouse sink's
#   ops (tests/tools/ch_sink_drive: encode, batch by clickhouse.batch_rows,
#   POST JSONEachRow, parse the answer) into a database of its own on
#   SLUICE_CLICKHOUSE_URL (the shared services' server; started when
#   unset), dropped at the end.  The peer: the very same request bodies,
#   taken from a dry run of the sink, POSTed by curl one after another
#   into a second table — the server's own ingest rate for these bytes,
#   which the sink cannot beat.  Printed: rows/s of each and the ratio.
# Meta: tests/bin/bench_meta — ns of CPU per event to normalize, hash
#   (four SHA-256) and encode one Conversions API event; the floor is
#   the hashing alone.  Printed: ns/event and the ratio to that floor.
#
# Each side runs twice, turn about; the better run of each is printed.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$SLUICE_ROOT"

ROWS=${1:-200000}
BATCH=${SLUICE_CLICKHOUSE_BATCH_ROWS:-10000}
DB=bench_sinks_$(date +%s)_$RANDOM
TMP=$(mktemp -d /tmp/sluice-bench-sinks.XXXXXX)
DRIVE=tests/bin/ch_sink_drive

[[ $ROWS =~ ^[0-9]+$ ]] && ((ROWS > 0)) || die "ROWS must be a count"
make -s "$DRIVE" tests/bin/bench_meta
if [[ -z ${SLUICE_CLICKHOUSE_URL:-} ]]; then
	eval "$(scripts/services.sh start)"
fi
CH=${SLUICE_CLICKHOUSE_URL%/}

cleanup()
{
	curl -s -m 30 "$CH/" --data-binary "DROP DATABASE IF EXISTS $DB" \
		>/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

q()
{
	curl -sS --fail-with-body -m 120 "$CH/" --data-binary "$1"
}

export SLUICE_CLICKHOUSE_DATABASE=$DB SLUICE_CLICKHOUSE_BATCH_ROWS=$BATCH
"$DRIVE" migrate >/dev/null || die "migrate into $DB failed"
q "CREATE TABLE $DB.peer AS $DB.journey_events" >/dev/null

# The peer's input: the sink's own request bodies, one file per request.
SLUICE_CLICKHOUSE_URL=dry SLUICE_DRY_RUN_DIR=$TMP/dry \
	"$DRIVE" run --rows "$ROWS" --prefix peer >/dev/null
mkdir -p "$TMP/bodies"
jq -c '.rows[]' "$TMP/dry/clickhouse.jsonl" |
	split -l "$BATCH" -d -a 4 - "$TMP/bodies/b"
nreq=$(find "$TMP/bodies" -type f | wc -l)

sink_best=0
peer_best=0
for round in 1 2; do
	out=$("$DRIVE" run --rows "$ROWS" --prefix "s$round")
	[[ $(grep -o 'flush=[A-Z_]*' <<<"$out" | tail -n 1) == flush=SL_EOK ]] ||
		die "sink run $round: $out"
	rate=$(grep -o 'rows_per_s=[0-9]*' <<<"$out" | cut -d= -f2)
	((rate > sink_best)) && sink_best=$rate

	q "TRUNCATE TABLE $DB.peer" >/dev/null
	t0=$(now_ms)
	for f in "$TMP"/bodies/b*; do
		curl -sS --fail-with-body -m 120 --data-binary @"$f" \
			"$CH/?query=INSERT%20INTO%20$DB.peer%20FORMAT%20JSONEachRow" \
			>/dev/null || die "peer insert of $f failed"
	done
	ms=$(($(now_ms) - t0))
	got=$(q "SELECT count() FROM $DB.peer")
	[[ $got == "$ROWS" ]] || die "peer round $round: $got of $ROWS rows"
	rate=$((ROWS * 1000 / (ms > 0 ? ms : 1)))
	((rate > peer_best)) && peer_best=$rate
done
got=$(q "SELECT count() FROM $DB.journey_events_dedup
	WHERE event_id LIKE 's1-%'")
[[ $got == "$ROWS" ]] || die "sink: $got of $ROWS rows in the view"

ver=$(q "SELECT version()")
printf 'clickhouse %s, %d rows, %d-row batches (%d requests)\n' \
	"$ver" "$ROWS" "$BATCH" "$nreq"
printf '  sink  %8d rows/s  (encode + batch + POST + answer)\n' "$sink_best"
printf '  curl  %8d rows/s  (the same bodies, POSTed as they are)\n' \
	"$peer_best"
awk -v a="$sink_best" -v b="$peer_best" \
	'BEGIN { printf "  sink/curl %.2f\n", a / b }'

best_t=0
best_h=0
for round in 1 2; do
	out=$(tests/bin/bench_meta --events 500000)
	t=$(awk '$1 == "transform" { split($2, a, "="); print a[2] }' <<<"$out")
	h=$(awk '$1 == "hash" { split($2, a, "="); print a[2] }' <<<"$out")
	if ((best_t == 0 || t < best_t)); then
		best_t=$t
		best_h=$h
	fi
done
printf 'meta transform (normalize, hash, encode), CPU time per event\n'
printf '  transform %6d ns/event  (%d events/s on one core)\n' "$best_t" \
	$((1000000000 / best_t))
printf '  4x SHA-256 %5d ns/event  (the floor)\n' "$best_h"
awk -v a="$best_t" -v b="$best_h" \
	'BEGIN { printf "  transform/hash %.2f\n", a / b }'
