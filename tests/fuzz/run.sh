#!/usr/bin/env bash
# run.sh — build the libFuzzer harnesses of tests/fuzz/ with clang and run
# each for a bounded time; exit 1 if any finds a crash, leak, sanitizer
# report or timeout.
#
#   tests/fuzz/run.sh [NAME...]      NAME: event, api_body, config (default all)
#
# Environment:
#   FUZZ_SECONDS=30    seconds per harness
#   FUZZ_ARGS=...      more libFuzzer flags (e.g. -only_ascii=1)
#   CLANG=clang        the compiler
#
# Each harness (fuzz_NAME.c) is built with its own command line below, not
# the Makefile's (whose compiler is gcc): clang with
# -fsanitize=fuzzer,address,undefined and the few sources it needs, so the
# code under test carries coverage instrumentation.  The seed corpus is
# tests/fuzz/corpus/NAME/ (kept in git), with the dictionary json.dict or
# config.dict; what a run learns goes to
# .cache/fuzz/corpus/NAME/ and is the starting point of the next run.
# A finding is written to .cache/fuzz/artifacts/NAME-crash-<sha1> (or
# leak-, timeout-, oom-) and the script prints the command that replays it.
# It needs no services.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

SECONDS_EACH=${FUZZ_SECONDS:-30}
CLANG=${CLANG:-clang}
OUT=$ROOT/.cache/fuzz
ALL=(event api_body config)

say()
{
	printf '%s\n' "$*" >&2
}

command -v "$CLANG" >/dev/null || {
	say "fuzz: $CLANG not found (apt-get install clang libclang-rt-14-dev)"
	exit 1
}

# Sources each harness links, besides itself.
sources()
{
	case $1 in
	event) echo topologies/event.c processor/timeutil.c processor/err.c ;;
	api_body) echo api/request.c api/util.c processor/config.c \
		topologies/event.c processor/log.c \
		processor/timeutil.c processor/err.c ;;
	config) echo processor/config.c processor/log.c \
		processor/timeutil.c processor/err.c ;;
	*) return 1 ;;
	esac
}

# build NAME: $OUT/bin/fuzz_NAME.
build()
{
	local name=$1 srcs

	srcs=$(sources "$name") || {
		say "fuzz: no harness named $name (one of: ${ALL[*]})"
		return 1
	}
	mkdir -p "$OUT/bin"
	# shellcheck disable=SC2046,SC2086
	"$CLANG" -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all \
		-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral \
		-I. $(pkg-config --cflags libcjson openssl) \
		-o "$OUT/bin/fuzz_$name" "tests/fuzz/fuzz_$name.c" $srcs \
		$(pkg-config --libs libcjson openssl) -lm
}

# fuzz NAME: run it for SECONDS_EACH; 0 when nothing was found.
fuzz()
{
	local name=$1 log=$OUT/logs/$1.log rc=0 dict=() more=() art

	mkdir -p "$OUT/corpus/$name" "$OUT/artifacts" "$OUT/logs"
	case $name in
	event | api_body) dict=(-dict=tests/fuzz/json.dict) ;;
	config) dict=(-dict=tests/fuzz/config.dict) ;;
	esac
	read -ra more <<<"${FUZZ_ARGS:-}"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$OUT/bin/fuzz_$name" -max_total_time="$SECONDS_EACH" \
		-timeout=10 -rss_limit_mb=2048 -max_len=16384 \
		-print_final_stats=1 "${dict[@]}" \
		-artifact_prefix="$OUT/artifacts/$name-" \
		"${more[@]}" \
		"$OUT/corpus/$name" "tests/fuzz/corpus/$name" \
		>"$log" 2>&1 || rc=$?

	if ((rc != 0)); then
		say "FAIL fuzz_$name (exit $rc); log $log:"
		grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" |
			head -n 20 >&2 || true
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" |
			tail -n 1)
		[[ -n $art ]] &&
			say "replay: $OUT/bin/fuzz_$name $art"
		return 1
	fi
	say "ok   fuzz_$name: $(stats "$log")"
}

# stats LOG: executions, rate and coverage of a finished run.
stats()
{
	local runs rate cov

	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1" |
		awk '{s += $1} END {print s + 0}')
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$1" |
		awk '{s += $1} END {print s + 0}')
	cov=$(grep -Eo 'cov: [0-9]+' "$1" | tail -n 1 | cut -d' ' -f2)
	echo "${runs} runs in ${SECONDS_EACH} s (${rate}/s), coverage ${cov:-?}"
}

names=("$@")
((${#names[@]} > 0)) || names=("${ALL[@]}")
failed=0
for n in "${names[@]}"; do
	build "$n" || exit 1
done
for n in "${names[@]}"; do
	fuzz "$n" || failed=$((failed + 1))
done
if ((failed > 0)); then
	say "fuzz: $failed of ${#names[@]} harnesses found a problem"
	exit 1
fi
say "fuzz: ${#names[@]} harnesses, ${SECONDS_EACH} s each, nothing found"
