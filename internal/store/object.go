package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trellisnet/trellis/internal/model"
)

// The helpers in this file are shared by the backends; layers above the store do not need
// them.

// KeyOf returns the registered key of obj, or an error naming what is wrong with it:
// unregistered apiVersion/kind, missing name, a namespace on a cluster-scoped kind or none on
// a namespaced one, or a '/' in a name (it would break backends' key paths).
func KeyOf(op string, obj model.Object) (model.Key, error) {
	if obj == nil {
		return model.Key{}, fmt.Errorf("%s: nil object", op)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	key, ok := model.KeyOf(obj)
	if !ok {
		return model.Key{}, fmt.Errorf("%s %s/%s: unknown apiVersion %q kind %q", op, gvk.Kind, obj.GetName(), gvk.GroupVersion().String(), gvk.Kind)
	}
	if err := CheckKey(op, key); err != nil {
		return model.Key{}, err
	}
	return key, nil
}

// CheckKey verifies that a key names a storable object of its kind.
func CheckKey(op string, key model.Key) error {
	switch {
	case key.Kind == nil:
		return fmt.Errorf("%s: nil kind", op)
	case key.Name == "":
		return fmt.Errorf("%s %s: name is required", op, key)
	case strings.Contains(key.Name, "/") || strings.Contains(key.Namespace, "/"):
		return fmt.Errorf("%s %s: name and namespace must not contain '/'", op, key)
	case key.Kind.Namespaced && key.Namespace == "":
		return fmt.Errorf("%s %s: namespace is required for %s", op, key, key.Kind.Kind)
	case !key.Kind.Namespaced && key.Namespace != "":
		return fmt.Errorf("%s %s: %s is cluster-scoped and takes no namespace", op, key, key.Kind.Kind)
	}
	return nil
}

// Encode returns the JSON a backend stores for obj: everything but the resourceVersion,
// which backends derive from their own revision when reading. A form over MaxObjectBytes
// is ErrTooLarge.
func Encode(obj model.Object) ([]byte, error) {
	rv := obj.GetResourceVersion()
	obj.SetResourceVersion("")
	data, err := json.Marshal(obj)
	obj.SetResourceVersion(rv)
	if err == nil && len(data) > MaxObjectBytes {
		return nil, fmt.Errorf("%w: %d bytes stored, at most %d", ErrTooLarge, len(data), MaxObjectBytes)
	}
	return data, err
}

// Decode makes an object of kind from stored JSON and sets its resourceVersion.
func Decode(kind *model.Kind, data []byte, resourceVersion string) (model.Object, error) {
	obj := kind.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("decode stored %s: %w", kind.Kind, err)
	}
	obj.SetResourceVersion(resourceVersion)
	return obj, nil
}

// Clone deep-copies obj through its JSON form.
func Clone(kind *model.Kind, obj model.Object) (model.Object, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("copy %s %s: %w", kind.Kind, obj.GetName(), err)
	}
	out := kind.New()
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("copy %s %s: %w", kind.Kind, obj.GetName(), err)
	}
	return out, nil
}

// NewRecord is what every backend's Create does before it writes: the object's key, a copy
// with the metadata of a new object (PrepareCreate) and that copy's encoding.
func NewRecord(obj model.Object, now time.Time) (model.Key, model.Object, []byte, error) {
	key, err := KeyOf("create", obj)
	if err != nil {
		return model.Key{}, nil, nil, err
	}
	out, err := PrepareCreate(key.Kind, obj, now)
	if err != nil {
		return model.Key{}, nil, nil, err
	}
	data, err := Encode(out)
	if err != nil {
		return model.Key{}, nil, nil, fmt.Errorf("create %s: %w", key, err)
	}
	return key, out, data, nil
}

// PrepareCreate returns a copy of obj with the server-managed metadata of a new object: a
// fresh uid, creationTimestamp now, generation 1 and no resourceVersion.
func PrepareCreate(kind *model.Kind, obj model.Object, now time.Time) (model.Object, error) {
	out, err := Clone(kind, obj)
	if err != nil {
		return nil, err
	}
	out.SetUID(newUID())
	out.SetCreationTimestamp(metav1.NewTime(now.UTC().Truncate(time.Second)))
	out.SetGeneration(1)
	out.SetResourceVersion("")
	return out, nil
}

// PrepareUpdate returns a copy of obj carrying the server-managed metadata of old (uid,
// creationTimestamp) and old's generation, plus one when anything outside metadata and
// status changed.
func PrepareUpdate(kind *model.Kind, old, obj model.Object) (model.Object, error) {
	out, err := Clone(kind, obj)
	if err != nil {
		return nil, err
	}
	out.SetUID(old.GetUID())
	out.SetCreationTimestamp(old.GetCreationTimestamp())
	out.SetResourceVersion("")
	changed, err := specChanged(old, out)
	if err != nil {
		return nil, fmt.Errorf("update %s %s: %w", kind.Kind, obj.GetName(), err)
	}
	gen := old.GetGeneration()
	if changed {
		gen++
	}
	out.SetGeneration(gen)
	return out, nil
}

// specChanged compares a and b without metadata, status and type information.
func specChanged(a, b model.Object) (bool, error) {
	sa, err := specJSON(a)
	if err != nil {
		return false, err
	}
	sb, err := specJSON(b)
	if err != nil {
		return false, err
	}
	return !bytes.Equal(sa, sb), nil
}

func specJSON(obj model.Object) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	for _, f := range []string{"metadata", "status", "apiVersion", "kind"} {
		delete(m, f)
	}
	return json.Marshal(m) // map keys are sorted: a canonical form
}

func newUID() types.UID { return types.UID(uuid.NewString()) }

// SortObjects sorts a List result by namespace, then name: the order every backend returns
// (etcd's key order is not it, since '/' sorts after '-' and '.').
func SortObjects(items []model.Object) {
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}
