#!/bin/sh
# Fan-out of one policy write to N node agents, on the Kubernetes API datastore and on
# Trellis's embedded etcd (internal/store/kube BenchmarkFanout): N simulated agents in one
# process, each with its own client, a watch of every kind the calculation reads and the
# incremental calculation of its node; per op one GlobalNetworkPolicy is written and the
# time until each agent's state holds it is measured (p50/p99 over agents and ops), with
# the API server's CPU seconds per write and resident memory. Needs `make kube`.
#   bench/fanout/run.sh            AGENTS=100,500 RUNS=20 bench/fanout/run.sh
set -eu
cd "$(dirname "$0")/../.."
TRELLIS_FANOUT_AGENTS=${AGENTS:-100,500} go test -count=1 -run '^$' -bench '^BenchmarkFanout$' \
	-benchtime "${RUNS:-20}x" -timeout 30m ./internal/store/kube/ | grep -E '^(Benchmark|ok|FAIL)'
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
