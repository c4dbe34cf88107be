#!/usr/bin/env bash
# The whole test suite: the linters, then unit, golden, fuzz seed corpora, kernel and etcd-cluster tests (the
# kernel tests need root and skip with a message without it), then the nested oracle module.
set -euo pipefail
cd "$(dirname "$0")/.."
make lint   # gofmt, go vet, staticcheck, go mod tidy -diff
go test -count=1 -timeout 20m ./...
for mod in $(find internal -name go.mod -not -path ./go.mod -printf '%h\n' | sort); do
	(cd "$mod" && go test -count=1 -timeout 10m ./...)
done
