#!/usr/bin/env bash
# 31_clickhouse_outage.sh — the analytics topology keeps every event
# through a ClickHouse outage: a real worker (`sluice worker --topologies
# analytics`) writes to a ClickHouse of its own (ports 28124/28901/28010),
# which is stopped for 30 s mid-stream and started again.
#
#  1. 2000 events with ClickHouse up: 2000 in journey_events_dedup.
#  2. ClickHouse stopped; 2000 more events.  The worker's sink fails
#     (sluice_sink_errors_total grows) and it stays up.  15 s into the
#     outage the worker is killed with -9 and a second one takes over:
#     had the first committed offsets for rows ClickHouse never took,
#     those rows would be lost now.
#  3. After 30 s ClickHouse starts again; 2000 more events.  The second
#     worker recovers by itself: the deduplicated view holds exactly the
#     6000 events sent, the raw table at least 6000, no dead letters.
#
# All of it twice: under at_least_once, then exactly_once (where a failed
# flush aborts the transaction, rewinds, and pauses the input until the
# retry).
#
# The worker starts at the end of user_journey (`sluice reset --to` now
# for a fresh application id), so other tests' events are not inserted.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$SLUICE_ROOT"

B=${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?}
SLUICE=${SLUICE_BIN:-$SLUICE_ROOT/sluice}
RUN=$(mktemp -d /tmp/sluice-31.XXXXXX)
ID=
CH_HTTP=28124
CH_TCP=28901
CH_INTER=28010
CH=http://127.0.0.1:$CH_HTTP
OUTAGE=30
PHASE=2000
worker=

cleanup()
{
	[[ -n $worker ]] && kill -TERM "$worker" 2>/dev/null
	[[ -n $worker ]] && wait "$worker" 2>/dev/null
	ch_private_stop 30
	rm -rf "$RUN"
}
trap cleanup EXIT

ch_start()
{
	ch_private_start "$RUN/ch" $CH_HTTP $CH_TCP $CH_INTER ||
		die "own ClickHouse did not start"
}

ch_stop()
{
	ch_private_stop || die "own ClickHouse did not stop"
}

free_port()
{
	local p

	for p in $(seq "$1" $(($1 + 200))); do
		port_open "$p" || { echo "$p"; return; }
	done
	die "no free port near $1"
}

ch_private_free $CH_HTTP $CH_TCP $CH_INTER ||
	die "needs clickhouse-server and ports $CH_HTTP, $CH_TCP, $CH_INTER"

ADMIN=$(free_port 28500)
export SLUICE_KAFKA_BOOTSTRAP_SERVERS=$B SLUICE_DRY_RUN_DIR=$RUN/dry \
	SLUICE_CLICKHOUSE_URL=$CH SLUICE_CLICKHOUSE_DATABASE=default \
	SLUICE_CLICKHOUSE_BATCH_ROWS=250 SLUICE_COMMIT_INTERVAL_MS=300 \
	SLUICE_ADMIN_LISTEN=127.0.0.1:$ADMIN

# q SQL: one query on our ClickHouse.
q()
{
	curl -sS -m 10 "$CH/" --data-binary "$1"
}

# count TABLE: rows of this run's events there.
count()
{
	q "SELECT count() FROM $1 WHERE event_id LIKE '$ID-e%'"
}

# metric NAME: its value on the running worker (0 when absent).
metric()
{
	curl -s -m 5 "127.0.0.1:$ADMIN/metrics" |
		awk -v n="$1" '$1 ~ "^" n "[{]" { s += $2 } END { print s + 0 }'
}

# produce FIRST LAST: events FIRST..LAST, keyed by user like the API.
produce()
{
	awk -v id="$ID" -v a="$1" -v b="$2" 'BEGIN {
		for (i = a; i <= b; i++)
			printf "%s-u%d|{\"event_id\":\"%s-e%d\",\"type\":\"screening_step\",\"user_id\":\"%s-u%d\",\"occurred_at\":\"2030-01-02T10:00:00+05:30\",\"step\":%d}\n", id, i % 700, id, i, id, i % 700, i % 4 + 1
	}' >"$RUN/events"
	kcat -b "$B" -P -t user_journey -K'|' -X partitioner=murmur2_random \
		-l "$RUN/events"
}

# landed N: the deduplicated view holds N of this run's events.
landed()
{
	[[ $(count journey_events_dedup) == "$1" ]]
}

# failing: the worker has counted a failed sink flush.
failing()
{
	(($(metric sluice_sink_errors_total) > 0))
}

ready()
{
	curl -sf "127.0.0.1:$ADMIN/readyz" >/dev/null
}

start_worker()
{
	"$SLUICE" worker --topologies analytics >>"$RUN/worker$1.log" 2>&1 &
	worker=$!
	wait_until 60 ready ||
		die "worker $1 not ready: $(tail -n 5 "$RUN/worker$1.log")"
}

# scenario GUARANTEE: the three phases under processing.guarantee
# GUARANTEE, with an application id of its own.
scenario()
{
	local raw missing dl left want

	ID=cho-${1%%_*}-$(date +%s%N | cut -c1-13)
	export SLUICE_APPLICATION_ID=$ID SLUICE_STATE_DIR=$RUN/$1/state \
		SLUICE_GROUP_INSTANCE_ID=$ID-w SLUICE_PROCESSING_GUARANTEE=$1
	say "--- $1"
	"$SLUICE" reset --to "$(date -u +%FT%T.%3NZ)" --topologies analytics \
		>"$RUN/reset.log" 2>&1 ||
		die "reset: $(tail -n 5 "$RUN/reset.log")"
	start_worker 1

	# 1. ClickHouse up.
	produce 1 $PHASE
	wait_until 90 landed $PHASE ||
		die "phase 1: $(count journey_events_dedup) of $PHASE rows landed"
	say "ok: $PHASE events landed with ClickHouse up"

	# 2. ClickHouse down for $OUTAGE s; the first worker killed half-way.
	ch_stop
	down_at=$(now_ms)
	produce $((PHASE + 1)) $((2 * PHASE))
	wait_until 30 failing ||
		die "no sink error counted while ClickHouse is down"
	kill -0 "$worker" || die "worker 1 exited while ClickHouse was down"
	curl -sf "127.0.0.1:$ADMIN/healthz" >/dev/null ||
		die "worker 1 not healthy while ClickHouse was down"
	say "ok: ClickHouse down: sink errors counted, worker 1 up"
	sleep $((OUTAGE / 2))
	kill -9 "$worker"
	wait "$worker" 2>/dev/null || true
	start_worker 2
	wait_until 30 failing ||
		die "worker 2 had nothing to retry while ClickHouse is down:" \
			"were offsets committed for rows ClickHouse never took?"
	left=$((OUTAGE * 1000 - ($(now_ms) - down_at)))
	((left > 0)) &&
		sleep "$((left / 1000)).$(printf %03d $((left % 1000)))"
	say "ok: worker 1 killed -9 during the outage; worker 2 failing too"

	# 3. ClickHouse back; more events; everything once.
	ch_start
	up_at=$(now_ms)
	say "ClickHouse down for $((($(now_ms) - down_at) / 1000)) s"
	produce $((2 * PHASE + 1)) $((3 * PHASE))
	want=$((3 * PHASE))
	wait_until 120 landed $want ||
		die "after the outage: $(count journey_events_dedup) of $want rows"
	say "ok: all $want landed $((($(now_ms) - up_at) / 1000)) s after" \
		"the restart"
	raw=$(count journey_events)
	((raw >= want)) || die "raw table holds $raw of $want rows"
	missing=$(q "SELECT $want - uniqExact(event_id) FROM journey_events
		WHERE event_id LIKE '$ID-e%'")
	[[ $missing == 0 ]] || die "$missing event ids missing"
	dl=$(timeout 30 kcat -b "$B" -C -t "$ID-dead-letters" -o beginning \
		-e -q 2>/dev/null | wc -l)
	[[ $dl == 0 ]] || die "$dl records dead-lettered"
	kill -0 "$worker" || die "worker 2 exited"
	kill -TERM "$worker"
	wait "$worker" || die "worker 2 did not stop cleanly"
	worker=
	say "ok: $1: $want events sent, $want in journey_events_dedup" \
		"($raw raw)"
}

ch_start
"$SLUICE" migrate >"$RUN/migrate.log" 2>&1 ||
	die "migrate: $(tail -n 5 "$RUN/migrate.log")"
scenario at_least_once
scenario exactly_once
say "PASS: every event once in journey_events_dedup after a ${OUTAGE} s" \
	"ClickHouse outage and a kill -9, under both guarantees"
