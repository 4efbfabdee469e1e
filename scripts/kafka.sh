#!/usr/bin/env bash
# kafka.sh — fetch the Apache Kafka broker (kafka_2.13, KAFKA_VERSION) and its
# runtime dependencies from Maven Central into .cache/kafka/<version>/libs,
# driven by tools/kafka/pom.xml.  Idempotent: a marker file says the copy is
# complete, and then this prints nothing and does nothing.
#
#   scripts/kafka.sh          fetch if missing
#   scripts/kafka.sh libs     fetch if missing, then print the libs folder
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KAFKA_VERSION=4.4.0
dest=$SLUICE_ROOT/.cache/kafka/$KAFKA_VERSION
marker=$dest/.complete

fetch()
{
	local tmp=$dest/libs.tmp log=$dest/mvn.log

	mkdir -p "$dest"
	rm -rf "$tmp"
	command -v mvn >/dev/null 2>&1 || die "kafka: mvn missing (run make deps)"
	say "kafka: fetching Apache Kafka $KAFKA_VERSION from Maven Central"
	if ! mvn -B -q -f "$SLUICE_ROOT/tools/kafka/pom.xml" \
		-Dkafka.version="$KAFKA_VERSION" \
		-DoutputDirectory="$tmp" \
		dependency:copy-dependencies >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		die "kafka: maven could not fetch the broker (log: $log)"
	fi
	[[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] ||
		die "kafka: kafka_2.13-$KAFKA_VERSION.jar missing after fetch"

	rm -rf "$dest/libs"
	mv "$tmp" "$dest/libs"
	date -u +%FT%TZ >"$marker"
	say "kafka: $(ls "$dest/libs" | wc -l) jars in $dest/libs"
}

if [[ ! -f $marker ]]; then
	# Two scripts may ask at once (make deps in parallel checkouts of
	# the same folder); one fetches, the other waits for it.
	mkdir -p "$dest"
	exec 9>"$dest/.lock"
	flock 9
	[[ -f $marker ]] || fetch
	exec 9>&-
fi

if [[ ${1:-} == libs ]]; then
	echo "$dest/libs"
fi
