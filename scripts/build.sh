#!/usr/bin/env bash
# Builds bin/trellis and the trellis-cni / trellis-ipam links to it.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
version=$(git describe --tags --always 2>/dev/null || echo dev)
mkdir -p bin
go build -trimpath -ldflags "-X main.version=${version} -X main.commit=${commit}" -o bin/trellis ./cmd/trellis
ln -sf trellis bin/trellis-cni
ln -sf trellis bin/trellis-ipam
echo "built bin/trellis (${version}, ${commit})"
