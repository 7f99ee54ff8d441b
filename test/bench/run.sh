#!/bin/sh
# Reproduces the figures of BENCHMARKS.md (see test/bench/doc.go).
# Arguments are passed to the runner, e.g. test/bench/run.sh -only dns.
set -eu
cd "$(dirname "$0")/../.."
if ! command -v dnsperf >/dev/null 2>&1; then
	echo "note: dnsperf not found; the DNS q/s figure will be skipped (apt-get install dnsperf)" >&2
fi
exec go run ./test/bench "$@"
