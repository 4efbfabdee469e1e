#!/usr/bin/env bash
# bench.sh — `make bench`.
# TODO: the benchmarks of SPEC section 9 (journey throughput against a
# Kafka Streams peer, restore rate, 7 PM emission, API with wrk) are not
# written yet (issues 3-6); until then this says so and fails.
echo "make bench: no benchmarks yet; see docs/KNOWN_LIMITATIONS.md" >&2
exit 1
