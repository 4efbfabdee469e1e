#!/usr/bin/env bash
# run-main.sh — `make run`: one campaign day, end to end, on embedded
# defaults.  Expects ./sluice and tests/bin/gen to be built.
#
#  1. start the local services (scripts/services.sh start);
#  2. sluice migrate; sluice pincodes --file ../shared/data/...csv;
#  3. sluice api in the background, with a random token;
#  4. tests/bin/gen pushes DEMO_USERS people's day (date D = today in
#     India) through the API and writes its tally;
#  5. sluice worker in the background, with a fresh application.id (empty
#     state) whose consumer groups `sluice reset --to` first places at the
#     time this run began, so it reads this run's records and not what
#     earlier runs and tests left on a long-lived broker, and its clock
#     set to D 18:59:00 +05:30 running 10x, so 19:00 comes ~6 s later;
#  6. waits until ClickHouse's deduplicated view holds every event the
#     API accepted and send_reminder holds every expected reminder
#     (DEMO_TIMEOUT seconds, default 180; on timeout says what is
#     missing);
#  7. prints the campaign summary (scripts/summary.sh), each number
#     against the generator's tally (MATCH / MISMATCH) and the worker's
#     events per second; stops api and worker (SIGTERM), leaves the
#     services running.
#
# Exit 0 only when every number matches.  Logs, state and the tally go to
# .run/<application.id>/ (the last five runs are kept).  Progress on
# stderr.
#
# Knobs (environment): DEMO_USERS (20000), DEMO_SEED (run's epoch
# seconds; users are u-<seed>-<n>), DEMO_DATE (today in India),
# DEMO_TIMEOUT (180), DEMO_APP_ID (sluice-demo-<timestamp>),
# DEMO_API_LISTEN (127.0.0.1:8080), DEMO_ADMIN_LISTEN (127.0.0.1:8081;
# when a default port is taken, the next free one is used),
# DEMO_CLOCK_START (D 18:59:00+05:30), DEMO_CLOCK_SPEED (10),
# DEMO_CONCURRENCY (128), DEMO_USE_ENV=1 to use the SLUICE_* services
# already exported instead of starting them, SLUICE_BIN (./sluice).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cd "$SLUICE_ROOT"
SLUICE=${SLUICE_BIN:-$SLUICE_ROOT/sluice}
GEN=$SLUICE_ROOT/tests/bin/gen
PINCODES=$(cd "$SLUICE_ROOT/.." && pwd)/shared/data/pincode_district_state.csv

USERS=${DEMO_USERS:-20000}
SEED=${DEMO_SEED:-$(date +%s)}
DAY=${DEMO_DATE:-$(TZ=Asia/Kolkata date +%F)}
TIMEOUT=${DEMO_TIMEOUT:-180}
APP_ID=${DEMO_APP_ID:-sluice-demo-$(date +%Y%m%d-%H%M%S)-$$}
API_LISTEN=${DEMO_API_LISTEN:-}
ADMIN_LISTEN=${DEMO_ADMIN_LISTEN:-}
CLOCK_START=${DEMO_CLOCK_START:-${DAY}T18:59:00+05:30}
CLOCK_SPEED=${DEMO_CLOCK_SPEED:-10}
CONCURRENCY=${DEMO_CONCURRENCY:-128}
PREFIX=u-$SEED-
EVENTS_DONE_MS=
WORKER_T0=

RUN_DIR=$SLUICE_ROOT/.run/$APP_ID
TALLY=$RUN_DIR/tally.json
RESULT=$RUN_DIR/result.json

[[ -x $SLUICE ]] || die "$SLUICE not built (make)"
[[ -x $GEN ]] || die "$GEN not built (make)"
[[ -r $PINCODES ]] || die "pin code directory not found: $PINCODES"
[[ $USERS =~ ^[0-9]+$ && $SEED =~ ^[0-9]+$ ]] ||
	die "DEMO_USERS and DEMO_SEED must be numbers"

# step MSG: a short progress line with the seconds since the start.
T0=$(now_ms)
step()
{
	local ms=$(($(now_ms) - T0))

	say "$(printf '[%3d.%ds] %s' $((ms / 1000)) $((ms % 1000 / 100)) "$*")"
}

# keep_last N: remove all but the newest N run directories.
keep_last()
{
	local old=()

	mapfile -t old < <(ls -1dt "$SLUICE_ROOT"/.run/*/ 2>/dev/null |
		tail -n +$(($1 + 1)))
	((${#old[@]} == 0)) || rm -rf -- "${old[@]}"
}

# port_of ADDR: "127.0.0.1:8080" -> "8080".
port_of()
{
	echo "${1##*:}"
}

# pick_listens: the API's and the worker's admin addresses.  The defaults
# (8080, 8081) move up to the next free port when taken; an address given
# in DEMO_*_LISTEN must be free.
pick_listens()
{
	local p=8080

	if [[ -z $API_LISTEN ]]; then
		while port_open "$p"; do
			p=$((p + 1))
		done
		API_LISTEN=127.0.0.1:$p
	fi
	if [[ -z $ADMIN_LISTEN ]]; then
		p=8081
		while port_open "$p" || [[ $p == "$(port_of "$API_LISTEN")" ]]
		do
			p=$((p + 1))
		done
		ADMIN_LISTEN=127.0.0.1:$p
	fi
}

# ---- the processes we start, stopped on any exit -------------------------

stop_ours()
{
	stop_pid worker "$RUN_DIR/worker.pid" 30
	stop_pid api "$RUN_DIR/api.pid" 30
}

on_exit()
{
	local rc=$?

	stop_ours
	if ((rc != 0)); then
		say "run-main: failed (exit $rc); logs in ${RUN_DIR#"$PWD"/}/"
	fi
}

start_services()
{
	local exports

	if [[ ${DEMO_USE_ENV:-0} == 1 ]]; then
		: "${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?DEMO_USE_ENV=1 needs it}"
		: "${SLUICE_PG_URL:?DEMO_USE_ENV=1 needs it}"
		: "${SLUICE_CLICKHOUSE_URL:?DEMO_USE_ENV=1 needs it}"
		return
	fi
	step "starting services"
	exports=$(scripts/services.sh start) || die "services did not start"
	eval "$exports"
}

# prepare: schema, topics and the pin code table.
prepare()
{
	step "sluice migrate"
	"$SLUICE" migrate >>"$RUN_DIR/migrate.log" 2>&1 ||
		die "sluice migrate failed (see $RUN_DIR/migrate.log)"
	step "sluice pincodes"
	"$SLUICE" pincodes --file "$PINCODES" >>"$RUN_DIR/pincodes.log" 2>&1 ||
		die "sluice pincodes failed (see $RUN_DIR/pincodes.log)"
}

start_api()
{
	local port

	port=$(port_of "$API_LISTEN")
	! port_open "$port" || die "port $port is taken (DEMO_API_LISTEN)"
	step "starting sluice api on $API_LISTEN"
	SLUICE_API_LISTEN=$API_LISTEN spawn "$RUN_DIR/api.pid" \
		"$RUN_DIR/api.log" "$SLUICE" api
	wait_until 60 ready "http://$API_LISTEN/readyz" ||
		die "sluice api not ready on $API_LISTEN/readyz (see api.log)"
}

run_generator()
{
	step "generator: $USERS people, day $DAY, seed $SEED"
	"$GEN" --api "http://$API_LISTEN" --token "$SLUICE_API_TOKEN" \
		--users "$USERS" --seed "$SEED" --date "$DAY" \
		--tally "$TALLY" --concurrency "$CONCURRENCY" \
		--pincodes "$PINCODES" 2>>"$RUN_DIR/gen.log" ||
		die "the generator had failures (see $RUN_DIR/gen.log)"
	step "generator: $(jq -r '"\(.events_sent.total) events accepted in" +
		" \(.elapsed_s) s, \(.reminders_expected) reminders expected"' \
		"$TALLY")"
}

# ready URL: true when GET URL answers 2xx.
ready()
{
	curl -sf -o /dev/null --max-time 2 "$1"
}

start_worker()
{
	local port

	port=$(port_of "$ADMIN_LISTEN")
	! port_open "$port" || die "port $port is taken (DEMO_ADMIN_LISTEN)"
	step "sluice reset --to $RUN_T0 (the new application's groups)"
	"$SLUICE" reset --to "$RUN_T0" >>"$RUN_DIR/reset.log" 2>&1 ||
		die "sluice reset failed (see $RUN_DIR/reset.log)"
	step "starting sluice worker (clock $CLOCK_START x$CLOCK_SPEED)"
	WORKER_T0=$(now_ms)
	# The WhatsApp sender runs dry here (no token): its requests go to
	# dry-run/whatsapp.jsonl; pace it faster than a real number's 80/s
	# so the demo does not wait minutes (DEMO_WHATSAPP_RATE).
	SLUICE_ADMIN_LISTEN=$ADMIN_LISTEN \
		SLUICE_CLOCK_START=$CLOCK_START \
		SLUICE_CLOCK_SPEED=$CLOCK_SPEED \
		SLUICE_WHATSAPP_RATE=${DEMO_WHATSAPP_RATE:-2000} \
		spawn "$RUN_DIR/worker.pid" "$RUN_DIR/worker.log" \
		"$SLUICE" worker
	wait_until 120 ready "http://$ADMIN_LISTEN/readyz" ||
		die "worker not ready on $ADMIN_LISTEN/readyz (see worker.log)"
	step "worker ready"
}

# ---- waiting and comparing ------------------------------------------------

# numbers: the summary as JSON for this run's users and day.
numbers()
{
	scripts/summary.sh --json --prefix "$PREFIX" --date "$DAY" \
		--since "$RUN_T0_MS"
}

# events_done SUMMARY: true when ClickHouse holds all the run's events.
events_done()
{
	jq -e -n --argjson s "$1" --slurpfile t "$TALLY" '
		[$s.screening_started, $s.screening_step,
		 $s.screening_completed, $s.opted_out] | add
		| . == $t[0].events_sent.total' >/dev/null
}

# missing SUMMARY: what is not there yet, one phrase; empty when done.
missing()
{
	jq -r -n --argjson s "$1" --slurpfile t "$TALLY" '
		$t[0] as $t
		| [ ("screening_started", "screening_step",
		     "screening_completed", "opted_out") as $k
		    | select(($s[$k] // 0) != $t.events_sent[$k])
		    | "\($k) \($s[$k] // 0)/\($t.events_sent[$k])" ]
		+ (if $s.reminder_records == $t.reminders_expected then []
		   else ["reminders \($s.reminder_records)/" +
			 "\($t.reminders_expected)"] end)
		+ (if ($s.reminder_sent // 0) == $t.reminders_expected then []
		   else ["reminder_sent \($s.reminder_sent // 0)/" +
			 "\($t.reminders_expected)"] end)
		| join(", ")'
}

wait_for_results()
{
	local limit=$(($(now_ms) + TIMEOUT * 1000)) s m last=

	step "waiting for ClickHouse and send_reminder (up to ${TIMEOUT}s)"
	while :; do
		if s=$(numbers 2>>"$RUN_DIR/summary.log"); then
			m=$(missing "$s")
			if [[ -z $m ]]; then
				printf '%s\n' "$s" >"$RESULT"
				return 0
			fi
			if [[ $m != "$last" ]]; then
				step "not yet: $m"
				last=$m
			fi
			if [[ -z $EVENTS_DONE_MS ]] && events_done "$s"; then
				EVENTS_DONE_MS=$(now_ms)
			fi
		fi
		if (($(now_ms) >= limit)); then
			printf '%s\n' "${s:-"{}"}" >"$RESULT"
			say "timed out after ${TIMEOUT}s;" \
				"missing: ${m:-no summary (see summary.log)}"
			return 1
		fi
		sleep 2
	done
}

# worker_rate: events/s of the worker.  From /metrics when it is there
# (sluice_records_total per topology: each one reads every record of
# user_journey, this run's and older ones), else this run's events over
# the time from the worker's start to the last of them in ClickHouse.
worker_rate()
{
	local metrics ms

	ms=$((${EVENTS_DONE_MS:-$(now_ms)} - WORKER_T0))
	((ms > 0)) || ms=1
	metrics=$(curl -sf --max-time 2 "http://$ADMIN_LISTEN/metrics" || true)
	if grep -q '^sluice_records_total{' <<<"$metrics"; then
		awk -v ms="$ms" -F'[ "]' '/^sluice_records_total\{/ {
			printf "worker %s: %d records in %.1f s from start," \
				" %.0f records/s\n", $2, $NF, ms / 1000,
				$NF * 1000 / ms }' <<<"$metrics"
		return
	fi
	jq -r --argjson ms "$ms" '.events_sent.total as $n
		| "worker: \($n) events in \($ms / 1000) s from start" +
		  " to the last one in ClickHouse," +
		  " \($n * 1000 / $ms | floor) events/s"' "$TALLY"
}

# compare: the summary against the tally; prints the table, true when all
# numbers match.
compare()
{
	jq -r -n --slurpfile s "$RESULT" --slurpfile t "$TALLY" '
		$s[0] as $s | $t[0] as $t
		| def pad(n): tostring | . + " " * (n - length);
		  def row(name; got; want):
			"  " + (name | pad(28)) + (got | pad(10)) +
			(want | pad(10)) +
			(if got == want then "MATCH" else "MISMATCH" end);
		"Campaign summary against the generator tally",
		"  " + ("number" | pad(28)) + ("summary" | pad(10)) +
		  ("tally" | pad(10)) + "result",
		row("events (all types)";
		    [$s.screening_started, $s.screening_step,
		     $s.screening_completed, $s.opted_out] | add;
		    $t.events_sent.total),
		row("screening_started"; $s.screening_started;
		    $t.events_sent.screening_started),
		row("screening_step"; $s.screening_step;
		    $t.events_sent.screening_step),
		row("screening_completed"; $s.screening_completed;
		    $t.events_sent.screening_completed),
		row("opted_out"; $s.opted_out; $t.events_sent.opted_out),
		row("people who started"; $s.users_started; $t.users_started),
		row("people screened"; $s.users_completed; $t.users_completed),
		row("opted out"; $s.users_opted_out; $t.users_opted_out),
		row("pin codes reached"; $s.distinct_pincodes;
		    $t.distinct_pincodes),
		row("districts reached"; $s.distinct_districts;
		    $t.distinct_districts),
		row("reminders emitted"; $s.reminders_emitted;
		    $t.reminders_expected),
		row("reminder records"; $s.reminder_records;
		    $t.reminders_expected),
		row("reminders sent (WhatsApp)"; $s.reminder_sent // 0;
		    $t.reminders_expected),
		row("users reminded twice"; $s.users_reminded_twice; 0),
		row("average score"; $s.avg_score;
		    ($t.avg_score * 100 | round) / 100)' |
		tee "$RUN_DIR/compare.txt"
	! grep -q MISMATCH "$RUN_DIR/compare.txt"
}

main()
{
	local ok=1

	mkdir -p "$RUN_DIR"
	keep_last 5
	trap on_exit EXIT
	start_services
	pick_listens

	export SLUICE_APPLICATION_ID=$APP_ID
	export SLUICE_STATE_DIR=$RUN_DIR/state
	export SLUICE_DRY_RUN_DIR=$RUN_DIR/dry-run
	SLUICE_API_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	export SLUICE_API_TOKEN

	prepare
	# A second early: the broker stamps records with the producer's
	# clock, this machine's.
	RUN_T0_MS=$(($(now_ms) - 1000))
	RUN_T0=$(date -u -d "@$((RUN_T0_MS / 1000))" +%FT%T.000Z)
	start_api
	run_generator
	start_worker
	wait_for_results || ok=0

	echo
	scripts/summary.sh --prefix "$PREFIX" --date "$DAY" \
		--since "$RUN_T0_MS" || ok=0
	echo
	compare || ok=0
	echo
	worker_rate
	step "stopping api and worker"
	stop_ours
	if ((ok)); then
		step "done: every number matches (run ${RUN_DIR#"$PWD"/})"
		return 0
	fi
	say "run-main: some numbers do not match (run ${RUN_DIR#"$PWD"/})"
	return 1
}

main
