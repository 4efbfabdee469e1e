#!/usr/bin/env bash
# 10_runtime.sh — the processor runtime on the real broker:
#  A. a restart restores exactly the changelog tail it lacks, and a
#     worker with an empty state directory restores everything first;
#  B. exactly_once with three workers, one killed with -9 mid-stream:
#     the others take its partitions within 10 s, every output is seen
#     exactly once by a read_committed reader, and the committed
#     changelog holds the exact count per key.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$SLUICE_ROOT"

B=${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?}
DRV=$SLUICE_ROOT/tests/bin/rt_driver
RUN=$(mktemp -d /tmp/sluice-rt.XXXXXX)
ID=rt-$(date +%s%N | cut -c1-13)
pids=()
cleanup()
{
	kill_wait KILL "${pids[@]}"
	[[ ${RT_KEEP:-0} == 1 ]] || rm -rf "$RUN"
}
trap cleanup EXIT

# start NAME DIR GUARANTEE IN OUT APP: a driver in the background.
start()
{
	local name=$1 dir=$2 g=$3 in=$4 out=$5 app=$6
	"$DRV" run "$B" "$app" "$in" "$out" "$RUN/$dir" "$g" "$name" \
		>"$RUN/$name.out" 2>"$RUN/$name.log" &
	pids+=($!)
	eval "pid_$name=$!"
}

wait_ready()
{
	wait_until 60 grep -q ready "$RUN/$1.out" ||
		die "$1 never became ready: $(tail -5 "$RUN/$1.log")"
}

# stop NAME: SIGTERM and wait (not in a subshell: wait needs the
# parent); its final stats line is then in $RUN/NAME.out.
stop()
{
	local var=pid_$1
	kill -TERM "${!var}"
	wait "${!var}" || true
}

# committed_values TOPIC: the values a read_committed reader sees.
committed_values()
{
	kcat -b "$B" -C -t "$1" -e -q -X isolation.level=read_committed \
		-f '%s\n'
}

# outputs_at_least TOPIC N: (re-evaluated on every wait_until turn)
outputs_at_least()
{
	(($(committed_values "$1" | wc -l) >= $2))
}

# ---- A: tail restore ------------------------------------------------
APP=$ID-a
IN=$APP-in
OUT=$APP-out

# run_a NAME DIR [COUNT TOTAL]: an at-least-once driver of A on state
# directory DIR; with COUNT, that many new input records (100 keys) and a
# wait until the output holds TOTAL; then SIGTERM.  Sets s to its final
# stats line ("records=N restored=M").
run_a()
{
	start "$1" "$2" at_least_once "$IN" "$OUT" "$APP"
	wait_ready "$1"
	if (($# > 2)); then
		"$DRV" produce "$B" "$IN" "$3" 100
		wait_until 60 outputs_at_least "$OUT" "$4" ||
			die "A: $1 did not process $3 new records"
	fi
	sleep 1
	stop "$1"
	s=$(tail -1 "$RUN/$1.out")
}

run_a a1 dirA 3000 3000
say "A: first run: $s"

# A second worker with an empty directory restores all 3000 first.
run_a a2 dirB 500 3500
say "A: empty state dir: $s"
[[ $s == "records=500 restored=3000" ]] ||
	die "A: expected records=500 restored=3000, got '$s'"

# The first directory lacks exactly the 500 changelog records of a2.
run_a a3 dirA
say "A: restart on old state: $s"
[[ $s == "records=0 restored=500" ]] ||
	die "A: expected records=0 restored=500 (only the tail), got '$s'"

# ---- B: exactly once, kill -9 of one of three -------------------------
APP=$ID-b
IN=$APP-in
OUT=$APP-out
N=${RT_EVENTS:-1000000}
KEYS=1000
start w1 d1 exactly_once "$IN" "$OUT" "$APP"
start w2 d2 exactly_once "$IN" "$OUT" "$APP"
start w3 d3 exactly_once "$IN" "$OUT" "$APP"
wait_ready w1
wait_ready w2
wait_ready w3
# Half the input, kill one worker mid-stream, then the other half.
"$DRV" produce "$B" "$IN" $((N / 2)) "$KEYS"
wait_until 60 outputs_at_least "$OUT" $((N / 8)) ||
	die "B: processing did not start"
kill -9 "$pid_w2"
killed_at=$(now_ms)
say "B: killed w2 at $(date -u +%T.%3N)"
"$DRV" produce "$B" "$IN" $((N - N / 2)) "$KEYS" $((N / 2))
wait_until 120 outputs_at_least "$OUT" "$N" ||
	die "B: only $(committed_values "$OUT" | wc -l) of $N outputs"

# Failover: the last task the survivors started after the kill.
last=$(grep -h "task running" "$RUN/w1.log" "$RUN/w3.log" |
	awk '{print $1}' | sort | tail -1)
last_ms=$(($(date -d "$last" +%s%3N)))
failover=$((last_ms - killed_at))
say "B: partitions of w2 running elsewhere after ${failover} ms"
((failover < 10000)) || die "B: failover took ${failover} ms (> 10 s)"

stop w1
stop w3

# Every input value exactly once in the committed output.
dups=$(committed_values "$OUT" | sort | uniq -d | wc -l)
distinct=$(committed_values "$OUT" | sort -u | wc -l)
((dups == 0)) || die "B: $dups outputs seen more than once"
((distinct == N)) || die "B: $distinct distinct outputs, expected $N"

# The committed changelog's last value per key is the exact count.
kcat -b "$B" -C -t "$APP-count-counts-changelog" -e -q \
	-X isolation.level=read_committed -f '%k %s\n' |
	awk -v n="$N" -v k="$KEYS" '
		{ last[$1] = $2 }
		END {
			bad = 0
			for (i = 0; i < k; i++) {
				want = int(n / k) + (i < n % k ? 1 : 0)
				if (last["k" i] != want) bad++
			}
			if (bad) { print bad " keys wrong"; exit 1 }
		}' || die "B: changelog counts differ from the input tally"
say "PASS: tail restore exact; exactly-once over kill -9, failover ${failover} ms"
