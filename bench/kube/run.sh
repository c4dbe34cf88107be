#!/bin/sh
# Kubernetes-mode lab benchmarks (a real control plane, containerd and a kubelet per node,
# Trellis from its manifests). Run as root after `make kube`:
#   bench/kube/run.sh                # lab up (3 runs), pod start-up (20 pods each), scale 0->100 (2 runs)
#   RUNS=5 PODS=50 SCALE_RUNS=3 bench/kube/run.sh
# Every lab is named kbench* and taken down at the end (also on failure).
#
# Measures (internal/lab/kube_bench_linux_test.go):
#   BenchmarkKubeUp           `trellis lab up --kubernetes --nodes 3` to every node Ready and
#                             every Trellis pod ready;
#   BenchmarkKubePodStartup   pod created -> Running with an address, one pod at a time on one
#                             node: first with Debian's bridge plugin (the baseline, a
#                             conflist that sorts first), then with Trellis's CNI plugin;
#                             p50/p99 of each and the ratio of the p50s;
#   BenchmarkKubeScale100     a Deployment scaled 0 -> 100 on three nodes, to every pod Running
#                             and answering TCP from a client pod.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_start kube "kube-apiserver, kubelet, containerd"
go test -c -o "$out/lab.test" ./internal/lab/
cd internal/lab
"$out/lab.test" -test.run '^$' -test.bench '^BenchmarkKubeUp$' -test.benchtime "${RUNS:-3}x" -test.timeout 30m 2>&1 |
	grep -v '^ *time=' | tee "$out/up.txt"
"$out/lab.test" -test.run '^$' -test.bench '^BenchmarkKubePodStartup$' -test.benchtime "${PODS:-20}x" -test.timeout 30m 2>&1 |
	grep -v '^ *time=' | tee "$out/pods.txt"
"$out/lab.test" -test.run '^$' -test.bench '^BenchmarkKubeScale100$' -test.benchtime "${SCALE_RUNS:-2}x" -test.timeout 30m 2>&1 |
	grep -v '^ *time=' | tee "$out/scale.txt"
echo "== summary"
awk '/^Benchmark/ {
	line = $1 ":"
	for (i = 3; i < NF; i += 2) {
		v = $i; u = $(i+1)
		if (u == "ns/op") { v = sprintf("%.0f", v / 1e6); u = "ms" }
		line = line " " v " " u
	}
	print line
}' "$out/up.txt" "$out/pods.txt" "$out/scale.txt"
