#!/usr/bin/env bash
# The quick-start demo: a local lab (node namespaces, datastore, node agents, pods started
# through the real CNI plugin), a three-tier sample application, then policy applied and
# checked with real packets against the calculation. Everything is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin/trellis
[ -x "$bin" ] || scripts/build.sh
lab=${TRELLIS_DEMO_LAB:-demo}
nodes=${TRELLIS_DEMO_NODES:-2}
cleanup() { "$bin" lab down --name "$lab" >/dev/null 2>&1 || true; }
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$bin" lab up --name "$lab" --nodes "$nodes"
export TRELLIS_DATASTORE_ENDPOINTS="unix:///run/trellis/lab/$lab/datastore.sock"
step "$bin" apply -f examples/lab/app.yaml
printf 'waiting for the pods to run'
for _ in $(seq 60); do
	running=$("$bin" get pods -n shop -o json | grep -c '"phase": "Running"' || true)
	[ "$running" = 3 ] && break
	printf .
	sleep 1
done
echo
step "$bin" get pods -n shop -o wide
step "$bin" lab matrix --name "$lab" -n shop --ports tcp/80
step "$bin" apply -f examples/lab/policy.yaml
sleep 1
step "$bin" lab matrix --name "$lab" -n shop --ports tcp/80 --compare
step "$bin" policy trace --from shop/frontend --to shop/database --port tcp/80
step "$bin" policy trace --from shop/backend --to shop/database --port tcp/80
step "$bin" lab status --name "$lab"
echo
echo "Offline, without a lab: the YaoBank policies of the CalicoCon labs, explained."
step "$bin" policy matrix -f examples/yaobank.yaml -f examples/yaobank-policy.yaml --ports tcp/80,tcp/2379
echo
echo "Done. The lab is being removed."
