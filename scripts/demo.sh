#!/usr/bin/env bash
# The quick-start demo: a three-node local lab (node namespaces, datastore, node agents that
# program policy, services and BGP routes, pods started through the real CNI plugin, cluster
# DNS) running YAOBank, the CalicoCon sample bank. A browser outside the cluster opens the
# bank's page through its NodePort; then the bank's policies are applied and every pod pair is
# probed with real packets and compared with the calculation. Everything is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TRELLIS_BIN:-$PWD/bin/trellis}
[ -x "$bin" ] || scripts/build.sh
lab=${TRELLIS_DEMO_LAB:-demo}
nodes=${TRELLIS_DEMO_NODES:-3}
cleanup() { "$bin" lab down --name "$lab" >/dev/null 2>&1 || true; }
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
# page fetches the bank's page from the external host, retrying while the lab settles.
page() {
	for _ in $(seq 20); do
		if out=$("$bin" lab external exec --name "$lab" client -- curl -s --max-time 2 "$1"); then
			printf '%s\n' "$out" | grep -E 'Name:|Balance:|via'
			return 0
		fi
		sleep 0.5
	done
	echo "the bank's page did not load" >&2
	return 1
}

step "$bin" lab up --name "$lab" --nodes "$nodes" --with-yaobank
export TRELLIS_DATASTORE_ENDPOINTS="unix:///run/trellis/lab/$lab/datastore.sock"
step "$bin" get pods -n yaobank -o wide
step "$bin" get services -n yaobank
step "$bin" lab external add client --name "$lab"
node=$("$bin" get nodes -o json | sed -n 's/.*"ipv4Address": "\([0-9.]*\)\/.*/\1/p' | head -1)
printf '\n\033[1m$ %s\033[0m\n' "$bin lab external exec client -- curl http://$node:30180/"
page "http://$node:30180/"

echo
echo "The bank's policies: default deny; customer -> summary -> database; DNS to kube-dns."
step "$bin" apply -f examples/yaobank-policy.yaml
sleep 1
step "$bin" lab matrix --name "$lab" -n yaobank --ports tcp/80,tcp/2379 --compare
printf '\n\033[1m$ %s\033[0m\n' "$bin lab external exec client -- curl http://$node:30180/"
page "http://$node:30180/"
step "$bin" policy trace --from yaobank/customer --to yaobank/database --port tcp/2379
step "$bin" policy trace --from yaobank/summary-1 --to yaobank/database --port tcp/2379
step "$bin" lab status --name "$lab"
echo
echo "Done. The lab is being removed. Walkthroughs of every lab: docs/labs/README.md"
