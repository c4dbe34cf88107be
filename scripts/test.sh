#!/usr/bin/env bash
# The whole test suite: unit, golden, fuzz seed corpora, kernel and etcd-cluster tests (the
# kernel tests need root and skip with a message without it), then the nested oracle module.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
go test -count=1 -timeout 20m ./...
for mod in $(find internal -name go.mod -not -path ./go.mod -printf '%h\n' | sort); do
	(cd "$mod" && go test -count=1 -timeout 10m ./...)
done
