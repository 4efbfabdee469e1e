#!/usr/bin/env bash
# summary.sh — the campaign summary, from ClickHouse and Kafka.
#
#   scripts/summary.sh [--json] [--prefix USER_PREFIX] [--date YYYY-MM-DD]
#
# People who started and who were screened, opt-outs, pin codes and
# districts reached and the average score come from ClickHouse's
# deduplicated view of the journey events (journey_events_dedup) over
# HTTP; reminders come from the send_reminder topic (kcat).
#
#   --prefix P   count only users whose user_id starts with P (the
#                generator's users of one run: "u-<seed>-")
#   --date D     count only reminders for local date D (default: all)
#   --since MS   read send_reminder from the first record stamped at or
#                after MS (Unix milliseconds; default: the beginning)
#   --json       print one JSON object instead of the table
#
# Environment: SLUICE_CLICKHOUSE_URL (http://127.0.0.1:8123),
# SLUICE_CLICKHOUSE_DATABASE (default), SLUICE_KAFKA_BOOTSTRAP_SERVERS
# (127.0.0.1:9092).  Exit 1 when ClickHouse or Kafka cannot be read.
#
# Districts are distinct (district, state) pairs, NA and empty left out.
# In --json, reminder_records counts every send_reminder record of the
# users, reminders_emitted the distinct reminder ids, and
# users_reminded_twice the users with more than one record.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CH_URL=${SLUICE_CLICKHOUSE_URL:-http://127.0.0.1:8123}
CH_DB=${SLUICE_CLICKHOUSE_DATABASE:-default}
KAFKA=${SLUICE_KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}
VIEW=journey_events_dedup
json=0 prefix= date= since=

usage()
{
	sed -n '2,20s/^# \{0,1\}//p' "$0"
}

while (($#)); do
	case $1 in
	--json) json=1 ;;
	--prefix) prefix=${2:?--prefix needs a value}; shift ;;
	--date) date=${2:?--date needs a value}; shift ;;
	--since) since=${2:?--since needs a value}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

[[ $prefix =~ ^[A-Za-z0-9:._-]*$ ]] ||
	die "--prefix: letters, digits and :._- only"
[[ -z $date || $date =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] ||
	die "--date: YYYY-MM-DD"
[[ -z $since || $since =~ ^[0-9]+$ ]] ||
	die "--since: Unix milliseconds"

# ch_query SQL: run SQL on ClickHouse, print the answer.
ch_query()
{
	local params="database=$CH_DB&output_format_json_quote_64bit_integers=0"

	curl -sS --fail-with-body --max-time 60 --data-binary "$1" \
		"$CH_URL/?$params" || die "ClickHouse query failed at $CH_URL"
}

# The ClickHouse side: one row of JSON.
clickhouse_numbers()
{
	local where=1
	local people="type IN ('screening_started', 'screening_completed')"

	if [[ -n $prefix ]]; then
		where="substring(user_id, 1, ${#prefix}) = '$prefix'"
	fi
	ch_query "SELECT
	  uniqExactIf(user_id, type = 'screening_started') AS users_started,
	  uniqExactIf(user_id, type = 'screening_completed') AS users_completed,
	  uniqExactIf(user_id, type = 'opted_out') AS users_opted_out,
	  uniqExactIf(pincode, $people AND pincode != '') AS distinct_pincodes,
	  uniqExactIf(district, state, $people
	              AND district NOT IN ('', 'NA')) AS distinct_districts,
	  if(countIf(type = 'screening_completed') = 0, 0,
	     avgIf(score, type = 'screening_completed')) AS avg_score,
	  count() AS events,
	  countIf(type = 'screening_started') AS screening_started,
	  countIf(type = 'screening_step') AS screening_step,
	  countIf(type = 'screening_completed') AS screening_completed,
	  countIf(type = 'opted_out') AS opted_out,
	  countIf(type = 'opted_in') AS opted_in,
	  countIf(type = 'reminder_sent') AS reminder_sent,
	  countIf(type = 'reminder_failed') AS reminder_failed
	FROM $VIEW WHERE $where
	FORMAT JSONEachRow"
}

# The Kafka side: records on send_reminder for our users (and date), the
# distinct reminder ids among them, and users who got more than one.
reminder_numbers()
{
	local values err

	err=$(mktemp)
	if ! values=$(kcat -b "$KAFKA" -C -t send_reminder \
		-o "${since:+s@}${since:-beginning}" -e -q \
		-f '%s\n' 2>"$err"); then
		say "$(head -c 300 "$err")"
		rm -f "$err"
		die "cannot read send_reminder from $KAFKA"
	fi
	rm -f "$err"
	# grep first (a superset: the prefix anywhere), jq decides.
	printf '%s\n' "$values" | { grep -F -- "$prefix" || true; } |
		jq -R -s -c --arg p "$prefix" --arg d "$date" '
		[split("\n")[] | select(length > 0) | (fromjson? // empty)
		 | select(.user_id != null and (.user_id | startswith($p)))
		 | select($d == "" or ((.date // .local_date // "") == $d))]
		| { reminder_records: length,
		    reminders_emitted: (map(.reminder_id) | unique | length),
		    reminder_users: (map(.user_id) | unique | length),
		    users_reminded_twice: (group_by(.user_id)
			| map(select(length > 1)) | length) }'
}

main()
{
	local ch rem all

	ch=$(clickhouse_numbers)
	[[ -n $ch ]] || die "ClickHouse returned nothing from $VIEW"
	rem=$(reminder_numbers)
	all=$(jq -c -n --argjson ch "$ch" --argjson rem "$rem" \
		--arg p "$prefix" --arg d "$date" '
		{ prefix: $p, date: $d } + $ch + $rem
		| .avg_score = ((.avg_score * 100 | round) / 100)')
	if ((json)); then
		printf '%s\n' "$all"
		return
	fi
	jq -r '
		def row(k; v): "  \(k)\(" " * (28 - (k | length)))\(v)";
		"Campaign summary" +
		  (if .date != "" then " for \(.date)" else "" end) +
		  (if .prefix != "" then " (users \(.prefix)*)" else "" end),
		row("people who started"; .users_started),
		row("people screened"; .users_completed),
		row("opted out"; .users_opted_out),
		row("pin codes reached"; .distinct_pincodes),
		row("districts reached"; .distinct_districts),
		row("reminders emitted"; .reminders_emitted),
		row("reminders sent"; .reminder_sent),
		row("average score"; .avg_score),
		row("journey events"; .events)' <<<"$all"
}

main
