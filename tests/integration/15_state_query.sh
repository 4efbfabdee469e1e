#!/usr/bin/env bash
# 15_state_query.sh — GET /state/{store}/{key} answers from any worker:
# two workers share the journey topology's partitions; every user's
# entry can be read through either worker's admin API (the one that does
# not own the key's partition forwards to the owner, found through the
# <application.id>-workers registry).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$SLUICE_ROOT"

B=${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?}
SLUICE=${SLUICE_BIN:-$SLUICE_ROOT/sluice}
RUN=$(mktemp -d /tmp/sluice-sq.XXXXXX)
ID=sq-$(date +%s%N | cut -c1-13)
pids=()
cleanup()
{
	kill_wait TERM "${pids[@]}"
	rm -rf "$RUN"
}
trap cleanup EXIT

P1=$(first_free_port 28300) || die "no free port from 28300"
for n in 1 2; do
	port=$((P1 + n * 7))
	if port_open "$port"; then
		port=$(first_free_port $((P1 + 50 * n))) || die "no free port"
	fi
	eval "port$n=$port"
	SLUICE_KAFKA_BOOTSTRAP_SERVERS=$B SLUICE_APPLICATION_ID=$ID \
	SLUICE_STATE_DIR=$RUN/w$n SLUICE_ADMIN_LISTEN=127.0.0.1:$port \
	SLUICE_GROUP_INSTANCE_ID=w$n SLUICE_DRY_RUN_DIR=$RUN/dry \
		"$SLUICE" worker --topologies journey >"$RUN/w$n.log" 2>&1 &
	pids+=($!)
done

# 40 users' starts, keyed like the API (murmur2).
users=40
for i in $(seq 1 $users); do
	printf '%s-u%d|{"event_id":"%s-e%d","type":"screening_started",' \
		"$ID" "$i" "$ID" "$i"
	printf '"user_id":"%s-u%d","occurred_at":"2030-01-01T10:00:00+05:30",' \
		"$ID" "$i"
	printf '"phone":"+919876500%03d","lang":"hi","pincode":"110001"}\n' \
		"$i"
done >"$RUN/events"
produce_keyed "$B" user_journey "$RUN/events"

wait_until 120 admin_ready "$port1" || die "worker 1 not ready"
wait_until 120 admin_ready "$port2" || die "worker 2 not ready"

# Both workers must own some partitions before the check means much.
owns() { curl -sf "127.0.0.1:$1/tasks" | jq -e 'length > 0' >/dev/null; }
wait_until 60 owns "$port1" || die "worker 1 owns nothing"
wait_until 60 owns "$port2" || die "worker 2 owns nothing"

# every_user_visible PORT: each user's entry through that worker.
every_user_visible()
{
	local i code
	for i in $(seq 1 $users); do
		code=$(curl -s -o "$RUN/body" -w '%{http_code}' \
			"127.0.0.1:$1/state/journey/$ID-u$i")
		[[ $code == 200 ]] || return 1
		jq -e '.started == true and .lang == "hi" and
			.pincode == "110001" and
			(.phone | test("^\\+91\\*+[0-9]{2}$"))' \
			"$RUN/body" >/dev/null || return 1
	done
}
wait_until 120 every_user_visible "$port1" ||
	die "not every user readable through worker 1"
every_user_visible "$port2" || die "not every user readable through worker 2"

forwarded=0
for i in $(seq 1 $users); do
	curl -s -D - -o /dev/null "127.0.0.1:$port1/state/journey/$ID-u$i" |
		grep -qi '^x-sluice-served-by' && forwarded=$((forwarded + 1))
done
((forwarded > 0 && forwarded < users)) ||
	die "expected some (not all) answers forwarded, got $forwarded"

code=$(curl -s -o /dev/null -w '%{http_code}' \
	"127.0.0.1:$port1/state/journey/$ID-nobody")
[[ $code == 404 ]] || die "unknown key: expected 404, got $code"
code=$(curl -s -o /dev/null -w '%{http_code}' \
	"127.0.0.1:$port1/state/nostore/x")
[[ $code == 404 ]] || die "unknown store: expected 404, got $code"
say "PASS: $users users readable through both workers," \
	"$forwarded answered by forwarding"
