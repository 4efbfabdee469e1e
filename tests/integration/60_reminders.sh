#!/usr/bin/env bash
# 60_reminders.sh — the 7 PM reminders on the real broker (issue 4, SPEC
# section 4): `sluice worker --topologies journey` with a virtual clock
# (clock.start in +05:30, clock.speed), journey events produced with
# kcat, send_reminder read back and checked record by record.
#
#  1. A user who starts at 10:00 IST gets exactly one reminder, emitted at
#     or after 19:00 IST and not at start-up; restarts at 18:59 and 19:01
#     change nothing; a user idle for less than reminder.min_idle is not
#     reminded.
#  2. Worker down 18:00-20:00: the reminder goes at 20:00.  Down until
#     22:00: the day is skipped and logged.  Down for three days: one
#     reminder per user and day afterwards, no missed day replayed.
#  3. A new application 300k records from user_journey's end (>= 200k
#     behind at 19:00) first catches up, then reminds every eligible user
#     whose start was in the topic before 19:00, and none who completed.
#  4. Completing or opting out before 19:00 cancels; completing after the
#     first reminder stops the next; reminder.max_per_user=2 holds over
#     four days; after reminder.give_up_after=2d the user leaves the
#     store (admin /state answers 404) and gets nothing more.
#  5. kill -9 of the worker on its first "reminders due" and, restarted,
#     on its first "reminders emitted" (50k users due), restarted again:
#     every user reminded for the date, none missing; exactly once under
#     exactly_once (read committed); under at_least_once duplicates are
#     counted, not failed (the sender deduplicates on reminder_id).
#  Live events during the 19:00 ticks are timed (scenario 1); a stall over
#  2.5 s fails (REM_STRICT=0 only reports it).
#
# Every run uses fresh application ids, user ids "<run id>-<scenario>-..."
# and its own dates, far in the future (2100-2174) and 30 days apart per
# scenario: other tests' workers (real clock, or the e2e's 2031-2039) see
# these users as not yet idle and never remind them, and each scenario's
# worker sees the other scenarios' users as future or long given up.
# Scenarios 1 to 4 run in parallel, then 5.
#
# REM_ONLY="1 3" runs some scenarios only; REM_KEEP=1 keeps the run
# directory (worker logs, also kept on failure) and the run's topics
# (otherwise deleted at the end: tests/integration/reminders/*.c).
# Exit 0 on success; otherwise the first failed check is named.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$SLUICE_ROOT"

B=${SLUICE_KAFKA_BOOTSTRAP_SERVERS:?export the services first \
(eval "\$(scripts/services.sh start)")}
BIN=${SLUICE_BIN:-$SLUICE_ROOT/sluice}
RUN=$(mktemp -d /tmp/sluice-rem.XXXXXX)
ID=rem$(date +%s%N | cut -c1-13)
# Records of this run carry later Kafka timestamps: read from here.
T0=$(($(now_ms) - 2000))
BASE=$(date -u -d "2100-01-01 + $(((RANDOM << 15 | RANDOM) % 27000)) days" +%F)
SC=main

cleanup()
{
	local rc=$? f

	for f in "$RUN"/*.pid; do
		[[ -e $f ]] || continue
		pid_alive "$f" && kill -9 "$(<"$f")" 2>/dev/null
	done
	# The run's changelog, dead-letter and registry topics ("$ID-...").
	if [[ ${REM_KEEP:-0} != 1 && -x $RUN/delete_topics ]]; then
		"$RUN/delete_topics" "$B" "$ID-" >/dev/null ||
			say "could not delete the topics $ID-*"
	fi
	if [[ ${REM_KEEP:-0} == 1 || $rc != 0 ]]; then
		say "run directory kept: $RUN"
	else
		rm -rf "$RUN"
	fi
}
trap cleanup EXIT

fail()
{
	say "FAIL [$SC]: $*"
	exit 1
}

ok()
{
	say "ok [$SC]: $*"
}

# ---- time ---------------------------------------------------------------

# day N: the date N days after this run's base date.
day()
{
	date -u -d "$BASE + $1 days" +%F
}

# ist DATE HH:MM[:SS]: that local time in India as RFC 3339.
ist()
{
	local t=$2

	[[ ${#t} == 5 ]] && t=$t:00
	echo "${1}T$t+05:30"
}

# ms INSTANT: milliseconds since the epoch.
ms()
{
	date -d "$1" +%s%3N
}

# vnow RUN: what the virtual clock of worker run RUN reads now, in ms.
vnow()
{
	local real clock speed

	read -r real clock speed <"$RUN/$1.clock"
	echo $((clock + ($(now_ms) - real) * speed))
}

# vshow RUN: the same, readable (IST).
vshow()
{
	TZ=Asia/Kolkata date -d "@$(($(vnow "$1") / 1000))" '+%F %T IST'
}

# sleep_until_v RUN INSTANT: sleep until RUN's virtual clock reads INSTANT.
sleep_until_v()
{
	local real clock speed left

	read -r real clock speed <"$RUN/$1.clock"
	left=$((($(ms "$2") - $(vnow "$1")) / speed))
	if ((left > 0)); then
		sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
	fi
}

# ---- events -------------------------------------------------------------

PHONE_SEQ=0

# ev FILE TYPE USER AT [EXTRA_JSON_FIELDS]: append one journey event to
# FILE as "key<TAB>value".  Starts and completions get phone, lang and
# pin code; completions a screening id and score.
ev()
{
	local f=$1 type=$2 user=$3 at=$4 extra=${5:-}

	case $type in
	screening_started | screening_completed)
		PHONE_SEQ=$((PHONE_SEQ + 1))
		extra+=$(printf ',"phone":"+9197%08d","lang":"hi"' "$PHONE_SEQ")
		extra+=',"pincode":"110001","channel":"qr"'
		;;
	esac
	[[ $type == screening_completed ]] &&
		extra+=",\"screening_id\":\"sc-$user\",\"score\":3"
	printf '%s\t{"event_id":"%s","type":"%s","user_id":"%s",%s%s}\n' \
		"$user" "$user-$type-$(ms "$at")" "$type" "$user" \
		"\"occurred_at\":\"$at\"" "$extra" >>"$f"
}

# produce FILE: every event of FILE to user_journey, keyed by user id with
# the Java client's partitioner (murmur2), as the worker hashes keys.
produce()
{
	kcat -b "$B" -P -t user_journey -K '\t' \
		-X partitioner=murmur2_random <"$1" ||
		fail "cannot produce $1 to user_journey"
}

# journey_ends FILE [-2]: "partition end" of user_journey, one line each
# (with -2: "partition start").
journey_ends()
{
	local n args=()

	n=$(kcat -b "$B" -L -t user_journey | grep -c 'partition [0-9]*,')
	for ((p = 0; p < n; p++)); do
		args+=(-t "user_journey:$p:${2:--1}")
	done
	# "user_journey [P] offset O" lines
	kcat -b "$B" -Q "${args[@]}" | tr -d '[]' |
		awk '$1 == "user_journey" && $3 == "offset" { print $2, $4 }' \
			>"$1"
	[[ $(wc -l <"$1") == "$n" ]] || fail "cannot read user_journey ends"
}

# ---- send_reminder ------------------------------------------------------

# reminders PREFIX [committed]: "reminder_id local_date emitted_at" for
# every send_reminder record of a user id starting with PREFIX since this
# run started, sorted; with `committed`, as a read_committed consumer.
reminders()
{
	local iso=()

	[[ ${2:-} == committed ]] && iso=(-X isolation.level=read_committed)
	kcat -b "$B" -C -t send_reminder -o "s@$T0" -e -q -f '%s\n' \
		"${iso[@]}" >"$RUN/$SC.sr" || fail "cannot read send_reminder"
	{ grep -F "\"user_id\":\"$1" "$RUN/$SC.sr" || true; } |
		jq -r --arg p "$1" 'select(.user_id | startswith($p))
			| "\(.reminder_id) \(.local_date) \(.emitted_at)"' |
		sort
}

# ids PREFIX: the reminder ids of PREFIX's users, one line, sorted.
ids()
{
	reminders "$1" | awk '{ print $1 }' | paste -sd' '
}

# expect_ids PREFIX WANT...: the reminder ids are exactly WANT.
expect_ids()
{
	local prefix=$1 got want all

	shift
	got=$(ids "$prefix")
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | paste -sd' ')
	[[ $got == "$want" ]] ||
		fail "reminders of $prefix*: got [$got], want [$want]"
	read -ra all <<<"$got"
	if ((${#all[@]} > 6)); then
		got="${all[*]:0:5} ... (${#all[@]} in all)"
	fi
	ok "reminders of $prefix*: [${got:-none}]"
}

# has_id PREFIX ID: true once ID is on send_reminder.
has_id()
{
	reminders "$1" | awk -v id="$2" '$1 == id { f = 1 } END { exit !f }'
}

# ---- workers ------------------------------------------------------------

# fresh_app APP: the new application APP's journey group starts at
# user_journey's current end (tests/integration/reminders/group_at_end.c),
# so its workers read what the scenario produces next, not the shared
# topic's history (a new application id reads it all by default).
fresh_app()
{
	local out

	out=$("$RUN/group_at_end" "$B" "$1-journey" user_journey) ||
		fail "cannot set the offsets of $1-journey"
	ok "$1 starts at the end of user_journey ($out)"
}

# start RUN APP CLOCK SPEED [KEY=VALUE...]: a journey worker of
# application APP (state in $RUN/APP) with its clock at CLOCK running
# SPEED times real time; log in $RUN/RUN.log, admin port in $RUN/RUN.port.
start()
{
	local run=$1 app=$2 clock=$3 speed=$4 port

	shift 4
	port=$(first_free_port "$PORT_BASE")
	mkdir -p "$RUN/$app"
	echo "$port" >"$RUN/$run.port"
	echo "$(now_ms) $(ms "$clock") $speed" >"$RUN/$run.clock"
	spawn "$RUN/$run.pid" "$RUN/$run.log" env \
		SLUICE_APPLICATION_ID="$app" \
		SLUICE_STATE_DIR="$RUN/$app/state" \
		SLUICE_DRY_RUN_DIR="$RUN/$app/dry-run" \
		SLUICE_ADMIN_LISTEN="127.0.0.1:$port" \
		SLUICE_CLOCK_START="$clock" SLUICE_CLOCK_SPEED="$speed" \
		"$@" "$BIN" worker --topologies journey
	wait_until 30 ready "$run" ||
		fail "worker $run not ready: $(tail -3 "$RUN/$run.log")"
}

ready()
{
	pid_alive "$RUN/$1.pid" ||
		fail "worker $1 died: $(tail -3 "$RUN/$1.log")"
	[[ $(curl -s -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$(<"$RUN/$1.port")/readyz") == 200 ]]
}

# stop RUN: SIGTERM, wait for the clean exit.
stop()
{
	stop_pid "$1" "$RUN/$1.pid" 30
}

# caught_up RUN ENDS: every partition's position >= its end in ENDS.
caught_up()
{
	local tasks

	tasks=$(curl -s "http://127.0.0.1:$(<"$RUN/$1.port")/tasks") ||
		return 1
	jq -e -n --argjson t "$tasks" --rawfile e "$2" '
		[$e | split("\n")[] | select(length > 0) | split(" ")
		 | map(tonumber)] as $ends
		| all($ends[]; . as [$p, $hi]
			| any($t[]; .partition == $p and .state == "running"
				and .position >= $hi))' >/dev/null
}

# wait_caught_up RUN SECONDS: the worker has read everything produced so
# far (the positions it publishes at each commit).
wait_caught_up()
{
	journey_ends "$RUN/$1.ends"
	wait_until "$2" caught_up "$1" "$RUN/$1.ends" ||
		fail "worker $1 did not catch up with user_journey in $2 s"
}

# state RUN USER: "<http code> <body>" of /state/journey/USER.
state()
{
	local body code

	body=$(curl -s -w '\n%{http_code}' \
		"http://127.0.0.1:$(<"$RUN/$1.port")/state/journey/$2")
	code=${body##*$'\n'}
	echo "$code ${body%$'\n'*}"
}

# state_is RUN USER CODE: /state/journey/USER answers CODE.
state_is()
{
	[[ $(state "$1" "$2") == "$3 "* ]]
}

# expect_state RUN USER CODE [JQ_TEST]: /state/journey/USER answers CODE
# (and its body passes JQ_TEST) within 15 s: the admin API reads what the
# worker has committed, up to a commit behind what it has sent.
expect_state()
{
	local got limit=$(($(now_ms) + 15000))

	while :; do
		got=$(state "$1" "$2")
		if [[ ${got%% *} == "$3" ]] && { [[ -z ${4:-} ]] ||
			jq -e "$4" <<<"${got#* }" >/dev/null 2>&1; }; then
			break
		fi
		(($(now_ms) < limit)) ||
			fail "/state/journey/$2: $got; want $3 ${4:-}"
		sleep 0.2
	done
	if [[ $3 != 200 ]]; then
		ok "/state/journey/$2: $3"
		return
	fi
	ok "/state/journey/$2: 200 $(jq -c '{reminders_sent,
		last_reminder_date, step, opted_out}' <<<"${got#* }")"
}

# log_count RUN REGEX: lines of RUN's log matching REGEX.
log_count()
{
	grep -c -E "$2" "$RUN/$1.log" || true
}

# live_probe RUN USER AT: when RUN logs its first "reminders due", a
# screening_started of USER (at AT) goes to user_journey; the seconds until
# the admin API shows USER are printed.  Over 2.5 s is a stall of live
# events by the emission (SPEC section 3): it fails the run (REM_STRICT=0
# only reports it).
live_probe()
{
	local f=$RUN/$1.live t0 t1 secs

	ev "$f" screening_started "$2" "$3"
	wait_until 60 grep -q 'reminders due' "$RUN/$1.log" ||
		fail "run $1 logged no 'reminders due' in 60 s"
	t0=$(now_ms)
	produce "$f"
	wait_until 30 state_is "$1" "$2" 200 ||
		fail "live event for $2 not processed in 30 s"
	t1=$(now_ms)
	secs=$(printf '%d.%03d' $(((t1 - t0) / 1000)) $(((t1 - t0) % 1000)))
	if ((t1 - t0 <= 2500)); then
		ok "live event during the emission processed in $secs s"
	elif [[ ${REM_STRICT:-1} == 1 ]]; then
		fail "live event during the emission took $secs s (> 2.5 s)"
	else
		# REM_STRICT=0: report only (partition ends are now asked
		# through the producer, so the 19:00 stall is gone).
		say "KNOWN ISSUE [$SC]: live event during the emission took" \
			"$secs s (> 2.5 s): the 19:00 ticks stall the app"
	fi
}

# ---- 1: one reminder at 19:00, restarts change nothing -----------------

s1()
{
	local d app=$ID-s1 u=$ID-s1- f=$RUN/s1.events rec at

	SC=1
	PORT_BASE=18700
	d=$(day 0)
	fresh_app "$app"
	ev "$f" screening_started "${u}a" "$(ist "$d" 10:00)"
	ev "$f" screening_step "${u}a" "$(ist "$d" 10:05)" ',"step":1'
	# Idle 30 minutes at 19:00: below reminder.min_idle (1 h).
	ev "$f" screening_started "${u}late" "$(ist "$d" 18:30)"
	produce "$f"

	# A: up from 18:30 (real speed) until it holds both users, stopped.
	start s1a "$app" "$(ist "$d" 18:30)" 1
	wait_caught_up s1a 150
	expect_state s1a "${u}a" 200 '.reminders_sent == 0 and .step == 1'
	(($(vnow s1a) < $(ms "$(ist "$d" 18:58)"))) ||
		fail "run A reached $(vshow s1a) before it caught up"
	at=$(vshow s1a)
	stop s1a
	expect_ids "$u"
	ok "run A (18:30 to $at): no reminder"

	# B: restart at 18:59:50 at real speed: one reminder, at 19:00, none
	# at start-up; a user starting while the reminders go out is tracked
	# at once (live events keep flowing during the emission).
	start s1b "$app" "$(ist "$d" 18:59:50)" 1
	live_probe s1b "${u}live" "$(ist "$d" 19:00)"
	wait_until 30 has_id "$u" "${u}a:$d" ||
		fail "no reminder ${u}a:$d by $(vshow s1b)"
	expect_state s1b "${u}a" 200 \
		".reminders_sent == 1 and .last_reminder_date == \"$d\""
	stop s1b
	rec=$(reminders "$u")
	at=$(awk '{ print $3 }' <<<"$rec")
	(($(ms "$at") >= $(ms "$(ist "$d" 19:00)"))) ||
		fail "reminder emitted at $at, before 19:00 IST"
	(($(ms "$at") < $(ms "$(ist "$d" 19:01)"))) ||
		fail "reminder emitted at $at, over a minute after 19:00 IST"
	ok "run B (18:59:50, speed 1): $rec"
	expect_ids "$u" "${u}a:$d"

	# C: restart at 19:01, ten minutes of ticks: nothing more.
	start s1c "$app" "$(ist "$d" 19:01)" 60
	sleep_until_v s1c "$(ist "$d" 19:11)"
	expect_state s1c "${u}a" 200 '.reminders_sent == 1'
	expect_state s1c "${u}late" 200 '.reminders_sent == 0'
	expect_state s1c "${u}live" 200 '.reminders_sent == 0'
	stop s1c
	expect_ids "$u" "${u}a:$d"
	[[ $(log_count s1b "reminders due date=$d") -ge 1 &&
		$(log_count s1c "reminders due date=$d") == 0 ]] ||
		fail "run C scanned $d again (or run B never did)"
	ok "run C (19:01 to 19:11): no second scan, no second reminder"
}

# ---- 2: a worker that was down -------------------------------------------

# parts RUN REGEX: how many partitions logged a line matching REGEX.
parts()
{
	{ grep -E "$2" "$RUN/$1.log" || true; } |
		{ grep -o 'partition=[0-9]*' || true; } | sort -u | wc -l
}

# all_parts RUN REGEX: every partition of user_journey logged REGEX.
all_parts()
{
	(($(parts "$1" "$2") == NPART))
}

s2()
{
	local d0 d1 d4 d5 app=$ID-s2 u=$ID-s2- f=$RUN/s2.events at

	SC=2
	PORT_BASE=18720
	d0=$(day 30)
	d1=$(day 31)
	d4=$(day 34)
	d5=$(day 35)
	fresh_app "$app"
	ev "$f" screening_started "${u}a" "$(ist "$d0" 10:00)"
	ev "$f" screening_started "${u}b" "$(ist "$d1" 10:00)"
	produce "$f"

	# Up until 17:5x, holding both users; down 18:00-20:00.
	start s2a "$app" "$(ist "$d0" 17:30)" 1
	wait_caught_up s2a 150
	(($(vnow s2a) < $(ms "$(ist "$d0" 17:58)"))) ||
		fail "run A reached $(vshow s2a) before it caught up"
	stop s2a
	start s2b "$app" "$(ist "$d0" 20:00)" 60
	wait_until 60 all_parts s2b "reminders emitted date=$d0" ||
		fail "run B: not every partition emitted $d0 by $(vshow s2b)"
	stop s2b
	at=$(reminders "$u" | awk '{ print $3 }')
	(($(ms "$at") >= $(ms "$(ist "$d0" 20:00)") &&
		$(ms "$at") < $(ms "$(ist "$d0" 20:30)"))) ||
		fail "the 20:00 catch-up reminder was emitted at $at"
	ok "down 18:00-20:00: reminder emitted at $at"
	# b's start lies in the future: not idle, not reminded.
	expect_ids "$u" "${u}a:$d0"

	# Down until 22:00 the next day: skipped, and logged per partition.
	start s2c "$app" "$(ist "$d1" 22:00)" 60
	wait_until 60 all_parts s2c "skipping the day date=$d1" ||
		fail "run C: the day $d1 was not skipped on every partition"
	sleep 2
	stop s2c
	ok "down until 22:00: $(grep -m1 "skipping the day" "$RUN/s2c.log" |
		sed 's/.*reminders: //')"
	(($(log_count s2c "reminders (due|emitted)") == 0)) ||
		fail "run C scanned after 21:00"
	expect_ids "$u" "${u}a:$d0"

	# Down three days, up at 20:00 on the fourth, one more day at 1 h/s:
	# one reminder per user and day from then on, no missed day replayed.
	start s2d "$app" "$(ist "$d4" 20:00)" 3600
	sleep_until_v s2d "$(ist "$d5" 20:30)"
	wait_until 30 all_parts s2d "reminders emitted date=$d5" ||
		fail "run D: not every partition emitted $d5"
	stop s2d
	expect_ids "$u" "${u}a:$d0" "${u}a:$d4" "${u}a:$d5" "${u}b:$d4" \
		"${u}b:$d5"
}

# ---- 3: 200k records behind at 19:00 ---------------------------------------

BACKLOG=${REM_BACKLOG:-200000}

s3()
{
	local d app=$ID-s3 u=$ID-s3- f=$RUN/s3.events have need t1 lag
	local unread out want

	SC=3
	PORT_BASE=18780
	d=$(day 60)

	# The backlog: BACKLOG + 100k records (the worker reads some before
	# its first tick) of user_journey before the evening's users.  The
	# topic's history serves (the new application starts that far from
	# its end); a short history is topped up with steps of users who
	# never started (valid events the journey ignores).
	journey_ends "$RUN/s3.lo" -2
	journey_ends "$RUN/s3.hi"
	have=$(awk 'NR == FNR { lo[$1] = $2; next } { s += $2 - lo[$1] }
		END { print s + 0 }' "$RUN/s3.lo" "$RUN/s3.hi")
	need=$((BACKLOG + 100000 - have))
	if ((need > 0)); then
		awk -v n="$need" -v p="${u}bl" -v at="$(ist "$d" 09:00)" '
		BEGIN { for (i = 0; i < n; i++)
			printf "%s%d\t{\"event_id\":\"%s%d-s\",\"type\":" \
			"\"screening_step\",\"user_id\":\"%s%d\"," \
			"\"occurred_at\":\"%s\",\"step\":1}\n",
			p, i % 5000, p, i, p, i % 5000, at }' >"$RUN/s3.bl"
		produce "$RUN/s3.bl"
	fi
	ok "backlog: $have records on user_journey, $((need > 0 ? need : 0))" \
		"added"
	out=$("$RUN/group_at_end" "$B" "$app-journey" user_journey \
		$((BACKLOG + 100000))) || fail "cannot set the offsets of $app"
	ok "$app starts $out"

	# Then the evening's users: 120 to remind, 60 who completed at
	# 18:00 and 20 who started at 18:30 (idle < 1 h): none of these 80.
	t1=$(now_ms)
	for i in $(seq 120); do
		ev "$f" screening_started "${u}e$i" "$(ist "$d" 10:00)"
	done
	for i in $(seq 60); do
		ev "$f" screening_started "${u}c$i" "$(ist "$d" 10:00)"
	done
	for i in $(seq 20); do
		ev "$f" screening_started "${u}x$i" "$(ist "$d" 18:30)"
	done
	for i in $(seq 60); do
		ev "$f" screening_completed "${u}c$i" "$(ist "$d" 18:00)"
	done
	produce "$f"
	kcat -b "$B" -C -t user_journey -o "s@$t1" -e -q -f '%k %p %o\n' |
		awk -v p="${u}e" 'index($1, p) == 1 { print $2, $3 }' \
		>"$RUN/s3.starts"
	[[ $(wc -l <"$RUN/s3.starts") == 120 ]] ||
		fail "cannot find the 120 starts on user_journey"

	# A fresh worker, its clock a second before 19:00.
	start s3a "$app" "$(ist "$d" 18:59:59)" 60
	wait_until 120 all_parts s3a "reminders emitted date=$d" ||
		fail "not every partition emitted $d by $(vshow s3a)"
	stop s3a

	# "reminders due ... catch_up_to=END position=POS" per partition.
	grep "reminders due date=$d " "$RUN/s3a.log" | tr '=' ' ' |
		awk '{ for (i = 1; i < NF; i++) v[$i] = $(i + 1)
		       print v["partition"], v["catch_up_to"],
			     v["position"] }' |
		sort -n >"$RUN/s3.due"
	[[ $(wc -l <"$RUN/s3.due") == "$NPART" ]] ||
		fail "$(wc -l <"$RUN/s3.due") 'due' lines, want $NPART"
	lag=$(awk '{ s += $2 - $3 } END { print s }' "$RUN/s3.due")
	((lag >= BACKLOG)) ||
		fail "only $lag records behind at 19:00 (want >= $BACKLOG)"
	awk 'NR == FNR { end[$1] = $2; pos[$1] = $3; next }
	     $2 >= end[$1] { bad++ }
	     $2 >= pos[$1] { unread++ }
	     END { print unread + 0, bad + 0 }' \
		"$RUN/s3.due" "$RUN/s3.starts" >"$RUN/s3.unread"
	read -r unread bad <"$RUN/s3.unread"
	((bad == 0)) || fail "$bad starts lie past the catch-up target"
	((unread > 0)) || fail "every start was read before 19:00: no lag"
	ok "at 19:00 the worker was $lag records behind; $unread of the" \
		"120 starts not yet read"
	mapfile -t want < <(for i in $(seq 120); do echo "${u}e$i:$d"; done)
	expect_ids "$u" "${want[@]}"
}

# ---- 4: cancelling, max_per_user, give_up_after ---------------------------

s4()
{
	local d app=$ID-s4 u=$ID-s4- f=$RUN/s4.events f2=$RUN/s4.late

	SC=4
	PORT_BASE=18740
	d=$(day 90)
	fresh_app "$app"
	for x in keep "done" opt optin late; do
		ev "$f" screening_started "$u$x" "$(ist "$d" 10:00)"
	done
	ev "$f" screening_completed "${u}done" "$(ist "$d" 15:00)"
	ev "$f" opted_out "${u}opt" "$(ist "$d" 12:00)"
	ev "$f" opted_out "${u}optin" "$(ist "$d" 11:00)"
	ev "$f" opted_in "${u}optin" "$(ist "$d" 12:00)"
	produce "$f"

	start s4a "$app" "$(ist "$d" 11:00)" 60 SLUICE_REMINDER_MAX_PER_USER=2
	wait_caught_up s4a 150
	expect_state s4a "${u}done" 404
	expect_state s4a "${u}opt" 200 '.opted_out == true'
	expect_state s4a "${u}optin" 200 '.opted_out == false'
	stop s4a

	# Four evenings at 1 h/s; "late" completes the day after its first.
	start s4b "$app" "$(ist "$d" 12:00)" 3600 \
		SLUICE_REMINDER_MAX_PER_USER=2
	wait_until 60 has_id "$u" "${u}late:$d" ||
		fail "no reminder ${u}late:$d by $(vshow s4b)"
	ev "$f2" screening_completed "${u}late" "$(ist "$(day 91)" 12:00)"
	produce "$f2"
	ok "${u}late completes at $(vshow s4b) (virtual)"
	sleep_until_v s4b "$(ist "$(day 93)" 19:30)"
	wait_until 60 all_parts s4b "reminders emitted date=$(day 93)" ||
		fail "run B: not every partition emitted $(day 93)"
	expect_state s4b "${u}keep" 200 '.reminders_sent == 2'
	expect_state s4b "${u}late" 404
	stop s4b
	expect_ids "$u" "${u}keep:$d" "${u}keep:$(day 91)" \
		"${u}optin:$d" "${u}optin:$(day 91)" "${u}late:$d"
}

s4g()
{
	local d app=$ID-s4g u=$ID-s4g- f=$RUN/s4g.events f2=$RUN/s4g.step

	SC=4g
	PORT_BASE=18760
	d=$(day 120)
	fresh_app "$app"
	ev "$f" screening_started "${u}a" "$(ist "$d" 10:00)"
	ev "$f" screening_started "${u}b" "$(ist "$d" 10:00)"
	produce "$f"

	start s4ga "$app" "$(ist "$d" 11:00)" 60 \
		SLUICE_REMINDER_GIVE_UP_AFTER=2d
	wait_caught_up s4ga 150
	expect_state s4ga "${u}a" 200 '.reminders_sent == 0'
	stop s4ga

	# a is idle from day 0 10:00: reminded days 0 and 1, dropped at
	# day 2 19:00 (57 h > 48 h).  b's step on day 1 keeps it: days 0,
	# 1, 2 (max 3), dropped on day 3.
	start s4gb "$app" "$(ist "$d" 12:00)" 3600 \
		SLUICE_REMINDER_GIVE_UP_AFTER=2d
	wait_until 60 has_id "$u" "${u}b:$d" ||
		fail "no reminder ${u}b:$d by $(vshow s4gb)"
	ev "$f2" screening_step "${u}b" "$(ist "$(day 121)" 12:00)" \
		',"step":2'
	produce "$f2"
	wait_until 60 has_id "$u" "${u}b:$(day 122)" ||
		fail "no reminder ${u}b:$(day 122) by $(vshow s4gb)"
	wait_until 20 state_is s4gb "${u}a" 404 ||
		fail "${u}a still in the store at $(vshow s4gb)"
	expect_state s4gb "${u}a" 404
	expect_state s4gb "${u}b" 200 '.reminders_sent == 3 and .step == 2'
	sleep_until_v s4gb "$(ist "$(day 123)" 19:30)"
	wait_until 60 all_parts s4gb "reminders emitted date=$(day 123)" ||
		fail "run B: not every partition emitted $(day 123)"
	wait_until 20 state_is s4gb "${u}b" 404 ||
		fail "${u}b still in the store at $(vshow s4gb)"
	expect_state s4gb "${u}b" 404
	stop s4gb
	expect_ids "$u" "${u}a:$d" "${u}a:$(day 121)" "${u}b:$d" \
		"${u}b:$(day 121)" "${u}b:$(day 122)"
}

# ---- 5: kill -9 during the emission ---------------------------------------

USERS5=${REM_USERS:-50000}

# count5 PREFIX DATE [committed]: distinct reminder ids on send_reminder
# for PREFIX's users and DATE.
count5()
{
	local iso=()

	[[ ${3:-} == committed ]] && iso=(-X isolation.level=read_committed)
	kcat -b "$B" -C -t send_reminder -o "s@$T0" -e -q -f '%s\n' \
		"${iso[@]}" | { grep -F "\"user_id\":\"$1" || true; } |
		{ grep -o "\"reminder_id\":\"[^\"]*:$2\"" || true; } |
		sort -u | wc -l
}

# kill_on RUN REGEX: kill -9 RUN as soon as its log has REGEX (polled
# every 20 ms); prints the virtual time it died at (RFC 3339).
kill_on()
{
	local limit=$(($(now_ms) + 120000)) pid

	until grep -qE "$2" "$RUN/$1.log"; do
		(($(now_ms) < limit)) || fail "run $1 never logged '$2'"
		pid_alive "$RUN/$1.pid" || fail "run $1 died on its own"
		sleep 0.02
	done
	pid=$(<"$RUN/$1.pid")
	kill -9 "$pid"
	wait_until 10 eval "! pid_alive '$RUN/$1.pid'" ||
		fail "run $1 survived kill -9"
	rm -f "$RUN/$1.pid"
	date -u -d "@$(($(vnow "$1") / 1000))" +%FT%TZ
}

# s5_mode MODE GUARANTEE DATE: a fresh worker of GUARANTEE reads
# user_journey at 17:00 (real speed) and stops; restarted at 18:59:30
# (speed 60), it is killed with -9 on its first "reminders due" line;
# restarted, it is killed again on its first "reminders emitted" line
# (one partition's scan done, the others' ending, their reminders and
# changelog writes partly delivered or committed); restarted again, it
# must end with each of the users reminded exactly once for DATE.
s5_mode()
{
	local m=$1 g=$2 d=$3 app=$ID-s5-$1 u=$ID-s5- at n rd=
	local env=(SLUICE_PROCESSING_GUARANTEE="$g"
		SLUICE_GROUP_INSTANCE_ID="$ID-s5-$1-w")

	[[ $g == exactly_once ]] && rd=committed
	start "s5$m-0" "$app" "$(ist "$d" 17:00)" 1 "${env[@]}"
	wait_caught_up "s5$m-0" 120
	stop "s5$m-0"
	start "s5$m-1" "$app" "$(ist "$d" 18:59:30)" 60 "${env[@]}"
	at=$(kill_on "s5$m-1" "reminders due date=$d")
	n=$(count5 "$u" "$d" ${rd:+"$rd"})
	ok "$g: killed at its first 'reminders due' ($at virtual)," \
		"$n reminders out"
	start "s5$m-2" "$app" "$at" 60 "${env[@]}"
	at=$(kill_on "s5$m-2" "reminders emitted date=$d")
	n=$(count5 "$u" "$d" ${rd:+"$rd"})
	ok "$g: killed at its first 'reminders emitted' ($at virtual," \
		"$(parts "s5$m-2" "reminders emitted date=$d") partitions" \
		"done), $n reminders out"
	start "s5$m-3" "$app" "$at" 60 "${env[@]}"
	wait_until 90 eval "(( \$(count5 '$u' '$d' $rd) >= USERS5 ))" ||
		fail "$g: $(count5 "$u" "$d" ${rd:+"$rd"}) of $USERS5" \
			"reminded for $d"
	sleep 3 # time for a duplicate to show
	stop "s5$m-3"

	# Exactly the users, each once (reminder_id <user>:<date>).
	reminders "$u" ${rd:+"$rd"} | awk -v d="$d" '$2 == d { print $1 }' |
		sort | uniq -c | awk -v n="$USERS5" -v u="$u" -v d="$d" '
		$1 > 1 { dup++ }
		{ seen[$2] = 1 }
		END {
			for (i = 0; i < n; i++)
				if (!((u i ":" d) in seen)) miss++
			extra = length(seen) - (n - miss)
			printf "%d %d %d %d\n", length(seen), dup, miss, extra
		}' >"$RUN/s5$m.tally"
	read -r n dup miss extra <"$RUN/s5$m.tally"
	((miss == 0 && extra == 0)) ||
		fail "$g: $n ids for $d: $miss missing, $extra unexpected"
	if [[ $g == exactly_once ]]; then
		((dup == 0)) || fail "$g: $dup users reminded twice for $d"
		ok "$g: after two kills -9, each of the $USERS5 users" \
			"reminded exactly once for $d"
	else
		# A kill between a slice's delivery and the commit of its
		# users' records resends that slice: at least once, and the
		# WhatsApp sender deduplicates on reminder_id.
		ok "$g: after two kills -9, each of the $USERS5 users" \
			"reminded for $d, $dup of them twice"
	fi
}

s5()
{
	local d u=$ID-s5-

	SC=5
	PORT_BASE=18800
	d=$(day 150)
	fresh_app "$ID-s5-eos"
	fresh_app "$ID-s5-alos"
	awk -v n="$USERS5" -v p="$u" -v at="$(ist "$d" 10:00)" '
	BEGIN { for (i = 0; i < n; i++)
		printf "%s%d\t{\"event_id\":\"%s%d-s\",\"type\":" \
		"\"screening_started\",\"user_id\":\"%s%d\"," \
		"\"occurred_at\":\"%s\",\"phone\":\"+9196%08d\"," \
		"\"lang\":\"ta\",\"pincode\":\"600001\"}\n",
		p, i, p, i, p, i, at, i }' >"$RUN/s5.events"
	produce "$RUN/s5.events"
	ok "$USERS5 users started at 10:00 on $d"
	s5_mode eos exactly_once "$d"
	# The same users, one day later, for a worker of its own.
	s5_mode alos at_least_once "$(day 151)"
}

# ---- running ------------------------------------------------------------

# group S...: run scenarios S in parallel, each output shown when it ends;
# on a failure, the others are stopped and the run fails.
group()
{
	local s pids=() names=() i rc t0

	for s in "$@"; do
		[[ " ${REM_ONLY:-1 2 3 4 5} " == *" ${s:1:1} "* ]] || continue
		"$s" >"$RUN/$s.out" 2>&1 &
		pids+=($!)
		names+=("$s")
	done
	t0=$(now_ms)
	for i in "${!pids[@]}"; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		cat "$RUN/${names[$i]}.out" >&2
		say "scenario ${names[$i]#s}: done after" \
			"$((($(now_ms) - t0 + 500) / 1000)) s"
		if ((rc != 0)); then
			for s in "${pids[@]}"; do
				kill "$s" 2>/dev/null || true
			done
			die "scenario ${names[$i]#s} failed, status $rc" \
				"(logs: $RUN; for a failure with no FAIL" \
				"line: REM_ONLY=${names[$i]:1:1} bash -x)"
		fi
	done
}

main()
{
	local t tool rdk

	read -ra rdk <<<"$(pkg-config --cflags --libs rdkafka)"
	for tool in group_at_end delete_topics; do
		cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror \
			-o "$RUN/$tool" \
			"$SLUICE_ROOT/tests/integration/reminders/$tool.c" \
			"${rdk[@]}" ||
			die "cannot build tests/integration/reminders/$tool.c"
	done
	NPART=$(kcat -b "$B" -L -t user_journey | grep -c 'partition [0-9]*,')
	((NPART > 0)) || die "user_journey has no partitions"
	t=$(now_ms)
	say "run $ID: dates from $BASE, send_reminder from $T0"
	group s1 s2 s3 s4 s4g
	group s5
	say "PASS: reminders ($(((($(now_ms) - t) + 500) / 1000)) s, run $ID)"
}

main
