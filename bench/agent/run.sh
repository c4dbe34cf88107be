#!/bin/sh
# Trellis node agent benchmark: apply-to-enforced latency. Run as root from anywhere:
#   bench/agent/run.sh                               # 1k policies, 10k endpoints, 50 flips
#   FLIPS=200 POLICIES=2000 ENDPOINTS=20000 bench/agent/run.sh
# Everything happens in throwaway network namespaces named trl-* and a temporary embedded
# etcd, all removed at the end.
#
# Measures (BenchmarkApplyToEnforced in internal/agent/bench_linux_test.go): POLICIES
# namespaced policies and ENDPOINTS workload endpoints in an embedded etcd store, 100 of
# them local to the agent's node (two are real veth pods); the agent runs in-process with
# nft in the "host" namespace. Each flip writes a policy that opens a UDP flow the client
# sends a datagram on every millisecond; the latency is from the store write to the first
# echo. Reported: p50/p99/max over FLIPS flips (target p99 < 100 ms), the first full sync
# and the mean full/partial sync durations.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_start agent "namespaces, veths, nftables"
go test -c -o "$out/agent.test" ./internal/agent/
cd internal/agent
echo "== apply-to-enforced latency (${POLICIES:-1000} policies, ${ENDPOINTS:-10000} endpoints, 100 local, ${FLIPS:-50} flips)"
TRELLIS_BENCH_POLICIES="${POLICIES:-1000}" TRELLIS_BENCH_ENDPOINTS="${ENDPOINTS:-10000}" TRELLIS_BENCH_FLIPS="${FLIPS:-50}" \
	"$out/agent.test" -test.run '^$' -test.bench 'ApplyToEnforced' -test.benchtime 1x -test.v -test.timeout 30m 2>&1 |
	grep -v '^time=' | tee "$out/latency.txt"
echo "== summary"
awk '/^BenchmarkApplyToEnforced.*p50-ms/ {
	for (i = 4; i < NF; i++) {
		if ($(i+1) == "p50-ms") p50 = $i
		if ($(i+1) == "p99-ms") p99 = $i
		if ($(i+1) == "max-ms") mx = $i
	}
	printf "apply-to-enforced p50 %s ms  p99 %s ms  max %s ms  (target p99 < 100 ms)\n", p50, p99, mx
}' "$out/latency.txt"
