#!/usr/bin/env bash
# 30_clickhouse.sh — the ClickHouse sink and schema against a real server.
#
# On SLUICE_CLICKHOUSE_URL (exported by scripts/test.sh; the services are
# started here when it is unset), in a database of its own that is dropped
# at the end, through tests/bin/ch_sink_drive (the sink's ops with a mock
# dead-letter io):
#
#  1. migrate twice: both succeed; table and view exist once;
#  2. 500 rows land: 500 in the table, 500 in journey_events_dedup;
#  3. the same 300 rows flushed twice: 300 in the deduplicated view;
#  4. one bad row (score "abc") among 100: 99 land, exactly that one is
#     dead-lettered with ClickHouse's "Code: 27" message; a row the
#     encoder refuses is dead-lettered too and the rest land;
#  5. a kept connection idle past the server's keep-alive (3 s) is
#     replaced without an error;
#  6. dry run: the requests go to <dry_run.dir>/clickhouse.jsonl;
#  7. server down (an instance of its own, on 28123/28900/28009, that it
#     can stop and restart; skipped when those ports are taken): flush
#     returns SL_ETRANSIENT and holds the rows; after the restart all of
#     them land, once.
#
# Exit 0 on success; otherwise the first failed check is named.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

DRIVE=$ROOT/tests/bin/ch_sink_drive
DB=h4test_$(date +%s)_$RANDOM
TMP=$(mktemp -d /tmp/sluice-30-clickhouse.XXXXXX)

cleanup()
{
	if [[ -n ${CH:-} ]]; then
		curl -s -m 10 "$CH/" \
			--data-binary "DROP DATABASE IF EXISTS $DB" \
			>/dev/null 2>&1 || true
	fi
	ch_private_stop 30 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# q URL SQL: run one query, print its answer.
q()
{
	curl -sS -m 30 "$1/" --data-binary "$2"
}

# field NAME TEXT: the value of NAME=value in the last line holding it.
field()
{
	grep -o "$1=[^ ]*" <<<"$2" | tail -n 1 | cut -d= -f2
}

[[ -x $DRIVE ]] || make -s tests/bin/ch_sink_drive
if [[ -z ${SLUICE_CLICKHOUSE_URL:-} ]]; then
	eval "$(scripts/services.sh start)"
fi
CH=${SLUICE_CLICKHOUSE_URL%/}
export SLUICE_CLICKHOUSE_DATABASE=$DB
[[ $(curl -s -m 5 "$CH/ping") == Ok. ]] || fail "no ClickHouse at $CH"

# 1. Migration, twice.
out=$("$DRIVE" migrate) || fail "first migrate: $out"
out=$("$DRIVE" migrate) || fail "second migrate: $out"
n=$(q "$CH" "SELECT count() FROM system.tables WHERE database = '$DB'
	AND name IN ('journey_events', 'journey_events_dedup')")
[[ $n == 2 ]] || fail "migrate: expected table and view, found $n"
engine=$(q "$CH" "SELECT engine FROM system.tables WHERE database = '$DB'
	AND name = 'journey_events'")
[[ $engine == ReplacingMergeTree ]] || fail "engine is '$engine'"
ok "migrate twice: table ($engine) and view"

# 2. N rows land.
out=$("$DRIVE" run --rows 500 --prefix land --partition 2 --offset 7000)
[[ $(field flush "$out") == SL_EOK ]] || fail "flush: $out"
n=$(q "$CH" "SELECT count() FROM $DB.journey_events
	WHERE event_id LIKE 'land-%'")
[[ $n == 500 ]] || fail "expected 500 rows, table has $n"
n=$(q "$CH" "SELECT count() FROM $DB.journey_events_dedup
	WHERE event_id LIKE 'land-%'")
[[ $n == 500 ]] || fail "expected 500 rows, view has $n"
row=$(q "$CH" "SELECT toUnixTimestamp(occurred_at), kafka_partition,
	kafka_offset, score, district FROM $DB.journey_events
	WHERE event_id = 'land-61' FORMAT TSV")
# land-61: 10:01:01+05:30 on 2026-03-01 = 1772339400 + 61; offset 7061;
# score 1 + 61 % 5 = 2.
[[ $row == $'1772339461\t2\t7061\t2\tNEW DELHI' ]] ||
	fail "row land-61 is '$row'"
ok "500 rows land with their values"

# 3. The same batch twice leaves one copy in the deduplicated view.
out=$("$DRIVE" run --rows 300 --prefix twice --flush-twice)
[[ $(field flush "$out") == SL_EOK ]] || fail "flush twice: $out"
[[ $(field rows_sent "$out") == 600 ]] || fail "flush twice: $out"
n=$(q "$CH" "SELECT count() FROM $DB.journey_events_dedup
	WHERE event_id LIKE 'twice-%'")
[[ $n == 300 ]] || fail "flushed twice: the view has $n rows, not 300"
ok "the same 300 rows flushed twice: 300 in the view"

# 4. One bad row among 100; one the encoder refuses.
out=$("$DRIVE" run --rows 100 --prefix bad --offset 100 --bad 42 \
	--refused 7)
[[ $(field flush "$out") == SL_EOK ]] || fail "flush with a bad row: $out"
[[ $(field dead_letters "$out") == 2 ]] || fail "dead letters: $out"
grep -q '^dead_letter offset=142 .*reason="clickhouse: Code: 27' <<<"$out" ||
	fail "row 42 not dead-lettered with Code: 27: $out"
grep -q '^dead_letter offset=107 .*reason="clickhouse: event_id: missing"' \
	<<<"$out" || fail "row 7 not dead-lettered as refused: $out"
n=$(q "$CH" "SELECT count() FROM $DB.journey_events_dedup
	WHERE event_id LIKE 'bad-%'")
[[ $n == 98 ]] || fail "expected 98 rows, found $n"
n=$(q "$CH" "SELECT count() FROM $DB.journey_events_dedup
	WHERE event_id IN ('bad-41', 'bad-43', 'bad-42')")
[[ $n == 2 ]] || fail "neighbours of the bad row: $n of 2 landed"
ok "bad row among 100: 98 + 2 dead letters (Code: 27, refused)"

# 5. A connection idle past keep_alive_timeout (3 s) is replaced.
out=$("$DRIVE" run --rows 100 --prefix idle --flush-every 50 --pause-ms 3500)
[[ $(field flush "$out") == SL_EOK ]] || fail "after idle: $out"
n=$(q "$CH" "SELECT count() FROM $DB.journey_events_dedup
	WHERE event_id LIKE 'idle-%'")
[[ $n == 100 ]] || fail "after idle: $n of 100 rows"
ok "idle kept connection replaced"

# 6. Dry run.
out=$(SLUICE_CLICKHOUSE_URL=dry SLUICE_DRY_RUN_DIR=$TMP/dry \
	SLUICE_CLICKHOUSE_BATCH_ROWS=40 "$DRIVE" run --rows 100 --prefix dry)
[[ $(field dry "$out") == 1 ]] || fail "not dry: $out"
[[ $(wc -l <"$TMP/dry/clickhouse.jsonl") == 3 ]] ||
	fail "dry run: expected 3 requests of 40, 40, 20 rows"
rows=$(jq -s 'map(.rows | length) | add' "$TMP/dry/clickhouse.jsonl")
[[ $rows == 100 ]] || fail "dry run: $rows rows written"
want="INSERT INTO $DB.journey_events FORMAT JSONEachRow"
jq -e -s --arg q "$want" 'all(.query == $q)' "$TMP/dry/clickhouse.jsonl" \
	>/dev/null || fail "dry run: query"
grep -q phone "$TMP/dry/clickhouse.jsonl" && fail "dry run: phone written"
ok "dry run: 3 requests, 100 rows"

# 7. Server down, then back: nothing lost.  Needs an instance we own.
if ! ch_private_free 28123 28900 28009; then
	say "skip: server-down check (ports 28123/28900/28009 taken)"
	exit 0
fi
own_start()
{
	ch_private_start "$TMP/own" 28123 28900 28009 ||
		fail "own ClickHouse did not start"
}
own_stop()
{
	ch_private_stop || fail "own ClickHouse did not stop"
}
OWN=http://127.0.0.1:28123
own_start
SLUICE_CLICKHOUSE_URL=$OWN "$DRIVE" migrate >/dev/null || fail "own migrate"
own_stop

SLUICE_CLICKHOUSE_URL=$OWN "$DRIVE" run --rows 250 --prefix down \
	--retry-for 90 >"$TMP/down.out" 2>&1 &
drive=$!
wait_until 30 grep -q '^flush=SL_ETRANSIENT pending=250 ' "$TMP/down.out" ||
	fail "no SL_ETRANSIENT, 250 pending while down: $(cat "$TMP/down.out")"
ok "server down: flush SL_ETRANSIENT, 250 rows held"
own_start
wait "$drive" || fail "after restart: $(tail -n 3 "$TMP/down.out")"
out=$(tail -n 1 "$TMP/down.out")
[[ $(field flush "$out") == SL_EOK && $(field rows_sent "$out") == 250 ]] ||
	fail "after restart: $out"
n=$(q "$OWN" "SELECT count() FROM $DB.journey_events_dedup
	WHERE event_id LIKE 'down-%'")
[[ $n == 250 ]] || fail "after restart: $n of 250 rows"
n=$(q "$OWN" "SELECT count() FROM $DB.journey_events
	WHERE event_id LIKE 'down-%'")
[[ $n == 250 ]] || fail "after restart: raw table has $n rows, not 250"
ok "server restarted: all 250 rows landed once"
