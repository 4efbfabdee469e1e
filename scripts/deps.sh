#!/usr/bin/env bash
# deps.sh — install what Sluice needs on Debian 12, then fetch the Kafka
# broker.  Idempotent, and silent when nothing is missing: `apt-get update`
# runs only when a package must be installed.  Needs root (or sudo) only
# then.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Build: libraries and tools.  Services: PostgreSQL, PgBouncer, ClickHouse;
# Java for the Kafka broker.  Tests: clang's sanitizer runtimes, valgrind,
# wrk; kcat for scripts; clang-format for `make check`.
packages=(
	build-essential pkg-config
	librdkafka-dev liblmdb-dev lmdb-utils libpq-dev libcjson-dev
	libcurl4-openssl-dev libmicrohttpd-dev libssl-dev libcmocka-dev
	kcat postgresql pgbouncer clickhouse-server clickhouse-client
	clang libclang-rt-14-dev clang-format valgrind wrk tzdata curl jq
)

# Java and Maven only when the machine has none of its own.
command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || packages+=(maven)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} > 0)); then
	sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 ||
			die "not root and no sudo; install: ${missing[*]}"
		sudo=(sudo)
	fi
	say "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq >&2
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >&2
fi

exec "$SLUICE_ROOT/scripts/kafka.sh"
