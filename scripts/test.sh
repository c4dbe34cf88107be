#!/usr/bin/env bash
# The whole test suite: the linters, then unit, golden, fuzz seed corpora, kernel and etcd-cluster tests (the
# kernel tests need root and skip with a message without it), then the nested oracle module.
set -euo pipefail
cd "$(dirname "$0")/.."
make lint   # gofmt, go vet, staticcheck, go mod tidy -diff
# What tests keep for a person to look at (the flow UI's screenshot): test-artifacts/.
export TRELLIS_TEST_ARTIFACTS="${TRELLIS_TEST_ARTIFACTS:-$PWD/test-artifacts}"
mkdir -p "$TRELLIS_TEST_ARTIFACTS"
go test -count=1 -timeout 20m ./...
for mod in $(find internal -name go.mod -not -path ./go.mod -printf '%h\n' | sort); do
	(cd "$mod" && go test -count=1 -timeout 10m ./...)
done
