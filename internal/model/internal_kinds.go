package model

// internalKinds are Trellis's own bookkeeping kinds (IPAM blocks, affinities, handles,
// endpoint status), group trellis.internal: stored and watched like any other kind, but
// not accepted from manifests by `trellis apply`.
func internalKinds() []*Kind {
	return []*Kind{}
}
