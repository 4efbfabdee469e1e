#!/usr/bin/env bash
# 35_replay.sh — `sluice replay`: the analytics sink re-run over a time
# range, in its own consumer group, twice.  ClickHouse's deduplicated
# view holds each event once after both runs; a range that excludes the
# events replays none of them.  An empty range (--from not before --to)
# is a usage error, and no replay leaves its consumer group behind
# (checked with Kafka's own Java admin client).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$SLUICE_ROOT"

B=${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?}
CH=${SLUICE_CLICKHOUSE_URL:?}
SLUICE=${SLUICE_BIN:-$SLUICE_ROOT/sluice}
RUN=$(mktemp -d /tmp/sluice-rp.XXXXXX)
ID=rp-$(date +%s%N | cut -c1-13)
N=500
trap 'rm -rf "$RUN"' EXIT

export SLUICE_KAFKA_BOOTSTRAP_SERVERS=$B SLUICE_APPLICATION_ID=$ID \
	SLUICE_STATE_DIR=$RUN/state SLUICE_DRY_RUN_DIR=$RUN/dry

"$SLUICE" migrate >"$RUN/migrate.log" 2>&1 || die "migrate failed"

# --from at or after --to: exit 2, said, before anything runs.
for range in "2026-12-04T10:00:00Z 2026-12-03T10:00:00Z" \
	"2026-12-04T10:00:00Z 2026-12-04T10:00:00Z"; do
	read -r f t <<<"$range"
	rc=0
	timeout 60 "$SLUICE" replay --topology analytics --from "$f" --to "$t" \
		>"$RUN/empty.log" 2>&1 || rc=$?
	((rc == 2)) || die "replay --from $f --to $t: exit $rc, not 2"
	grep -q -- "--from must be before --to" "$RUN/empty.log" ||
		die "replay --from $f --to $t: $(tail -2 "$RUN/empty.log")"
done
say "an empty range is refused (exit 2)"

before=$(date -u +%FT%T.%3NZ)
sleep 1
awk -v id="$ID" -v n="$N" 'BEGIN {
	for (i = 1; i <= n; i++)
		printf "%s-u%d|{\"event_id\":\"%s-e%d\",\"type\":\"screening_step\",\"user_id\":\"%s-u%d\",\"occurred_at\":\"2030-01-01T10:00:00+05:30\",\"step\":%d}\n", id, i, id, i, id, i, i % 4 + 1
}' >"$RUN/events"
kcat -b "$B" -P -t user_journey -K'|' -X partitioner=murmur2_random \
	-l "$RUN/events"
sleep 1
after=$(date -u +%FT%T.%3NZ)

count() # VIEW: rows of our events in that table or view
{
	curl -sS --fail-with-body --data-binary \
		"SELECT count() FROM $1 WHERE event_id LIKE '$ID-e%'" "$CH/"
}

for run in 1 2; do
	timeout 120 "$SLUICE" replay --topology analytics --from "$before" \
		>"$RUN/replay$run.log" 2>&1 ||
		die "replay $run failed: $(tail -3 "$RUN/replay$run.log")"
	grep -q "replay range done" "$RUN/replay$run.log" ||
		die "replay $run did not report its range done"
	grep -q "replay group deleted group=$ID-replay-" "$RUN/replay$run.log" ||
		die "replay $run did not delete its group"
	got=$(count journey_events_dedup)
	[[ $got == "$N" ]] || die "after replay $run: $got rows, expected $N"
	say "replay $run: $got of our events in journey_events_dedup"
done
raw=$(count journey_events)
((raw >= N)) || die "raw table holds $raw rows"

# A range after our events holds none of them: nothing new appears.
timeout 120 "$SLUICE" replay --topology analytics --from "$after" \
	>"$RUN/replay3.log" 2>&1 || die "replay 3 failed"
got=$(count journey_events_dedup)
[[ $got == "$N" ]] || die "after an empty-range replay: $got rows"

# Kafka's groups named $ID-*: only the probe this check makes itself (so
# an empty list cannot come from a listing that sees nothing).
cat >"$RUN/Groups.java" <<'EOF'
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/* Groups BOOTSTRAP PREFIX PROBE: makes group PROBE (one offset), prints
 * the groups whose id starts with PREFIX, then deletes PROBE. */
public class Groups {
	public static void main(String[] a) throws Exception {
		Properties p = new Properties();
		p.put("bootstrap.servers", a[0]);
		try (Admin ad = Admin.create(p)) {
			ad.alterConsumerGroupOffsets(a[2], Map.of(
				new TopicPartition("user_journey", 0),
				new OffsetAndMetadata(0))).all().get();
			for (var g : ad.listGroups().all().get())
				if (g.groupId().startsWith(a[1]))
					System.out.println(g.groupId());
			ad.deleteConsumerGroups(List.of(a[2])).all().get();
		}
	}
}
EOF
libs=$(scripts/kafka.sh libs)
groups=$(timeout 120 java -cp "$libs/*" "$RUN/Groups.java" "$B" "$ID-" \
	"$ID-probe" 2>"$RUN/groups.log") ||
	die "listing the groups failed: $(tail -3 "$RUN/groups.log")"
[[ $groups == "$ID-probe" ]] ||
	die "groups left behind: $(echo "$groups" | grep -v -- -probe | xargs)"
say "no replay group left behind"
say "PASS: replayed twice, $N events once in the deduplicated view" \
	"(raw table $raw rows before merges)"
