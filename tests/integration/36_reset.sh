#!/usr/bin/env bash
# 36_reset.sh — `sluice reset`: with a worker running, it (and its dry
# run) refuses, names the live group and changes nothing, and the worker
# still stops cleanly; with the workers stopped, the dry run lists and
# changes nothing, and the reset deletes the changelog, the registry and
# the local state, and puts the group's offsets back, so a restarted
# worker reprocesses its input.
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
REGISTRY=$ID-workers
GROUPDIR=$RUN/state/$ID-journey

start_worker() # and wait until it is ready
{
	"$SLUICE" worker --topologies journey >>"$RUN/worker.log" 2>&1 &
	pid=$!
	wait_until 120 admin_ready "$port" || die "worker not ready"
}

stop_worker() # SIGTERM; it must exit, with status 0, within 60 s
{
	local rc=0

	kill -TERM "$pid"
	gone() { ! kill -0 "$pid" 2>/dev/null; }
	wait_until 60 gone || die "worker did not stop within 60 s of SIGTERM"
	wait "$pid" || rc=$?
	pid=
	((rc == 0)) || die "worker exited with status $rc on SIGTERM"
}

run_worker() # until our user is in its store, then SIGTERM
{
	start_worker
	ours() { [[ $(curl -s -o /dev/null -w '%{http_code}' \
		"127.0.0.1:$port/state/journey/$ID-u1") == 200 ]]; }
	state=404
	wait_until 180 ours && state=200
	sleep 2 # a commit interval
	records=$(curl -sf "127.0.0.1:$port/metrics" |
		awk '/^sluice_records_total/ { s += $2 } END { print s }')
	stop_worker
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
topic_exists "$REGISTRY" || die "no registry topic after the first run"

# A live worker: reset and its dry run refuse, naming the group, and
# change nothing; the worker then stops as usual.
start_worker
for mode in --dry-run ""; do
	rc=0
	# shellcheck disable=SC2086 # an empty $mode is no argument
	"$SLUICE" reset $mode --topologies journey >"$RUN/live.txt" 2>&1 ||
		rc=$?
	((rc != 0)) || die "reset ${mode:-(real)} with a live worker exited 0"
	grep -q "group $ID-journey is .* 1 member" "$RUN/live.txt" ||
		die "reset ${mode:-(real)} does not name the live group:" \
			"$(tail -3 "$RUN/live.txt")"
	! grep -q "^set group\|^delete topic\|^remove directory" \
		"$RUN/live.txt" || die "reset with a live worker changed things"
done
sleep 2 # a deletion would have shown by now
topic_exists "$CHANGELOG" || die "refused reset deleted the changelog"
topic_exists "$REGISTRY" || die "refused reset deleted the registry"
[[ -d $GROUPDIR ]] || die "refused reset removed the state directory"
stop_worker
say "reset refused with a live worker: $(grep group "$RUN/live.txt")"

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
gone() { ! topic_exists "$CHANGELOG" && ! topic_exists "$REGISTRY"; }
wait_until 30 gone || die "changelog or registry still there"

# Offsets went back to the start: the same input is processed again.
run_worker
# (records differ a little: the topic is shared and keeps growing)
((records > 0)) || die "after reset the worker processed nothing"
[[ $state == 200 ]] ||
	die "after reset our user was not rebuilt from the input ($state)"
say "PASS: dry run changed nothing; reset cleared changelog and state," \
	"and the worker reprocessed $records records (first run $first)"
