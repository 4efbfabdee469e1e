#!/usr/bin/env bash
# api_bench.sh — the screening API under wrk (SPEC section 9: POST
# /v1/screenings >= 5,000 req/s with p99 <= 25 ms, PostgreSQL and Kafka on
# loopback), and POST /v1/journey.
#
#   tests/bench/api_bench.sh [screenings|journey]...   (default: both)
#
# Against the local services (scripts/services.sh start; they are started
# if needed): a fresh database (API_BENCH_DB, dropped and migrated again)
# on the services' PostgreSQL, a topic of its own on their Kafka
# (API_BENCH_TOPIC, created by migrate and reused between runs, so the
# benchmark's events stay out of user_journey), and a fresh `sluice api`
# with its default settings (any SLUICE_* in the environment applies).
# Per endpoint: a warm-up of API_BENCH_WARMUP seconds, then wrk with
# --latency for API_BENCH_SECONDS; the result line gives requests/s, p50,
# p99, the answers that were not 2xx, and the CPU seconds the API process,
# the PostgreSQL backends of the benchmark's database, the Kafka broker
# and wrk used per 1000 requests (the machine has two cores: what bounds
# the rate is whoever uses them).  For screenings it also checks that
# every 201 is a row and that the outbox drains.
#
# Environment (defaults):
#   API_BENCH_SECONDS=30  API_BENCH_WARMUP=5  API_BENCH_CONNECTIONS=64
#   API_BENCH_THREADS=2   API_BENCH_DB=sluice_api_bench
#   API_BENCH_TOPIC=sluice-api-bench   API_BENCH_PGBOUNCER=1 (through
#   PgBouncer instead of directly)   API_BENCH_DEBUG=1 (show the first
#   answers that are not 2xx)
# The summary goes to stdout, progress to stderr.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

SECS=${API_BENCH_SECONDS:-30}
WARMUP=${API_BENCH_WARMUP:-5}
CONNS=${API_BENCH_CONNECTIONS:-64}
THREADS=${API_BENCH_THREADS:-2}
DB=${API_BENCH_DB:-sluice_api_bench}
TOPIC=${API_BENCH_TOPIC:-sluice-api-bench}
SLUICE=${SLUICE_BIN:-$ROOT/sluice}
RUN=b$(date +%s)
TMP=$(mktemp -d /tmp/sluice-api-bench.XXXXXX)
API_PID=
export API_BENCH_TOKEN=bench-$RUN-$RANDOM$RANDOM API_BENCH_RUN=$RUN

command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
[[ -x $SLUICE ]] || die "no $SLUICE: run make first"

cleanup()
{
	sluice_api_stop 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

eval "$("$ROOT/scripts/services.sh" start)"
ADMIN_URL=${SLUICE_PG_URL%/*}/postgres
PG_URL=${SLUICE_PG_URL%/*}/$DB
API_PG_URL=$PG_URL
if [[ -n ${API_BENCH_PGBOUNCER:-} ]]; then
	API_PG_URL=${SLUICE_PGBOUNCER_URL%/*}/$DB
fi

# cpu_ticks PID...: user + system clock ticks of these processes so far.
cpu_ticks()
{
	local pid sum=0 stat f

	for pid in "$@"; do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		stat=${stat##*) }
		read -ra f <<<"$stat"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

# child_ticks: CPU ticks of this script's finished children (wrk).
child_ticks()
{
	local stat f

	stat=$(</proc/$$/stat)
	stat=${stat##*) }
	read -ra f <<<"$stat"
	echo $((f[13] + f[14]))
}

# backends: pids of the PostgreSQL backends serving the benchmark's db.
backends()
{
	psql -X -q -tA "$ADMIN_URL" -c "SELECT pid FROM pg_stat_activity
		WHERE datname = '$DB'" 2>/dev/null || true
}

kafka_pid()
{
	cat "$ROOT/.services/kafka/kafka.pid" 2>/dev/null || true
}

# ---- a fresh database, the topic, a fresh API ------------------------------

psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
	>/dev/null
SLUICE_PG_URL=$PG_URL SLUICE_API_JOURNEY_TOPIC=$TOPIC "$SLUICE" migrate \
	--no-clickhouse >"$TMP/migrate.log" 2>&1 ||
	die "migrate: $(cat "$TMP/migrate.log")"

sluice_api_start "$TMP/api.log" SLUICE_API_TOKEN="$API_BENCH_TOKEN" \
	SLUICE_PG_URL="$API_PG_URL" SLUICE_API_JOURNEY_TOPIC="$TOPIC" \
	SLUICE_LOG_LEVEL="${SLUICE_LOG_LEVEL:-info}" ||
	die "api did not start: $(cat "$TMP/api.log")"
API=${API_URL#http://}
ready()
{
	[[ $(curl -s -o /dev/null -w '%{http_code}' "http://$API/readyz") == 200 ]]
}
wait_until 20 ready || die "api not ready: $(tail -n 5 "$TMP/api.log")"
say "api: pid $API_PID on $API, database $DB${API_BENCH_PGBOUNCER:+ via PgBouncer}, topic $TOPIC"

# ---- one endpoint ----------------------------------------------------------

# wrk_run NAME SECONDS OUT: wrk on the endpoint NAME.
wrk_run()
{
	local path

	case $1 in
	screenings) path=/v1/screenings ;;
	journey) path=/v1/journey ;;
	esac
	[[ -f $ROOT/tests/bench/api_$1.lua ]] || die "no api_$1.lua"
	wrk -t"$THREADS" -c"$CONNS" -d"${2}s" --latency --timeout 10s \
		-s "$ROOT/tests/bench/api_$1.lua" "http://$API$path" >"$3" 2>&1 ||
		die "wrk failed: $(cat "$3")"
	[[ -z ${API_BENCH_DEBUG:-} ]] || cat "$3" >&2
}

# pct FILE P: the P% latency of wrk's distribution, in ms.
pct()
{
	awk -v p="$2%" '
		$1 == p {
			v = $2
			if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
			else if (v ~ /ms$/) { sub(/ms$/, "", v) }
			else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
			printf "%.1f", v
		}' "$1"
}

# per_k TICKS REQUESTS: CPU seconds per 1000 requests.
per_k()
{
	awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.3f", n ? t / hz / n * 1000 : 0 }'
}

bench()
{
	local name=$1 out=$TMP/$1.wrk rps p50 p99 n bad pg kafka
	local a0 p0 k0 w0 a1 p1 k1 w1 rows

	say "$name: warm-up ${WARMUP} s"
	wrk_run "$name" "$WARMUP" "$TMP/warmup.wrk"
	mapfile -t pg < <(backends)
	kafka=$(kafka_pid)
	a0=$(cpu_ticks "$API_PID")
	p0=$(cpu_ticks "${pg[@]}")
	k0=$(cpu_ticks $kafka)
	w0=$(child_ticks)
	rows=$(psql -X -q -tA "$PG_URL" -c "SELECT count(*) FROM screenings")

	say "$name: wrk -t$THREADS -c$CONNS -d${SECS}s"
	wrk_run "$name" "$SECS" "$out"
	a1=$(cpu_ticks "$API_PID")
	p1=$(cpu_ticks "${pg[@]}")
	k1=$(cpu_ticks $kafka)
	w1=$(child_ticks)

	rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
	n=$(awk '/requests in/ { print $1 }' "$out")
	bad=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$out")
	p50=$(pct "$out" 50)
	p99=$(pct "$out" 99)
	printf '%-11s %8s %8s %8s %8s %9s %9s %9s %9s\n' "$name" "$rps" \
		"$p50" "$p99" "${bad:-0}" "$(per_k $((a1 - a0)) "$n")" \
		"$(per_k $((p1 - p0)) "$n")" "$(per_k $((k1 - k0)) "$n")" \
		"$(per_k $((w1 - w0)) "$n")"
	grep -E 'Socket errors' "$out" >&2 || true
	if [[ -n $bad ]]; then
		say "WARNING: $bad answers were not 2xx (API_BENCH_DEBUG=1" \
			"shows some)"
		failed=1
	fi

	if [[ $name == screenings ]]; then
		check_rows "$rows" "$n" "${bad:-0}"
	fi
}

# check_rows BEFORE REQUESTS NON2XX: every 201 is a row; the outbox drains.
check_rows()
{
	local now want=$(($2 - $3)) t0

	now=$(psql -X -q -tA "$PG_URL" -c "SELECT count(*) FROM screenings")
	# wrk counts requests whose answer came; one in flight at the end
	# per connection may still have been stored.
	(((now - $1) >= want && (now - $1) <= want + CONNS)) ||
		say "WARNING: $((now - $1)) rows for $want answers 201"
	t0=$(now_ms)
	drained()
	{
		[[ $(psql -X -q -tA "$PG_URL" -c "SELECT count(*) FROM outbox
			WHERE sent_at IS NULL") == 0 ]]
	}
	wait_until 120 drained || say "WARNING: outbox not drained in 120 s"
	say "screenings: outbox drained $(($(now_ms) - t0)) ms after the run"
}

failed=0
names=("$@")
((${#names[@]} > 0)) || names=(screenings journey)
say "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
printf '%-11s %8s %8s %8s %8s %9s %9s %9s %9s\n' endpoint 'req/s' \
	'p50 ms' 'p99 ms' 'non-2xx' 'api cpu' 'pg cpu' 'kafka cpu' 'wrk cpu'
for name in "${names[@]}"; do
	case $name in
	screenings | journey) bench "$name" ;;
	*) die "unknown endpoint $name (screenings or journey)" ;;
	esac
done
say "(cpu: CPU seconds per 1000 requests; load average now" \
	"$(cut -d' ' -f1-3 /proc/loadavg))"
exit $failed
