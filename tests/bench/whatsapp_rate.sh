#!/usr/bin/env bash
# whatsapp_rate.sh — does the WhatsApp sender hold whatsapp.rate? (SPEC
# section 9: "holds the configured rate within 2%").
#
# Runs the whatsapp topology on the real broker against the Cloud API
# stand-in (tests/bin/wa_standin, enforcing --mps = the rate), with
# enough send_reminder records queued to keep it busy, and measures what
# the stand-in accepted over WA_SECONDS (default 60) seconds, starting
# 5 s after the first acceptance.  Passes when the measured rate is
# within 2% of WA_RATE (default 80) and the stand-in never had to
# answer 130429.  Prints one result line:
#	whatsapp_rate rate=80.00/s target=80 seconds=60 sent=4800 \
#	throttled=0 deviation=0.00% PASS
#
# Environment: the services' SLUICE_KAFKA_BOOTSTRAP_SERVERS (started
# when unset), SLUICE_BIN, WA_STANDIN, WA_RATE, WA_SECONDS, WA_PARTITIONS
# (default 12).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

RATE=${WA_RATE:-80}
SECONDS_=${WA_SECONDS:-60}
PARTS=${WA_PARTITIONS:-12}
WARMUP=5
STANDIN=${WA_STANDIN:-$ROOT/tests/bin/wa_standin}
SLUICE_BIN=${SLUICE_BIN:-$ROOT/sluice}
SEED=$(date +%s)$((RANDOM % 100))
APP_ID=h7bench-$SEED
SRC=$APP_ID-send_reminder
TMP=$(mktemp -d /tmp/sluice-bench-whatsapp.XXXXXX)
# enough to stay busy: warm-up, the window and 10 s of slack
COUNT=$((RATE * (SECONDS_ + WARMUP + 10)))

cleanup()
{
	stop_pid worker "$TMP/worker.pid" 20 || true
	stop_pid wa_standin "$TMP/standin.pid" 10 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

if [[ -z ${SLUICE_KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
	eval "$(scripts/services.sh start)"
fi
KAFKA=$SLUICE_KAFKA_BOOTSTRAP_SERVERS
[[ -x $STANDIN ]] || make -s tests/bin/wa_standin
[[ -x $SLUICE_BIN ]] || die "no sluice binary at $SLUICE_BIN"

spawn "$TMP/standin.pid" "$TMP/standin.log" "$STANDIN" \
	--port-file "$TMP/port" --log "$TMP/accepted.jsonl" \
	--errors "$TMP/refused.jsonl" --mps "$RATE" --token bench-token
wait_until 10 test -s "$TMP/port" || die "stand-in did not start"
cat >"$TMP/worker.conf" <<EOF
application.id = $APP_ID
state.dir = $TMP/state
admin.listen = off
topic.partitions = $PARTS
whatsapp.topic = $SRC
whatsapp.rate = $RATE
whatsapp.url = http://127.0.0.1:$(<"$TMP/port")
whatsapp.token = bench-token
whatsapp.phone_number_id = 1234567890
EOF
spawn "$TMP/worker.pid" "$TMP/worker.log" env \
	SLUICE_KAFKA_BOOTSTRAP_SERVERS="$KAFKA" "$SLUICE_BIN" worker \
	--config "$TMP/worker.conf" --topologies whatsapp
wait_until 60 grep -q "app started" "$TMP/worker.log" ||
	die "worker did not start: $(tail -5 "$TMP/worker.log")"

say "queueing $COUNT reminders for $SECONDS_ s at $RATE/s"
for ((i = 0; i < COUNT; i++)); do
	printf 'b%d|{"reminder_id":"b%d:2026-12-04","user_id":"b%d",' \
		"$i" "$i" "$i"
	printf '"phone":"+9197%08d","lang":"hi","local_date":"2026-12-04",' \
		"$i"
	printf '"step":1}\n'
done | kcat -b "$KAFKA" -P -t "$SRC" -K'|'

wait_until 60 test -s "$TMP/accepted.jsonl" || die "nothing was sent"
first=$(head -n 1 "$TMP/accepted.jsonl" | jq .t)
from=$((first + WARMUP * 1000))
to=$((from + SECONDS_ * 1000))
wait_until $((SECONDS_ + WARMUP + 30)) eval \
	"(( \$(tail -n 1 '$TMP/accepted.jsonl' | jq .t) >= $to ))" ||
	die "the sender stopped early: $(wc -l <"$TMP/accepted.jsonl") sent"

sent=$(jq -s --argjson a "$from" --argjson b "$to" \
	'map(select(.t >= $a and .t < $b)) | length' "$TMP/accepted.jsonl")
throttled=$(jq -s 'map(select(.code == 130429)) | length' \
	"$TMP/refused.jsonl" 2>/dev/null || echo 0)
read -r measured deviation verdict < <(awk -v n="$sent" -v s="$SECONDS_" \
	-v r="$RATE" -v t="$throttled" 'BEGIN {
	m = n / s; d = (m - r) / r * 100; a = d < 0 ? -d : d;
	printf "%.2f %.2f %s\n", m, d, (a <= 2 && t == 0) ? "PASS" : "FAIL" }')
echo "whatsapp_rate rate=$measured/s target=$RATE seconds=$SECONDS_" \
	"sent=$sent throttled=$throttled deviation=$deviation% $verdict"
[[ $verdict == PASS ]]
