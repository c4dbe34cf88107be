package model

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Kind describes one resource type: how it is named in manifests, on the command line and in
// the store, and how to make an empty value of it.
type Kind struct {
	Group      string // "projectcalico.org", "" for core v1, "networking.k8s.io", ...
	Version    string // "v3", "v1": the version objects are stored and printed at
	Kind       string // "NetworkPolicy"
	Plural     string // "networkpolicies": lower-case, used in store keys and on the CLI
	Short      []string
	Namespaced bool
	// OtherVersions are further versions a manifest may give (same schema): decoding one
	// gives the kind's Go type at Version. ClusterNetworkPolicy is read at v1alpha2 (what
	// Calico 3.32 reads) and v1beta1 (the upstream storage version).
	OtherVersions []string
	// Internal kinds are Trellis's own bookkeeping (IPAM blocks, handles, ...): stored and
	// listed like any other, never accepted from a manifest.
	Internal bool
	// UpstreamCRD kinds are served in Kubernetes by a CRD of their own project (not one of
	// deploy/crds): an API server without that CRD has none of them, which a Kubernetes
	// datastore lists as empty instead of failing.
	UpstreamCRD bool
	// New returns a zero value with TypeMeta filled in.
	New func() Object
}

// APIVersion is "group/version", or just "version" for the core group.
func (k *Kind) APIVersion() string {
	return k.GVK().GroupVersion().String()
}

// GVK is the kind's schema.GroupVersionKind.
func (k *Kind) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
}

// Resource is the kind's unique lower-case name, "plural.group" or just "plural" for the
// core group and for projectcalico.org (the calicoctl default).
func (k *Kind) Resource() string {
	if k.Group == "" || k.Group == GroupCalico {
		return k.Plural
	}
	return k.Plural + "." + k.Group
}

// StorageName is the kind's unique name in store keys, "plural.group" with "core" for the
// core group: Calico's Node (nodes.projectcalico.org) and Kubernetes' Node (nodes.core)
// share a plural but never a key.
func (k *Kind) StorageName() string {
	g := k.Group
	if g == "" {
		g = "core"
	}
	return k.Plural + "." + g
}

// Registry holds the kinds Trellis knows.
type Registry struct {
	kinds   []*Kind
	byGVK   map[string]*Kind
	byAlias map[string]*Kind
}

// NewRegistry returns a registry of the given kinds. Aliases (kind, plural, short names, and
// plural.group) are matched case-insensitively; an alias claimed twice panics, since that is
// a programming error in the kind table.
func NewRegistry(kinds ...*Kind) *Registry {
	r := &Registry{byGVK: map[string]*Kind{}, byAlias: map[string]*Kind{}}
	storage := map[string]bool{}
	for _, k := range kinds {
		if storage[k.StorageName()] {
			panic("model: two kinds with the storage name " + k.StorageName())
		}
		storage[k.StorageName()] = true
		r.kinds = append(r.kinds, k)
		r.byGVK[k.APIVersion()+"/"+k.Kind] = k
		for _, v := range k.OtherVersions {
			r.byGVK[schema.GroupVersion{Group: k.Group, Version: v}.String()+"/"+k.Kind] = k
		}
		aliases := append([]string{k.Kind, k.Plural, k.Plural + "." + k.Group, k.Kind + "." + k.Group}, k.Short...)
		for _, a := range aliases {
			a = strings.ToLower(a)
			if prev, ok := r.byAlias[a]; ok && prev != k {
				if strings.Contains(a, ".") || k.Group != GroupCalico {
					// A Calico kind keeps the bare name; the other kind is reached by its
					// group-qualified names (calicoctl's convention).
					continue
				}
			}
			r.byAlias[a] = k
		}
	}
	sort.Slice(r.kinds, func(i, j int) bool { return r.kinds[i].Resource() < r.kinds[j].Resource() })
	return r
}

// Lookup finds a kind by apiVersion and kind exactly as written in a manifest.
func (r *Registry) Lookup(apiVersion, kind string) (*Kind, bool) {
	k, ok := r.byGVK[apiVersion+"/"+kind]
	return k, ok
}

// Resolve finds a kind by a command-line name: case-insensitive kind, plural or short name.
func (r *Registry) Resolve(name string) (*Kind, error) {
	if k, ok := r.byAlias[strings.ToLower(name)]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown resource type %q (see 'trellis get --help' for the list)", name)
}

// Kinds lists every kind, sorted by Resource().
func (r *Registry) Kinds() []*Kind { return r.kinds }
