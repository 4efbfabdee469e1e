#!/usr/bin/env bash
# 36_reset.sh — `sluice reset`: the dry run lists and changes nothing;
# the reset deletes the changelog and the local state, and puts the
# group's offsets back, so a restarted worker reprocesses its input.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$SLUICE_ROOT"

B=${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?}
SLUICE=${SLUICE_BIN:-$SLUICE_ROOT/sluice}
RUN=$(mktemp -d /tmp/sluice-rs.XXXXXX)
ID=rs-$(date +%s%N | cut -c1-13)
pid=
cleanup()
{
	[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
	rm -rf "$RUN"
}
trap cleanup EXIT

port=28600
while port_open "$port"; do port=$((port + 1)); done
export SLUICE_KAFKA_BOOTSTRAP_SERVERS=$B SLUICE_APPLICATION_ID=$ID \
	SLUICE_STATE_DIR=$RUN/state SLUICE_DRY_RUN_DIR=$RUN/dry \
	SLUICE_ADMIN_LISTEN=127.0.0.1:$port
CHANGELOG=$ID-journey-journey-changelog
GROUPDIR=$RUN/state/$ID-journey

run_worker() # until our user is in its store, then SIGTERM
{
	"$SLUICE" worker --topologies journey >>"$RUN/worker.log" 2>&1 &
	pid=$!
	ready() { curl -sf "127.0.0.1:$port/readyz" >/dev/null; }
	ours() { [[ $(curl -s -o /dev/null -w '%{http_code}' \
		"127.0.0.1:$port/state/journey/$ID-u1") == 200 ]]; }
	wait_until 120 ready || die "worker not ready"
	state=404
	wait_until 180 ours && state=200
	sleep 2 # a commit interval
	records=$(curl -sf "127.0.0.1:$port/metrics" |
		awk '/^sluice_records_total/ { s += $2 } END { print s }')
	kill -TERM "$pid"
	wait "$pid" || true
	pid=
}

topic_exists() { kcat -b "$B" -L -t "$1" 2>/dev/null |
	grep -q "with [1-9][0-9]* partitions"; }

printf '%s-u1|{"event_id":"%s-e1","type":"screening_started","user_id":"%s-u1","occurred_at":"2030-01-01T10:00:00+05:30","phone":"+919876500001","lang":"kn","pincode":"560001"}\n' \
	"$ID" "$ID" "$ID" |
	kcat -b "$B" -P -t user_journey -K'|' -X partitioner=murmur2_random

run_worker
first=$records
((first > 0)) || die "first run processed nothing"
[[ $state == 200 ]] || die "our user is not in the store ($state)"
topic_exists "$CHANGELOG" || die "no changelog after the first run"
[[ -d $GROUPDIR ]] || die "no state directory after the first run"

"$SLUICE" reset --dry-run --topologies journey >"$RUN/dry.txt" 2>&1 ||
	die "dry run failed: $(tail -3 "$RUN/dry.txt")"
grep -q "would delete topic $CHANGELOG" "$RUN/dry.txt" ||
	die "dry run does not list the changelog"
grep -q "would remove directory $GROUPDIR" "$RUN/dry.txt" ||
	die "dry run does not list the state directory"
grep -q "would set group $ID-journey: user_journey\[0\]" "$RUN/dry.txt" ||
	die "dry run does not list the offsets"
topic_exists "$CHANGELOG" || die "the dry run deleted the changelog"
[[ -d $GROUPDIR ]] || die "the dry run removed the state directory"

"$SLUICE" reset --topologies journey >"$RUN/reset.txt" 2>&1 ||
	die "reset failed: $(tail -3 "$RUN/reset.txt")"
[[ ! -d $GROUPDIR ]] || die "state directory still there"
gone() { ! topic_exists "$CHANGELOG"; }
wait_until 30 gone || die "changelog still there"

# Offsets went back to the start: the same input is processed again.
run_worker
# (records differ a little: the topic is shared and keeps growing)
((records > 0)) || die "after reset the worker processed nothing"
[[ $state == 200 ]] ||
	die "after reset our user was not rebuilt from the input ($state)"
say "PASS: dry run changed nothing; reset cleared changelog and state," \
	"and the worker reprocessed $records records (first run $first)"
