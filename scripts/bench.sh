#!/usr/bin/env bash
# bench.sh — `make bench`: the benchmarks of SPEC section 9 that involve the
# worker and its stores, Sluice against a Kafka Streams peer doing the same
# work (tools/kstreams-peer), in one run on one broker.
#
#   scripts/bench.sh [--record] [--only LIST]
#
#   throughput  journey topology, at-least-once: BENCH_EVENTS events
#               preloaded into user_journey (12 partitions); Sluice, then
#               the peer, each with a fresh application id, until each has
#               processed them all -> events/s (target Sluice >= 3x peer)
#   eos         the same under exactly-once (Sluice exactly_once, peer
#               exactly_once_v2)
#   memory      BENCH_USERS users' screening_started only -> VmRSS / VmHWM
#               of each process once all are tracked (target <= 1/5)
#   restore     after memory: Sluice with an empty state.dir and the same
#               application id rebuilds the 1M-key store from its
#               changelog -> records/s (target >= 200k/s); then a restart
#               with the state intact -> time to ready (target < 1 s)
#   store       tests/bench/store_bench.c: st_put through state/store.h
#               against raw mdb_put, 10k per transaction (target <= 1.5x)
#   api, whatsapp, emission, sinks
#               tests/bench/api_bench.sh, whatsapp_rate.sh, emission.sh,
#               sinks.sh (each prints its own numbers)
#
# --only takes a comma-separated subset of the names above (restore needs
# memory).  --record appends a dated result block to docs/BENCHMARKS.md.
#
# The broker: the journey topology reads the fixed topic user_journey, and
# the shared services' broker holds other tests' user_journey (which their
# workers read from the start), so the benchmark starts a broker of its own
# from the same Kafka 4.4 jars (scripts/kafka.sh) with a fresh log
# directory per run, on BENCH_KAFKA_PORT (default 19892, controller +1),
# and stops it at the end.  BENCH_BOOTSTRAP=host:port uses a broker you
# started instead (its user_journey is deleted and recreated!).
#
# Sizes and settings (environment):
#   BENCH_EVENTS=2000000  BENCH_USERS=1000000  BENCH_PUTS=1000000
#   BENCH_PARTITIONS=12   BENCH_INVALID_PERMILLE=1 (dead-lettered events)
#   BENCH_PEER_HEAP=1g    BENCH_PEER_THREADS=1  BENCH_PEER_CACHE=10485760
#   BENCH_KAFKA_HEAP=1g   BENCH_TIMEOUT=600 (seconds per processing run)
#   BENCH_SKIP_PEER=1     Sluice only
#   BENCH_KEEP=1          debugging: leave the broker running and keep the
#                         stores (stop the broker: kill its pid in
#                         .cache/bench/kafka/kafka.pid)
# Logs and state of a run: .cache/bench/runs/<run>/ (last 3 kept; stores
# removed at the end).  Progress on stderr; the summary table on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

EVENTS=${BENCH_EVENTS:-2000000}
USERS=${BENCH_USERS:-1000000}
PUTS=${BENCH_PUTS:-1000000}
PARTITIONS=${BENCH_PARTITIONS:-12}
INVALID=${BENCH_INVALID_PERMILLE:-1}
PEER_HEAP=${BENCH_PEER_HEAP:-1g}
PEER_THREADS=${BENCH_PEER_THREADS:-1}
PEER_CACHE=${BENCH_PEER_CACHE:-10485760}
KAFKA_PORT=${BENCH_KAFKA_PORT:-19892}
KAFKA_HEAP=${BENCH_KAFKA_HEAP:-1g}
TIMEOUT=${BENCH_TIMEOUT:-600}
SKIP_PEER=${BENCH_SKIP_PEER:-0}
KEEP=${BENCH_KEEP:-0}
COMMIT_MS=1000
# A fixed morning in India: the journey topology's 7 PM reminder schedule
# stays idle, whatever the real time of the run.
CLOCK_START=2026-03-01T10:00:00+05:30

ALL_PARTS=throughput,eos,memory,restore,store,api,whatsapp,emission,sinks
RECORD=0
ONLY=$ALL_PARTS
COMMAND="scripts/bench.sh $*"
while (($#)); do
	case $1 in
	--record) RECORD=1 ;;
	--only) ONLY=${2:?--only needs a list}; shift ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done

cd "$SLUICE_ROOT"
RUN=$(date -u +%Y%m%dT%H%M%SZ)
RUNS=$SLUICE_ROOT/.cache/bench/runs
DIR=$RUNS/$RUN
BIN=$SLUICE_ROOT/.cache/bench/bin
PEER_OUT=$SLUICE_ROOT/.cache/kstreams-peer
KDIR=$SLUICE_ROOT/.cache/bench/kafka
RESULTS=$DIR/results
mkdir -p "$DIR"
: >"$RESULTS"

want()
{
	[[ ,$ONLY, == *,$1,* ]]
}

# put KEY VALUE: one result, for the summary.
put()
{
	echo "$1 $2" >>"$RESULTS"
	say "  $1 = $2"
}

# get KEY: a result, or "-".
get()
{
	local v

	v=$(awk -v k="$1" '$1 == k { v = $2 } END { print v }' "$RESULTS")
	echo "${v:--}"
}

# ratio A B [DIGITS]: A / B, or "-" when either is missing.
ratio()
{
	awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
		if (a == "-" || b == "-" || b + 0 == 0) print "-";
		else printf "%.*f\n", d, a / b }'
}

# ---------------------------------------------------------------- building

build()
{
	local log=$DIR/build.log

	say "bench: building sluice and the benchmark tools"
	make -s sluice >>"$log" 2>&1 ||
		{ tail -n 20 "$log" >&2; die "make sluice failed"; }
	make -s -f tests/bench/bench.mk bench-tools >>"$log" 2>&1 ||
		{ tail -n 20 "$log" >&2; die "bench tools failed to build"; }
	[[ $SKIP_PEER == 1 ]] && return 0
	local class=$PEER_OUT/target/classes/sluice/bench/JourneyPeer.class

	if [[ ! -f $class ||
		-n $(find tools/kstreams-peer -newer "$class" -type f) ]]; then
		say "bench: building the Kafka Streams peer (Maven)"
		command -v mvn >/dev/null || die "mvn missing (make deps)"
		# Offline first: after the first fetch nothing is downloaded.
		if ! mvn -B -q -o -f tools/kstreams-peer/pom.xml package \
			dependency:copy-dependencies >>"$log" 2>&1; then
			mvn -B -q -f tools/kstreams-peer/pom.xml package \
				dependency:copy-dependencies >>"$log" 2>&1 ||
				{ tail -n 40 "$log" >&2
				  die "peer build failed"; }
		fi
	fi
}

# ------------------------------------------------------------------ broker

BOOTSTRAP=${BENCH_BOOTSTRAP:-}
OWN_BROKER=0

broker_answers()
{
	kcat -L -b "$BOOTSTRAP" -m 3 2>/dev/null | grep -q ' brokers:'
}

broker_start()
{
	local cport=$((KAFKA_PORT + 1))

	if [[ -n $BOOTSTRAP ]]; then
		broker_answers || die "no broker answers on $BOOTSTRAP"
		return 0
	fi
	BOOTSTRAP=127.0.0.1:$KAFKA_PORT
	port_open "$KAFKA_PORT" &&
		die "port $KAFKA_PORT is taken (BENCH_KAFKA_PORT)"
	port_open "$cport" && die "port $cport is taken (BENCH_KAFKA_PORT + 1)"
	rm -rf "$KDIR"
	say "bench: starting a broker of its own on $BOOTSTRAP"
	OWN_BROKER=1
	kafka_private_start "$KDIR" "$KAFKA_PORT" "$KAFKA_HEAP" WARN ||
		die "broker: no answer on $BOOTSTRAP"
}

# ------------------------------------------------------------- processes

PIDFILES=()

cleanup()
{
	local f

	for f in "${PIDFILES[@]}"; do
		stop_pid bench "$f" 20 || true
	done
	if ((OWN_BROKER && !KEEP)); then
		stop_pid "bench broker" "$KDIR/kafka.pid" 30 || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# load ARGS...: journey_load on this run's broker; its summary line goes
# to $DIR/load.<tag> and its key=value pairs become results load_<tag>_*.
load()
{
	local tag=$1 out

	shift
	out=$("$BIN/journey_load" --brokers "$BOOTSTRAP" "$@") ||
		die "journey_load failed ($*)"
	echo "$out" >"$DIR/load.$tag"
	say "bench: loaded $tag: $out"
}

# load_field TAG KEY: a field of a load's summary line.
load_field()
{
	tr ' ' '\n' <"$DIR/load.$1" | sed -n "s/^$2=//p"
}

# cpu_of PID: CPU seconds (user + system) the process has used.
cpu_of()
{
	awk -v hz="$(getconf CLK_TCK)" '{
		sub(/^.*\) /, "")	# fields after "pid (comm) "
		printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}

# broker_cpu: CPU seconds of this run's own broker, or "-".
broker_cpu()
{
	if ((OWN_BROKER)) && pid_alive "$KDIR/kafka.pid"; then
		cpu_of "$(<"$KDIR/kafka.pid")"
	else
		echo -
	fi
}

# cpu_put PREFIX PID B0: results PREFIX_cpu_s (the process) and
# PREFIX_broker_cpu_s (the broker since B0).
cpu_put()
{
	local b1

	put "$1_cpu_s" "$(cpu_of "$2")"
	b1=$(broker_cpu)
	put "$1_broker_cpu_s" "$(awk -v a="$3" -v b="$b1" 'BEGIN {
		if (a == "-" || b == "-") print "-"
		else printf "%.2f\n", b - a }')"
}

# mem_of PID: "rss_kb hwm_kb anon_kb file_kb" from /proc/PID/status.
mem_of()
{
	awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 }
		/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
		END { print r + 0, h + 0, a + 0, f + 0 }' "/proc/$1/status"
}

# ------------------------------------------------------------------ sluice

ADMIN_PORT=
SL_PID=

# sluice_start NAME APP_ID GUARANTEE STATE_DIR: a journey worker in the
# background; sets SL_PID and ADMIN_PORT.
sluice_start()
{
	local name=$1 pidfile=$DIR/$1.pid

	ADMIN_PORT=$(first_free_port 18892)
	PIDFILES+=("$pidfile")
	SLUICE_KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP \
	SLUICE_APPLICATION_ID=$2 \
	SLUICE_PROCESSING_GUARANTEE=$3 \
	SLUICE_STATE_DIR=$4 \
	SLUICE_COMMIT_INTERVAL_MS=$COMMIT_MS \
	SLUICE_TOPIC_PARTITIONS=$PARTITIONS \
	SLUICE_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT \
	SLUICE_CLOCK_START=$CLOCK_START \
	SLUICE_DRY_RUN_DIR=$DIR/dry-run \
		spawn "$pidfile" "$DIR/$name.log" "$SLUICE_ROOT/sluice" worker \
		--topologies journey
	SL_PID=$(<"$pidfile")
}

sluice_stop()
{
	stop_pid "sluice $1" "$DIR/$1.pid" 60
}

# sluice_metric NAME: the value of one unlabelled-by-partition counter of
# the journey app (empty when the admin API does not answer).
sluice_metric()
{
	{ curl -s -m 2 "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null ||
		true; } | awk -v m="$1" '$1 ~ "^" m "\\{" { print $2; exit }'
}

# sluice_entries: entries of the journey store over all partitions.
sluice_entries()
{
	{ curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null ||
		true; } | awk '/^sluice_store_entries\{.*store="journey"/ {
			n += $2 } END { print n + 0 }'
}

# sluice_running: how many tasks run (restored and processing).
sluice_running()
{
	curl -s -m 2 "http://127.0.0.1:$ADMIN_PORT/tasks" 2>/dev/null |
		jq '[.[] | select(.state == "running")] | length' 2>/dev/null ||
		echo 0
}

sluice_ready()
{
	[[ $(curl -s -o /dev/null -w '%{http_code}' -m 1 \
		"http://127.0.0.1:$ADMIN_PORT/readyz" 2>/dev/null) == 200 ]] &&
		(($(sluice_running) == PARTITIONS))
}

# ------------------------------------------------------------------- peer

PEER_PID=

peer_start()
{
	local name=$1 pidfile=$DIR/$1.pid

	PIDFILES+=("$pidfile")
	spawn "$pidfile" "$DIR/$name.log" java "-Xmx$PEER_HEAP" \
		-Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
		-cp "$PEER_OUT/target/classes:$PEER_OUT/libs/*" \
		sluice.bench.JourneyPeer --bootstrap "$BOOTSTRAP" \
		--app-id "$2" --guarantee "$3" --state-dir "$4" \
		--input user_journey --dlq "$2-dlq" --commit-ms "$COMMIT_MS" \
		--threads "$PEER_THREADS" --cache-bytes "$PEER_CACHE" \
		--status-ms 200
	PEER_PID=$(<"$pidfile")
}

peer_stop()
{
	stop_pid "peer $1" "$DIR/$1.pid" 90
}

# peer_field NAME KEY: KEY of the peer's last status line.
peer_field()
{
	tac "$DIR/$1.log" 2>/dev/null | grep -m1 -o " $2=[0-9]*" |
		cut -d= -f2 || true
}

# ---------------------------------------------------------------- watching

# watch_until NAME PID EXPECT COUNTER...: sample COUNTER (a command that
# prints how many records the process has handled) every 0.2 s until it
# reaches EXPECT.  Sets W_START (ms of the launch, from the caller),
# W_FIRST (first sample > 0), W_C0 (its count), W_DONE (first sample >=
# EXPECT).  Fails when the process dies or TIMEOUT passes.
watch_until()
{
	local name=$1 pid=$2 expect=$3 n limit last=0 next_say

	shift 3
	limit=$(($(now_ms) + TIMEOUT * 1000))
	next_say=$(($(now_ms) + 10000))
	W_FIRST=
	W_C0=0
	W_T10=
	W_T90=
	while :; do
		n=$("$@" || true)
		n=${n:-0}
		if [[ -z $W_FIRST ]] && ((n > 0)); then
			W_FIRST=$(now_ms)
			W_C0=$n
		fi
		if [[ -z $W_T10 ]] && ((n * 10 >= expect)); then
			W_T10=$(now_ms)
			W_C10=$n
		fi
		if [[ -z $W_T90 ]] && ((n * 10 >= expect * 9)); then
			W_T90=$(now_ms)
			W_C90=$n
		fi
		if ((n >= expect)); then
			W_DONE=$(now_ms)
			return 0
		fi
		[[ -d /proc/$pid ]] || die "$name died (log: $DIR/$name.log)"
		(($(now_ms) < limit)) ||
			die "$name: $n of $expect after ${TIMEOUT}s" \
				"(log: $DIR/$name.log)"
		if (($(now_ms) >= next_say)); then
			say "  $name: $n of $expect ($(((n - last) / 10))/s)"
			last=$n
			next_say=$(($(now_ms) + 10000))
		fi
		sleep 0.2
	done
}

# rate EXPECT: events/s between the first sample with progress and the
# end, counting the records after that first sample (start-up, JIT
# warm-up and the first rebalance included).
rate()
{
	awk -v n="$1" -v c0="$W_C0" -v a="$W_FIRST" -v b="$W_DONE" \
		'BEGIN { d = (b - a) / 1000; if (d <= 0) d = 0.2;
			printf "%.0f\n", (n - c0) / d }'
}

# steady: events/s between the samples that first reached 10% and 90%
# of the records (the steady state, which the summary judges).
steady()
{
	awk -v c0="$W_C10" -v c1="$W_C90" -v a="$W_T10" -v b="$W_T90" \
		'BEGIN { d = (b - a) / 1000; if (d <= 0) d = 0.2;
			printf "%.0f\n", (c1 - c0) / d }'
}

# put_run PREFIX PID EXPECT T0 B0: the results of a run that watch_until
# saw reach EXPECT records, its process PID still up: PREFIX_cpu_s and
# PREFIX_broker_cpu_s (cpu_put, broker from B0), PREFIX_rate and
# PREFIX_steady, PREFIX_wall_s (from T0, ms, to W_DONE), and its memory
# now, PREFIX_{rss,hwm,anon,file}_mb.
put_run()
{
	local m

	read -r -a m <<<"$(mem_of "$2")"
	cpu_put "$1" "$2" "$5"
	put "$1_rate" "$(rate "$3")"
	put "$1_steady" "$(steady)"
	put "$1_wall_s" "$(awk -v a="$4" -v b="$W_DONE" \
		'BEGIN { printf "%.1f", (b - a) / 1000 }')"
	put "$1_rss_mb" $((m[0] / 1024))
	put "$1_hwm_mb" $((m[1] / 1024))
	put "$1_anon_mb" $((m[2] / 1024))
	put "$1_file_mb" $((m[3] / 1024))
}

# put_entries WHO TAG GOT WANT: result WHO_TAG_entries = GOT, the entries
# of the store after the run, with a warning when it is not WANT.
put_entries()
{
	put "$1_$2_entries" "$3"
	(($3 == $4)) || say "  WARNING: $1 $2 store holds $3 entries, want $4"
}

# ------------------------------------------------------------ the phases

# run_sluice TAG GUARANTEE EXPECT ENTRIES: one worker over user_journey
# from the start; results sluice_TAG_{rate,wall_s,rss_mb,hwm_mb,...}.
run_sluice()
{
	local tag=$1 g=$2 expect=$3 entries=$4 app=bench-$RUN-$1 t0 got dl b0

	say "bench: sluice $tag ($g): $expect records"
	b0=$(broker_cpu)
	t0=$(now_ms)
	sluice_start "sluice-$tag" "$app" "$g" "$DIR/state-$tag"
	watch_until "sluice-$tag" "$SL_PID" "$expect" \
		sluice_metric sluice_records_total
	put_run "sluice_$tag" "$SL_PID" "$expect" "$t0" "$b0"

	# The same work as the peer: the store and the dead letters.
	sleep 1.5
	put "sluice_${tag}_metric_entries" "$(sluice_entries)"
	dl=$(sluice_metric sluice_dead_letters_total)
	put "sluice_${tag}_dead" "${dl:-0}"
	echo "$app" >"$DIR/app.$tag"
	sluice_stop "sluice-$tag"
	got=$(lmdb_entries "$DIR/state-$tag")
	put_entries sluice "$tag" "$got" "$entries"
}

# changelog_entries TOPIC: keys whose last record in a store's changelog
# is not a tombstone, i.e. the entries of the store it backs.
changelog_entries()
{
	kcat -b "$BOOTSTRAP" -C -t "$1" -e -q -f '%S %k\n' 2>/dev/null |
		awk '{ last[$2] = $1 } END {
			for (k in last) n += last[k] != -1; print n + 0 }'
}

# lmdb_entries STATE_DIR: entries of every journey store database in the
# worker's LMDB environments, read with mdb_stat after it stopped.
lmdb_entries()
{
	local env n=0 k

	for env in "$1"/*/; do
		[[ -f $env/data.mdb ]] || continue
		k=$(mdb_stat -a "$env" | awk '
			/^Status of s:journey:/ { on = 1; next }
			/^Status of / { on = 0 }
			on && /Entries:/ { n += $2 }
			END { print n + 0 }')
		n=$((n + k))
	done
	echo "$n"
}

# run_peer TAG GUARANTEE EXPECT ENTRIES
run_peer()
{
	local tag=$1 g=$2 expect=$3 entries=$4 app=peer-$RUN-$1 t0 got name b0

	name=peer-$tag
	say "bench: peer $tag ($g): $expect records"
	load "dlq-$tag" --topic "$app-dlq" --partitions "$PARTITIONS" --create
	b0=$(broker_cpu)
	t0=$(now_ms)
	peer_start "$name" "$app" "$g" "$DIR/peer-state-$tag"
	watch_until "$name" "$PEER_PID" "$expect" peer_field "$name" processed
	put_run "peer_$tag" "$PEER_PID" "$expect" "$t0" "$b0"
	sleep 0.5
	put "peer_${tag}_dead" "$(peer_field "$name" dead)"
	peer_stop "$name"
	got=$(changelog_entries "$app-journey-changelog")
	put_entries peer "$tag" "$got" "$entries"
	((KEEP)) || rm -rf "$DIR/peer-state-$tag"
}

phase_throughput()
{
	local expect entries

	load mixed --topic user_journey --partitions "$PARTITIONS" \
		--recreate --events "$EVENTS" --seed 1 \
		--invalid-permille "$INVALID"
	expect=$(load_field mixed events)
	entries=$(load_field mixed entries)
	put load_mixed_rate "$(load_field mixed rate)"
	put load_mixed_events "$expect"
	put expect_mixed_dead "$(load_field mixed invalid)"
	if want throughput; then
		run_sluice alos at_least_once "$expect" "$entries"
		((KEEP)) || rm -rf "$DIR/state-alos"
		[[ $SKIP_PEER == 1 ]] ||
			run_peer alos at_least_once "$expect" "$entries"
	fi
	if want eos; then
		run_sluice eos exactly_once "$expect" "$entries"
		((KEEP)) || rm -rf "$DIR/state-eos"
		[[ $SKIP_PEER == 1 ]] ||
			run_peer eos exactly_once_v2 "$expect" "$entries"
	fi
}

phase_memory()
{
	local expect

	load started --topic user_journey --partitions "$PARTITIONS" \
		--recreate --users "$USERS" --only-started --seed 2
	expect=$(load_field started events)
	run_sluice mem at_least_once "$expect" "$expect"
	[[ $SKIP_PEER == 1 ]] ||
		run_peer mem at_least_once "$expect" "$expect"
}

# restore_span LOG: ms from the first "partition assigned" to the last
# "task running", and the records restored, from a worker's log.
restore_span()
{
	awk '
	function ms(ts,   d, t) {
		# 2026-12-04T16:20:01.123Z
		split(substr(ts, 12, 12), t, ":")
		return (t[1] * 3600 + t[2] * 60 + t[3]) * 1000
	}
	/partition assigned/ && first == "" { first = ms($1) }
	/task running/ {
		last = ms($1)
		if (match($0, /restored=[0-9]+/))
			n += substr($0, RSTART + 9, RLENGTH - 9)
	}
	END { printf "%d %d\n", last - first, n }' "$1"
}

phase_restore()
{
	local app t0 tr span n ready state=$DIR/state-mem

	[[ -f $DIR/app.mem ]] || die "restore needs the memory phase"
	app=$(<"$DIR/app.mem")

	say "bench: restore of the memory run's store into an empty state.dir"
	rm -rf "$DIR/state-restore"
	t0=$(now_ms)
	sluice_start sluice-restore "$app" at_least_once "$DIR/state-restore"
	wait_until "$TIMEOUT" sluice_ready ||
		die "restore: not ready after ${TIMEOUT}s" \
			"($DIR/sluice-restore.log)"
	tr=$(now_ms)
	read -r span n <<<"$(restore_span "$DIR/sluice-restore.log")"
	put restore_records "$n"
	put restore_span_ms "$span"
	put restore_rate "$(awk -v n="$n" -v s="$span" \
		'BEGIN { printf "%.0f\n", (s > 0 ? n / (s / 1000) : 0) }')"
	put restore_ready_s "$(awk -v a="$t0" -v b="$tr" \
		'BEGIN { printf "%.2f", (b - a) / 1000 }')"
	put restore_metric "$(sluice_metric sluice_restored_records_total)"
	sluice_stop sluice-restore

	# The restored directory now has checkpoints: a restart reads nothing.
	say "bench: restart with the state intact"
	t0=$(now_ms)
	sluice_start sluice-restart "$app" at_least_once "$DIR/state-restore"
	wait_until 60 sluice_ready ||
		die "restart: not ready after 60s ($DIR/sluice-restart.log)"
	ready=$(now_ms)
	put restart_ready_s "$(awk -v a="$t0" -v b="$ready" \
		'BEGIN { printf "%.2f", (b - a) / 1000 }')"
	put restart_restored "$(sluice_metric sluice_restored_records_total)"
	sluice_stop sluice-restart

	((KEEP)) || rm -rf "$DIR/state-restore" "$state"
}

phase_store()
{
	local out

	say "bench: store layer against raw LMDB ($PUTS puts)"
	out=$("$BIN/store_bench" --dir "$DIR/store-bench" --puts "$PUTS" \
		--rounds 2) || die "store_bench failed"
	say "  $out"
	for k in raw_put_ns store_put_ns put_ratio raw_get_ns store_get_ns \
		get_ratio; do
		put "store_$k" "$(tr ' ' '\n' <<<"$out" | sed -n "s/^$k=//p")"
	done
	rm -rf "$DIR/store-bench"
}

# ---------------------------------------------------------------- summary

machine()
{
	echo "nproc: $(nproc);" \
		"memory: $(free -h | awk '/^Mem:/ { print $2 }')" \
		"total; CPU: $(sed -n 's/^model name[[:space:]]*: //p' \
		/proc/cpuinfo | head -n 1); kernel $(uname -r)"
}

# row WHAT SLUICE PEER RATIO TARGET MET
row()
{
	printf '| %s | %s | %s | %s | %s | %s |\n' "$@"
}

# met VALUE OP LIMIT: yes / no / -
met()
{
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "-" || v == "") { print "-"; exit }
		ok = op == ">=" ? v + 0 >= l + 0 : v + 0 <= l + 0
		print ok ? "yes" : "no" }'
}

# per_m KEY: a result for the mixed load, per million events.
per_m()
{
	awk -v v="$(get "$1")" -v n="$(get load_mixed_events)" 'BEGIN {
		if (v == "-" || n == "-" || n == 0) print "-";
		else printf "%.2f\n", v * 1000000 / n }'
}

# row_vs WHAT KEY_SLUICE KEY_PEER TARGET MET_OP MET_LIMIT [DIGITS]: a row
# comparing a result of both sides, ratio Sluice / peer.
row_vs()
{
	local a b r

	a=$(get "$2")
	b=$(get "$3")
	r=$(ratio "$a" "$b" "${7:-2}")
	row "$1" "$a" "$b" "$r" "$4" "$([[ -n ${5:-} ]] &&
		met "$r" "$5" "${6:-}" || echo -)"
}

# row_cpu WHAT KEY_SLUICE KEY_PEER: CPU seconds per 1M mixed events.
row_cpu()
{
	local a b

	a=$(per_m "$2")
	b=$(per_m "$3")
	row "$1" "$a" "$b" "$(ratio "$a" "$b" 3)" "(info)" "-"
}

summary()
{
	local ev="(events/s)" rr rs

	echo "| what | Sluice | Kafka Streams peer | ratio | target | met |"
	echo "| --- | --- | --- | --- | --- | --- |"
	if want throughput; then
		row_vs "journey throughput, at-least-once, steady 10-90% $ev" \
			sluice_alos_steady peer_alos_steady "Sluice >= 3x" \
			'>=' 3
		row_vs "same, first record to last $ev" sluice_alos_rate \
			peer_alos_rate "(info)"
		row_cpu "worker CPU per 1M events, at-least-once (s)" \
			sluice_alos_cpu_s peer_alos_cpu_s
		row_cpu "broker CPU per 1M events in those runs (s)" \
			sluice_alos_broker_cpu_s peer_alos_broker_cpu_s
	fi
	if want eos; then
		row_vs "journey throughput, exactly-once, steady 10-90% $ev" \
			sluice_eos_steady peer_eos_steady "(none)"
		row_vs "same, first record to last $ev" sluice_eos_rate \
			peer_eos_rate "(info)"
	fi
	if want memory; then
		row_vs "RSS at $USERS tracked users (MB)" sluice_mem_rss_mb \
			peer_mem_rss_mb "<= 0.2" '<=' 0.2 3
		row_vs "peak RSS (VmHWM) in that run (MB)" sluice_mem_hwm_mb \
			peer_mem_hwm_mb "<= 0.2" '<=' 0.2 3
	fi
	if want restore; then
		rr=$(get restore_rate)
		rs="$rr ($(get restore_records) in $(get restore_span_ms) ms)"
		row "restore from changelog (records/s)" "$rs" "-" "-" \
			">= 200000" "$(met "$rr" '>=' 200000)"
		row "restart with checkpoint, to ready (s)" \
			"$(get restart_ready_s)" "-" "-" "< 1" \
			"$(met "$(get restart_ready_s)" '<=' 0.999)"
	fi
	if want store; then
		row "st_put vs raw mdb_put (ns/put, 10k per txn)" \
			"$(get store_store_put_ns)" \
			"raw $(get store_raw_put_ns)" \
			"$(get store_put_ratio)" "<= 1.5" \
			"$(met "$(get store_put_ratio)" '<=' 1.5)"
		row "st_get vs raw mdb_get (ns/get)" \
			"$(get store_store_get_ns)" \
			"raw $(get store_raw_get_ns)" \
			"$(get store_get_ratio)" "(none)" "-"
	fi
}

# side WHO TAG: one side's figures of a run (WHO sluice or peer).
side()
{
	local k=$1_$2

	echo "$(get "${k}_rate")/s (steady $(get "${k}_steady")/s)," \
		"wall $(get "${k}_wall_s") s, CPU $(get "${k}_cpu_s") s" \
		"(broker $(get "${k}_broker_cpu_s") s)," \
		"RSS $(get "${k}_rss_mb") MB (anon $(get "${k}_anon_mb")," \
		"file $(get "${k}_file_mb"), peak $(get "${k}_hwm_mb"))," \
		"entries $(get "${k}_entries"), dead letters $(get "${k}_dead")"
}

details()
{
	local t load

	load=$(cat "$DIR/load.mixed" 2>/dev/null || echo -)
	echo "- sizes: $EVENTS mixed events (load: $load),"
	echo "  $USERS users for memory/restore, $PUTS store puts;" \
		"$PARTITIONS partitions"
	for t in alos eos mem; do
		[[ $(get "sluice_${t}_rate") == - ]] && continue
		echo "- $t: sluice $(side sluice "$t"); peer $(side peer "$t")"
	done
	echo "- settings: Sluice commit.interval.ms=$COMMIT_MS, librdkafka" \
		"defaults but the consumer's queued.min.messages=200000 and" \
		"the restorer's max.partition.fetch.bytes=10485760 (Sluice's" \
		"own); peer Kafka Streams 4.4.0," \
		"num.stream.threads=$PEER_THREADS," \
		"commit.interval.ms=$COMMIT_MS," \
		"statestore.cache.max.bytes=$PEER_CACHE (store caching on)," \
		"RocksDB defaults, JVM -Xmx$PEER_HEAP (G1)"
	echo "- broker: Kafka 4.4.0 single node (KRaft), heap $KAFKA_HEAP," \
		"on this machine"
}

record()
{
	local f=docs/BENCHMARKS.md env rev

	env=$(env | grep '^BENCH_' | sort | tr '\n' ' ' || true)
	[[ -f $f ]] || die "$f missing"
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
	{
		echo
		echo "### $(date -u '+%Y-%m-%d %H:%M UTC') — $rev"
		echo
		echo "Command: \`${env}${COMMAND% }\`" \
			"(via \`make bench\` or directly)"
		echo
		echo "Machine: $(machine); load average before/after:" \
			"$LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg)"
		echo
		summary
		echo
		details
	} >>"$f"
	say "bench: results appended to $f"
}

# ------------------------------------------------------------------- main

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "bench: run $RUN in $DIR; $(machine)"
build
if want throughput || want eos || want memory || want restore; then
	broker_start
	say "bench: broker $BOOTSTRAP"
fi
if want throughput || want eos; then
	phase_throughput
fi
if want memory || want restore; then
	phase_memory
fi
want restore && phase_restore
want store && phase_store
# The API (wrk against POST /v1/screenings and /v1/journey) and the
# WhatsApp sender's rate over 60 s; each prints its own numbers.
want api && { tests/bench/api_bench.sh | tee "$DIR/api.txt"; }
want whatsapp && { tests/bench/whatsapp_rate.sh | tee "$DIR/whatsapp.txt"; }
# The ClickHouse sink against curl posting the same bodies, and the Meta
# transform's CPU per event (issue 5's benchmarks).
want sinks && { tests/bench/sinks.sh | tee "$DIR/sinks.txt"; }
# The 7 PM emission of EMIT_USERS reminders (default 1M) with live-event
# latency during it, on a broker of its own (see the script's header).
want emission && {
	EMIT_BROKER=own tests/bench/emission.sh 2>>"$DIR/emission.log" |
		tee "$DIR/emission.txt"
}

# Keep the logs of the last three runs, not their stores.
((KEEP)) || rm -rf "$DIR"/state-* "$DIR"/peer-state-*
ls -1d "$RUNS"/*/ 2>/dev/null | head -n -3 | xargs -r rm -rf

echo
echo "Sluice benchmarks, run $RUN ($(machine))"
echo
summary
echo
details
((RECORD)) && record
exit 0
