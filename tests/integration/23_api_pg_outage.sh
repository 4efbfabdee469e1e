#!/usr/bin/env bash
# 23_api_pg_outage.sh — PostgreSQL stopped: the API answers 503 within a
# second and writes nothing half; started again: the API recovers by
# itself (issue 6, SPEC sections 5 and 10).
#
# The shared PostgreSQL is not touched: this test runs one of its own
# (initdb in a temporary folder, a free port, as the postgres user).
#
#  1. own PostgreSQL; `sluice migrate`; the API against it (Kafka: the
#     shared broker, topic user_journey);
#  2. a loop POSTs a screening (a new user id each, half of them with an
#     Idempotency-Key) every ~30 ms the whole time;
#  3. PostgreSQL is stopped (pg_ctl -m fast): POST /v1/screenings, both
#     GETs and /readyz answer 503 (with Retry-After) in under a second,
#     checked again and again for 10 s; POST /v1/journey, which needs no
#     database, still 202;
#  4. PostgreSQL starts again: without a restart the API answers 201
#     within a few seconds, /readyz 200;
#  5. afterwards: every 201 is stored once with its outbox row (and its
#     key); of the answers that were not 201, no screening exists without
#     its outbox row or the other way round; no 500 was ever answered;
#     the relay reconnected and sent every event.
#
# Needs SLUICE_KAFKA_BOOTSTRAP_SERVERS and SLUICE_BIN; runs as root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

SLUICE=${SLUICE_BIN:-$ROOT/sluice}
: "${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?needs the exports of scripts/services.sh}"
DOWN_S=${DOWN_S:-10}
RUN=h10p$(date +%s)$RANDOM
TOKEN=tok-$RUN-$RANDOM$RANDOM
TMP=$(mktemp -d /tmp/sluice-23-pg.XXXXXX)
PGDIR=$TMP/pg
PG_PORT=
PG_URL=
API_PID=
API_URL=
LOOP_PID=
FAIL_LOG=$TMP/api.log	# fail (lib.sh) shows its end
AUTH="Authorization: Bearer $TOKEN"

cleanup()
{
	[[ -n $LOOP_PID ]] && kill "$LOOP_PID" 2>/dev/null
	sluice_api_stop 2>/dev/null || true
	pg_private_stop "$PGDIR" immediate 2>/dev/null || true
	if [[ -n ${KEEP_LOGS:-} ]]; then
		cp "$TMP"/*.log "$PGDIR/pg.log" "$KEEP_LOGS/" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

pg_start()
{
	pg_private_start "$PGDIR" "$PG_PORT" || fail "postgres did not start"
}

pg_up()
{
	PG_PORT=$(random_free_port) || fail "no free port"
	pg_private_init "$PGDIR" || fail "initdb failed"
	pg_start
	PG_URL=postgresql://postgres@127.0.0.1:$PG_PORT/sluice
}

sql()
{
	psql -X -q -tA -v ON_ERROR_STOP=1 "$PG_URL" -c "$1"
}

# call METHOD PATH [BODY] [curl args]: prints "status seconds"; the body
# goes to $TMP/out, the headers to $TMP/hdr.
call()
{
	local method=$1 path=$2 data=()

	[[ -n ${3:-} ]] && data=(-d "$3")
	shift 3 || shift $#
	curl -s -m 30 -o "$TMP/out" -D "$TMP/hdr" -X "$method" -H "$AUTH" \
		-H 'Content-Type: application/json' "${data[@]}" \
		-w '%{http_code} %{time_total}' "$@" "$API_URL$path"
}

screening()
{
	printf '{"user_id":"%s","phone":"+919876543210","lang":"mr",' "$1"
	printf '"pincode":"411001","score":2,"channel":"call"}'
}

# ---- 1. PostgreSQL and the API ---------------------------------------------

pg_up
SLUICE_PG_URL=$PG_URL "$SLUICE" migrate --no-clickhouse --no-kafka \
	>"$TMP/migrate.log" 2>&1 || fail "migrate: $(cat "$TMP/migrate.log")"
sluice_api_start "$TMP/api.log" SLUICE_API_TOKEN="$TOKEN" \
	SLUICE_PG_URL="$PG_URL" || fail "api did not start"
set -- $(call POST /v1/screenings "$(screening "$RUN-first")")
[[ $1 == 201 ]] || fail "first screening: $1 $(cat "$TMP/out")"
SID=$(jq -r .screening_id "$TMP/out")
ok "own PostgreSQL on $PG_PORT, API up"

# ---- 2. the loop -----------------------------------------------------------

# post_loop: until $TMP/stop exists, POST a screening for user RUN-N
# (every other one with Idempotency-Key RUN-kN); one line
# "N status start_ms seconds" per request in $TMP/posts.
post_loop()
{
	local i=0 r key

	while [[ ! -e $TMP/stop ]]; do
		i=$((i + 1))
		key=()
		((i % 2)) && key=(-H "Idempotency-Key: $RUN-k$i")
		t=$(now_ms)
		r=$(curl -s -m 30 -o /dev/null -X POST -H "$AUTH" \
			-H 'Content-Type: application/json' "${key[@]}" \
			-w '%{http_code} %{time_total}' \
			-d "$(screening "$RUN-$i")" \
			"$API_URL/v1/screenings") || r="000 0"
		echo "$i $t $r" >>"$TMP/posts"
		sleep 0.03
	done
}

post_loop &
LOOP_PID=$!
sleep 3

# ---- 3. PostgreSQL down ----------------------------------------------------

pg_private_stop "$PGDIR" fast || fail "pg_ctl stop"
t_down=$(now_ms)
say "postgres stopped"
checks=0
slowest=0
while (($(now_ms) - t_down < DOWN_S * 1000)); do
	for what in post get list ready; do
		case $what in
		post) r=$(call POST /v1/screenings "$(screening "$RUN-down")") ;;
		get) r=$(call GET "/v1/screenings/$SID") ;;
		list) r=$(call GET "/v1/users/$RUN-first/screenings") ;;
		ready) r=$(call GET /readyz) ;;
		esac
		set -- $r
		[[ $1 == 503 ]] ||
			fail "$what with PostgreSQL down: $r $(cat "$TMP/out")"
		awk -v t="$2" 'BEGIN { exit !(t < 1.0) }' ||
			fail "$what: 503 took $2 s"
		[[ $what == ready ]] || grep -qi '^Retry-After' "$TMP/hdr" ||
			fail "$what: 503 without Retry-After"
		slowest=$(awk -v a="$slowest" -v b="$2" \
			'BEGIN { print (b > a ? b : a) }')
		checks=$((checks + 1))
	done
	set -- $(call POST /v1/journey "{\"type\":\"opted_in\",\"user_id\":\"$RUN-j\"}")
	[[ $1 == 202 ]] || fail "journey with PostgreSQL down: $1 $(cat "$TMP/out")"
	sleep 0.5
done
ok "PostgreSQL down: $checks x 503 (POST, GET, list, readyz), slowest $slowest s; journey 202"

# ---- 4. PostgreSQL back ----------------------------------------------------

n_restart=$(wc -l <"$TMP/posts")
pg_start
t_up=$(now_ms)
recovered()
{
	awk -v n="$n_restart" '$1 > n && $3 == 201 { f = 1 } END { exit !f }' \
		"$TMP/posts"
}
wait_until 15 recovered || fail "the API did not recover within 15 s"
say "first 201 $(($(now_ms) - t_up)) ms after PostgreSQL was back"
sleep 3
touch "$TMP/stop"
wait "$LOOP_PID" || true
LOOP_PID=
[[ $(curl -s -o /dev/null -w '%{http_code}' "$API_URL/readyz") == 200 ]] ||
	fail "readyz after recovery"
ok "recovered by itself: 201 and readyz 200 without a restart"

# ---- 5. nothing half-written -----------------------------------------------

# Screenings and outbox rows per user of the loop: n|screenings|outbox|key.
sql "SELECT substr(u, length('$RUN-') + 1), coalesce(s, 0),
	coalesce(o, 0), coalesce(k, 0) FROM
	(SELECT user_id AS u, count(*) AS s FROM screenings
	 WHERE user_id LIKE '$RUN-%' GROUP BY 1) a
	FULL JOIN (SELECT key AS u, count(*) AS o FROM outbox
	 WHERE key LIKE '$RUN-%' GROUP BY 1) b USING (u)
	FULL JOIN (SELECT '$RUN-' || substr(key, length('$RUN-k') + 1) AS u,
	 count(*) AS k FROM idempotency_keys WHERE key LIKE '$RUN-k%'
	 GROUP BY 1) c USING (u)" | tr '|' ' ' >"$TMP/stored"
awk -v run="$RUN" '
	NR == FNR { s[$1] = $2 + 0; o[$1] = $3 + 0; k[$1] = $4 + 0; next }
	{
		n = $1; st = $3
		if (s[n] != o[n]) { print "half-written: user " n; bad++ }
		if (n % 2 && k[n] != s[n]) { print "key without row: " n; bad++ }
		if (st == 201 && s[n] != 1) { print "201 stored " s[n] "x: " n; bad++ }
		if (st == 201) ok++; else if (s[n]) late++; else gone++
		if (st != 201 && st != 503) { print "status " st ": " n; bad++ }
	}
	END {
		printf "%d x 201, %d refused and not stored, %d refused but stored\n",
			ok, gone, late > "/dev/stderr"
		exit (bad > 0)
	}' "$TMP/stored" "$TMP/posts" || fail "see above"
total=$(wc -l <"$TMP/posts")
(($(awk '$3 == 503' "$TMP/posts" | wc -l) > 0)) ||
	fail "the loop saw no 503 while PostgreSQL was down"
curl -s "$API_URL/metrics" >"$TMP/metrics"
! grep -q 'status="500"' "$TMP/metrics" || fail "a 500 was answered"
relayed()
{
	[[ $(sql "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0 ]]
}
wait_until 30 relayed || fail "the relay did not send everything after"
ok "$total loop requests: each 201 stored once with its event, no half-writes, no 500, all relayed"

sluice_api_stop || fail "api exit status $?"
say "23_api_pg_outage: all checks passed"
