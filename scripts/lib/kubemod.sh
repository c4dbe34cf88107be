# Helpers shared by scripts/kube.sh and scripts/conformance.sh (sourced, not run).
#
# kubemod_prepare DIR PKG... writes a throwaway module in DIR that requires k8s.io/kubernetes
# at $KUBE_VERSION and replaces every k8s.io/* staging module with its $STAGING_VERSION twin
# (the list derived from the downloaded kubernetes go.mod), imports PKG... from a tools.go so
# `go mod tidy` resolves their graph, and marks DIR ready. A ready DIR is left alone.
#
# kubemod_ldflags prints the -ldflags of a Kubernetes build at $KUBE_VERSION (without it the
# binaries report v0.0.0 and the version skew checks misbehave).
#
# The caller defines KUBE_VERSION, STAGING_VERSION, NICE and the functions say and die.

kubemod_prepare() {
	local src=$1
	shift
	[ -f "$src/.ready" ] && return 0
	say "preparing build module in $src"
	mkdir -p "$src"
	(
		cd "$src"
		rm -f go.mod go.sum tools.go
		cat >go.mod <<EOM
module trellis.local/kubebuild

go 1.26

require k8s.io/kubernetes $KUBE_VERSION
EOM
		say "downloading k8s.io/kubernetes $KUBE_VERSION go.mod"
		modjson=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION") ||
			die "download k8s.io/kubernetes@$KUBE_VERSION from the module proxy failed"
		kmod=$(printf '%s\n' "$modjson" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
		[ -f "$kmod" ] || die "no go.mod for k8s.io/kubernetes@$KUBE_VERSION in the module cache"
		# Every "k8s.io/x => ./staging/..." replace in kubernetes' go.mod.
		staging=$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// && $1 ~ /^k8s\.io\// {print $1}' "$kmod" | sort -u)
		[ -n "$staging" ] || die "found no staging replaces in $kmod"
		{
			echo
			echo "replace ("
			for m in $staging; do echo "	$m => $m $STAGING_VERSION"; done
			echo ")"
		} >>go.mod
		say "replaced $(echo "$staging" | wc -l) staging modules with $STAGING_VERSION"
		{
			printf '//go:build tools\n\npackage tools\n\nimport (\n'
			for p in "$@"; do printf '\t_ "%s"\n' "$p"; done
			printf ')\n'
		} >tools.go
		say "resolving the module graph (go mod tidy)"
		nice -n "$NICE" go mod tidy -e >/dev/null 2>"$src/tidy.log" ||
			die "go mod tidy failed in $src, see $src/tidy.log"
		touch .ready
	) || exit 1
}

kubemod_ldflags() {
	local minor=${KUBE_VERSION#v1.}
	minor=${minor%%.*}
	echo "-s -w \
 -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean"
}
