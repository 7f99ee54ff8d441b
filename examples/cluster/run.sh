#!/usr/bin/env bash
# Starts a 3-agent Murmur cluster on loopback, shows its members, and stops
# the agents on Ctrl-C (or at once with: ./run.sh --once).
set -euo pipefail
cd "$(dirname "$0")"
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$bin"' EXIT
echo "building agentd and agentctl into $bin"
(cd ../.. && go build -o "$bin" ./cmd/agentd ./cmd/agentctl)
mkdir -p data logs
for i in 1 2 3; do
	"$bin/agentd" -config "node$i.toml" >"logs/node$i.log" 2>&1 &
	echo "started node$i (log: examples/cluster/logs/node$i.log)"
done
# Wait until node1 sees all three as alive.
"$bin/agentctl" -http-addr 127.0.0.1:7947 wait -members 3 -timeout 2m >/dev/null
"$bin/agentctl" -http-addr 127.0.0.1:7947 members
echo
echo "try:  $bin/agentctl -http-addr 127.0.0.1:7957 members -json"
[ "${1:-}" = "--once" ] && exit 0
echo "Ctrl-C stops the cluster"
wait
