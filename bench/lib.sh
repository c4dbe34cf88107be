# Shared prelude of the bench/*/run.sh scripts; each one, from the repository root, runs
#   . bench/lib.sh
#   bench_start NAME "WHAT NEEDS ROOT"     (or bench_scratch NAME: in-process, no root)
# and then finds its scratch directory in $out.

# bench_start NAME WHY: stop unless running as root (WHY says what needs it) with nft on
# PATH, then create the scratch directory $out (bench_scratch).
bench_start() {
	if [ "$(id -u)" != 0 ]; then
		echo "bench/$1/run.sh: must run as root ($2)" >&2
		exit 1
	fi
	command -v nft >/dev/null 2>&1 || { echo "nft not found: apt-get install nftables" >&2; exit 1; }
	bench_scratch "$1"
}

# bench_scratch NAME: create the scratch directory $out (/tmp/trl-bench-NAME.*), removed
# when the script exits, also on failure. Benchmarks that touch no kernel state (bench/flows)
# call it alone.
bench_scratch() {
	out=$(mktemp -d "/tmp/trl-bench-$1.XXXXXX")
	trap 'rm -rf "$out"' EXIT
}
