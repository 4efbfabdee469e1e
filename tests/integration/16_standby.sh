#!/usr/bin/env bash
# 16_standby.sh — standby replicas (num.standby.replicas=1): each of two
# workers keeps a warm copy of the other's journey partitions, so after a
# kill -9 the survivor restores only a short tail, not whole stores.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$SLUICE_ROOT"

B=${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?}
SLUICE=${SLUICE_BIN:-$SLUICE_ROOT/sluice}
RUN=$(mktemp -d /tmp/sluice-sb.XXXXXX)
ID=sb-$(date +%s%N | cut -c1-13)
USERS=${SB_USERS:-60000}
pids=()
cleanup()
{
	kill_wait KILL "${pids[@]}"
	rm -rf "$RUN"
}
trap cleanup EXIT

start()
{
	local n=$1 port=$2
	SLUICE_KAFKA_BOOTSTRAP_SERVERS=$B SLUICE_APPLICATION_ID=$ID \
	SLUICE_STATE_DIR=$RUN/w$n SLUICE_ADMIN_LISTEN=127.0.0.1:$port \
	SLUICE_GROUP_INSTANCE_ID=w$n SLUICE_NUM_STANDBY_REPLICAS=1 \
	SLUICE_DRY_RUN_DIR=$RUN/dry \
		"$SLUICE" worker --topologies journey >>"$RUN/w$n.log" 2>&1 &
	pids+=($!)
	eval "pid$n=$!"
}

metric() # PORT NAME: sum of a metric over its series
{
	curl -sf "127.0.0.1:$1/metrics" |
		awk -v m="$2" '$1 ~ "^"m"[{ ]" { s += $2 } END { print s + 0 }'
}

port1=$(first_free_port 28500) || die "no free port from 28500"
start 1 "$port1"
port2=$(first_free_port $((port1 + 1))) || die "no free port"
start 2 "$port2"

# USERS starts on a topic of our own? No: the journey reads user_journey;
# our users are prefixed, others' records are read too.
awk -v id="$ID" -v n="$USERS" 'BEGIN {
	for (i = 1; i <= n; i++)
		printf "%s-u%d|{\"event_id\":\"%s-e%d\",\"type\":\"screening_started\",\"user_id\":\"%s-u%d\",\"occurred_at\":\"2030-01-01T10:00:00+05:30\",\"phone\":\"+9198765%05d\",\"lang\":\"ta\",\"pincode\":\"600001\"}\n", id, i, id, i, id, i, i % 100000
}' >"$RUN/events"
produce_keyed "$B" user_journey "$RUN/events"

wait_until 120 admin_ready "$port1" || die "worker 1 not ready"
wait_until 120 admin_ready "$port2" || die "worker 2 not ready"
lagless() { [[ $(curl -sf "127.0.0.1:$1/tasks" |
	jq '[.[] | select(.state == "running") | .lag] | add // 1') == 0 ]]; }
wait_until 180 lagless "$port1" || die "worker 1 did not catch up"
wait_until 180 lagless "$port2" || die "worker 2 did not catch up"

# Both keep standbys of the other's partitions, and follow them.
has_standby() { (($(metric "$1" sluice_standby_partitions) > 0)); }
wait_until 60 has_standby "$port1" || die "worker 1 keeps no standby"
wait_until 60 has_standby "$port2" || die "worker 2 keeps no standby"
warm() { (($(metric "$port1" sluice_standby_records_total) > USERS / 4)); }
wait_until 60 warm || die "worker 1's standbys did not follow the changelog"
sb=$(metric "$port1" sluice_standby_partitions)
applied=$(metric "$port1" sluice_standby_records_total)
say "worker 1: $sb standby partitions, $applied changelog records applied"

before=$(metric "$port1" sluice_restored_records_total)
kill -9 "$pid2"
killed=$(now_ms)
owns_all() { [[ $(curl -sf "127.0.0.1:$port1/tasks" |
	jq '[.[] | select(.state == "running")] | length') == 12 ]]; }
wait_until 60 owns_all || die "worker 1 did not take over"
took=$(($(now_ms) - killed))
restored=$(($(metric "$port1" sluice_restored_records_total) - before))
say "takeover in ${took} ms, $restored records restored"
# Without standbys the takeover restores worker 2's whole stores
# (about half of all journey entries); with them, only a tail.
((restored < USERS / 10)) ||
	die "restored $restored records: standbys were not used"

code=$(curl -s -o /dev/null -w '%{http_code}' \
	"127.0.0.1:$port1/state/journey/$ID-u$USERS")
[[ $code == 200 ]] || die "last user not readable after takeover ($code)"
say "PASS: standby replicas cut the takeover restore to $restored records"
