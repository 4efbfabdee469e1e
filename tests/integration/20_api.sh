#!/usr/bin/env bash
# 20_api.sh — `sluice migrate` and `sluice api` against real services.
#
# Uses SLUICE_PG_URL, SLUICE_PGBOUNCER_URL, SLUICE_KAFKA_BOOTSTRAP_SERVERS
# (and SLUICE_CLICKHOUSE_URL for migrate) as exported by scripts/test.sh,
# and SLUICE_BIN.  The PostgreSQL side is a database of this run's own on
# that server (made by the first migrate, dropped at exit, also on a
# failure), reached directly and through PgBouncer (whose `*` entry
# passes any database name on): another `sluice api` on the shared
# database would relay this test's outbox rows.  Every user id of a run
# starts with a prefix of its own, so other tests writing to the same
# topic do not disturb the counts.
#
#  1. migrate twice: both succeed, the first creates the database, the
#     second creates nothing; the tables, indexes and topics exist; api
#     refuses to start without api.token;
#  2. 20 screenings -> 201 with UUIDs; 20 rows in PostgreSQL equal to
#     what was sent; their outbox rows are marked sent; 20 journey events
#     (4 types, event_id given or not) -> 202;
#  3. user_journey holds exactly those 40 event_ids, each once, keyed by
#     user_id, the screening_completed ones with every field;
#  4. GET /v1/screenings/{id}, GET /v1/users/{id}/screenings;
#  5. the bad-input catalogue (wrong types and missing fields one by one,
#     score 0/6, malformed phone, pin code and language, invalid UTF-8 of
#     several kinds, 1 MiB with and without Content-Length, empty body,
#     deep nesting): each gets its status, field and rule, and nothing of
#     it is stored; no 500 anywhere (checked in /metrics);
#  6. SQL-looking and non-ASCII strings are stored, read back and
#     published to user_journey verbatim;
#  7. Idempotency-Key: a retry gets the same answer and writes nothing;
#     reuse with another body -> 422; journey retry -> one Kafka record;
#  8. through PgBouncer (transaction mode): screenings, a replay, relay;
#  9. Kafka unreachable: screenings still 201 (kept in the outbox),
#     journey 503 fast; with Kafka back the kept events are relayed once;
# 10. PostgreSQL unreachable: 503 within a second, readyz 503 (a real
#     stop and restart: 23_api_pg_outage.sh; a 30 s Kafka stop under
#     load: 22_api_kafka_outage.sh; query plans: 21_api_explain.sh);
# 11. SIGTERM: exit status 0.
#
# Exit 0 on success; otherwise the first failed check is named.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

SLUICE=${SLUICE_BIN:-$ROOT/sluice}
: "${SLUICE_PG_URL:?needs the exports of scripts/services.sh}"
: "${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?needs the exports of scripts/services.sh}"
BROKER=$SLUICE_KAFKA_BOOTSTRAP_SERVERS
TOPIC=user_journey
RUN=h3t$(date +%s)$RANDOM

# url_db URL DB: URL (postgresql://...) naming database DB instead.
url_db()
{
	local base=${1%%\?*} query=

	[[ $1 == *\?* ]] && query="?${1#*\?}"
	printf '%s/%s%s\n' "${base%/*}" "$2" "$query"
}

# This run's database, on the servers of the exported URLs; the API and
# migrate get it through the environment, sql() below through the URL.
DB=sluice_t20_$RUN
PG_ADMIN_URL=$(url_db "$SLUICE_PG_URL" postgres)
SLUICE_PG_URL=$(url_db "$SLUICE_PG_URL" "$DB")
export SLUICE_PG_URL
PGB_URL=
if [[ -n ${SLUICE_PGBOUNCER_URL:-} ]]; then
	PGB_URL=$(url_db "$SLUICE_PGBOUNCER_URL" "$DB")
fi
export SLUICE_PGBOUNCER_URL=$PGB_URL
TOKEN=tok-$RUN-$RANDOM$RANDOM
TMP=$(mktemp -d /tmp/sluice-20-api.XXXXXX)
T0=$(now_ms)
API_PID=
API_URL=
FAIL_LOG=$TMP/api.log	# fail (lib.sh) shows its end
export SLUICE_API_TOKEN=$TOKEN

# cleanup: the API stopped, the database dropped (FORCE: PgBouncer may
# still hold idle server connections to it), the scratch folder removed.
cleanup()
{
	sluice_api_stop 2>/dev/null || true
	psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" \
		-c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null ||
		say "could not drop database $DB"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sql()
{
	psql -X -q -tA -v ON_ERROR_STOP=1 "$SLUICE_PG_URL" -c "$1"
}

# api_start [VAR=value...]: start the API on a free port with the given
# environment on top; sets API_PID and API_URL.
api_start()
{
	sluice_api_start "$TMP/api.log" "$@" || fail "api did not start"
}

# api_stop: SIGTERM; the API must exit 0.
api_stop()
{
	sluice_api_stop || fail "api exited $? after SIGTERM"
}

# req METHOD PATH [BODY_FILE] [curl args...]: sets STATUS, $TMP/out (body)
# and $TMP/hdr (headers).
req()
{
	local method=$1 path=$2 body=${3:-}

	shift 3 || shift $#
	local args=(-s -m 30 -o "$TMP/out" -D "$TMP/hdr" -w '%{http_code}'
		-X "$method" -H 'Expect:')
	if [[ -n $body ]]; then
		args+=(--data-binary "@$body")
	fi
	STATUS=$(curl "${args[@]}" "$@" "$API_URL$path")
}

AUTH=(-H "Authorization: Bearer $TOKEN")
JSON=(-H 'Content-Type: application/json')

# post [--auth VALUE] [--ctype VALUE] PATH JSON [curl args...]: POST a
# JSON text with the token and Content-Type application/json, or the
# Authorization / Content-Type values given ("" for none).
post()
{
	local auth=("${AUTH[@]}") ctype=("${JSON[@]}") path

	while [[ $1 == --auth || $1 == --ctype ]]; do
		if [[ $1 == --auth ]]; then
			auth=()
			[[ -n $2 ]] && auth=(-H "Authorization: $2")
		else
			ctype=(-H "Content-Type: $2")
		fi
		shift 2
	done
	path=$1
	printf '%s' "$2" >"$TMP/in"
	shift 2
	req POST "$path" "$TMP/in" "${auth[@]}" "${ctype[@]}" "$@"
}

screening()
{
	# screening USER SCORE [extra json members]
	printf '{"user_id":"%s","phone":"+9198765%05d","lang":"ta",' \
		"$1" $((RANDOM % 100000))
	printf '"pincode":"600001","score":%s,"channel":"whatsapp",' "$2"
	printf '"answers":{"brushes_twice_daily":true,"pain":"no"}%s}' \
		"${3:-}"
}

# journey_records: key<TAB>value of every user_journey record of this run.
journey_records()
{
	kcat -b "$BROKER" -C -t "$TOPIC" -o "s@$T0" -e -q -f '%k\t%s\n' \
		2>/dev/null | grep "^$RUN" || true
}

# ---- 1. migrate ------------------------------------------------------------

"$SLUICE" migrate >"$TMP/m1" 2>&1 || { cat "$TMP/m1" >&2; fail "migrate"; }
"$SLUICE" migrate >"$TMP/m2" 2>&1 || { cat "$TMP/m2" >&2; fail "migrate 2"; }
grep -qx "postgresql: database $DB created" "$TMP/m1" ||
	fail "first migrate did not create $DB: $(cat "$TMP/m1")"
grep -q ' created\( \|$\)' <(grep -v '^postgresql: function' "$TMP/m2") &&
	fail "second migrate created something: $(cat "$TMP/m2")"
for o in screenings outbox idempotency_keys screenings_user_id_idx \
	screenings_phone_idx outbox_unsent_idx outbox_sent_at_idx; do
	[[ $(sql "SELECT to_regclass('$o') IS NOT NULL") == t ]] ||
		fail "migrate: $o missing"
done
[[ $(sql "SELECT indexdef FROM pg_indexes WHERE indexname =
	'outbox_unsent_idx'") == *"WHERE (sent_at IS NULL)"* ]] ||
	fail "outbox_unsent_idx is not partial on sent_at IS NULL"
for t in user_journey send_reminder; do
	kcat -b "$BROKER" -L -t "$t" 2>/dev/null | grep -q "topic \"$t\"" ||
		fail "migrate: topic $t missing"
done
ok "migrate twice into database $DB, schema and topics present"

if env -u SLUICE_API_TOKEN SLUICE_API_LISTEN=127.0.0.1:0 "$SLUICE" api \
	>"$TMP/notoken" 2>&1; then
	fail "api started without api.token"
fi
grep -q 'api.token is not set' "$TMP/notoken" ||
	fail "no clear message without a token: $(cat "$TMP/notoken")"
ok "api refuses to start without api.token"

# ---- 2. valid requests -----------------------------------------------------

api_start
declare -A SID EID
for i in $(seq 1 20); do
	u=$RUN-s$i
	post /v1/screenings "$(screening "$u" $((i % 5 + 1)))"
	[[ $STATUS == 201 ]] || fail "screening $i: $STATUS $(cat "$TMP/out")"
	SID[$u]=$(jq -r .screening_id "$TMP/out")
	EID[$u]=$(jq -r .event_id "$TMP/out")
	[[ ${SID[$u]} =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] ||
		fail "screening_id not a UUID v4: ${SID[$u]}"
	[[ ${EID[$u]} =~ ^[0-9a-f-]{36}$ ]] || fail "event_id: ${EID[$u]}"
done
[[ $(sql "SELECT count(*) FROM screenings WHERE user_id LIKE '$RUN-s%'") \
	== 20 ]] || fail "20 screenings not in PostgreSQL"
row=$(sql "SELECT screening_id, event_id, lang, pincode, score, channel,
	answers->>'pain' FROM screenings WHERE user_id = '$RUN-s7'")
[[ $row == "${SID[$RUN-s7]}|${EID[$RUN-s7]}|ta|600001|3|whatsapp|no" ]] ||
	fail "stored row differs: $row"
unsent()
{
	[[ $(sql "SELECT count(*) FROM outbox WHERE key LIKE '$RUN-%'
		AND sent_at IS NULL") == 0 ]]
}
wait_until 20 unsent || fail "outbox rows not marked sent"
ok "20 screenings: 201, stored as sent, outbox relayed"

JID=()
types=(screening_started screening_step opted_out opted_in)
for i in $(seq 1 20); do
	t=${types[$((i % 4))]}
	u=$RUN-j$((i % 5))
	body="{\"type\":\"$t\",\"user_id\":\"$u\",\"channel\":\"qr\""
	case $t in
	screening_started)
		body+=',"phone":"+919812345678","lang":"bn","pincode":"700001"'
		;;
	screening_step) body+=",\"step\":$i" ;;
	esac
	if ((i % 2)); then
		body+=",\"event_id\":\"$RUN-e$i\""
		body+=',"occurred_at":"2026-01-05T10:00:00+05:30"'
	fi
	post /v1/journey "$body}"
	[[ $STATUS == 202 ]] || fail "journey $i ($t): $STATUS $(cat "$TMP/out")"
	id=$(jq -r .event_id "$TMP/out")
	if ((i % 2)); then
		[[ $id == "$RUN-e$i" ]] || fail "journey $i: event_id $id"
	fi
	JID+=("$id")
done
ok "20 journey events: 202, given event_ids kept"

# ---- 3. what reached Kafka -------------------------------------------------

want=$(printf '%s\n' "${EID[@]}" "${JID[@]}" | sort)
have_all()
{
	journey_records >"$TMP/kafka"
	[[ $(cut -f2 "$TMP/kafka" | jq -r .event_id | sort) == "$want" ]]
}
wait_until 30 have_all ||
	fail "user_journey: want 40 event_ids once, have $(wc -l <"$TMP/kafka")"
while IFS=$'\t' read -r key val; do
	[[ $key == "$(jq -r .user_id <<<"$val")" ]] ||
		fail "record keyed $key, user_id $(jq -r .user_id <<<"$val")"
done <"$TMP/kafka"
rec=$(grep "^$RUN-s4"$'\t' "$TMP/kafka" | cut -f2)
[[ $(jq -r '[.type, .screening_id, .event_id, .score, .lang, .pincode,
	.channel, .answers.pain] | join(" ")' <<<"$rec") == \
	"screening_completed ${SID[$RUN-s4]} ${EID[$RUN-s4]} 5 ta 600001 whatsapp no" ]] ||
	fail "screening_completed record: $rec"
[[ $(jq -r .occurred_at <<<"$rec") =~ ^20[0-9-]{8}T[0-9:.]{12}Z$ ]] ||
	fail "occurred_at: $(jq -r .occurred_at <<<"$rec")"
ok "user_journey: 40 event_ids, each once, keyed by user_id"

# ---- 4. reads --------------------------------------------------------------

req GET "/v1/screenings/${SID[$RUN-s3]}" "" "${AUTH[@]}"
[[ $STATUS == 200 && $(jq -r '.user_id + " " + (.score|tostring) + " " +
	.event_id' "$TMP/out") == "$RUN-s3 4 ${EID[$RUN-s3]}" ]] ||
	fail "GET screening: $STATUS $(cat "$TMP/out")"
req GET "/v1/screenings/${SID[$RUN-s3]}" ""
[[ $STATUS == 401 ]] || fail "GET without token: $STATUS"
req GET /v1/screenings/00000000-0000-4000-8000-000000000000 "" "${AUTH[@]}"
[[ $STATUS == 404 ]] || fail "GET unknown: $STATUS"
req GET "/v1/screenings/not-a-uuid'--" "" "${AUTH[@]}"
[[ $STATUS == 404 ]] || fail "GET malformed id: $STATUS"
post /v1/screenings "$(screening "$RUN-s3" 1)"
[[ $STATUS == 201 ]] || fail "second screening of s3"
req GET "/v1/users/$RUN-s3/screenings" "" "${AUTH[@]}"
[[ $STATUS == 200 && $(jq '.screenings | length' "$TMP/out") == 2 &&
	$(jq -r '.screenings[1].screening_id' "$TMP/out") == \
	"${SID[$RUN-s3]}" ]] || fail "GET user: $STATUS $(cat "$TMP/out")"
req GET "/v1/users/$RUN-nobody/screenings" "" "${AUTH[@]}"
[[ $STATUS == 200 && $(jq '.screenings | length' "$TMP/out") == 0 ]] ||
	fail "GET user without screenings: $STATUS"
ok "GET screening and user screenings (newest first), 401, 404"

# ---- 5. bad input ----------------------------------------------------------

# bad NAME STATUS FIELD PATH BODY [curl args]: the answer names FIELD.
# A name containing "no token" sends none, "wrong token" a wrong one,
# "... content type" that Content-Type.
bad()
{
	local name=$1 status=$2 field=$3 path=$4 body=$5 auth=()

	shift 5
	case $name in
	*"no token"*) auth=(--auth "") ;;
	*"wrong token"*) auth=(--auth "Bearer ${TOKEN}x") ;;
	*"form content type"*)
		auth=(--ctype application/x-www-form-urlencoded) ;;
	*"text content type"*) auth=(--ctype "text/plain") ;;
	*"charset content type"*)
		auth=(--ctype "application/json; charset=utf-8") ;;
	esac
	post "${auth[@]}" "$path" "$body" "$@"
	[[ $STATUS == "$status" ]] ||
		fail "$name: want $status, got $STATUS $(cat "$TMP/out")"
	if [[ $status == 400 ]]; then
		[[ $(jq -r .error "$TMP/out") == invalid &&
			$(jq -r .field "$TMP/out") == "$field" &&
			-n $(jq -r '.rule // empty' "$TMP/out") ]] ||
			fail "$name: body $(cat "$TMP/out")"
	fi
}
S=/v1/screenings
J=/v1/journey
V="\"user_id\":\"$RUN-bad\",\"phone\":\"+919876543210\",\"lang\":\"hi\""
V+=',"pincode":"110001","channel":"qr"'
bad "missing user_id" 400 user_id $S '{"phone":"+919876543210","lang":"hi","pincode":"110001","score":3,"channel":"qr"}'
bad "missing phone" 400 phone $S "{\"user_id\":\"$RUN-bad\",\"lang\":\"hi\",\"pincode\":\"110001\",\"score\":3,\"channel\":\"qr\"}"
bad "missing score" 400 score $S "{$V}"
bad "missing channel" 400 channel $S "{\"user_id\":\"$RUN-bad\",\"phone\":\"+919876543210\",\"lang\":\"hi\",\"pincode\":\"110001\",\"score\":3}"
bad "score 0" 400 score $S "{$V,\"score\":0}"
bad "score 6" 400 score $S "{$V,\"score\":6}"
bad "score 2.5" 400 score $S "{$V,\"score\":2.5}"
bad "score string" 400 score $S "{$V,\"score\":\"3\"}"
bad "score null" 400 score $S "{$V,\"score\":null}"
bad "user_id number" 400 user_id $S '{"user_id":42,"phone":"+919876543210","lang":"hi","pincode":"110001","score":3,"channel":"qr"}'
bad "user_id 65 chars" 400 user_id $S "{\"user_id\":\"$(printf 'x%.0s' {1..65})\",\"phone\":\"+919876543210\",\"lang\":\"hi\",\"pincode\":\"110001\",\"score\":3,\"channel\":\"qr\"}"
bad "phone short" 400 phone $S "{\"user_id\":\"$RUN-bad\",\"phone\":\"+9198765\",\"lang\":\"hi\",\"pincode\":\"110001\",\"score\":3,\"channel\":\"qr\"}"
bad "phone India 5xxx" 400 phone $S "{\"user_id\":\"$RUN-bad\",\"phone\":\"+915876543210\",\"lang\":\"hi\",\"pincode\":\"110001\",\"score\":3,\"channel\":\"qr\"}"
bad "phone no plus" 400 phone $S "{\"user_id\":\"$RUN-bad\",\"phone\":\"919876543210\",\"lang\":\"hi\",\"pincode\":\"110001\",\"score\":3,\"channel\":\"qr\"}"
bad "lang xx" 400 lang $S "{\"user_id\":\"$RUN-bad\",\"phone\":\"+919876543210\",\"lang\":\"xx\",\"pincode\":\"110001\",\"score\":3,\"channel\":\"qr\"}"
bad "pincode leading 0" 400 pincode $S "{\"user_id\":\"$RUN-bad\",\"phone\":\"+919876543210\",\"lang\":\"hi\",\"pincode\":\"010001\",\"score\":3,\"channel\":\"qr\"}"
bad "pincode 5 digits" 400 pincode $S "{\"user_id\":\"$RUN-bad\",\"phone\":\"+919876543210\",\"lang\":\"hi\",\"pincode\":\"11000\",\"score\":3,\"channel\":\"qr\"}"
bad "pincode number" 400 pincode $S "{\"user_id\":\"$RUN-bad\",\"phone\":\"+919876543210\",\"lang\":\"hi\",\"pincode\":110001,\"score\":3,\"channel\":\"qr\"}"
bad "channel sms" 400 channel $S "{\"user_id\":\"$RUN-bad\",\"phone\":\"+919876543210\",\"lang\":\"hi\",\"pincode\":\"110001\",\"score\":3,\"channel\":\"sms\"}"
bad "answers array" 400 answers $S "{$V,\"score\":3,\"answers\":[1,2]}"
bad "answers string" 400 answers $S "{$V,\"score\":3,\"answers\":\"yes\"}"
bad "event_id from client" 400 event_id $S "{$V,\"score\":3,\"event_id\":\"x\"}"
bad "duplicate user_id" 400 user_id $S "{$V,\"score\":3,\"user_id\":\"other\"}"
bad "invalid UTF-8" 400 "" $S "$(printf '{"user_id":"\xc3\x28","phone":"+919876543210","lang":"hi","pincode":"110001","score":3,"channel":"qr"}')"
bad "NUL escape" 400 "" $S "{$V,\"score\":3,\"answers\":{\"a\":\"x\\u0000y\"}}"
bad "empty body" 400 "" $S ''
bad "not JSON" 400 "" $S 'hello'
bad "JSON array" 400 "" $S '[1,2,3]'
bad "trailing data" 400 "" $S "{$V,\"score\":3} {}"
bad "truncated JSON" 400 "" $S "{$V,\"score\":3"
bad "form content type" 415 "" $S "{$V,\"score\":3}"
bad "text content type" 415 "" $J "{\"type\":\"opted_in\",\"user_id\":\"$RUN-bad\"}"
bad "charset content type, score 9" 400 score $S "{$V,\"score\":9}"
bad "no token" 401 "" $S "{$V,\"score\":3}"
bad "wrong token" 401 "" $S "{$V,\"score\":3}"
bad "basic auth, no token" 401 "" $S "{$V,\"score\":3}" -u "user:$TOKEN"
bad "bad Idempotency-Key" 400 Idempotency-Key $S "{$V,\"score\":3}" -H "Idempotency-Key: $(printf 'k%.0s' {1..300})"
head -c 1048576 /dev/zero | tr '\0' 'a' >"$TMP/big"
req POST $S "$TMP/big" "${AUTH[@]}" "${JSON[@]}"
[[ $STATUS == 413 ]] || fail "1 MiB body: $STATUS"
req POST $S "$TMP/big" "${AUTH[@]}" "${JSON[@]}" -H 'Transfer-Encoding: chunked'
[[ $STATUS == 413 ]] || fail "1 MiB chunked body (no length): $STATUS"
head -c 65537 "$TMP/big" >"$TMP/over"
req POST $S "$TMP/over" "${AUTH[@]}" "${JSON[@]}"
[[ $STATUS == 413 ]] || fail "api.max_body + 1 bytes: $STATUS"

# More of the catalogue: every field with a wrong type, the rest of the
# required fields missing, more malformed values and byte sequences.
P='"phone":"+919876543210"'
L='"lang":"hi"'
C='"pincode":"110001"'
U="\"user_id\":\"$RUN-bad\""
bad "phone number" 400 phone $S "{$U,\"phone\":919876543210,$L,$C,\"score\":3,\"channel\":\"qr\"}"
bad "lang number" 400 lang $S "{$U,$P,\"lang\":1,$C,\"score\":3,\"channel\":\"qr\"}"
bad "channel number" 400 channel $S "{$U,$P,$L,$C,\"score\":3,\"channel\":1}"
bad "user_id object" 400 user_id $S "{\"user_id\":{\"a\":1},$P,$L,$C,\"score\":3,\"channel\":\"qr\"}"
bad "user_id array" 400 user_id $S "{\"user_id\":[\"a\"],$P,$L,$C,\"score\":3,\"channel\":\"qr\"}"
bad "user_id empty" 400 user_id $S "{\"user_id\":\"\",$P,$L,$C,\"score\":3,\"channel\":\"qr\"}"
bad "score true" 400 score $S "{$U,$P,$L,$C,\"score\":true,\"channel\":\"qr\"}"
bad "score 1e400" 400 score $S "{$U,$P,$L,$C,\"score\":1e400,\"channel\":\"qr\"}"
bad "score -3" 400 score $S "{$U,$P,$L,$C,\"score\":-3,\"channel\":\"qr\"}"
bad "missing lang" 400 lang $S "{$U,$P,$C,\"score\":3,\"channel\":\"qr\"}"
bad "missing pincode" 400 pincode $S "{$U,$P,$L,\"score\":3,\"channel\":\"qr\"}"
bad "phone letters" 400 phone $S "{$U,\"phone\":\"+91987654321a\",$L,$C,\"score\":3,\"channel\":\"qr\"}"
bad "phone spaces" 400 phone $S "{$U,\"phone\":\"+91 98765 43210\",$L,$C,\"score\":3,\"channel\":\"qr\"}"
bad "phone India 11 digits" 400 phone $S "{$U,\"phone\":\"+9198765432101\",$L,$C,\"score\":3,\"channel\":\"qr\"}"
bad "pincode letter" 400 pincode $S "{$U,$P,$L,\"pincode\":\"11000A\",\"score\":3,\"channel\":\"qr\"}"
bad "pincode 7 digits" 400 pincode $S "{$U,$P,$L,\"pincode\":\"1100011\",\"score\":3,\"channel\":\"qr\"}"
bad "lang upper case" 400 lang $S "{$U,$P,\"lang\":\"HI\",$C,\"score\":3,\"channel\":\"qr\"}"
bad "lang empty" 400 lang $S "{$U,$P,\"lang\":\"\",$C,\"score\":3,\"channel\":\"qr\"}"
bad "overlong UTF-8" 400 "" $S "$(printf '{"user_id":"\xc0\xaf","phone":"+919876543210","lang":"hi","pincode":"110001","score":3,"channel":"qr"}')"
bad "UTF-8 surrogate" 400 "" $S "$(printf '{"user_id":"\xed\xa0\x80","phone":"+919876543210","lang":"hi","pincode":"110001","score":3,"channel":"qr"}')"
bad "invalid UTF-8 in a key" 400 "" $S "$(printf '{"user_id":"'"$RUN"'-u","\xff":1,"phone":"+919876543210","lang":"hi","pincode":"110001","score":3,"channel":"qr"}')"
bad "UTF-8 cut short" 400 "" $S "$(printf '{"user_id":"'"$RUN"'-u","phone":"+919876543210","lang":"hi","pincode":"110001","score":3,"channel":"qr"}\xe0\xa4')"
bad "lone surrogate escape" 400 "" $S "{\"user_id\":\"\\ud800\",$P,$L,$C,\"score\":3,\"channel\":\"qr\"}"
bad "raw control character" 400 "" $S "$(printf '{"user_id":"a\001b","phone":"+919876543210","lang":"hi","pincode":"110001","score":3,"channel":"qr"}')"
bad "nested 1200 deep" 400 "" $S "{$U,$P,$L,$C,\"score\":3,\"channel\":\"qr\",\"answers\":{\"a\":$(printf '[%.0s' {1..1200})$(printf ']%.0s' {1..1200})}}"
bad "JSON null" 400 "" $S 'null'
bad "journey user_id number" 400 user_id $J '{"type":"opted_in","user_id":7}'
bad "journey step string" 400 step $J "{\"type\":\"screening_step\",$U,\"step\":\"2\"}"
bad "journey invalid UTF-8" 400 "" $J "$(printf '{"type":"opted_in","user_id":"\xfe"}')"
bad "journey empty body" 400 "" $J ''
bad "journey completed" 400 type $J "{\"type\":\"screening_completed\",\"user_id\":\"$RUN-bad\"}"
bad "journey unknown type" 400 type $J "{\"type\":\"reminder_bogus\",\"user_id\":\"$RUN-bad\"}"
bad "journey no type" 400 type $J "{\"user_id\":\"$RUN-bad\"}"
bad "journey step missing" 400 step $J "{\"type\":\"screening_step\",\"user_id\":\"$RUN-bad\"}"
bad "journey step 0" 400 step $J "{\"type\":\"screening_step\",\"user_id\":\"$RUN-bad\",\"step\":0}"
bad "journey started no phone" 400 phone $J "{\"type\":\"screening_started\",\"user_id\":\"$RUN-bad\",\"lang\":\"hi\",\"pincode\":\"110001\"}"
bad "journey bad time" 400 occurred_at $J "{\"type\":\"opted_in\",\"user_id\":\"$RUN-bad\",\"occurred_at\":\"2026-02-30T10:00:00Z\"}"
bad "journey time no offset" 400 occurred_at $J "{\"type\":\"opted_in\",\"user_id\":\"$RUN-bad\",\"occurred_at\":\"2026-01-05T10:00:00\"}"
bad "journey no token" 401 "" $J "{\"type\":\"opted_in\",\"user_id\":\"$RUN-bad\"}"
[[ $(sql "SELECT count(*) FROM screenings WHERE user_id LIKE '$RUN-bad%'
	OR user_id IN ('other', '$RUN-u')") == 0 ]] || fail "bad input was stored"
curl -s "$API_URL/metrics" >"$TMP/metrics"
grep -q 'route="POST /v1/screenings",status="400"' "$TMP/metrics" ||
	fail "metrics: no 400 counted"
! grep -q 'status="5' "$TMP/metrics" ||
	fail "a 5xx was answered: $(grep 'status="5' "$TMP/metrics")"
ok "bad-input catalogue: 400/401/413/415 with field and rule, none stored"

# ---- 6. verbatim strings ---------------------------------------------------

weird="$RUN-x'); DROP TABLE screenings; --"
ans='{"q":"Robert\"); DELETE FROM outbox; --","hi":"दाँत में दर्द","n":{"a":[1,{"b":null}]}}'
post $S "{\"user_id\":\"$weird\",\"phone\":\"+919876543210\",\"lang\":\"hi\",\"pincode\":\"110001\",\"score\":2,\"channel\":\"call\",\"answers\":$ans}"
[[ $STATUS == 201 ]] || fail "SQL-looking strings: $STATUS $(cat "$TMP/out")"
[[ $(sql "SELECT answers->>'q' FROM screenings WHERE user_id = \$\$$weird\$\$") \
	== 'Robert"); DELETE FROM outbox; --' ]] || fail "answers.q not verbatim"
[[ $(sql "SELECT answers->>'hi' FROM screenings WHERE user_id = \$\$$weird\$\$") \
	== 'दाँत में दर्द' ]] || fail "answers.hi not verbatim"
[[ $(sql "SELECT to_regclass('outbox') IS NOT NULL") == t ]] || fail "outbox?"
hindi="$RUN-उपयोगकर्ता"
post $S "$(screening "$hindi" 5)"
[[ $STATUS == 201 ]] || fail "non-ASCII user_id: $STATUS"
req GET "/v1/users/$(jq -rn --arg u "$hindi" '$u|@uri')/screenings" "" \
	"${AUTH[@]}"
[[ $STATUS == 200 && $(jq -r '.screenings[0].user_id' "$TMP/out") == \
	"$hindi" ]] || fail "GET non-ASCII user: $STATUS $(cat "$TMP/out")"

# The SQL-looking user through GET, and in the event on Kafka; a journey
# event with SQL-looking members passes to Kafka unchanged.
req GET "/v1/users/$(jq -rn --arg u "$weird" '$u|@uri')/screenings" "" \
	"${AUTH[@]}"
[[ $STATUS == 200 && $(jq -r '.screenings[0].user_id' "$TMP/out") == \
	"$weird" && $(jq -r '.screenings[0].answers.q' "$TMP/out") == \
	'Robert"); DELETE FROM outbox; --' ]] ||
	fail "GET SQL-looking user: $STATUS $(cat "$TMP/out")"
wj="$RUN-y'; DROP TABLE outbox; --"
post $J "{\"type\":\"opted_out\",\"user_id\":\"$wj\",\"note\":\"1; DELETE FROM screenings WHERE '1'='1\"}"
[[ $STATUS == 202 ]] || fail "SQL-looking journey event: $STATUS $(cat "$TMP/out")"
verbatim_in_kafka()
{
	journey_records >"$TMP/kafka2"
	[[ $(cut -f2 "$TMP/kafka2" | jq -r --arg u "$weird" \
		'select(.user_id == $u) | .answers.q') == \
		'Robert"); DELETE FROM outbox; --' ]] &&
	[[ $(cut -f2 "$TMP/kafka2" | jq -r --arg u "$wj" \
		'select(.user_id == $u) | .note') == \
		"1; DELETE FROM screenings WHERE '1'='1" ]]
}
wait_until 20 verbatim_in_kafka ||
	fail "SQL-looking strings not verbatim on user_journey"
ok "SQL-looking and non-ASCII strings stored, read back and published verbatim"

# ---- 7. Idempotency-Key ----------------------------------------------------

K=(-H "Idempotency-Key: $RUN-key-1")
post $S "$(screening "$RUN-idem" 4)" "${K[@]}"
first=$(cat "$TMP/out")
[[ $STATUS == 201 ]] || fail "idempotent first: $STATUS"
printf '%s' "$(cat "$TMP/in")" >"$TMP/in1"
for n in 2 3; do
	req POST $S "$TMP/in1" "${AUTH[@]}" "${JSON[@]}" "${K[@]}"
	[[ $STATUS == 201 && $(cat "$TMP/out") == "$first" ]] ||
		fail "retry $n: $STATUS $(cat "$TMP/out") (first $first)"
	grep -qi '^Idempotent-Replayed: true' "$TMP/hdr" ||
		fail "retry $n not marked as replayed"
done
[[ $(sql "SELECT count(*) FROM screenings WHERE user_id = '$RUN-idem'") == 1 &&
	$(sql "SELECT count(*) FROM outbox WHERE key = '$RUN-idem'") == 1 ]] ||
	fail "idempotent retries wrote rows"
post $S "$(screening "$RUN-idem" 1)" "${K[@]}"
[[ $STATUS == 422 ]] || fail "key reused with another body: $STATUS"

# Concurrent first attempts with one key: one row, one answer.
printf '%s' "$(screening "$RUN-idem2" 3)" >"$TMP/in2"
pids=()
for n in 1 2 3 4 5 6; do
	curl -s -m 30 -o "$TMP/c$n" -X POST "${AUTH[@]}" "${JSON[@]}" \
		-H "Idempotency-Key: $RUN-key-2" --data-binary "@$TMP/in2" \
		"$API_URL$S" &
	pids+=($!)
done
wait "${pids[@]}" || fail "concurrent idempotent requests"
[[ $(cat "$TMP"/c[1-6] | sort -u | wc -l) == 1 ]] ||
	fail "concurrent retries got different answers: $(cat "$TMP"/c[1-6])"
[[ $(sql "SELECT count(*) FROM screenings WHERE user_id = '$RUN-idem2'") \
	== 1 ]] || fail "concurrent retries wrote more than one row"

# One event on user_journey for the screening posted three times.
one_idem()
{
	[[ $(journey_records | grep -c "^$RUN-idem"$'\t') == 1 ]]
}
wait_until 20 one_idem || fail "idempotent screening: not one event"
[[ $(journey_records | grep "^$RUN-idem"$'\t' | cut -f2 | jq -r .event_id) \
	== $(jq -r .event_id <<<"$first") ]] ||
	fail "idempotent screening: the event is not the first answer's"

KJ=(-H "Idempotency-Key: $RUN-key-3")
post $J "{\"type\":\"opted_out\",\"user_id\":\"$RUN-idemj\"}" "${KJ[@]}"
[[ $STATUS == 202 ]] || fail "journey idempotent first: $STATUS"
jfirst=$(cat "$TMP/out")
post $J "{\"type\":\"opted_out\",\"user_id\":\"$RUN-idemj\"}" "${KJ[@]}"
[[ $STATUS == 202 && $(cat "$TMP/out") == "$jfirst" ]] ||
	fail "journey retry: $STATUS $(cat "$TMP/out")"
post $J "{\"type\":\"opted_in\",\"user_id\":\"$RUN-idemj\"}" "${KJ[@]}"
[[ $STATUS == 422 ]] || fail "journey key reused: $STATUS"
one_idemj()
{
	[[ $(journey_records | grep -c "^$RUN-idemj"$'\t') == 1 ]]
}
wait_until 20 one_idemj || fail "journey retry produced another record"
sleep 1
one_idemj || fail "journey retry produced another record"
ok "Idempotency-Key: same answer, nothing new written; 422 on reuse"

# ---- 8. PgBouncer ----------------------------------------------------------

api_stop
if [[ -n $PGB_URL ]]; then
	api_start SLUICE_PG_URL="$PGB_URL"
	for i in 1 2 3 4 5; do
		body=$(screening "$RUN-pgb$i" 3)
		post $S "$body" -H "Idempotency-Key: $RUN-pgb$i"
		[[ $STATUS == 201 ]] || fail "via PgBouncer $i: $STATUS"
	done
	first=$(cat "$TMP/out")
	post $S "$body" -H "Idempotency-Key: $RUN-pgb5"
	[[ $STATUS == 201 && $(cat "$TMP/out") == "$first" ]] &&
		grep -qi '^Idempotent-Replayed' "$TMP/hdr" ||
		fail "replay via PgBouncer: $STATUS $(cat "$TMP/out")"
	req GET "/v1/users/$RUN-pgb2/screenings" "" "${AUTH[@]}"
	[[ $STATUS == 200 && $(jq '.screenings | length' "$TMP/out") == 1 ]] ||
		fail "GET via PgBouncer: $STATUS"
	[[ $(sql "SELECT count(*) FROM screenings WHERE user_id LIKE
		'$RUN-pgb%'") == 5 ]] || fail "PgBouncer rows"
	wait_until 20 unsent || fail "outbox not relayed via PgBouncer"
	api_stop
	ok "through PgBouncer: stored, replayed, read, relayed"
else
	say "skip: SLUICE_PGBOUNCER_URL not set"
fi

# ---- 9. Kafka unreachable --------------------------------------------------

dead=127.0.0.1:1
api_start SLUICE_KAFKA_BOOTSTRAP_SERVERS=$dead
post $S "$(screening "$RUN-kdown" 2)"
[[ $STATUS == 201 ]] || fail "screening with Kafka down: $STATUS"
kept=$(jq -r .event_id "$TMP/out")
kafka_down_seen()
{
	curl -s "$API_URL/metrics" | grep -q '^sluice_api_kafka_brokers_down 1'
}
wait_until 10 kafka_down_seen || fail "brokers down not noticed"
start=$(now_ms)
post $J "{\"type\":\"opted_in\",\"user_id\":\"$RUN-kdown\"}"
[[ $STATUS == 503 ]] || fail "journey with Kafka down: $STATUS"
(($(now_ms) - start < 1000)) || fail "journey 503 took $(($(now_ms) - start)) ms"
grep -qi '^Retry-After' "$TMP/hdr" || fail "503 without Retry-After"
req GET /readyz ""
[[ $STATUS == 503 ]] || fail "readyz with Kafka down: $STATUS"
[[ $(sql "SELECT count(*) FROM outbox WHERE key = '$RUN-kdown'
	AND sent_at IS NULL") == 1 ]] || fail "kept event not in the outbox"
api_stop
api_start
relayed_once()
{
	[[ $(journey_records | cut -f2 | jq -r .event_id | grep -c "^$kept$") \
		== 1 ]]
}
wait_until 30 relayed_once || fail "kept event not relayed after Kafka came back"
wait_until 20 unsent || fail "kept event not marked sent"
sleep 2
relayed_once || fail "kept event relayed twice"
ok "Kafka down: screening kept and relayed once later; journey 503 fast"

# ---- 10. PostgreSQL unreachable --------------------------------------------

api_stop
api_start SLUICE_PG_URL=postgresql://postgres@127.0.0.1:1/sluice
start=$(now_ms)
post $S "$(screening "$RUN-pgdown" 2)"
[[ $STATUS == 503 ]] || fail "screening with PostgreSQL down: $STATUS"
req GET "/v1/users/$RUN-s1/screenings" "" "${AUTH[@]}"
[[ $STATUS == 503 ]] || fail "GET with PostgreSQL down: $STATUS"
(($(now_ms) - start < 1000)) || fail "503s took $(($(now_ms) - start)) ms"
req GET /readyz ""
[[ $STATUS == 503 ]] || fail "readyz with PostgreSQL down: $STATUS"
post $J "{\"type\":\"opted_in\",\"user_id\":\"$RUN-pgdown\"}"
[[ $STATUS == 202 ]] || fail "journey needs no database: $STATUS"
ok "PostgreSQL down: 503 within a second; journey still 202"

# ---- 11. SIGTERM -----------------------------------------------------------

api_stop
ok "SIGTERM: exit 0"
say "20_api: all checks passed"
