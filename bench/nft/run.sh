#!/bin/sh
# Trellis nftables dataplane benchmark. Run as root from anywhere:
#   bench/nft/run.sh                 # sync at 1k/10k policies, then connection rates
#   CONNS=50000x bench/nft/run.sh    # more connections per connection-rate run
# Everything happens in throwaway network namespaces named trl-*, removed at the end.
#
# Measures (Go benchmarks in internal/dataplane/nft/bench_linux_test.go):
#   - full and partial sync time and transaction size (ops/tx) at 1k and 10k policies,
#     100 local endpoints, one selector set of ten addresses per policy;
#   - new TCP connections per second between two pod namespaces through the host
#     namespace: no table; the Trellis table with 0/100/1k/10k policies selecting the
#     destination (the client is allowed by a policy after all of them), with allow-only
#     runs merged into one set lookup (default) and without (table=trellis-nomerge); and
#     an equivalent linear ruleset (one rule per policy in one chain).
set -eu
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then
	echo "bench/nft/run.sh: must run as root (namespaces, veths, nftables)" >&2
	exit 1
fi
command -v nft >/dev/null 2>&1 || { echo "nft not found: apt-get install nftables" >&2; exit 1; }
out=$(mktemp -d /tmp/trl-bench-nft.XXXXXX)
trap 'rm -rf "$out"' EXIT
go test -c -o "$out/nft.test" ./internal/dataplane/nft/
cd internal/dataplane/nft
echo "== sync (time per sync, ops/tx = operations in the nft transaction)"
"$out/nft.test" -test.run '^$' -test.bench 'KernelSync' -test.benchtime "${SYNCS:-3x}" | tee "$out/sync.txt"
echo "== TCP connection rate"
"$out/nft.test" -test.run '^$' -test.bench 'KernelConnRate' -test.benchtime "${CONNS:-20000x}" | tee "$out/conn.txt"
echo "== summary"
awk '
/^BenchmarkKernelSync\// {
	split($1, p, "/"); sub(/-[0-9]+$/, "", p[3])
	ms = $3 / 1e6; ops = ""
	for (i = 4; i < NF; i++) if ($(i+1) == "ops/tx") ops = $i
	printf "sync %-16s %-8s %10.1f ms  %8s ops/tx\n", p[2], p[3], ms, ops
}
/^BenchmarkKernelConnRate\// {
	name = $1; sub(/^BenchmarkKernelConnRate\//, "", name); sub(/-[0-9]+$/, "", name)
	for (i = 4; i < NF; i++) if ($(i+1) == "conns/s") rate[name] = $i
	order[++n] = name
}
END {
	base = rate["table=none"]
	for (k = 1; k <= n; k++) {
		name = order[k]; r = rate[name]
		line = sprintf("conn %-32s %9.0f conns/s  ratio to no table %.2f", name, r, base > 0 ? r / base : 0)
		if (name ~ /^table=trellis/) {
			lin = name; sub(/trellis(-nomerge)?/, "linear", lin)
			if (rate[lin] > 0) line = line sprintf("  vs linear %.2f", r / rate[lin])
		}
		print line
	}
}' "$out/sync.txt" "$out/conn.txt"
