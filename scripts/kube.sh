#!/usr/bin/env bash
# Build the Kubernetes binaries Trellis tests and labs run against, from the Go module proxy,
# into a versioned cache outside the repository:
#
#   ${TRELLIS_KUBE_CACHE:-/var/cache/trellis/kube}/v1.37.1/bin/{kube-apiserver,kubectl,...}
#
# A throwaway module (in the cache's src/ directory) requires k8s.io/kubernetes at the pinned
# version and replaces every k8s.io/* staging module with its v0.x twin, derived from the
# downloaded kubernetes go.mod. Binaries already built are skipped, so the script is
# idempotent; it runs niced because kube-apiserver takes ~10 minutes on a cold cache.
#
# Usage: scripts/kube.sh [binary...]   (default: all five, apiserver and kubectl first)
# Cold build times measured on a shared 2-core machine: kube-apiserver 15 min, kubectl 1.5,
# kube-controller-manager 6.5, kube-scheduler 0.5, kubelet 2; 456 MB of binaries.
# Environment: TRELLIS_KUBE_CACHE (cache root), TRELLIS_KUBE_NICE (default 19).
set -euo pipefail

KUBE_VERSION=v1.37.1       # k8s.io/kubernetes (v1.37.2's zip is refused by the proxy)
STAGING_VERSION=v0.37.1    # every k8s.io/* staging module
CACHE=${TRELLIS_KUBE_CACHE:-/var/cache/trellis/kube}/$KUBE_VERSION
NICE=${TRELLIS_KUBE_NICE:-19}

declare -A PKG=(
	[kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
	[kubectl]=k8s.io/kubernetes/cmd/kubectl
	[kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
	[kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
	[kubelet]=k8s.io/kubernetes/cmd/kubelet
)
ORDER=(kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet)

say() { printf 'kube: %s\n' "$*" >&2; }
die() { printf 'kube: error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is required on PATH"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ORDER[@]}")
for b in "${targets[@]}"; do
	[ -n "${PKG[$b]:-}" ] || die "unknown binary $b (want one of: ${ORDER[*]})"
done

mkdir -p "$CACHE/bin" "$CACHE/src" || die "cannot create $CACHE (set TRELLIS_KUBE_CACHE)"

# One build at a time per cache: a second run waits, then finds the binaries built.
if command -v flock >/dev/null; then
	exec 9>"$CACHE/.lock"
	if ! flock -n 9; then
		say "another build holds $CACHE/.lock; waiting"
		flock 9
	fi
fi

missing=()
for b in "${targets[@]}"; do
	if [ -x "$CACHE/bin/$b" ]; then
		say "$b $KUBE_VERSION already built: $CACHE/bin/$b"
	else
		missing+=("$b")
	fi
done
[ ${#missing[@]} -gt 0 ] || exit 0

# The throwaway module (shared helpers with scripts/conformance.sh).
. "$(dirname "$0")/lib/kubemod.sh"
src=$CACHE/src
kubemod_prepare "$src" "${PKG[@]}"
ldflags=$(kubemod_ldflags)

cd "$src"
for b in "${missing[@]}"; do
	say "building $b $KUBE_VERSION (niced $NICE) ..."
	start=$(date +%s)
	tmp=$CACHE/bin/.$b.tmp
	if ! GOFLAGS=-mod=mod nice -n "$NICE" go build -trimpath -ldflags "$ldflags" \
		-o "$tmp" "${PKG[$b]}"; then
		rm -f "$tmp"
		die "build of $b failed (module in $src)"
	fi
	mv "$tmp" "$CACHE/bin/$b"
	say "built $b in $(($(date +%s) - start))s: $CACHE/bin/$b"
done
say "done: $CACHE/bin"
