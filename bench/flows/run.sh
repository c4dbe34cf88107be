#!/bin/sh
# Trellis flow-log benchmarks: the node agent's collector and the flow aggregator, in one
# process (no root, no kernel state). From anywhere:
#   bench/flows/run.sh                            # 20 intervals, 3 floods, 400 pushes
#   LIVE=50x FLOODS=5x PUSHES=2000x bench/flows/run.sh
#
# Measures:
#   - BenchmarkLiveFlows (internal/flow/collect/bench_test.go): a collector with the
#     dictionary of 200 local pods under five policies per namespace, 10,000 live allowed
#     connections over 2,000 flow keys (each waiting for its conntrack counters) and one
#     conntrack dump of them: the heap it keeps after a forced GC (MiB, per live flow,
#     split into the connections waiting for counters and the aggregator's keys), the
#     time of one Observe and of one dump of 10k entries. prefix=merged: the packets
#     carry a merged run's prefix, so every Observe traces the packet through the state;
#   - BenchmarkConnFlood (same file): 1,000,000 allowed connections from distinct
#     addresses into a collector with the default bounds: the heap kept after 100k and
#     after 1M (bounded), the observations dropped, Observe's cost over the first and
#     the last 100k packets;
#   - BenchmarkAggregatorPush (internal/flow/bench_test.go): Handler over a Store on a
#     local HTTP server, 10 agents pushing 500 flows per push concurrently and one
#     follower: flows/s accepted, the share the follower received, what it missed (the
#     store drops for a slow subscriber by design).
# The machine's load changes the times, not the memory: the load average is printed.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_scratch flows
go test -c -o "$out/collect.test" ./internal/flow/collect/
go test -c -o "$out/flow.test" ./internal/flow/
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== collector: 10k live flows (${LIVE:-20x})"
(cd internal/flow/collect && "$out/collect.test" -test.run '^$' -test.bench '^BenchmarkLiveFlows$' \
	-test.benchtime "${LIVE:-20x}" -test.timeout 30m) | grep '^Benchmark' | tee "$out/live.txt"
echo "== collector: connection flood of 1M (${FLOODS:-3x})"
(cd internal/flow/collect && "$out/collect.test" -test.run '^$' -test.bench '^BenchmarkConnFlood$' \
	-test.benchtime "${FLOODS:-3x}" -test.timeout 30m) | grep '^Benchmark' | tee "$out/flood.txt"
echo "== aggregator: 10 agents pushing, one follower (${PUSHES:-400x} pushes of 500 flows)"
(cd internal/flow && "$out/flow.test" -test.run '^$' -test.bench '^BenchmarkAggregatorPush$' \
	-test.benchtime "${PUSHES:-400x}" -test.timeout 30m) | grep '^Benchmark' | tee "$out/push.txt"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== summary"
awk '
/^Benchmark/ {
	split("", m)
	for (i = 3; i < NF; i += 2) m[$(i+1)] = $i
	name = $1; sub(/-[0-9]+$/, "", name)
}
/^BenchmarkLiveFlows\// {
	sub(/^BenchmarkLiveFlows\//, "", name)
	printf "live flows %-14s 10k conns / 2k keys: %6.2f MiB, %4.0f bytes per live flow (%4.0f per waiting conn + %4.0f per key, shared by 5); Observe %6.0f ns; Counters of 10k %6.1f ms; dictionary %.2f MiB\n",
		name ":", m["MiB"], m["bytes-per-live-flow"], m["conn-bytes"], m["key-bytes"], m["observe-ns"], m["counters-ms"], m["dict-MiB"]
}
/^BenchmarkConnFlood/ {
	printf "flood of 1M conns:         %6.2f MiB kept (%.2f MiB after 100k); dropped %d flows, %d conns; Observe %.0f ns/pkt first 100k, %.0f last 100k, %.0f overall\n",
		m["MiB"], m["MiB-at-100k"], m["dropped-flows"], m["dropped-conns"], m["first-ns"], m["last-ns"], m["ns-per-pkt"]
}
/^BenchmarkAggregatorPush/ {
	printf "aggregator, 10 agents:     %.0f flows/s pushed (500 per push, %.1f ms per push); follower received %.1f%%, missed %d\n",
		m["flows/s"], m["ns/op"] / 1e6, m["followed-%"], m["missed"]
}' "$out/live.txt" "$out/flood.txt" "$out/push.txt"
