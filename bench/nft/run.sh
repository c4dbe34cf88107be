#!/bin/sh
# Trellis nftables dataplane benchmark. Run as root from anywhere:
#   bench/nft/run.sh                 # sync at 1k/10k policies, then connection rates
#   CONNS=50000x bench/nft/run.sh    # more connections per connection-rate run
#   RUNS=3 bench/nft/run.sh          # repeat the connection-rate runs, report medians
#   SYNCS=0 bench/nft/run.sh         # connection rates only
#   SYNCS=0 CASES=table=trellis-cnp bench/nft/run.sh   # only the ClusterNetworkPolicy rates
# Everything happens in throwaway network namespaces named trl-*, removed at the end.
#
# Measures (Go benchmarks in internal/dataplane/nft/bench_linux_test.go):
#   - full and partial sync time and transaction size (ops/tx) at 1k and 10k policies,
#     100 local endpoints, one selector set of ten addresses per policy; full syncs with
#     and without a change, proved unchanged by the nftables generation or (-listed)
#     listing the kernel's table;
#   - new TCP connections per second between two pod namespaces through the host
#     namespace: no table; a table holding only the conntrack rules (the fixed cost of
#     any stateful dataplane); the Trellis table with 0/100/1k/10k policies selecting the
#     destination (the client is allowed by a policy after all of them), with allow-only
#     runs merged into one set lookup (default) and without (table=trellis-nomerge); and
#     an equivalent linear ruleset (one rule per policy in one chain); the Trellis table
#     with 0/100/1k ClusterNetworkPolicies (70% Admin, 30% Baseline) selecting the
#     destination, computed by the policy engine (table=trellis-cnp). Every run is
#     paired with an identical topology without a table, measured in alternating slices,
#     so the ratio is robust to the load of a shared machine; the summary shows the
#     median over RUNS runs.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_start nft "namespaces, veths, nftables"
go test -c -o "$out/nft.test" ./internal/dataplane/nft/
cd internal/dataplane/nft
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${SYNCS:-3x}" != 0 ]; then
	echo "== sync (time per sync, ops/tx = operations in the nft transaction)"
	"$out/nft.test" -test.run '^$' -test.bench 'KernelSync' -test.benchtime "${SYNCS:-3x}" | tee "$out/sync.txt"
else
	: >"$out/sync.txt"
fi
echo "== TCP connection rate"
"$out/nft.test" -test.run '^$' -test.bench "KernelConnRate/${CASES:-}" -test.benchtime "${CONNS:-20000x}" -test.count "${RUNS:-1}" | tee "$out/conn.txt"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== summary (connection rates: median over ${RUNS:-1} run(s))"
awk '
function median(list,   n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
/^BenchmarkKernelSync\// {
	split($1, p, "/"); sub(/-[0-9]+$/, "", p[3])
	ms = $3 / 1e6; ops = ""
	for (i = 4; i < NF; i++) if ($(i+1) == "ops/tx") ops = $i
	printf "sync %-16s %-8s %10.1f ms  %8s ops/tx\n", p[2], p[3], ms, ops
}
/^BenchmarkKernelConnRate\// {
	name = $1; sub(/^BenchmarkKernelConnRate\//, "", name); sub(/-[0-9]+$/, "", name)
	if (!(name in seen)) { seen[name] = 1; order[++n] = name }
	for (i = 4; i < NF; i++) {
		if ($(i+1) == "conns/s") rate[name] = rate[name] " " $i
		if ($(i+1) == "ref-conns/s") ref[name] = ref[name] " " $i
		if ($(i+1) == "ratio") ratio[name] = ratio[name] " " $i
	}
}
END {
	for (k = 1; k <= n; k++) {
		name = order[k]
		r = median(ratio[name])
		line = sprintf("conn %-32s %9.0f conns/s (reference %9.0f)  ratio to no table %.2f", name, median(rate[name]), median(ref[name]), r)
		if (name ~ /^table=trellis/) {
			lin = name; sub(/trellis(-nomerge)?/, "linear", lin)
			if (ratio[lin] != "") line = line sprintf("  vs linear %.2f", r / median(ratio[lin]))
		}
		print line
	}
}' "$out/sync.txt" "$out/conn.txt"
