#!/usr/bin/env bash
# 50_whatsapp.sh — the whatsapp topology on the real broker against the
# Cloud API stand-in (tests/bin/wa_standin).
#
# On the services scripts/test.sh exports (started here when unset), with
# a unique application.id and a source topic of its own
# (whatsapp.topic = <app>-send_reminder, WA_PARTITIONS partitions,
# default 3); outcomes go to user_journey, read from the test's start.
# Phones are +919<4-digit run id><5-digit index>, so every user of this
# run has a phone of its own.
#
#  A. 300 reminders, 30 of them produced twice, two undeliverable numbers
#     (stand-in 131026), one that stopped marketing (131050), one in a
#     language whose configured template the stand-in does not know
#     (132001) and one user with two reminders (the second hits the 6 s
#     pair limit, 131056):
#     - the stand-in accepts each normal reminder exactly once, and the
#       duplicates not again (no reminder_id twice in its log);
#     - every accepted one has reminder_sent on user_journey with the
#       stand-in's wamid as message_id;
#     - reminder_failed with error_code 131026 / 131050 / 132001 for the
#       others, the last also logged as a template problem;
#     - the pair user gets both, the second >= 6 s after the first and
#       after a 131056, while the 300 others were sent at full speed.
#  B. 4 forced 130429 answers, then 200 reminders: the sender logs that it
#     slowed down; all 200 are accepted, once.
#     Then 3 forced 5xx answers and 20 reminders: retried after a
#     backoff, all 20 accepted once, the retried ones with attempts 2.
#  D. a bad token (190): sending stops with an ERROR, nothing is accepted
#     or given up; once the token is good again the next probe
#     (whatsapp.auth_retry = 3s) gets through and all 20 are sent once.
#  C. kill -9 of the worker while 600 reminders are being sent (the
#     stand-in answers 150 ms late, so requests are in flight), restart:
#     no reminder_id accepted twice; every reminder either accepted or
#     reported with error_code "unknown" (the SENDING record made durable
#     before the request; never re-sent blindly).
#  E. dry run: a worker without whatsapp.token writes each request (token
#     redacted) to <dry_run.dir>/whatsapp.jsonl and publishes
#     reminder_sent with message_id "dry-<n>".
#
# WA_KEEP=1 keeps the logs; WA_STANDIN and SLUICE_BIN name other builds;
# WA_GUARANTEE=exactly_once runs it under exactly-once (passes too).
# Exit 0 on success; otherwise the first failed check is named.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

SEED=$(($(date +%s) % 100000))$((RANDOM % 10))
RID4=$(printf '%04d' $((RANDOM % 10000)))
APP_ID=h7wa-$SEED-$RID4
SRC=$APP_ID-send_reminder
PREFIX=h7wa$SEED$RID4-
PARTS=${WA_PARTITIONS:-3}
STANDIN=${WA_STANDIN:-$ROOT/tests/bin/wa_standin}
TMP=$(mktemp -d /tmp/sluice-50-whatsapp.XXXXXX)
DATE=$(TZ=Asia/Kolkata date +%F) # today: reminders are sent fresh

fail()
{
	say "FAIL: $*"
	say "(logs in $TMP; worker log tail follows)"
	tail -n 30 "$TMP/worker.log" >&2 2>/dev/null || true
	KEEP=1
	exit 1
}

ok()
{
	say "ok: $*"
}

KEEP=${WA_KEEP:-0} # 1: keep the logs in $TMP
cleanup()
{
	stop_pid worker "$TMP/worker.pid" 20 2>/dev/null || true
	stop_pid wa_standin "$TMP/standin.pid" 10 2>/dev/null || true
	if ((KEEP == 0)); then
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

if [[ -z ${SLUICE_KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
	eval "$(scripts/services.sh start)"
fi
SLUICE_BIN=${SLUICE_BIN:-$ROOT/sluice}
KAFKA=$SLUICE_KAFKA_BOOTSTRAP_SERVERS
[[ -x $STANDIN ]] || make -s tests/bin/wa_standin
[[ -x $SLUICE_BIN ]] || die "no sluice binary at $SLUICE_BIN"
START_MS=$(now_ms)

# phone I: the phone of user index I.
phone()
{
	printf '+919%s%05d' "$RID4" "$1"
}

# reminder I [DATE [LANG]]: one send_reminder line (key|value) for user I;
# odd users speak hi, even ones ta (not configured: the fallback, en).
reminder()
{
	local i=$1 d=${2:-$DATE} lang=${3:-}

	if [[ -z $lang ]]; then
		lang=$( ((i % 2)) && echo hi || echo ta)
	fi

	printf '%s%d|{"reminder_id":"%s%d:%s","user_id":"%s%d",' \
		"$PREFIX" "$i" "$PREFIX" "$i" "$d" "$PREFIX" "$i"
	printf '"phone":"%s","lang":"%s","local_date":"%s",' \
		"$(phone "$i")" "$lang" "$d"
	printf '"pincode":"110001","step":%d,"reminder_number":1,' $((i % 5))
	printf '"emitted_at":"%s"}\n' "$(date -u +%FT%TZ)"
}

produce()
{
	kcat -b "$KAFKA" -P -t "$SRC" -K'|' || fail "kcat produce failed"
}

# outcomes: this run's outcome events on user_journey, one JSON a line.
outcomes()
{
	timeout 60 kcat -b "$KAFKA" -C -t user_journey -o "s@$START_MS" -e -q \
		-f '%s\n' 2>/dev/null | grep -F "\"reminder_id\":\"$PREFIX" ||
		true
}

# count_outcomes FROM TO: distinct reminder ids of users FROM..TO with an
# outcome.
count_outcomes()
{
	outcomes >"$TMP/out.jsonl"
	jq -r --arg p "$PREFIX" --argjson a "$1" --argjson b "$2" '
		.reminder_id | select(startswith($p)) | ltrimstr($p) |
		split(":")[0] | tonumber | select(. >= $a and . <= $b)' \
		"$TMP/out.jsonl" | sort -u | wc -l
}

# accepted_between A B: messages the stand-in accepted for users A..B.
accepted_between()
{
	jq -s --arg p "$PREFIX" --argjson a "$1" --argjson b "$2" '
		map(.reminder_id | select(startswith($p)) | ltrimstr($p) |
		split(":")[0] | tonumber | select(. >= $a and . <= $b))
		| length' "$TMP/accepted.jsonl"
}

standin_control()
{
	curl -sf -X POST "http://127.0.0.1:$PORT/_control?$1" >/dev/null ||
		fail "stand-in control $1"
}

# started: how many times the worker log says the app started.
started()
{
	grep -c "app started" "$TMP/worker.log" 2>/dev/null || true
}

start_worker()
{
	local before

	before=$(started)
	spawn "$TMP/worker.pid" "$TMP/worker.log" env \
		SLUICE_KAFKA_BOOTSTRAP_SERVERS="$KAFKA" \
		"$SLUICE_BIN" worker --config "$TMP/worker.conf" \
		--topologies whatsapp
	wait_until 60 eval '(( $(started) > before ))' ||
		fail "worker did not start"
}

# ---- set-up --------------------------------------------------------------

spawn "$TMP/standin.pid" "$TMP/standin.log" "$STANDIN" \
	--port-file "$TMP/port" --log "$TMP/accepted.jsonl" \
	--errors "$TMP/refused.jsonl" --token "tok-$SEED" \
	--phone-id "55$SEED" --undeliverable 90001 --undeliverable 90002 \
	--stopped 90011 --template oral_reminder_hi:hi \
	--template oral_reminder_en:en_US
wait_until 10 test -s "$TMP/port" || fail "stand-in did not start"
PORT=$(<"$TMP/port")

cat >"$TMP/worker.conf" <<EOF
application.id = $APP_ID
state.dir = $TMP/state
admin.listen = off
topic.partitions = $PARTS
commit.interval.ms = 500
processing.guarantee = ${WA_GUARANTEE:-at_least_once}
kafka.session.timeout.ms = 6000
whatsapp.topic = $SRC
whatsapp.url = http://127.0.0.1:$PORT
whatsapp.token = tok-$SEED
whatsapp.phone_number_id = 55$SEED
whatsapp.template.hi = oral_reminder_hi
whatsapp.template_lang.hi = hi
whatsapp.template.en = oral_reminder_en
whatsapp.template_lang.en = en_US
whatsapp.template.ml = no_such_template
whatsapp.fallback_lang = en
whatsapp.auth_retry = 3s
EOF
start_worker
say "app $APP_ID, stand-in on $PORT, $PARTS partitions"

# ---- A. once each, duplicates, permanent failures, pair limit ------------

N=300
{
	for ((i = 1; i <= N; i++)); do reminder "$i"; done
	for ((i = 1; i <= 30; i++)); do reminder "$i"; done
	reminder 90001
	reminder 90002
	reminder 90011
	reminder 90031 "$DATE" ml
	reminder 90021 2026-12-03
	reminder 90021 2026-12-04
} | produce
# distinct_outcomes: reminder ids of this run with an outcome.
distinct_outcomes()
{
	outcomes | jq -r .reminder_id | sort -u | wc -l
}
# 300 + 4 failures + the pair user's two
wait_until 90 eval '(( $(distinct_outcomes) >= N + 6 ))' ||
	fail "A: outcomes for $(distinct_outcomes) of $((N + 6)) reminders"
outcomes >"$TMP/out.jsonl"

acc=$TMP/accepted.jsonl
n=$(jq -s --arg p "$PREFIX" 'map(select(.reminder_id | startswith($p)))
	| length' "$acc")
[[ $n == $((N + 2)) ]] || fail "A: stand-in accepted $n, want $((N + 2))"
dups=$(jq -r .reminder_id "$acc" | sort | uniq -d | head -3)
[[ -z $dups ]] || fail "A: reminder ids accepted twice: $dups"
for ((i = 1; i <= N; i++)); do
	printf '%s\n' "$(phone "$i" | tr -d +)"
done | sort >"$TMP/want_to"
jq -r '.to' "$acc" | grep -v -e '90021$' | sort >"$TMP/got_to"
cmp -s "$TMP/want_to" "$TMP/got_to" ||
	fail "A: accepted phones differ from the $N expected ($(diff \
		"$TMP/want_to" "$TMP/got_to" | head -3 | tr '\n' ' '))"
ok "A: $N reminders accepted once each, 30 duplicates ignored"

# The request shape the stand-in saw: templates by language.
bad=$(jq -r --arg p "$PREFIX" 'select(.reminder_id | startswith($p)) |
	select((.lang == "hi" and .template != "oral_reminder_hi") or
	       (.lang != "hi" and (.template != "oral_reminder_en" or
				  .lang != "en_US"))) | .reminder_id' \
	"$acc" | head -3)
[[ -z $bad ]] || fail "A: wrong template for $bad"
ok "A: hi users got oral_reminder_hi/hi, ta users the fallback en_US"

# reminder_sent with the stand-in's wamid, for every accepted one.
jq -r '[.reminder_id, .wamid] | @tsv' "$acc" | sort >"$TMP/want_sent"
jq -r 'select(.type == "reminder_sent") | [.reminder_id, .message_id] |
	@tsv' "$TMP/out.jsonl" | sort -u >"$TMP/got_sent"
cmp -s "$TMP/want_sent" "$TMP/got_sent" ||
	fail "A: reminder_sent events differ from the stand-in's log ($(diff \
		"$TMP/want_sent" "$TMP/got_sent" | head -3 | tr '\n' ' '))"
ok "A: reminder_sent with the stand-in's wamid for all $((N + 2))"

# failed_code I: error_code of user I's reminder_failed events.
failed_code()
{
	jq -r --arg id "$PREFIX$1:$DATE" 'select(.reminder_id == $id and
		.type == "reminder_failed") | .error_code' "$TMP/out.jsonl" |
		sort -u | tr '\n' ' '
}
[[ $(failed_code 90001) == "131026 " ]] ||
	fail "A: undeliverable 90001: '$(failed_code 90001)'"
[[ $(failed_code 90002) == "131026 " ]] ||
	fail "A: undeliverable 90002: '$(failed_code 90002)'"
[[ $(failed_code 90011) == "131050 " ]] ||
	fail "A: stopped 90011: '$(failed_code 90011)'"
[[ $(failed_code 90031) == "132001 " ]] ||
	fail "A: missing template 90031: '$(failed_code 90031)'"
grep -q "ERROR whatsapp: template problem.*template=no_such_template" \
	"$TMP/worker.log" || fail "A: the template problem was not logged"
n=$(jq -s 'map(select(.type == "reminder_failed")) | length' \
	"$TMP/out.jsonl")
[[ $n == 4 ]] || fail "A: $n reminder_failed events, want 4"
ok "A: 131026 x2, 131050 and 132001 (logged) published as" \
	"reminder_failed"

# The pair user: a 131056, then the second >= 6 s after the first, while
# the others went at full speed (300 at 80/s: under 4 s plus slack).
n=$(jq -s 'map(select(.code == 131056 and (.to | endswith("90021"))))
	| length' "$TMP/refused.jsonl")
((n >= 1)) || fail "A: the pair user never hit 131056"
read -r t1 t2 < <(jq -s -r 'map(select(.to | endswith("90021")) | .t)
	| sort | "\(.[0]) \(.[1])"' "$acc")
((t2 - t1 >= 6000)) || fail "A: pair user's messages $((t2 - t1)) ms apart"
read -r first last < <(jq -s -r --arg p "$PREFIX" 'map(select(
	(.reminder_id | startswith($p)) and (.to | endswith("90021") | not))
	| .t) | sort | "\(.[0]) \(.[-1])"' "$acc")
span=$((last - first))
((span <= N * 1000 / 80 + 2500)) ||
	fail "A: $N reminders took $span ms (held up?)"
((last < t2)) || fail "A: the pair user's retry came before the others"
ok "A: pair user: 131056 x$n, second $((t2 - t1)) ms later;" \
	"the others took $span ms"

# ---- B. a run of 130429 slows the sender, nothing is lost ----------------

standin_control "fail_130429=4"
for ((i = 1001; i <= 1200; i++)); do reminder "$i"; done | produce
wait_until 120 eval '(( $(count_outcomes 1001 1200) >= 200 ))' ||
	fail "B: outcomes for $(count_outcomes 1001 1200) of 200"
n=$(accepted_between 1001 1200)
[[ $n == 200 ]] || fail "B: stand-in accepted $n of 200"
dups=$(jq -r .reminder_id "$acc" | sort | uniq -d | head -3)
[[ -z $dups ]] || fail "B: reminder ids accepted twice: $dups"
n=$(jq -s 'map(select(.code == 130429)) | length' "$TMP/refused.jsonl")
((n >= 4)) || fail "B: only $n 130429 answers"
grep -q "throughput limit hit, slowing down" "$TMP/worker.log" ||
	fail "B: the sender did not log slowing down"
grep -q 'rate=40.0/s' "$TMP/worker.log" || fail "B: rate not halved to 40"
ok "B: $n x 130429: slowed down (rate halved), all 200 accepted once"

standin_control "fail_5xx=3"
for ((i = 1301; i <= 1320; i++)); do reminder "$i"; done | produce
wait_until 60 eval '(( $(count_outcomes 1301 1320) >= 20 ))' ||
	fail "B: 5xx: outcomes for $(count_outcomes 1301 1320) of 20"
[[ $(accepted_between 1301 1320) == 20 ]] ||
	fail "B: 5xx: $(accepted_between 1301 1320) of 20 accepted"
n=$(jq -s 'map(select(.status >= 500)) | length' "$TMP/refused.jsonl")
[[ $n == 3 ]] || fail "B: 5xx: $n answers of 500/503, want 3"
outcomes >"$TMP/out.jsonl"
n=$(jq -s --arg p "$PREFIX" 'map(select(.type == "reminder_sent" and
	(.reminder_id | startswith($p + "13")) and .attempts == 2)) |
	map(.reminder_id) | unique | length' "$TMP/out.jsonl")
[[ $n == 3 ]] || fail "B: 5xx: $n reminders sent on the second attempt"
ok "B: 3 x 5xx retried after a backoff: 20 accepted once, 3 on attempt 2"

# ---- D. a bad token stops sending; a good one lets the probe through -----

standin_control "bad_token=1"
for ((i = 3001; i <= 3020; i++)); do reminder "$i"; done | produce
wait_until 30 grep -q "ERROR whatsapp: .*sending stopped code=190" \
	"$TMP/worker.log" ||
	fail "D: no ERROR for the bad token"
sleep 4 # at least one probe with the bad token
sent_d()
{
	accepted_between 3001 3020
}
[[ $(sent_d) == 0 ]] || fail "D: $(sent_d) accepted with a bad token"
[[ $(count_outcomes 3001 3020) == 0 ]] ||
	fail "D: outcomes published while stopped"
standin_control "bad_token=0"
wait_until 60 eval '(( $(count_outcomes 3001 3020) >= 20 ))' ||
	fail "D: $(count_outcomes 3001 3020) of 20 after the token came back"
[[ $(sent_d) == 20 ]] || fail "D: $(sent_d) of 20 accepted"
grep -q "sending resumed" "$TMP/worker.log" || fail "D: no resume logged"
ok "D: 190 stopped sending (nothing lost), the probe resumed it: 20 sent"

# ---- C. kill -9 while sending, restart ------------------------------------

standin_control "latency_ms=150"
K=600
for ((i = 2001; i <= 2000 + K; i++)); do reminder "$i"; done | produce
sent_c()
{
	accepted_between 2001 $((2000 + K))
}
wait_until 60 eval '(( $(sent_c) >= 150 ))' ||
	fail "C: sending did not start ($(sent_c) accepted)"
kill -KILL "$(<"$TMP/worker.pid")"
wait_until 10 eval "! pid_alive '$TMP/worker.pid'" || fail "C: still alive"
at_kill=$(sent_c)
((at_kill < K)) || fail "C: all $K sent before the kill; nothing to test"
say "killed the worker with $at_kill of $K accepted"
standin_control "latency_ms=0"
start_worker
wait_until 120 eval '(( $(count_outcomes 2001 $((2000 + K))) >= K ))' ||
	fail "C: outcomes for $(count_outcomes 2001 $((2000 + K))) of $K"
outcomes >"$TMP/out.jsonl"
dups=$(jq -r .reminder_id "$acc" | sort | uniq -d | head -3)
[[ -z $dups ]] || fail "C: reminder ids accepted twice: $dups"
jq -r --arg p "$PREFIX" 'select(.reminder_id | startswith($p)) |
	.reminder_id' "$acc" | sort -u >"$TMP/c_accepted"
jq -r 'select(.type == "reminder_failed" and .error_code == "unknown") |
	.reminder_id' "$TMP/out.jsonl" | sort -u >"$TMP/c_unknown"
missing=0
for ((i = 2001; i <= 2000 + K; i++)); do
	id=$PREFIX$i:$DATE
	if ! grep -qxF "$id" "$TMP/c_accepted" &&
		! grep -qxF "$id" "$TMP/c_unknown"; then
		missing=$((missing + 1))
		say "missing: $id"
	fi
done
((missing == 0)) || fail "C: $missing reminders neither sent nor UNKNOWN"
n=$(sent_c)
u=$(wc -l <"$TMP/c_unknown")
grep -q "send outcome unknown" "$TMP/worker.log" || ((u == 0)) ||
	fail "C: UNKNOWN published but not logged"
ok "C: kill -9 at $at_kill/$K: $n accepted once each, $u reported" \
	"UNKNOWN, none missing, none twice"

# ---- E. dry run ------------------------------------------------------------

stop_pid worker "$TMP/worker.pid" 30
SRC=$APP_ID-dry-send_reminder
cat >"$TMP/worker.conf" <<EOF
application.id = $APP_ID-dry
state.dir = $TMP/state-dry
dry_run.dir = $TMP/dry
admin.listen = off
topic.partitions = $PARTS
whatsapp.topic = $SRC
EOF
start_worker
for ((i = 4001; i <= 4003; i++)); do reminder "$i"; done | produce
wait_until 60 eval '(( $(count_outcomes 4001 4003) >= 3 ))' ||
	fail "E: $(count_outcomes 4001 4003) of 3 dry-run outcomes"
[[ $(wc -l <"$TMP/dry/whatsapp.jsonl") == 3 ]] ||
	fail "E: $(wc -l <"$TMP/dry/whatsapp.jsonl") dry-run lines, want 3"
n=$(jq -s 'map(select(.headers.Authorization == "Bearer ***" and
	.method == "POST" and .body.type == "template" and
	(.wamid | startswith("dry-")))) | length' "$TMP/dry/whatsapp.jsonl")
[[ $n == 3 ]] || fail "E: dry-run lines malformed"
outcomes >"$TMP/out.jsonl"
n=$(jq -r --arg p "$PREFIX" 'select(.type == "reminder_sent" and
	(.reminder_id | startswith($p + "400")) and
	(.message_id | startswith("dry-"))) | .reminder_id' "$TMP/out.jsonl" |
	sort -u | wc -l)
[[ $n == 3 ]] || fail "E: $n dry-run reminder_sent events, want 3"
ok "E: dry run wrote 3 requests and published them as sent"
say "PASS 50_whatsapp"
