#!/usr/bin/env bash
# test.sh — run Sluice's tests, each in its own process with a timeout.
#
#   scripts/test.sh [--unit-only] [UNIT_TEST_BINARY...]
#
# 1. Every unit test binary given (timeout 120 s each); one under build/san/
#    (the sanitizer build) is named unit-asan-ubsan/NAME.
# 2. Unless --unit-only: start the services (scripts/services.sh start),
#    then every tests/integration/*.sh in name order (timeout 600 s each),
#    from the repository root, with the services' SLUICE_* exports and
#    SLUICE_BIN=<root>/sluice in the environment.  An executable test runs
#    as itself, any other with bash.
#
# One line per test: PASS or FAIL, its name, its seconds.  A failing test's
# last 40 lines of output follow it; every test's full output is kept in
# .cache/test-logs/.  The last line is exactly `N passed, N failed`; the
# exit status is 1 if any failed.
#
# Services this run started are stopped at the end (as is the 3-broker
# cluster if a test left it running); services that were already running
# are left alone.  SLUICE_KEEP_SERVICES=1 keeps everything running.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

UNIT_TIMEOUT=${SLUICE_UNIT_TIMEOUT:-120}
INTEGRATION_TIMEOUT=${SLUICE_INTEGRATION_TIMEOUT:-600}
LOGS=$SLUICE_ROOT/.cache/test-logs

unit_only=0
if [[ ${1:-} == --unit-only ]]; then
	unit_only=1
	shift
fi

passed=0
failed=0
failures=()

# run_one NAME TIMEOUT CMD...: run one test, report and count it.
run_one()
{
	local name=$1 limit=$2 log start end secs rc

	shift 2
	log=$LOGS/${name//\//_}.log
	start=$(now_ms)
	timeout -k 10 "$limit" "$@" </dev/null >"$log" 2>&1
	rc=$?
	end=$(now_ms)
	secs=$(printf '%d.%03d' $(((end - start) / 1000)) \
		$(((end - start) % 1000)))

	if ((rc == 0)); then
		printf 'PASS %s %ss\n' "$name" "$secs"
		passed=$((passed + 1))
		return
	fi
	if ((rc == 124 || rc == 137)); then
		printf 'FAIL %s %ss (timeout after %ss)\n' "$name" "$secs" \
			"$limit"
	else
		printf 'FAIL %s %ss (exit %d)\n' "$name" "$secs" "$rc"
	fi
	failed=$((failed + 1))
	failures+=("$name")
	echo "----- last 40 lines of $name (full: $log)"
	tail -n 40 "$log"
	echo "-----"
}

cd "$SLUICE_ROOT" || die "no repository root"
mkdir -p "$LOGS"

# 1. Unit tests.
for bin in "$@"; do
	if [[ $bin == */san/* ]]; then
		run_one "unit-asan-ubsan/$(basename "$bin")" "$UNIT_TIMEOUT" \
			"$bin"
	else
		run_one "unit/$(basename "$bin")" "$UNIT_TIMEOUT" "$bin"
	fi
done

# 2. Integration tests on the real services.
if ((!unit_only)); then
	shopt -s nullglob
	tests=(tests/integration/*.sh)
	shopt -u nullglob

	services_were_up=0
	cluster_was_up=0
	if scripts/services.sh status >/dev/null 2>&1; then
		services_were_up=1
	fi
	if port_open 19192 || port_open 19292 || port_open 19392; then
		cluster_was_up=1
	fi

	if ((${#tests[@]} > 0)); then
		start=$(now_ms)
		if exports=$(scripts/services.sh start 2>"$LOGS/services.log")
		then
			eval "$exports"
			export SLUICE_BIN=$SLUICE_ROOT/sluice
			for t in "${tests[@]}"; do
				if [[ -x $t ]]; then
					run_one "$t" "$INTEGRATION_TIMEOUT" "./$t"
				else
					run_one "$t" "$INTEGRATION_TIMEOUT" \
						bash "$t"
				fi
			done
		else
			printf 'FAIL services %ss (could not start)\n' \
				$((($(now_ms) - start) / 1000))
			tail -n 40 "$LOGS/services.log"
			failed=$((failed + 1))
			failures+=(services)
		fi
	fi

	# Leave the services as they were found (quietly, before the
	# closing line).
	if [[ ${SLUICE_KEEP_SERVICES:-0} != 1 ]]; then
		if ((!cluster_was_up)); then
			scripts/services.sh stop-cluster >>"$LOGS/services.log" 2>&1
		fi
		if ((!services_were_up && ${#tests[@]} > 0)); then
			scripts/services.sh stop >>"$LOGS/services.log" 2>&1
		fi
	fi
fi

if ((failed > 0)); then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
