#!/bin/sh
# Trellis service proxy benchmarks. Run as root from anywhere:
#   bench/services/run.sh                  # 1, 1k and 10k services
#   ROUNDS=50 SERVICES=20000 bench/services/run.sh
# Everything happens in throwaway network namespaces named trl-* (removed at the end).
#
# Measures:
#   - connections/s from a pod to a server pod through a ClusterIP with 1, 1k and 10k
#     services (3 endpoints each) programmed, and directly to the pod's address with the
#     same table loaded; the ratio is service/direct (target >= 0.90 at 10k)
#     (BenchmarkKernelServiceConnRate, internal/dataplane/nft);
#   - full sync of 1k and 10k services x 3 endpoints into an empty table, and a partial
#     sync of one endpoint change on top (BenchmarkKernelServiceSync);
#   - endpoint change to programmed: the node agent with SERVICES services in its store,
#     from writing a changed EndpointSlice to the end of the agent's (partial) sync, and
#     the agent's initial sync (BenchmarkKernelServiceEndpointChange, internal/agent).
set -eu
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_start services "namespaces, veths, nftables"
go test -c -o "$out/nft.test" ./internal/dataplane/nft/
go test -c -o "$out/agent.test" ./internal/agent/

echo "== connections/s through a ClusterIP vs directly (${ROUNDS:-20} rounds of 2 x 200 connections)"
(cd internal/dataplane/nft && "$out/nft.test" -test.run '^$' -test.bench 'KernelServiceConnRate' \
	-test.benchtime "${ROUNDS:-20}x" -test.timeout 30m) | grep '^Benchmark' | tee "$out/conn.txt"

echo "== sync time (services x 3 endpoints)"
(cd internal/dataplane/nft && "$out/nft.test" -test.run '^$' -test.bench 'KernelServiceSync' \
	-test.benchtime 3x -test.timeout 30m) | grep '^Benchmark' | tee "$out/sync.txt"

echo "== endpoint change to programmed (${SERVICES:-10000} services in the store)"
(cd internal/agent && TRELLIS_BENCH_SERVICES="${SERVICES:-10000}" "$out/agent.test" -test.run '^$' \
	-test.bench 'KernelServiceEndpointChange' -test.benchtime 20x -test.timeout 30m) | grep '^Benchmark' | tee "$out/change.txt"

echo "== summary"
awk '/ratio/ {
	for (i = 3; i < NF; i++) if ($(i+1) == "ratio") r = $i
	sub(/-[0-9]+$/, "", $1); printf "%-50s ratio %s (target >= 0.90 at 10k)\n", $1, r
}' "$out/conn.txt"
awk '{ sub(/-[0-9]+$/, "", $1); printf "%-50s %.0f ms\n", $1, $3 / 1e6 }' "$out/sync.txt"
awk '{ sub(/-[0-9]+$/, "", $1); for (i = 3; i < NF; i++) if ($(i+1) == "initial-sync-s") s = $i
	printf "endpoint change to programmed: %.0f ms per change; initial agent sync %s s\n", $3 / 1e6, s }' "$out/change.txt"
