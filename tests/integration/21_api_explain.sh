#!/usr/bin/env bash
# 21_api_explain.sh — every statement the screening API sends PostgreSQL
# uses an index: none scans a whole table (issue 6, SPEC section 5).
#
# A PostgreSQL of this test's own (initdb in a temporary folder, a free
# port, run as the postgres user) with auto_explain logging the plan of
# every statement, nested ones inside sluice_store_screenings included.
#
#  1. `sluice migrate` creates the schema; the tables are filled as a day
#     of production leaves them (20k screenings of 4k users, 20k outbox
#     rows sent within the hour of retention, 20k Idempotency-Keys within
#     their 24 h), then ANALYZEd, so the planner's choices are the real
#     ones;
#  2. the API runs against it and issues each of its statements: stores
#     screenings with and without Idempotency-Key, replays one, reads one
#     and a user's list, checks readiness; its relay sends, marks sent,
#     counts the backlog and deletes expired rows; expired keys go;
#  3. the log holds a plan for each statement of the list below (taken
#     from api/*.c; a tripwire counts the SQL in api/*.c that names the
#     tables, so a new statement cannot slip past this list), and no plan
#     has a Seq Scan on screenings, outbox or idempotency_keys.
#
# Needs SLUICE_KAFKA_BOOTSTRAP_SERVERS (the relay sends a few events to
# user_journey) and SLUICE_BIN; runs as root (PostgreSQL runs as postgres).
# KEEP_LOGS=DIR copies PostgreSQL's and the API's logs there at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

SLUICE=${SLUICE_BIN:-$ROOT/sluice}
: "${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?needs the exports of scripts/services.sh}"
RUN=h10x$(date +%s)$RANDOM
TOKEN=tok-$RUN-$RANDOM$RANDOM
TMP=$(mktemp -d /tmp/sluice-21-explain.XXXXXX)
PGDIR=$TMP/pg
PG_PORT=
API_PID=
API_URL=
FAIL_LOG=$TMP/api.log	# fail (lib.sh) shows its end

# Statements the API issues that read or write the three tables, one
# fragment each (as the plan's "Query Text" shows it), and where.
STATEMENTS=(
	"FROM screenings WHERE screening_id = \$1::uuid"  # server.c get one
	"FROM screenings WHERE user_id = \$1"             # server.c list
	"DELETE FROM idempotency_keys"                    # server.c expiry
	"FROM sluice_store_screenings("                   # inserter.c call
	"INSERT INTO idempotency_keys"                    # function
	"FROM idempotency_keys k WHERE k.key"             # function, replay
	"INSERT INTO screenings"                          # function
	"INSERT INTO outbox"                              # function
	"FROM outbox WHERE sent_at IS NULL ORDER BY id"   # outbox.c relay
	"UPDATE outbox SET sent_at"                       # outbox.c sent
	"FROM outbox WHERE sent_at IS NULL"               # outbox.c backlog
	"DELETE FROM outbox"                              # outbox.c retention
)
# SQL in api/*.c naming the tables after FROM, INTO, UPDATE or JOIN.
SQL_MENTIONS=12

cleanup()
{
	sluice_api_stop 2>/dev/null || true
	pg_private_stop "$PGDIR" immediate 2>/dev/null || true
	if [[ -n ${KEEP_LOGS:-} ]]; then
		cp "$PGDIR/pg.log" "$TMP/api.log" "$KEEP_LOGS/" || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

# pg_up: initdb and start PostgreSQL with auto_explain on every statement.
pg_up()
{
	PG_PORT=$(random_free_port) || fail "no free port"
	pg_private_init "$PGDIR" || fail "initdb failed"
	pg_private_start "$PGDIR" "$PG_PORT" \
		-o "-c log_line_prefix='%m [%p] %a: '" \
		-o "-c session_preload_libraries=auto_explain" \
		-o "-c auto_explain.log_min_duration=0" \
		-o "-c auto_explain.log_nested_statements=on" ||
		fail "postgres did not start"
	PG_URL=postgresql://postgres@127.0.0.1:$PG_PORT/sluice
}

# sql TEXT: run it, its plans not logged (only the API's are wanted).
sql()
{
	PGOPTIONS='-c auto_explain.log_min_duration=-1' \
		psql -X -q -tA -v ON_ERROR_STOP=1 "$PG_URL" -c "$1"
}

# ---- 0. the tripwire -------------------------------------------------------

n=$(grep -hoE '(FROM|INTO|UPDATE|JOIN) +(screenings|outbox|idempotency_keys)\b' \
	api/*.c | wc -l)
((n == SQL_MENTIONS)) ||
	fail "api/*.c names the tables in $n SQL clauses, this test knows" \
		"$SQL_MENTIONS: add the new statement to STATEMENTS and" \
		"SQL_MENTIONS"

# ---- 1. schema and a day's data --------------------------------------------

pg_up
SLUICE_PG_URL=$PG_URL "$SLUICE" migrate --no-clickhouse --no-kafka \
	>"$TMP/migrate.log" 2>&1 || fail "migrate: $(cat "$TMP/migrate.log")"
sql "
INSERT INTO screenings (screening_id, user_id, phone, lang, pincode, score,
	channel, answers, event_id, created_at)
SELECT gen_random_uuid(), 'fill-' || (i % 4000), '+9198' || lpad(i::text, 8,
	'0'), 'hi', '110001', 1 + i % 5, 'qr', '{\"pain\":\"no\"}',
	gen_random_uuid(), now() - (i || ' seconds')::interval
FROM generate_series(1, 20000) i;
INSERT INTO outbox (topic, key, payload, created_at, sent_at)
SELECT 'user_journey', 'fill-' || (i % 4000), '{}',
	now() - ((20001 - i) * 0.185 || ' seconds')::interval,
	now() - ((20001 - i) * 0.185 || ' seconds')::interval
FROM generate_series(1, 20000) i;
INSERT INTO idempotency_keys (key, request_hash, status, body, created_at)
SELECT 'fill-key-' || i, md5(i::text), 201, '{}',
	now() - ((20001 - i) * 4.35 || ' seconds')::interval
FROM generate_series(1, 20000) i;
ANALYZE screenings; ANALYZE outbox; ANALYZE idempotency_keys;"
[[ $(sql "SELECT count(*) FROM outbox WHERE sent_at < now() - interval
	'1 hour'") -gt 0 ]] || fail "no expired outbox rows in the fill"
ok "own PostgreSQL on $PG_PORT; 20k screenings, outbox rows and keys"

# ---- 2. the API issues its statements --------------------------------------

start_line=$(($(wc -l <"$PGDIR/pg.log") + 1))
sluice_api_start "$TMP/api.log" SLUICE_API_TOKEN="$TOKEN" \
	SLUICE_PG_URL="$PG_URL" || fail "api did not start"

post()
{
	curl -s -m 30 -o "$TMP/out" -w '%{http_code}' -X POST \
		-H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' "$@"
}

body()
{
	printf '{"user_id":"%s","phone":"+919876543210","lang":"ta",' "$1"
	printf '"pincode":"600001","score":3,"channel":"qr"}'
}

for i in 1 2 3; do
	[[ $(post -d "$(body "$RUN-$i")" "$API_URL/v1/screenings") == 201 ]] ||
		fail "screening $i: $(cat "$TMP/out")"
done
for k in 1 2; do
	[[ $(post -H "Idempotency-Key: $RUN-k" -d "$(body "$RUN-k")" \
		"$API_URL/v1/screenings") == 201 ]] ||
		fail "idempotent screening $k: $(cat "$TMP/out")"
done
sid=$(jq -r .screening_id "$TMP/out")
code=$(curl -s -o "$TMP/out" -w '%{http_code}' \
	-H "Authorization: Bearer $TOKEN" "$API_URL/v1/screenings/$sid")
[[ $code == 200 ]] || fail "GET screening: $code"
code=$(curl -s -o "$TMP/out" -w '%{http_code}' \
	-H "Authorization: Bearer $TOKEN" "$API_URL/v1/users/fill-7/screenings")
[[ $code == 200 && $(jq '.screenings | length' "$TMP/out") == 5 ]] ||
	fail "GET user: $code $(cat "$TMP/out")"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$API_URL/readyz") == 200 ]] ||
	fail "readyz"
relayed()
{
	[[ $(sql "SELECT count(*) FROM outbox WHERE key LIKE '$RUN-%'
		AND sent_at IS NOT NULL") == 4 ]]
}
wait_until 30 relayed || fail "outbox rows not relayed"
# Rows keep ageing past the hour: housekeeping runs every 10 s.
[[ $(sql "SELECT count(*) FROM outbox WHERE sent_at < now() - interval
	'1 hour 30 seconds'") == 0 ]] || fail "the relay did not delete expired rows"
[[ $(sql "SELECT count(*) FROM idempotency_keys WHERE created_at < now() -
	interval '1 day'") == 0 ]] || fail "expired keys not deleted"
sluice_api_stop || fail "api exit status $?"
ok "api: 5 screenings (1 replayed), 2 reads, relay, expiry"

# ---- 3. the plans ----------------------------------------------------------

# One record per plan of a sluice-* connection, its lines joined with
# \x1f (auto_explain's text output continues on lines that PostgreSQL
# starts with a tab).
tail -n "+$start_line" "$PGDIR/pg.log" | awk '
	/^[0-9][0-9][0-9][0-9]-/ {
		if (rec != "") print rec
		rec = ($0 ~ /\] sluice-[a-z]*: LOG:  duration: .* plan:/) ? \
			$0 : ""
		next
	}
	/^\t/ && rec != "" { rec = rec "\x1f" $0 }
	END { if (rec != "") print rec }' >"$TMP/plans"
nplans=$(wc -l <"$TMP/plans")
((nplans > 0)) || fail "no plans logged (auto_explain?)"
for s in "${STATEMENTS[@]}"; do
	grep -qF -- "$s" "$TMP/plans" || fail "no plan seen for: $s"
done
# A whole-table scan: a Seq Scan, or an index scan without an Index Cond
# on an index that holds every row (not a partial one).
partial=$(sql "SELECT string_agg(indexname, '|') FROM pg_indexes
	WHERE schemaname = 'public' AND indexdef LIKE '% WHERE %'")
awk -v partial="^($partial)\$" '
	function whole(n, l, i, k, words) {
		for (i = 1; i <= n; i++) {
			if (l[i] ~ /Seq Scan on (screenings|outbox|idempotency_keys)( |$)/)
				return 1
			if (l[i] !~ /Index (Only )?Scan (using|on) [a-z_]+ on (screenings|outbox|idempotency_keys)( |$)/ &&
			    l[i] !~ /Bitmap Index Scan on [a-z_]+ /)
				continue
			split(l[i], words, " ")
			for (k = 1; words[k] != "on" && words[k] != "using"; k++)
				;
			if (words[k + 1] ~ partial)
				continue
			if (i == n || l[i + 1] !~ /(Index Cond|Recheck Cond):/)
				return 1
		}
		return 0
	}
	{
		n = split($0, l, "\037")
		if (whole(n, l))
			print
	}' "$TMP/plans" >"$TMP/whole"
if [[ -s $TMP/whole ]]; then
	while read -r line; do
		say "--- whole-table scan:"
		tr '\037' '\n' <<<"$line" | sed -n '2,40p' >&2
	done <"$TMP/whole"
	fail "$(wc -l <"$TMP/whole") plans scan a whole table"
fi
ok "$nplans plans of ${#STATEMENTS[@]} statements, none scans a whole table"
say "21_api_explain: all checks passed"
