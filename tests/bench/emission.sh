#!/usr/bin/env bash
# emission.sh — the 7 PM emission (SPEC section 9): N incomplete users, every
# send_reminder emitted within 20 s, while live journey events keep a p99
# processing latency <= 50 ms.  Measures both.
#
#   tests/bench/emission.sh        (EMIT_USERS=1000000 by default)
#
# 1. Catch-up worker: `sluice worker --topologies journey` with a fresh
#    application.id, its state.dir in the run directory (local disk),
#    the clock at D 10:00 IST (the schedule idle).
# 2. Preload, while it runs: tests/bin/emit_probe --start puts one
#    screening_started for each of N users "u-<seed>-<n>" on user_journey
#    (12 partitions, librdkafka's murmur2 partitioner), occurred_at D
#    10:00 IST, and for K probe users "emitprobe-<seed>-<i>" at D 18:30
#    IST (idle under reminder.min_idle at 19:00, so never reminded: their
#    changelog records are their live events' only).  Once /tasks shows
#    all 12 tasks past the end offsets the preload left, SIGTERM.
# 3. The evening: the same worker again (same application.id and state,
#    so it resumes from its checkpoints at once) with clock.start =
#    19:00 - EMIT_LEAD seconds (default 20), clock.speed 1.  Once it is
#    ready, emit_probe produces screening_step events for the probe users
#    at EMIT_PROBE_RATE/s (default 200) until 3 s after the last partition
#    logged "reminders emitted", and matches each probe to the journey
#    changelog record the worker wrote for it: latency = changelog
#    record's CreateTime - the probe's CreateTime.
# 4. Emission time: from the first "reminders due date=D" log line to the
#    last "reminders emitted date=D" (all 12 partitions), log timestamps.
#    send_reminder is read back with kcat from the run's start: it must
#    hold exactly N distinct reminder_id "u-<seed>-<n>:D", once each.
# 5. Summary on stdout: the table (emission seconds against 20, live
#    p50/p99/max during the emission against p99 <= 50, and before it),
#    per-slice punctuation and commit times from /metrics over the
#    emission, the machine; last a line "emission key=value..." for
#    scripts.  Progress on stderr.  Exit 0 when the run completed and the
#    reminder count is exact (a missed target is reported, not an
#    error); 1 otherwise.
#
# The broker: the services' (SLUICE_KAFKA_BOOTSTRAP_SERVERS; started with
# scripts/services.sh when unset), EMIT_BOOTSTRAP=host:port, or with
# EMIT_BROKER=own a single-node Kafka 4.4 of the script's own (the jars of
# scripts/kafka.sh, a fresh log directory in the run directory, the first
# free port from 19792, stopped at the end) — the clean measurement: the
# store then holds only this run's users.
#
# On a shared broker user_journey and send_reminder hold other runs'
# records.  The worker reads and stores all of user_journey (the catch-up
# and the 7 PM scan take longer by that much), and only this run's users
# are counted.  So that it reminds no one else, D lies in the past and
# moves one day back for every minute of real time (2026-02-28 minus the
# minutes since 2026-12-04 00:00 UTC; EMIT_DAY=YYYY-MM-DD overrides):
# everybody else's events, earlier runs' included, are later than D
# 19:00, so this run's scan neither reminds nor drops them.  Each run
# leaves N + K records in user_journey and N in send_reminder for good:
# other tests' fresh workers read them, and their 7 PM scans drop this
# run's users as long given up.  Run big N on a broker of your own.
#
# Environment (defaults): EMIT_USERS=1000000 EMIT_PROBE_USERS=2000
#   EMIT_PROBE_RATE=200 EMIT_LEAD=20 EMIT_GUARANTEE=at_least_once
#   EMIT_TIMEOUT=300 (seconds for the catch-up and for the emission)
#   EMIT_BROKER=services|own EMIT_BOOTSTRAP EMIT_KAFKA_HEAP=1g EMIT_DAY
#   EMIT_KEEP=0 (1: keep the run directory)
#   SLUICE_BIN (./sluice; copied into the run directory first)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

USERS=${EMIT_USERS:-1000000}
PROBE_USERS=${EMIT_PROBE_USERS:-2000}
PROBE_RATE=${EMIT_PROBE_RATE:-200}
LEAD=${EMIT_LEAD:-20}
GUARANTEE=${EMIT_GUARANTEE:-at_least_once}
TIMEOUT=${EMIT_TIMEOUT:-300}
KEEP=${EMIT_KEEP:-0}
SLUICE=${SLUICE_BIN:-$ROOT/sluice}
PARTITIONS=12
SEED=$(date +%s%3N)
MINUTES=$(((SEED / 1000 - 1796342400) / 60))
DAY=${EMIT_DAY:-$(date -u -d "2026-02-28 - $MINUTES days" +%F)}
BROKER=${EMIT_BROKER:-services}
KAFKA_HEAP=${EMIT_KAFKA_HEAP:-1g}
APP_ID=emit-$SEED
PREFIX=u-$SEED-
PPREFIX=emitprobe-$SEED-
CHANGELOG=$APP_ID-journey-journey-changelog
TMP=$(mktemp -d /tmp/sluice-emission.XXXXXX)
PROBE_BIN=$ROOT/tests/bin/emit_probe
ADMIN_PORT=

cleanup()
{
	local rc=$?

	stop_pid emit_probe "$TMP/probe.pid" 20 || true
	stop_pid worker "$TMP/worker.pid" 60 || true
	stop_pid "emission broker" "$TMP/kafka/kafka.pid" 30 || true
	if ((KEEP || rc != 0)); then
		rm -rf "$TMP/state" "$TMP/kafka/data"
		say "emission: run directory kept: $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

((USERS > 0 && PROBE_USERS > 0)) || die "EMIT_USERS and EMIT_PROBE_USERS must be > 0"
((LEAD >= 5)) || die "EMIT_LEAD must be >= 5 seconds"
[[ $DAY =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] && ((10#${DAY:0:4} >= 1971)) ||
	die "day $DAY: set EMIT_DAY=YYYY-MM-DD (after 1971, before any other run's)"

# ---- helpers ------------------------------------------------------------

# ms_of ISO: epoch milliseconds of a log timestamp.
ms_of()
{
	date -u -d "$1" +%s%3N
}

# worker_start NAME CLOCK_START: the journey worker in the background.
worker_start()
{
	ADMIN_PORT=$(first_free_port 18990)
	SLUICE_KAFKA_BOOTSTRAP_SERVERS=$B \
	SLUICE_APPLICATION_ID=$APP_ID \
	SLUICE_PROCESSING_GUARANTEE=$GUARANTEE \
	SLUICE_STATE_DIR=$TMP/state \
	SLUICE_TOPIC_PARTITIONS=$PARTITIONS \
	SLUICE_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT \
	SLUICE_CLOCK_START=$2 \
	SLUICE_CLOCK_SPEED=1 \
	SLUICE_DRY_RUN_DIR=$TMP/dry-run \
		spawn "$TMP/worker.pid" "$TMP/$1.log" "$TMP/sluice" worker \
		--topologies journey
}

worker_alive()
{
	pid_alive "$TMP/worker.pid"
}

# tasks_at_end: every partition's task runs at or past the offset in
# $TMP/ends.json ({"partition": offset}).
tasks_at_end()
{
	curl -s -m 2 "http://127.0.0.1:$ADMIN_PORT/tasks" 2>/dev/null |
		jq -e --slurpfile e "$TMP/ends.json" '$e[0] as $lim
			| [.[] | select(.state == "running" and
				.position >= $lim[.partition | tostring])]
			| length == ($lim | length)' >/dev/null 2>&1
}

tasks_running()
{
	local n

	n=$(curl -s -m 2 "http://127.0.0.1:$ADMIN_PORT/tasks" 2>/dev/null |
		jq '[.[] | select(.state == "running")] | length' 2>/dev/null) ||
		return 1
	[[ $n == "$PARTITIONS" ]]
}

# metrics FILE: the journey app's counters now.
metrics()
{
	curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/metrics" >"$1" 2>/dev/null ||
		: >"$1"
}

# metric FILE NAME: a counter of the journey app, 0 when absent.
metric()
{
	awk -v m="$2" '$1 ~ "^" m "\\{" { v = $2 } END { print v + 0 }' "$1"
}

# emitted_parts LOG: partitions that logged the end of the day's scan.
emitted_parts()
{
	grep -o "reminders emitted date=$DAY partition=[0-9]*" "$1" 2>/dev/null |
		sort -u | wc -l
}

# pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE,
# one a line, sorted; "-" when empty.
pct()
{
	awk -v p="$2" '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1
		print v[r] }' "$1"
}

machine()
{
	echo "nproc $(nproc); CPU $(sed -n 's/^model name[[:space:]]*: //p' \
		/proc/cpuinfo | head -n 1); memory $(free -h |
		awk '/^Mem:/ { print $2 " total, " $7 " available" }')"
}

broker_answers()
{
	kcat -L -b "$B" -m 3 2>/dev/null | grep -q ' brokers:'
}

# own_broker: a single-node KRaft broker in $TMP/kafka; sets B.
own_broker()
{
	local port=19792

	while port_open "$port" || port_open $((port + 1)); do
		port=$((port + 2))
	done
	B=127.0.0.1:$port
	say "emission: starting a broker of its own on $B"
	kafka_private_start "$TMP/kafka" "$port" "$KAFKA_HEAP" WARN ||
		die "broker: no answer on $B ($TMP/kafka/server.log)"
}

# ---- set-up -------------------------------------------------------------

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
[[ -x $SLUICE ]] || die "no sluice binary at $SLUICE (make)"
# Both workers run this copy, whatever rebuilds ./sluice meanwhile.
cp "$SLUICE" "$TMP/sluice"
VERSION="$(git describe --always --dirty 2>/dev/null || echo '?'), built $(date -u -r "$SLUICE" '+%F %T UTC')"
say "emission: building emit_probe"
make -s tests/bin/emit_probe >"$TMP/build.log" 2>&1 ||
	{ tail -n 20 "$TMP/build.log" >&2; die "emit_probe failed to build"; }
if [[ $BROKER == own ]]; then
	own_broker
elif [[ -n ${EMIT_BOOTSTRAP:-} ]]; then
	B=$EMIT_BOOTSTRAP
else
	[[ $BROKER == services ]] || die "EMIT_BROKER: services or own"
	[[ -n ${SLUICE_KAFKA_BOOTSTRAP_SERVERS:-} ]] ||
		eval "$(scripts/services.sh start)"
	B=$SLUICE_KAFKA_BOOTSTRAP_SERVERS
fi
broker_answers || die "no broker answers on $B"
say "emission: run $APP_ID in $TMP; broker $B; day $DAY; $(machine); load $LOAD0"
T_RUN=$(now_ms)

# ---- 1. the catch-up worker, 2. the preload -------------------------------

# The worker first: it creates the topics a broker of our own lacks
# (user_journey, send_reminder, the changelog), and reads the preload as
# it arrives.
say "emission: catch-up worker, clock ${DAY}T10:00:00+05:30"
t0=$(now_ms)
worker_start catchup "${DAY}T10:00:00+05:30"
wait_until 60 tasks_running ||
	die "catch-up worker: tasks not running after 60s ($TMP/catchup.log)"

say "emission: preloading $USERS users' screening_started (${DAY}T10:00 IST)"
t1=$(now_ms)
"$PROBE_BIN" --brokers "$B" --prefix "$PREFIX" --users "$USERS" \
	--start "${DAY}T10:00:00+05:30" >/dev/null || die "preload failed"
"$PROBE_BIN" --brokers "$B" --prefix "$PPREFIX" --users "$PROBE_USERS" \
	--start "${DAY}T18:30:00+05:30" >/dev/null || die "probe users: start failed"
PRELOAD_S=$(awk -v a="$t1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
say "  $((USERS + PROBE_USERS)) records in ${PRELOAD_S}s"

# Caught up = past these end offsets.  A partition's last offsets may be
# transaction markers that no consumer position passes, so each
# partition then gets one sentinel record (opted_in of a user nobody
# started: valid, changes nothing), and a task whose position is past
# the offset measured before its sentinel has processed all before it.
for p in $(seq 0 $((PARTITIONS - 1))); do
	kcat -Q -b "$B" -t "user_journey:$p:-1" 2>/dev/null |
		awk -v p="$p" '{ print p, $NF }'
done >"$TMP/ends"
(($(wc -l <"$TMP/ends") == PARTITIONS)) ||
	die "user_journey: end offsets of $PARTITIONS partitions expected"
for p in $(seq 0 $((PARTITIONS - 1))); do
	printf 'emitsentinel-%s-%s\t{"event_id":"emitsentinel-%s-%s","type":"opted_in","user_id":"emitsentinel-%s-%s","occurred_at":"%sT10:00:00+05:30"}\n' \
		"$SEED" "$p" "$SEED" "$p" "$SEED" "$p" "$DAY" |
		kcat -P -b "$B" -t user_journey -p "$p" -K '\t' ||
		die "sentinel for partition $p not produced"
done
jq -Rn '[inputs | split(" ") | { key: .[0], value: (.[1] | tonumber + 1) }]
	| from_entries' "$TMP/ends" >"$TMP/ends.json"
TOTAL=$(awk '{ n += $2 } END { print n }' "$TMP/ends")
say "  user_journey holds $TOTAL records (this run: $((USERS + PROBE_USERS)))"

limit=$((t0 + TIMEOUT * 1000))
until tasks_at_end; do
	worker_alive || die "worker died during the catch-up ($TMP/catchup.log)"
	(($(now_ms) < limit)) || die "catch-up: not done after ${TIMEOUT}s"
	sleep 0.5
done
CATCHUP_S=$(awk -v a="$t0" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
say "  caught up ${CATCHUP_S}s after the worker's start ($TOTAL records)"
stop_pid worker "$TMP/worker.pid" 60

# ---- 3. the evening -------------------------------------------------------

CLOCK=$(TZ=Asia/Kolkata date -d "${DAY}T19:00:00+05:30 - $LEAD seconds" \
	+%FT%T+05:30)
say "emission: worker again, clock $CLOCK (19:00 in ${LEAD}s)"
t0=$(now_ms)
worker_start evening "$CLOCK"
wait_until 30 tasks_running ||
	die "evening worker: tasks not running after 30s ($TMP/evening.log)"
READY_S=$(awk -v a="$t0" -v b="$(now_ms)" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
grep -q "reminders due date=$DAY" "$TMP/evening.log" &&
	die "the emission began before the probes (raise EMIT_LEAD)"
say "  ready in ${READY_S}s; probes: $PROBE_RATE/s over $PROBE_USERS users"
spawn "$TMP/probe.pid" "$TMP/probe.log" "$PROBE_BIN" --brokers "$B" \
	--prefix "$PPREFIX" --users "$PROBE_USERS" --changelog "$CHANGELOG" \
	--occurred-at "${DAY}T19:00:00+05:30" --rate "$PROBE_RATE" \
	--out "$TMP/probes.txt" --max-seconds $((TIMEOUT + LEAD + 60))
metrics "$TMP/metrics.0"
limit=$(($(now_ms) + (LEAD + TIMEOUT) * 1000))
while (($(emitted_parts "$TMP/evening.log") < PARTITIONS)); do
	worker_alive || die "worker died during the emission ($TMP/evening.log)"
	pid_alive "$TMP/probe.pid" || die "emit_probe died ($TMP/probe.log)"
	(($(now_ms) < limit)) ||
		die "emission: $(emitted_parts "$TMP/evening.log") of $PARTITIONS partitions done after ${TIMEOUT}s"
	sleep 0.2
done
metrics "$TMP/metrics.1"
say "emission: all partitions emitted; 3 s more of probes, then the drain"
sleep 3
stop_pid emit_probe "$TMP/probe.pid" 30
PROBE_SUMMARY=$(grep '^produced=' "$TMP/probe.log" | tail -n 1)
[[ -n $PROBE_SUMMARY ]] || die "emit_probe wrote no summary ($TMP/probe.log)"
say "  probes overall: $PROBE_SUMMARY"

# ---- 4. what the log and send_reminder say --------------------------------

DUE_TS=$(grep -m1 "reminders due date=$DAY" "$TMP/evening.log" | cut -d' ' -f1)
END_TS=$(grep "reminders emitted date=$DAY" "$TMP/evening.log" | tail -n 1 |
	cut -d' ' -f1)
DUE_MS=$(ms_of "$DUE_TS")
END_MS=$(ms_of "$END_TS")
EMIT_S=$(awk -v a="$DUE_MS" -v b="$END_MS" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
LOGGED=$(grep -o "reminders emitted date=$DAY partition=[0-9]* count=[0-9]*" \
	"$TMP/evening.log" | awk -F'count=' '{ n += $2 } END { print n + 0 }')

say "emission: counting send_reminder from the run's start"
kcat -C -b "$B" -t send_reminder -o "s@$T_RUN" -e -q -f '%s\n' 2>/dev/null |
	grep -o "\"reminder_id\":\"${PREFIX}[0-9]*:$DAY\"" >"$TMP/ids" || true
SENT=$(wc -l <"$TMP/ids")
DISTINCT=$(sort -u "$TMP/ids" | wc -l)
PROBE_REMINDED=$(kcat -C -b "$B" -t send_reminder -o "s@$T_RUN" -e -q \
	-f '%k\n' 2>/dev/null | grep -c "^$PPREFIX" || true)
rm -f "$TMP/ids"

# ---- 5. latencies and the runtime's own figures ---------------------------

# Probes produced during the emission, and before it (the baseline).
awk -v a="$DUE_MS" -v b="$END_MS" '$4 >= a && $4 <= b && $5 >= 0 {
	print $5 - $4 }' "$TMP/probes.txt" | sort -n >"$TMP/lat.during"
awk -v a="$DUE_MS" '$4 >= 0 && $4 < a && $5 >= 0 { print $5 - $4 }' \
	"$TMP/probes.txt" | sort -n >"$TMP/lat.before"
LOST=$(awk -v a="$DUE_MS" -v b="$END_MS" '$4 >= a && $4 <= b && $5 < 0' \
	"$TMP/probes.txt" | wc -l)
N_DURING=$(wc -l <"$TMP/lat.during")
P50=$(pct "$TMP/lat.during" 50)
P99=$(pct "$TMP/lat.during" 99)
MAX=$(pct "$TMP/lat.during" 100)
B50=$(pct "$TMP/lat.before" 50)
B99=$(pct "$TMP/lat.before" 99)
BMAX=$(pct "$TMP/lat.before" 100)

d()
{
	echo $(($(metric "$TMP/metrics.1" "$1") - $(metric "$TMP/metrics.0" "$1")))
}
PUNCTS=$(d sluice_punctuations_total)
PUNCT_MEAN=$(awk -v s="$(d sluice_punctuation_us_sum)" -v n="$PUNCTS" \
	'BEGIN { printf "%.1f", n ? s / n / 1000 : 0 }')
PUNCT_MAX=$(awk -v v="$(metric "$TMP/metrics.1" sluice_punctuation_us_max)" \
	'BEGIN { printf "%.1f", v / 1000 }')
COMMITS=$(d sluice_commits_total)
COMMIT_MEAN=$(awk -v s="$(d sluice_commit_us_sum)" -v n="$COMMITS" \
	'BEGIN { printf "%.1f", n ? s / n / 1000 : 0 }')
COMMIT_MAX=$(awk -v v="$(metric "$TMP/metrics.1" sluice_commit_us_max)" \
	'BEGIN { printf "%.1f", v / 1000 }')

# Per partition: seconds from its "due" to its "emitted", and its count.
grep -E "reminders (due|emitted) date=$DAY" "$TMP/evening.log" |
	sed -E 's/^([^ ]+) .*reminders (due|emitted) .*partition=([0-9]+)( count=([0-9]+))?.*/\3 \2 \1 \5/' |
	while read -r part what ts count; do
		echo "$part $what $(ms_of "$ts") ${count:-}"
	done | awk '
	$2 == "due" { due[$1] = $3 }
	$2 == "emitted" { end[$1] = $3; n[$1] = $4 }
	END { for (p in end) printf "p%s %.1fs/%d\n", p, (end[p] - due[p]) / 1000, n[p] }' |
	sort -V | tr '\n' ' ' >"$TMP/parts"

met()
{
	awk -v v="$1" -v l="$2" 'BEGIN {
		if (v == "-" || v == "") print "-"; else print (v + 0 <= l + 0 ? "yes" : "no") }'
}

COUNT_OK=no
((SENT == USERS && DISTINCT == USERS)) && COUNT_OK=yes
echo
echo "7 PM emission benchmark, run $APP_ID ($(date -u '+%F %H:%M UTC'))"
echo
echo "| what | measured | target | met |"
echo "| --- | --- | --- | --- |"
echo "| emission: first \"reminders due\" to last \"reminders emitted\" (s) | $EMIT_S | <= 20 | $(met "$EMIT_S" 20) |"
echo "| send_reminder for the run's users: records / distinct reminder_id | $SENT / $DISTINCT | $USERS / $USERS | $COUNT_OK |"
echo "| live latency during the emission, p50 / p99 / max (ms; $N_DURING probes, $LOST unmatched) | $P50 / $P99 / $MAX | p99 <= 50 | $(met "$P99" 50) |"
echo "| live latency before 19:00, p50 / p99 / max (ms) | $B50 / $B99 / $BMAX | (baseline) | - |"
echo
echo "- users: $USERS (u-$SEED-*), + $PROBE_USERS probe users ($PROBE_REMINDED reminded, expected 0);" \
	"user_journey held $TOTAL records, all read and stored by the worker"
echo "- reminders the worker logged for $DAY over all partitions: $LOGGED (this run's: $USERS)"
echo "- preload: ${PRELOAD_S}s; catch-up of user_journey (preload included): ${CATCHUP_S}s;" \
	"evening restart to 12 tasks running: ${READY_S}s"
echo "- per partition (due -> emitted / count): $(cat "$TMP/parts")"
echo "- over the emission (/metrics): $PUNCTS punctuations, mean $PUNCT_MEAN ms," \
	"max $PUNCT_MAX ms (one call = one slice of up to 2000 entries);" \
	"$COMMITS commits, mean $COMMIT_MEAN ms, max $COMMIT_MAX ms"
echo "- probes: $PROBE_RATE/s over $PROBE_USERS users, all run: $PROBE_SUMMARY"
echo "- worker: $SLUICE ($VERSION), processing.guarantee=$GUARANTEE, other settings default; broker $B"
echo "- machine: $(machine); load average before/after: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "emission users=$USERS seconds=$EMIT_S reminders=$SENT distinct=$DISTINCT" \
	"p50_ms=$P50 p99_ms=$P99 max_ms=$MAX probes=$N_DURING unmatched=$LOST" \
	"punct_mean_ms=$PUNCT_MEAN punct_max_ms=$PUNCT_MAX" \
	"commit_mean_ms=$COMMIT_MEAN commit_max_ms=$COMMIT_MAX"
[[ $COUNT_OK == yes ]] || die "send_reminder: $SENT records, $DISTINCT distinct, for $USERS users"
