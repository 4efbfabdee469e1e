#!/usr/bin/env bash
# 25_fuzz.sh — a little fuzzing on every `make test`: each libFuzzer harness
# of tests/fuzz/ (ev_parse, the API's request bodies, the config file
# parser) for FUZZ_SECONDS (default 20) under ASan and UBSan, starting from
# the corpus earlier runs left in .cache/fuzz/corpus/.  Needs no services.
# Fails on any crash, leak, sanitizer report or timeout; the finding is in
# .cache/fuzz/artifacts/ and tests/fuzz/run.sh prints how to replay it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

FUZZ_SECONDS=${FUZZ_SECONDS:-20} exec "$ROOT/tests/fuzz/run.sh"
