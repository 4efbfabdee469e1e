#!/usr/bin/env bash
# 90_e2e.sh — a small campaign day end to end, as `make run` does it.
#
# On the services scripts/test.sh exports (SLUICE_KAFKA_BOOTSTRAP_SERVERS,
# SLUICE_PG_URL, SLUICE_CLICKHOUSE_URL, SLUICE_BIN; started here when
# unset), with a unique application.id, its own API and admin ports and
# its own campaign date (E2E_DATE, default a day in 2031-2039):
#
#  1. sluice migrate, then two malformed records go into user_journey
#     before the day: one not JSON, one JSON without user_id;
#  2. scripts/run-main.sh with 2,000 people (E2E_USERS): API, generator,
#     worker, wait, summary; it must report every number as MATCH
#     (ClickHouse's deduplicated rows = events sent, per type; reminders
#     on send_reminder = reminders_expected, no user twice; people,
#     pin codes, districts, average score);
#  3. then, independently of the summary:
#     - PostgreSQL's screenings rows for the run's users = completions;
#     - user_journey holds every event sent (distinct event_id per type);
#     - send_reminder: one record per expected user, none twice, each
#       reminder_id "<user_id>:<date>", none for a user who completed or
#       opted out;
#     - both malformed records are on <application.id>-dead-letters with
#       a sluice.reason header, and the worker went on (step 2 passed
#       with events sent after them).
#
# Exit 0 on success; otherwise the first failed check is named.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

USERS=${E2E_USERS:-2000}
SEED=$(($(date +%s) * 1000 + RANDOM % 1000))
APP_ID=e2e-$SEED
# A day of its own, far from today's: workers of other runs (fresh
# application ids read user_journey from the start) then remind this
# run's users, if ever, under other dates, and the checks below count
# reminders of this date only.
DAY=${E2E_DATE:-$(date -u -d "2031-01-01 + $((SEED % 3000)) days" +%F)}
PREFIX=u-$SEED-
RUN_DIR=$ROOT/.run/$APP_ID
BAD_TEXT="h5-e2e not json {$SEED"
BAD_EVENT_ID=e2e-$SEED-no-user

fail()
{
	say "FAIL: $*"
	say "(run directory: $RUN_DIR)"
	exit 1
}

ok()
{
	say "ok: $*"
}

services()
{
	if [[ -z ${SLUICE_KAFKA_BOOTSTRAP_SERVERS:-} ||
		-z ${SLUICE_PG_URL:-} || -z ${SLUICE_CLICKHOUSE_URL:-} ]]; then
		eval "$(scripts/services.sh start)"
	fi
	export SLUICE_BIN=${SLUICE_BIN:-$ROOT/sluice}
	export SLUICE_APPLICATION_ID=$APP_ID
	KAFKA=$SLUICE_KAFKA_BOOTSTRAP_SERVERS
}

# consume TOPIC FORMAT: every record of TOPIC, one line each.
consume()
{
	kcat -b "$KAFKA" -C -t "$1" -o beginning -e -q -f "$2" ||
		fail "cannot read topic $1"
}

inject_bad_records()
{
	local at

	"$SLUICE_BIN" migrate >/dev/null 2>&1 || fail "sluice migrate"
	at=$(TZ=Asia/Kolkata date +%FT%T+05:30)
	printf '%s\n' "$BAD_TEXT" |
		kcat -b "$KAFKA" -P -t user_journey -k "e2e-bad-$SEED" ||
		fail "cannot produce to user_journey"
	printf '{"event_id":"%s","type":"screening_started","occurred_at":"%s"}\n' \
		"$BAD_EVENT_ID" "$at" |
		kcat -b "$KAFKA" -P -t user_journey -k "e2e-nouser-$SEED" ||
		fail "cannot produce to user_journey"
	ok "two malformed records on user_journey"
}

run_day()
{
	local api admin

	api=$(first_free_port 18480)
	admin=$(first_free_port $((api + 1)))
	DEMO_USE_ENV=1 DEMO_USERS=$USERS DEMO_SEED=$SEED DEMO_DATE=$DAY \
		DEMO_APP_ID=$APP_ID DEMO_API_LISTEN=127.0.0.1:$api \
		DEMO_ADMIN_LISTEN=127.0.0.1:$admin DEMO_TIMEOUT=180 \
		scripts/run-main.sh ||
		fail "the campaign day did not match its tally (above)"
	TALLY=$RUN_DIR/tally.json
	[[ -s $TALLY ]] || fail "no tally at $TALLY"
	ok "run-main: every number matches"
}

# tally KEY: a number from the generator's tally.
tally()
{
	jq -r "$1" "$TALLY"
}

check_postgres()
{
	local rows want

	rows=$(psql "$SLUICE_PG_URL" -XAtq -v ON_ERROR_STOP=1 -c \
		"SELECT count(*) FROM screenings
		 WHERE user_id LIKE '$PREFIX%'") ||
		fail "cannot count screenings in PostgreSQL"
	want=$(tally .users_completed)
	((rows == want)) ||
		fail "PostgreSQL screenings: $rows rows, tally says $want"
	ok "PostgreSQL screenings: $rows rows"
}

check_user_journey()
{
	local got want

	got=$(consume user_journey '%s\n' |
		jq -R -s -c --arg p "$PREFIX" '
		[split("\n")[] | select(length > 0) | (fromjson? // empty)
		 | select((.user_id // "") | startswith($p))]
		| group_by(.type)
		| map({ key: .[0].type,
			value: (map(.event_id) | unique | length) })
		| from_entries')
	want=$(jq -c '.events_sent | del(.total)' "$TALLY")
	jq -e -n --argjson g "$got" --argjson w "$want" \
		'$w | to_entries | all(.value == ($g[.key] // 0))' >/dev/null ||
		fail "user_journey distinct event ids $got, tally $want"
	ok "user_journey: distinct event ids per type $got"
}

check_reminders()
{
	local plan bad

	# Who should get one: from the generator's own plan (same seed).
	plan=$(mktemp)
	tests/bin/gen --print-plan --users "$USERS" --seed "$SEED" \
		--pincodes "$ROOT/../shared/data/pincode_district_state.csv" \
		--date "$DAY" --tally /dev/null 2>/dev/null |
		jq -r '.body | select(.type != "screening_started"
			and .type != "screening_step") | .user_id' |
		sort -u >"$plan"
	bad=$(consume send_reminder '%s\n' |
		jq -R -s -r --arg p "$PREFIX" --arg d "$DAY" \
			--rawfile done "$plan" '
		($done | split("\n") | map({ key: ., value: 1 })
		 | from_entries) as $done
		| [split("\n")[] | select(length > 0) | (fromjson? // empty)
		   | select((.user_id // "") | startswith($p))
		   | select(.local_date == $d)] as $r
		| ($r | group_by(.user_id) | map(select(length > 1))
		   | map("twice: \(.[0].user_id)")) +
		  ($r | map(select(.reminder_id != "\(.user_id):\($d)"))
		   | map("bad reminder_id: \(.reminder_id)")) +
		  ($r | map(select($done[.user_id]))
		   | map("reminded after finishing: \(.user_id)"))
		| .[:5][]')
	rm -f "$plan"
	[[ -z $bad ]] || fail "send_reminder: $bad"
	ok "send_reminder: one per user, right ids, none for finished users"
}

check_dead_letters()
{
	local dlq lines

	dlq=$APP_ID-dead-letters
	lines=$(consume "$dlq" '%h\t%s\n')
	grep -F -- "$BAD_TEXT" <<<"$lines" |
		grep -q 'sluice\.reason=[^,	]*JSON' ||
		fail "the not-JSON record is not on $dlq with its reason"
	grep -F -- "$BAD_EVENT_ID" <<<"$lines" |
		grep -q 'sluice\.reason=[^,	]*user_id' ||
		fail "the record without user_id is not on $dlq with its reason"
	ok "both malformed records on $dlq with sluice.reason"
}

main()
{
	services
	inject_bad_records
	run_day
	check_postgres
	check_user_journey
	check_reminders
	check_dead_letters
	say "PASS: campaign day of $USERS people end to end (app $APP_ID)"
}

main
