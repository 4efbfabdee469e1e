#!/usr/bin/env bash
# 22_api_kafka_outage.sh — Kafka stopped for 30 s while screenings keep
# arriving: every one reaches user_journey once Kafka is back, none twice
# (by event_id); POST /v1/journey answers 503 quickly meanwhile (issue 6,
# SPEC sections 5 and 10).
#
# The shared broker is not stopped: this test runs a single-node KRaft
# broker of its own (Kafka 4.4 from .cache/kafka, like scripts/services.sh,
# on free ports, data in a temporary folder) and a database of its own on
# the shared PostgreSQL (dropped at the end).
#
#  1. broker up; `sluice migrate` makes the schema and user_journey;
#  2. a loop POSTs a screening every ~50 ms (each must get 201, with
#     Kafka up or down: the outbox keeps the events);
#  3. after 5 s the broker is stopped (SIGTERM, waited for); once the API
#     reports the brokers down, POST /v1/journey answers 503 (with
#     Retry-After) in under a second, several times over the outage;
#  4. 30 s after it stopped, the broker starts again on the same data;
#     the loop goes on 10 s more;
#  5. the outbox drains by itself; user_journey holds every event_id the
#     API answered 201 with, each exactly once, and nothing else.
#
# Needs SLUICE_PG_URL (its server is used for a new database) and
# SLUICE_BIN; java and the jars (scripts/kafka.sh fetches them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

SLUICE=${SLUICE_BIN:-$ROOT/sluice}
: "${SLUICE_PG_URL:?needs the exports of scripts/services.sh}"
OUTAGE_S=${OUTAGE_S:-30}
RUN=h10k$(date +%s)$RANDOM
DB=h10_kafka_$RUN
PG_URL=${SLUICE_PG_URL%/*}/$DB
TOKEN=tok-$RUN-$RANDOM$RANDOM
TMP=$(mktemp -d /tmp/sluice-22-kafka.XXXXXX)
KDIR=$TMP/kafka
KPORT=
BROKER=
API_PID=
API_URL=
LOOP_PID=
FAIL_LOG=$TMP/api.log	# fail (lib.sh) shows its end

cleanup()
{
	[[ -n $LOOP_PID ]] && kill "$LOOP_PID" 2>/dev/null
	sluice_api_stop 2>/dev/null || true
	stop_pid "test broker" "$KDIR/kafka.pid" 30
	psql -X -q "${SLUICE_PG_URL%/*}/postgres" \
		-c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
	if [[ -n ${KEEP_LOGS:-} ]]; then
		cp "$TMP"/*.log "$KDIR/server.log" "$KEEP_LOGS/" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

# ---- the broker ------------------------------------------------------------

broker_start()
{
	kafka_private_start "$KDIR" "$KPORT" 384m ||
		fail "test broker did not start"
}

# broker_stop: SIGTERM and wait for the process to be gone.
broker_stop()
{
	local pid

	pid=$(<"$KDIR/kafka.pid")
	kill -TERM "$pid"
	wait_until 60 eval "! pid_alive '$KDIR/kafka.pid'" ||
		fail "test broker did not stop"
}

KPORT=$(random_free_port) || fail "no free port"
BROKER=127.0.0.1:$KPORT
broker_start
SLUICE_PG_URL=$PG_URL SLUICE_KAFKA_BOOTSTRAP_SERVERS=$BROKER \
	SLUICE_TOPIC_PARTITIONS=4 "$SLUICE" migrate --no-clickhouse \
	>"$TMP/migrate.log" 2>&1 || fail "migrate: $(cat "$TMP/migrate.log")"
ok "own broker on $BROKER, database $DB"

# ---- the API and the loop --------------------------------------------------

sluice_api_start "$TMP/api.log" SLUICE_API_TOKEN="$TOKEN" \
	SLUICE_PG_URL="$PG_URL" SLUICE_KAFKA_BOOTSTRAP_SERVERS="$BROKER" ||
	fail "api did not start"
AUTH="Authorization: Bearer $TOKEN"

# post_loop: a screening every ~50 ms until $TMP/stop exists; one line
# "status event_id seconds" per request in $TMP/posts.
post_loop()
{
	local i=0 out

	while [[ ! -e $TMP/stop ]]; do
		i=$((i + 1))
		out=$(curl -s -m 30 -X POST -H "$AUTH" \
			-H 'Content-Type: application/json' \
			-w ' %{http_code} %{time_total}' \
			-d "{\"user_id\":\"$RUN-$((i % 50))\",\"phone\":\"+919876543210\",\"lang\":\"hi\",\"pincode\":\"110001\",\"score\":$((i % 5 + 1)),\"channel\":\"qr\"}" \
			"$API_URL/v1/screenings") || out="curl-failed 000 0"
		# {"screening_id":..,"event_id":"X"} 201 0.004
		set -- $out
		printf '%s %s %s\n' "${@: -2:1}" \
			"$(sed -n 's/.*"event_id":"\([^"]*\)".*/\1/p' <<<"$1")" \
			"${@: -1}" >>"$TMP/posts"
		sleep 0.05
	done
}

post_loop &
LOOP_PID=$!
sleep 5

# ---- the outage ------------------------------------------------------------

broker_stop
t_down=$(now_ms)
say "broker stopped; $(wc -l <"$TMP/posts") screenings so far"
down_seen()
{
	curl -s "$API_URL/metrics" | grep -q '^sluice_api_kafka_brokers_down 1'
}
wait_until 15 down_seen || fail "API did not notice the brokers down"
say "API saw the brokers down after $(($(now_ms) - t_down)) ms"
j503=0
while (($(now_ms) - t_down < (OUTAGE_S - 3) * 1000)); do
	r=$(curl -s -m 30 -o "$TMP/jout" -D "$TMP/jhdr" -X POST -H "$AUTH" \
		-H 'Content-Type: application/json' -w '%{http_code} %{time_total}' \
		-d "{\"type\":\"opted_in\",\"user_id\":\"$RUN-j\"}" \
		"$API_URL/v1/journey")
	set -- $r
	[[ $1 == 503 ]] || fail "journey with Kafka down: $r $(cat "$TMP/jout")"
	awk -v t="$2" 'BEGIN { exit !(t < 1.0) }' ||
		fail "journey 503 took $2 s"
	grep -qi '^Retry-After' "$TMP/jhdr" || fail "503 without Retry-After"
	j503=$((j503 + 1))
	sleep 2
done
((j503 >= 5)) || fail "only $j503 journey requests during the outage"
ok "journey: $j503 x 503 in < 1 s with Kafka down"

while (($(now_ms) - t_down < OUTAGE_S * 1000)); do sleep 0.1; done
n_at_restart=$(wc -l <"$TMP/posts")
broker_start
say "broker back after $(($(now_ms) - t_down)) ms down"
sleep 10
touch "$TMP/stop"
wait "$LOOP_PID" || true
LOOP_PID=

# ---- what reached Kafka ----------------------------------------------------

total=$(wc -l <"$TMP/posts")
awk '$1 != 201' "$TMP/posts" >"$TMP/non201"
[[ ! -s $TMP/non201 ]] ||
	fail "$(wc -l <"$TMP/non201") screenings not 201: $(head -n 3 "$TMP/non201")"
((n_at_restart > 100 && total > n_at_restart)) ||
	fail "too few screenings: $n_at_restart by the restart, $total in all"
max=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$TMP/posts")
ok "$total screenings, all 201 ($n_at_restart before Kafka came back; slowest ${max} s)"

drained()
{
	[[ $(psql -X -q -tA "$PG_URL" -c \
		"SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0 ]]
}
wait_until 90 drained || fail "outbox not drained after Kafka came back"
t_drained=$(($(now_ms) - t_down))
awk '{ print $2 }' "$TMP/posts" | sort >"$TMP/want"
kcat -C -b "$BROKER" -t user_journey -o beginning -e -q -f '%s\n' \
	2>/dev/null | jq -r .event_id | sort >"$TMP/have"
[[ $(sort -u "$TMP/want" | wc -l) == "$total" ]] ||
	fail "the API gave an event_id twice"
dups=$(uniq -d "$TMP/have" | wc -l)
((dups == 0)) || fail "$dups event_ids reached user_journey more than once" \
	"(e.g. $(uniq -d "$TMP/have" | head -n 1))"
missing=$(comm -23 "$TMP/want" "$TMP/have" | wc -l)
((missing == 0)) || fail "$missing event_ids never reached user_journey"
extra=$(comm -13 "$TMP/want" "$TMP/have" | wc -l)
((extra == 0)) || fail "$extra records in user_journey the API never answered"
ok "user_journey: all $total event_ids exactly once (outbox drained $t_drained ms after the stop)"

sluice_api_stop || fail "api exit status $?"
say "22_api_kafka_outage: all checks passed"
