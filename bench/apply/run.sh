#!/bin/sh
# Re-applying unchanged objects: N GlobalNetworkSets (default 50,000) are applied once into a
# private embedded datastore, then the same file again, timed; the second apply must write
# nothing (every object "unchanged").
#   bench/apply/run.sh          N=10000 bench/apply/run.sh
set -eu
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_start apply "the datastore's default paths"
N=${N:-50000}
go build -o "$out/trellis" ./cmd/trellis
"$out/trellis" datastore run --data-dir "$out/data" --listen-client "unix://$out/ds.sock" >"$out/ds.log" 2>&1 &
ds=$!
trap 'kill $ds 2>/dev/null; wait $ds 2>/dev/null; rm -rf "$out"' EXIT
export TRELLIS_DATASTORE_ENDPOINTS="unix://$out/ds.sock"
until "$out/trellis" get tiers >/dev/null 2>&1; do sleep 0.2; done
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: set-%d, labels: {bench: apply}}\nspec: {nets: [192.0.2.%d/32]}\n---\n", i, i % 256 }' >"$out/sets.yaml"
t0=$(date +%s.%N)
"$out/trellis" apply -f "$out/sets.yaml" >"$out/first.txt"
t1=$(date +%s.%N)
"$out/trellis" apply -f "$out/sets.yaml" >"$out/second.txt"
t2=$(date +%s.%N)
unchanged=$(grep -c ' unchanged$' "$out/second.txt" || true)
awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" -v u="$unchanged" -v l="$(cut -d' ' -f1-3 /proc/loadavg)" \
	'BEGIN { printf "objects: %d; first apply (create): %.1f s; re-apply: %.1f s (%d unchanged); load: %s\n", n, b - a, c - b, u, l }'
