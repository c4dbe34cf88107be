#!/usr/bin/env bash
# Run upstream conformance suites, unmodified, against Trellis in a Kubernetes lab
# (docs/conformance.md says what each suite is, what is skipped and why, and the last results).
#
#   make conformance [SUITES="netpol network services dns cnp"] [ROUTING=bgp|vxlan] [PROCS=4]
#
# 1. Builds and caches, outside the repository, under
#    ${TRELLIS_CONFORMANCE_CACHE:-/var/cache/trellis/conformance}:
#      v1.37.1/bin/{e2e.test,agnhost,ginkgo}   from k8s.io/kubernetes v1.37.1 (module proxy)
#      rootfs/debian-bookworm.tar               Debian with the tools the tests exec (mmdebstrap)
#      v1.37.1/images.tar                       the test images under their upstream names
#    and the Kubernetes binaries (scripts/kube.sh).
# 2. Brings up a 3-node Kubernetes lab with the test images in every node's containerd.
# 3. Runs each suite, writing JUnit XML and logs into
#    ${TRELLIS_CONFORMANCE_OUT:-/var/tmp/trellis-conformance}/<UTC date-time>/, and prints
#    "conformance SUITE: N passed, M failed, K skipped" per suite.
# 4. Removes the lab (also on failure or interrupt); exits non-zero when any spec failed.
#
# Environment: SUITES, ROUTING (bgp), PROCS (ginkgo processes, 4), TRELLIS_CONFORMANCE_LAB
# (lab name, conform), TRELLIS_CONFORMANCE_NICE (build niceness, 10), TRELLIS_CONFORMANCE_KEEP=1
# (leave the lab up for debugging).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=v1.37.1
STAGING_VERSION=v0.37.1
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${TRELLIS_CONFORMANCE_MIRROR:-http://deb.debian.org/debian}
# What the tests exec in agnhost and glibc-dns-testing pods: sh/bash, curl, wget, nc, dig, getent
# (libc-bin), lsmod (kmod), ip.
DEBIAN_PACKAGES=bash,curl,wget,netcat-openbsd,dnsutils,iproute2,kmod,libc-bin,ca-certificates
CACHE=${TRELLIS_CONFORMANCE_CACHE:-/var/cache/trellis/conformance}
BIN=$CACHE/$KUBE_VERSION/bin
NICE=${TRELLIS_CONFORMANCE_NICE:-10}
SUITES=${SUITES:-netpol network services dns cnp}
ROUTING=${ROUTING:-bgp}
PROCS=${PROCS:-4}
LAB=${TRELLIS_CONFORMANCE_LAB:-conform}
TRELLIS=$ROOT/bin/trellis
KUBECTL=${TRELLIS_KUBE_CACHE:-/var/cache/trellis/kube}/$KUBE_VERSION/bin/kubectl

say() { printf 'conformance: %s\n' "$*" >&2; }
die() { printf 'conformance: error: %s\n' "$*" >&2; exit 1; }
. "$ROOT/scripts/lib/kubemod.sh"
. "$ROOT/scripts/lib/conformance-suites.sh"

for s in $SUITES; do
	suite_known "$s" || die "unknown suite $s (want some of: $ALL_SUITES)"
done
case $ROUTING in bgp | vxlan) ;; *) die "ROUTING=$ROUTING: want bgp or vxlan" ;; esac
[ "$(id -u)" = 0 ] || die "run as root (the lab makes network namespaces)"
[ -x "$TRELLIS" ] || die "$TRELLIS missing: make build"
command -v jq >/dev/null || die "jq is required: apt-get install jq"

declare -A STEP_SECONDS=()
timed() { # timed NAME CMD...: run CMD, record its duration
	local name=$1 t=$SECONDS
	shift
	"$@"
	STEP_SECONDS[$name]=$((SECONDS - t))
}

# --- build -------------------------------------------------------------------------------

build_go() { # build_go NAME: e2e.test, agnhost or ginkgo into $BIN, once
	local b=$1 tmp=$BIN/.$1.tmp
	[ -x "$BIN/$b" ] && return 0
	local src=$CACHE/$KUBE_VERSION/src
	kubemod_prepare "$src" k8s.io/kubernetes/test/e2e k8s.io/kubernetes/test/images/agnhost \
		github.com/onsi/ginkgo/v2/ginkgo
	say "building $b (niced $NICE) ..."
	local t=$SECONDS
	(
		cd "$src"
		export GOFLAGS=-mod=mod
		case $b in
		e2e.test) nice -n "$NICE" go test -c -vet=off -trimpath -ldflags "$(kubemod_ldflags)" \
			-o "$tmp" k8s.io/kubernetes/test/e2e ;;
		agnhost) CGO_ENABLED=0 nice -n "$NICE" go build -trimpath -ldflags "$(kubemod_ldflags)" \
			-o "$tmp" k8s.io/kubernetes/test/images/agnhost ;;
		# The ginkgo CLI at the version kubernetes' go.mod requires (minimal version selection).
		ginkgo) nice -n "$NICE" go build -trimpath -o "$tmp" github.com/onsi/ginkgo/v2/ginkgo ;;
		esac
	) || { rm -f "$tmp"; die "build of $b failed (module in $src)"; }
	mv "$tmp" "$BIN/$b"
	say "built $b in $((SECONDS - t))s"
}

build_rootfs() {
	local out=$CACHE/rootfs/debian-$DEBIAN_SUITE.tar
	ROOTFS=$out
	[ -f "$out" ] && [ "$(cat "$out.packages" 2>/dev/null)" = "$DEBIAN_PACKAGES" ] && return 0
	command -v mmdebstrap >/dev/null || die "mmdebstrap is required: apt-get install mmdebstrap"
	mkdir -p "$CACHE/rootfs"
	say "building the Debian $DEBIAN_SUITE root filesystem (mmdebstrap: $DEBIAN_PACKAGES) ..."
	local t=$SECONDS
	nice -n "$NICE" mmdebstrap --variant=minbase --format=tar --include="$DEBIAN_PACKAGES" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
		"$DEBIAN_SUITE" "$out.tmp" "$DEBIAN_MIRROR" >"$CACHE/rootfs/mmdebstrap.log" 2>&1 ||
		{ rm -f "$out.tmp"; die "mmdebstrap failed, see $CACHE/rootfs/mmdebstrap.log"; }
	mv "$out.tmp" "$out"
	echo "$DEBIAN_PACKAGES" >"$out.packages"
	say "built $out in $((SECONDS - t))s"
}

# The images the suites use, under their upstream names (the tests pull only what is
# missing, so nothing is pulled): the Debian root filesystem plus agnhost, configured as
# upstream configures each image.
build_images() {
	IMAGES=$CACHE/$KUBE_VERSION/images.tar
	local spec=$CACHE/$KUBE_VERSION/images.json agnhost='["/agnhost"]' e2e=registry.k8s.io/e2e-test-images
	# agnhost porter's TLS servers read localhost.crt and .key from / (its Dockerfile adds them).
	local porter
	porter=$(cd "$CACHE/$KUBE_VERSION/src" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' k8s.io/kubernetes)/test/images/agnhost/porter
	[ -f "$porter/localhost.crt" ] || die "no $porter/localhost.crt in the module cache"
	cat >"$spec.new" <<EOF
{
  "rootfs": "$ROOTFS",
  "files": [{"source": "$BIN/agnhost", "path": "/agnhost", "mode": 493},
    {"source": "$porter/localhost.crt", "path": "/localhost.crt", "mode": 420},
    {"source": "$porter/localhost.key", "path": "/localhost.key", "mode": 420}],
  "images": [
    {"ref": "$e2e/agnhost:2.66.1", "entrypoint": $agnhost, "cmd": ["pause"]},
    {"ref": "$e2e/agnhost:2.45", "entrypoint": $agnhost, "cmd": ["pause"]},
    {"ref": "$e2e/glibc-dns-testing:2.1.1", "cmd": ["/bin/sh"]},
    {"ref": "$e2e/busybox:1.37.0-2", "cmd": ["/bin/sh"]},
    {"ref": "$e2e/nginx:1.27.0-2", "entrypoint": ["/agnhost", "netexec", "--http-port=80"]},
    {"ref": "registry.k8s.io/pause:3.10.2", "entrypoint": ["/agnhost", "pause"]}
  ]
}
EOF
	if [ -f "$IMAGES" ] && cmp -s "$spec.new" "$spec" && [ "$IMAGES" -nt "$BIN/agnhost" ] && [ "$IMAGES" -nt "$ROOTFS" ]; then
		rm -f "$spec.new"
		return 0
	fi
	say "writing the test images to $IMAGES ..."
	"$TRELLIS" image compose --spec "$spec.new" --output "$IMAGES.tmp" >&2 || die "image compose failed"
	mv "$IMAGES.tmp" "$IMAGES"
	mv "$spec.new" "$spec"
}

mkdir -p "$BIN" || die "cannot create $BIN (set TRELLIS_CONFORMANCE_CACHE)"
exec 9>"$CACHE/.lock"
flock -n 9 || { say "another run holds $CACHE/.lock; waiting"; flock 9; }

timed kube "$ROOT/scripts/kube.sh"
timed e2e.test build_go e2e.test
timed agnhost build_go agnhost
timed ginkgo build_go ginkgo
timed rootfs build_rootfs
timed images build_images

# --- run ---------------------------------------------------------------------------------

OUT=${TRELLIS_CONFORMANCE_OUT:-/var/tmp/trellis-conformance}/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
say "results and logs in $OUT"

lab_down() {
	if [ "${TRELLIS_CONFORMANCE_KEEP:-}" = 1 ]; then
		say "lab $LAB left up (TRELLIS_CONFORMANCE_KEEP=1): $TRELLIS lab down --name $LAB"
		return
	fi
	"$TRELLIS" lab down --name "$LAB" >>"$OUT/lab.log" 2>&1 || say "lab down failed, see $OUT/lab.log"
}
trap lab_down EXIT

say "bringing up lab $LAB (3 Kubernetes nodes, $ROUTING routing) ..."
t=$SECONDS
"$TRELLIS" lab up --kubernetes --name "$LAB" --nodes 3 --routing "$ROUTING" --timeout 10m \
	--image-archive "$IMAGES" >"$OUT/lab.log" 2>&1 || die "lab up failed, see $OUT/lab.log"
STEP_SECONDS[lab]=$((SECONDS - t))
KUBECONFIG_FILE=/run/trellis/lab/$LAB/kube/admin.kubeconfig
case " $SUITES " in *" cnp "*) cnp_prepare >>"$OUT/lab.log" 2>&1 || die "cnp set-up failed, see $OUT/lab.log" ;; esac

failed=0
summary=()
for s in $SUITES; do
	say "running suite $s ..."
	t=$SECONDS
	rc=0
	"run_$s" >"$OUT/$s.log" 2>&1 || rc=$?
	STEP_SECONDS[suite-$s]=$((SECONDS - t))
	line=$(suite_counts "$s" "$OUT/$s.junit.xml")
	case $line in *" 0 failed"*) [ "$rc" = 0 ] || line="$line (exit $rc, see $OUT/$s.log)" ;; esac
	[ "$rc" = 0 ] || failed=1
	summary+=("conformance $s: $line")
	echo "conformance $s: $line"
done

{
	echo "commit $(git -C "$ROOT" rev-parse --short HEAD) routing $ROUTING procs $PROCS"
	for k in "${!STEP_SECONDS[@]}"; do echo "time $k ${STEP_SECONDS[$k]}s"; done | sort
	printf '%s\n' "${summary[@]}"
} >"$OUT/summary.txt"
sed -n 's/^time /conformance: time /p' "$OUT/summary.txt" >&2
exit "$failed"
