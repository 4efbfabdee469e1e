#!/usr/bin/env bash
# 40_meta.sh — the conversions topology against the Meta stand-in, on the
# real Kafka broker.
#
# On the services scripts/test.sh exports (SLUICE_KAFKA_BOOTSTRAP_SERVERS,
# SLUICE_BIN; started here when unset), with a unique application.id and
# a user id / screening id prefix of its own (user_journey is shared with
# other tests and a new application reads it from the start):
#
#  1. tests/bin/meta_standin on a free loopback port, with a token;
#     `sluice worker --topologies conversions` pointed at it;
#  2. one sentinel screening_completed per partition of user_journey,
#     waited for at the stand-in, so the topic's backlog is behind us;
#  3. wave A: screening_completed events, other event types, one event
#     8 days old and one record that is not JSON; the stand-in answers
#     the first request holding one of our events with code 100;
#  4. wave B: more screening_completed events; the stand-in answers 500,
#     500, 429, 429 to the first requests holding our events;
#  5. checks:
#     - the stand-in injected all five failures and the worker retried;
#     - every screening_completed of ours that is not stale is either
#       accepted (exactly once by event_name + event_id, and no request
#       repeated an accepted event) or was in the code-100 request;
#     - the code-100 events, and only they, are on
#       <application.id>-dead-letters with Meta's message in
#       sluice.reason; so are the stale one (7-day reason) and the
#       record that is not JSON; no other event type of ours reached Meta;
#     - one accepted event carries exactly the fields and hashes worked
#       out here with sha256sum; neither the token nor a phone number is
#       in the worker's log.
#
# Exit 0 on success; otherwise the first failed check is named.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

SEED=$(date +%s)$((RANDOM % 1000))
APP_ID=h6-meta-$SEED
PREFIX=h6m-$SEED-
TOKEN=standin-token-$SEED
DATASET=4242$((RANDOM % 1000))
TMP=$(mktemp -d /tmp/sluice-40-meta.XXXXXX)
STANDIN=$ROOT/tests/bin/meta_standin
WAVE_A=20
WAVE_B=300
KEEP=${SLUICE_TEST_KEEP:-0} # 1: keep the files in $TMP

fail()
{
	say "FAIL: $*"
	say "--- worker log (last 20 lines):"
	tail -n 20 "$TMP/worker.log" >&2 || true
	say "--- stand-in stats: $(stats 2>/dev/null || true)"
	KEEP=1
	say "(files kept in $TMP)"
	exit 1
}

ok()
{
	say "ok: $*"
}

cleanup()
{
	stop_pid worker "$TMP/worker.pid" 60 || true
	stop_pid meta_standin "$TMP/standin.pid" 10 || true
	if ((!KEEP)); then
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

stats()
{
	curl -s -m 5 "http://127.0.0.1:$PORT/_control/stats"
}

# fail_next SEQ: the stand-in answers the next requests holding one of
# our events with SEQ (500, 429, 100).
fail_next()
{
	curl -sf -m 5 -X POST -o /dev/null \
		"http://127.0.0.1:$PORT/_control/fail?seq=$1&match=$PREFIX"
}

stat_of()
{
	stats | jq -r ".$1"
}

# lines: count the non-empty lines of stdin (0 for none).
lines()
{
	grep -c . || true
}

# ids FILE PREFIX: the event ids in a JSON-lines file that start with
# PREFIX, one a line, sorted, repeats kept.
ids()
{
	jq -r --arg p "$2" 'select(.event_id | startswith($p)) | .event_id' \
		"$1" | sort
}

# count_ids FILE PREFIX: how many distinct such ids.
count_ids()
{
	ids "$1" "$2" | uniq | lines
}

# event TYPE WAVE N [AGE_S]: one journey event of ours, "key<TAB>json".
# A screening_completed has screening_id <PREFIX>s<WAVE><N>.
event()
{
	local type=$1 wave=$2 n=$3 age=${4:-0} user at phone extra=

	user=${PREFIX}u$wave$n
	at=$(TZ=Asia/Kolkata date -d "@$(($(date +%s) - age))" +%FT%T+05:30)
	phone=+9198$(printf '%08d' "$n")
	case $type in
	screening_completed)
		extra=",\"screening_id\":\"${PREFIX}s$wave$n\""
		extra+=",\"score\":$((n % 5 + 1))"
		;;
	screening_step) extra=',"step":2' ;;
	esac
	printf '%s\t{"event_id":"%se%s%s-%s","type":"%s","user_id":"%s",' \
		"$user" "$PREFIX" "$wave" "$n" "$type" "$type" "$user"
	printf '"occurred_at":"%s","phone":"%s","lang":"kn",' "$at" "$phone"
	printf '"pincode":"56000%d","channel":"qr"%s}\n' $((n % 10)) "$extra"
}

produce()
{
	kcat -b "$KAFKA" -P -t user_journey -K $'\t' "$@" ||
		fail "cannot produce to user_journey"
}

start()
{
	if [[ -z ${SLUICE_KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
		eval "$(scripts/services.sh start)"
	fi
	KAFKA=$SLUICE_KAFKA_BOOTSTRAP_SERVERS
	SLUICE_BIN=${SLUICE_BIN:-$ROOT/sluice}
	[[ -x $STANDIN ]] || make -s tests/bin/meta_standin
	[[ -x $SLUICE_BIN ]] || fail "no sluice binary at $SLUICE_BIN"

	spawn "$TMP/standin.pid" "$TMP/standin.log" "$STANDIN" \
		--port-file "$TMP/port" --token "$TOKEN" \
		--record "$TMP/accepted.jsonl" --rejected "$TMP/rejected.jsonl"
	wait_until 10 test -s "$TMP/port" || fail "stand-in did not start"
	PORT=$(<"$TMP/port")
	touch "$TMP/accepted.jsonl" "$TMP/rejected.jsonl"

	cat >"$TMP/worker.conf" <<-EOF
		application.id = $APP_ID
		state.dir = $TMP/state
		admin.listen = off
		dry_run.dir = $TMP/dry
		commit.interval.ms = 500
		meta.url = http://127.0.0.1:$PORT
		meta.dataset_id = $DATASET
		meta.token = $TOKEN
		meta.test_event_code = TEST40
		meta.backoff = 200ms
	EOF
	# The environment's own SLUICE_APPLICATION_ID etc. must not win.
	spawn "$TMP/worker.pid" "$TMP/worker.log" env -u SLUICE_APPLICATION_ID \
		-u SLUICE_ADMIN_LISTEN -u SLUICE_STATE_DIR \
		"$SLUICE_BIN" worker --config "$TMP/worker.conf" \
		--topologies conversions
	ok "stand-in on port $PORT, worker $APP_ID"
}

sentinels_in()
{
	(($(count_ids "$TMP/accepted.jsonl" "${PREFIX}sS") == PARTS))
}

injected_at_least()
{
	(($(stat_of injected) >= $1))
}

# topic_ready: user_journey exists (the worker creates it if missing).
topic_ready()
{
	PARTS=$(kcat -b "$KAFKA" -L -t user_journey 2>/dev/null |
		grep -c '^ *partition [0-9]*,' || true)
	((PARTS > 0))
}

sentinels()
{
	local parts p

	wait_until 60 topic_ready || fail "no topic user_journey"
	parts=$PARTS
	for ((p = 0; p < parts; p++)); do
		event screening_completed S "$p" | produce -p "$p"
	done
	PARTS=$parts
	wait_until 240 sentinels_in ||
		fail "the $parts sentinels did not all reach the stand-in"
	ok "backlog behind us: $parts sentinels accepted" \
		"($(stat_of events_received) events so far)"
}

wave_a()
{
	fail_next 100 || fail "cannot queue the code-100 failure"
	{
		for ((i = 1; i <= WAVE_A; i++)); do
			event screening_completed A "$i"
		done
		event screening_started A 1
		event screening_step A 2
		event opted_out A 3
		event screening_completed X 1 $((8 * 86400))
		printf '%sbad\th6 meta %s not json {\n' "$PREFIX" "$PREFIX"
	} | produce
	wait_until 60 injected_at_least 1 ||
		fail "no request of ours reached the stand-in after wave A"
	ok "wave A: code 100 injected"
}

wave_b_in()
{
	(($(count_ids "$TMP/accepted.jsonl" "${PREFIX}sB") == WAVE_B))
}

wave_b()
{
	fail_next 500,500,429,429 || fail "cannot queue the transient failures"
	for ((i = 1; i <= WAVE_B; i++)); do
		event screening_completed B "$i"
	done | produce
	wait_until 120 wave_b_in || fail "wave B did not reach the stand-in"
	(($(stat_of injected) == 5)) || fail "injected $(stat_of injected) of 5"
	grep -q 'meta: flush failed, will retry' "$TMP/worker.log" ||
		fail "the worker did not log a retry"
	ok "wave B: 500, 500, 429, 429 injected, then accepted"
}

# dead_letters: the dead-letter records of ours, "reason<TAB>value".
dead_letters()
{
	kcat -b "$KAFKA" -C -t "$APP_ID-dead-letters" -o beginning -e -q \
		-f '%h\t%s\n' 2>/dev/null |
		grep -F -- "$PREFIX" |
		sed -E 's/^(.*,)?sluice\.reason=(.*),sluice\.topic=.*\t/\2\t/'
}

check_delivery()
{
	local accepted rejected n_acc n_rej want=$((WAVE_A + WAVE_B))

	# Every completed event of ours (sentinels aside) is in one place.
	accepted=$(ids "$TMP/accepted.jsonl" "$PREFIX" |
		grep -v "^${PREFIX}sS" || true)
	rejected=$(ids "$TMP/rejected.jsonl" "$PREFIX" | uniq)
	[[ -z $(uniq -d <<<"$accepted") ]] ||
		fail "accepted twice: $(uniq -d <<<"$accepted" | head -n 3)"
	n_acc=$(lines <<<"$accepted")
	n_rej=$(lines <<<"$rejected")
	((n_rej > 0)) || fail "no event of ours in the code-100 request"
	[[ -z $(comm -12 <(echo "$accepted") <(echo "$rejected")) ]] ||
		fail "an event both accepted and rejected"
	((n_acc + n_rej == want)) ||
		fail "accepted $n_acc + rejected $n_rej, sent $want"
	if grep -q "\"${PREFIX}sX1\"" "$TMP/accepted.jsonl" \
		"$TMP/rejected.jsonl"; then
		fail "the stale event reached the stand-in"
	fi
	[[ $(jq -r --arg p "$PREFIX" 'select(.event_id | startswith($p))
		| "\(.event_name) \(.action_source)"' "$TMP/accepted.jsonl" |
		sort -u) == "Lead system_generated" ]] ||
		fail "event_name or action_source"
	ok "$n_acc accepted once each, $n_rej in the code-100 request," \
		"none lost"
	REJECTED=$rejected
}

dead_letters_in()
{
	(($(dead_letters | lines) >= $(lines <<<"$REJECTED") + 2))
}

check_dead_letters()
{
	local dl n id want meta_msg

	want=$(($(lines <<<"$REJECTED") + 2))
	wait_until 30 dead_letters_in ||
		fail "dead letters: $(dead_letters | lines) of $want"
	dl=$(dead_letters)
	n=$(lines <<<"$dl")
	((n == want)) || fail "$n dead letters of ours, want $want"
	meta_msg='^meta: HTTP 400 code 100: Invalid parameter: '
	meta_msg+='stand-in: injected rejection \(fbtrace_id StandIn[0-9]+\)'
	while read -r id; do
		grep -F "\"screening_id\":\"$id\"" <<<"$dl" |
			grep -Eq "$meta_msg"$'\t' ||
			fail "$id is not dead-lettered with Meta's message"
	done <<<"$REJECTED"
	grep -F "\"screening_id\":\"${PREFIX}sX1\"" <<<"$dl" |
		grep -q "^meta: event_time: older than Meta's 7-day limit" ||
		fail "the stale event is not dead-lettered as such"
	grep -F "h6 meta $PREFIX not json {" <<<"$dl" | grep -q 'JSON' ||
		fail "the record that is not JSON is not dead-lettered"
	ok "dead letters: code-100 events with Meta's message, stale, not JSON"
}

check_content()
{
	local line want_ph want_ext want_zp t want_t

	# Wave B's event 7: phone +919800000007, user <PREFIX>uB7.
	line=$(jq -c --arg id "${PREFIX}sB7" 'select(.event_id == $id)' \
		"$TMP/accepted.jsonl" | head -n 1)
	[[ -n $line ]] || fail "${PREFIX}sB7 not accepted"
	want_ph=$(printf '%s' 919800000007 | sha256sum | cut -c1-64)
	want_ext=$(printf '%s' "${PREFIX}ub7" | sha256sum | cut -c1-64)
	want_zp=$(printf '%s' 560007 | sha256sum | cut -c1-64)
	jq -e --arg ph "$want_ph" --arg ext "$want_ext" --arg zp "$want_zp" \
		--arg in "$(printf in | sha256sum | cut -c1-64)" '
		.event_name == "Lead" and .action_source == "system_generated"
		and .user_data.ph == [$ph] and .user_data.external_id == [$ext]
		and .user_data.country == [$in] and .user_data.zp == [$zp]
		and .custom_data == {"score": 3, "lang": "kn"}
		and .event_id == "'"${PREFIX}sB7"'"
		and (.event_time | type) == "number"' <<<"$line" >/dev/null ||
		fail "event content: $line"
	t=$(jq -r .event_time <<<"$line")
	want_t=$(date +%s)
	((t <= want_t && t > want_t - 600)) || fail "event_time $t"
	if grep -q '9800000007' "$TMP/accepted.jsonl"; then
		fail "a raw phone number reached the stand-in"
	fi
	if grep -qF "$TOKEN" "$TMP/worker.log"; then
		fail "the token is in the worker's log"
	fi
	if grep -q '98000000[0-9][0-9]' "$TMP/worker.log"; then
		fail "a phone number is in the worker's log"
	fi
	ok "event content and hashes as computed with sha256sum; no token" \
		"or phone in the log"
}

main()
{
	start
	sentinels
	wave_a
	wave_b
	check_delivery
	check_dead_letters
	check_content
	stop_pid worker "$TMP/worker.pid" 60
	say "PASS: conversions to the Meta stand-in (app $APP_ID)"
}

main
