package etcd

import (
	"strings"

	"github.com/trellisnet/trellis/internal/model"
)

// root is the prefix of every Trellis key.
const root = "/trellis/"

func objectKey(k model.Key) string {
	if k.Kind.Namespaced {
		return root + k.Kind.StorageName() + "/" + k.Namespace + "/" + k.Name
	}
	return root + k.Kind.StorageName() + "/" + k.Name
}

// prefix is the key prefix of a kind (all kinds if nil), narrowed to a namespace when given
// and the kind is namespaced.
func prefix(kind *model.Kind, namespace string) string {
	switch {
	case kind == nil:
		return root
	case kind.Namespaced && namespace != "":
		return root + kind.StorageName() + "/" + namespace + "/"
	}
	return root + kind.StorageName() + "/"
}

// resources maps Kind.StorageName() to kinds, for decoding keys of watches over all kinds.
type resources map[string]*model.Kind

func newResources(r *model.Registry) resources {
	m := resources{}
	for _, k := range r.Kinds() {
		m[k.StorageName()] = k
	}
	return m
}

// parseKey is the inverse of objectKey; ok is false for keys that are not Trellis objects of
// a known kind.
func (r resources) parseKey(key string) (model.Key, bool) {
	rest, found := strings.CutPrefix(key, root)
	if !found {
		return model.Key{}, false
	}
	parts := strings.Split(rest, "/")
	kind := r[parts[0]]
	switch {
	case kind == nil:
		return model.Key{}, false
	case kind.Namespaced && len(parts) == 3:
		return model.Key{Kind: kind, Namespace: parts[1], Name: parts[2]}, true
	case !kind.Namespaced && len(parts) == 2:
		return model.Key{Kind: kind, Name: parts[1]}, true
	}
	return model.Key{}, false
}
