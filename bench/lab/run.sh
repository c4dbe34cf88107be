#!/bin/sh
# Trellis lab benchmarks. Run as root from anywhere:
#   bench/lab/run.sh                 # lab up 3 and 10 nodes (3 runs each), new node 5 times
#   RUNS=5 NODE_RUNS=10 bench/lab/run.sh
# Every lab is named trlbench* and taken down at the end (also on failure).
#
# Measures (internal/lab/bench_linux_test.go):
#   BenchmarkUp/nodes-N        `trellis lab up` to every agent ready, with the mean resident
#                              memory per node agent and of the datastore plus controller;
#   BenchmarkNewNodeFirstPod   in a 3-node BGP lab, a node added with `lab node add`: from
#                              creating its first pod to that pod answering TCP from every
#                              other node (target < 1 s);
#   BenchmarkMatrix100Pods     `lab matrix --compare` over 100 pods in one namespace on three
#                              nodes, 9,900 pairs mostly dropped by policy (target < 30 s).
set -eu
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_start lab "network namespaces, nftables"
go test -c -o "$out/lab.test" ./internal/lab/
cd internal/lab
"$out/lab.test" -test.run '^$' -test.bench '^BenchmarkUp$' -test.benchtime "${RUNS:-3}x" -test.timeout 30m 2>&1 |
	grep -v '^ *time=' | tee "$out/up.txt"
"$out/lab.test" -test.run '^$' -test.bench '^BenchmarkNewNodeFirstPod$' -test.benchtime "${NODE_RUNS:-5}x" -test.timeout 30m 2>&1 |
	grep -v '^ *time=' | tee "$out/node.txt"
"$out/lab.test" -test.run '^$' -test.bench '^BenchmarkMatrix100Pods$' -test.benchtime "${MATRIX_RUNS:-2}x" -test.timeout 30m 2>&1 |
	grep -v '^ *time=' | tee "$out/matrix.txt"
echo "== summary"
awk '/^Benchmark/ {
	line = $1 ":"
	for (i = 3; i < NF; i += 2) {
		v = $i; u = $(i+1)
		if (u == "ns/op") { v = sprintf("%.0f", v / 1e6); u = "ms" }
		line = line " " v " " u
	}
	print line
}' "$out/up.txt" "$out/node.txt" "$out/matrix.txt"
