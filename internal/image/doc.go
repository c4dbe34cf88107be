// Package image builds Trellis's container images without Docker and without a registry:
// `localhost/trellis:latest` (and a versioned tag) holding the trellis binary with its
// trellis-cni and trellis-ipam links, the nft program with every shared library it loads,
// and a minimal filesystem; and `localhost/trellis-pause:latest`, the pod sandbox image a
// container runtime needs, which is the same trellis layer run as `trellis pause`. Both are
// written as one docker-archive tarball that `ctr images import` (containerd) reads.
//
// Built with go-containerregistry. The files come from this machine (the binary given, nft
// and its libraries as the dynamic loader resolves them), so the image runs wherever the
// machine's libc runs.
//
// Invariants: layers are reproducible for the same inputs (fixed modification times, sorted
// entries), so unchanged inputs give unchanged digests; nothing is pulled or pushed.
package image
