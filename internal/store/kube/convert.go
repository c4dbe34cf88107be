package kube

import (
	"bytes"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// serverManaged are the metadata fields the API server sets; a caller's values are dropped
// (a uid in an update body would be a precondition, a resourceVersion on create an error).
var serverManaged = []string{"uid", "creationTimestamp", "generation", "resourceVersion"}

// encode turns obj into the body of a write: its JSON (Calico's shape for Calico kinds,
// Kubernetes' for the rest) without server-managed metadata. A body over
// store.MaxObjectBytes is ErrTooLarge before anything is sent.
func encode(op string, key model.Key, obj model.Object) (map[string]any, error) {
	data, err := store.Encode(obj)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, key, err)
	}
	var body map[string]any
	// utiljson keeps integers int64, as unstructured objects require.
	if err := utiljson.Unmarshal(data, &body); err != nil {
		return nil, fmt.Errorf("%s %s: encode: %w", op, key, err)
	}
	if md, ok := body["metadata"].(map[string]any); ok {
		for _, f := range serverManaged {
			delete(md, f)
		}
	}
	return body, nil
}

// decode turns an object from the API server into a fresh model object of key's kind.
func decode(op string, key model.Key, u *unstructured.Unstructured) (model.Object, error) {
	data, err := u.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%s %s: decode: %w", op, key, err)
	}
	obj := key.Kind.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("%s %s: decode: %w", op, key, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(key.Kind.GVK())
	return obj, nil
}

// statusSubresource says whether the API serves kind's status as a subresource, which an
// update of the main resource leaves alone: Kubernetes' Pod, Service, Node and Namespace.
// Trellis's CRDs have none (deploy/crds stores status with the object).
func statusSubresource(kind *model.Kind) bool {
	if kind.Group != "" {
		return false
	}
	switch kind.Kind {
	case "Pod", "Service", "Node", "Namespace":
		return true
	}
	return false
}

// sameJSON compares two decoded JSON values by their encoding (map keys are sorted).
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
