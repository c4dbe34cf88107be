package model

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Object is any resource Trellis stores: a projectcalico.org/v3 resource declared in this
// package or a Kubernetes kind from k8s.io/api. Both embed metav1.TypeMeta and
// metav1.ObjectMeta, so a pointer to either satisfies it.
type Object interface {
	metav1.Object
	GetObjectKind() schema.ObjectKind
}

// Key names one object in the store.
type Key struct {
	Kind      *Kind
	Namespace string
	Name      string
}

// String gives "Kind/namespace/name" or "Kind/name", the form used in error messages.
func (k Key) String() string {
	if k.Namespace == "" {
		return k.Kind.Kind + "/" + k.Name
	}
	return k.Kind.Kind + "/" + k.Namespace + "/" + k.Name
}

// KeyOf returns the key of obj, or false if its apiVersion and kind are not registered.
func KeyOf(obj Object) (Key, bool) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	k, ok := Lookup(gvk.GroupVersion().String(), gvk.Kind)
	if !ok {
		return Key{}, false
	}
	return Key{Kind: k, Namespace: obj.GetNamespace(), Name: obj.GetName()}, true
}
