#!/usr/bin/env bash
# Installs the system packages Trellis uses (as root, Debian) and builds the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(make nftables iproute2 bird2 etcd-server containernetworking-plugins tcpdump conntrack curl containerd runc)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi
# The distribution's etcd service is not used: Trellis runs its own datastore.
if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
	systemctl disable --now etcd || true
fi
scripts/build.sh
