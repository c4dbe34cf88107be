#!/usr/bin/env bash
# The quick-start demo: an embedded datastore on a private socket, the YaoBank manifests and
# the CalicoCon policies applied and read back, and policy decisions explained. Leaves nothing
# running: the datastore and its data directory are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/trellis
[ -x "$bin" ] || scripts/build.sh
work=$(mktemp -d /tmp/trellis-demo.XXXXXX)
ds_pid=
cleanup() {
	[ -n "$ds_pid" ] && kill "$ds_pid" 2>/dev/null && wait "$ds_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
export TRELLIS_DATASTORE_ENDPOINTS="unix://$work/datastore.sock"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "Starting the embedded datastore on $TRELLIS_DATASTORE_ENDPOINTS"
"$bin" datastore run --data-dir "$work/data" --listen-client "$TRELLIS_DATASTORE_ENDPOINTS" >"$work/datastore.log" 2>&1 &
ds_pid=$!
for _ in $(seq 100); do
	"$bin" get tiers >/dev/null 2>&1 && break
	sleep 0.2
done

step "$bin" validate -f examples/
step "$bin" apply -f examples/yaobank.yaml
step "$bin" apply -f examples/yaobank-policy.yaml
step "$bin" get pods -n yaobank
step "$bin" get gnp
step "$bin" get knp -n yaobank -o wide
step "$bin" policy trace -f examples/ --from yaobank/customer --to yaobank/summary --port tcp/80
step "$bin" policy trace -f examples/ --from yaobank/customer --to yaobank/database --port tcp/2379
step "$bin" policy matrix -f examples/ --ports tcp/80,tcp/2379
echo
echo "Done. Everything the demo started has been stopped and removed."
