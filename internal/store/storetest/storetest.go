package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Compacter is implemented by backends that can drop their watch history on demand (an etcd
// compaction at the current revision). The suite uses it to provoke EventResync.
type Compacter interface {
	Compact(ctx context.Context) error
}

// Run runs the conformance suite. newStore returns an empty store for each subtest (the
// constructor may wipe a shared server) and registers its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateGet", testCreateGet},
		{"NotFound", testNotFound},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"ClusterScoped", testClusterScoped},
		{"InvalidKeys", testInvalidKeys},
		{"List", testList},
		{"Watch", testWatch},
		{"WatchNamespace", testWatchNamespace},
		{"WatchAllKinds", testWatchAllKinds},
		{"WatchFromNow", testWatchFromNow},
		{"WatchResume", testWatchResume},
		{"WatchStop", testWatchStop},
		{"Compaction", testCompaction},
		{"ConcurrentWriters", testConcurrentWriters},
		{"CounterNoLostUpdate", testCounter},
		{"TxnCommit", testTxnCommit},
		{"TxnPrecondition", testTxnPrecondition},
		{"TxnWatch", testTxnWatch},
		{"TxnCounters", testTxnCounters},
	}
	if _, nonAtomic := newStore(t).(store.NonAtomic); nonAtomic {
		// A backend without multi-object transactions (store.NonAtomic) is held to what it
		// promises instead: ordered writes, and a failed one undoing the earlier ones.
		tests = append(tests[:len(tests)-4], struct {
			name string
			fn   func(t *testing.T, s store.Store)
		}{"TxnCompensated", testTxnCompensated})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// Kinds used by the suite: Kubernetes kinds that are always registered.
var (
	podKind = model.KindPod
	svcKind = model.KindService
	nsKind  = model.KindNamespace
)

// Image is the container image of the suite's pods; a spec change sets another.
const Image = "registry.example/app:1"

// Pod returns a pod object as a test would build it: valid for a Kubernetes API server too
// (one container; unscheduled, so that a delete is immediate rather than left to a kubelet).
func Pod(ns, name string, labels map[string]string) *corev1.Pod {
	p := podKind.New().(*corev1.Pod)
	p.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}
	p.Spec.Containers = []corev1.Container{{Name: "app", Image: Image}}
	return p
}

// service returns a headless service: a Kubernetes API server needs no ports for it and
// allocates no cluster IP.
func service(ns, name string) *corev1.Service {
	s := svcKind.New().(*corev1.Service)
	s.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: name}
	s.Spec.ClusterIP = corev1.ClusterIPNone
	return s
}

// mustNamespaces creates the namespaces a test puts objects in, as a Kubernetes API server
// requires (other stores just hold them).
func mustNamespaces(t *testing.T, s store.Store, names ...string) {
	t.Helper()
	for _, n := range names {
		mustCreate(t, s, namespace(n))
	}
}

func namespace(name string) *corev1.Namespace {
	n := nsKind.New().(*corev1.Namespace)
	n.Name = name
	return n
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustCreate(t *testing.T, s store.Store, obj model.Object) model.Object {
	t.Helper()
	out, err := s.Create(ctx(t), obj)
	if err != nil {
		t.Fatalf("create %s/%s: %v", obj.GetNamespace(), obj.GetName(), err)
	}
	return out
}

func mustUpdate(t *testing.T, s store.Store, obj model.Object) model.Object {
	t.Helper()
	out, err := s.Update(ctx(t), obj)
	if err != nil {
		t.Fatalf("update %s/%s: %v", obj.GetNamespace(), obj.GetName(), err)
	}
	return out
}

// wantErr checks err wraps sentinel and its message names the object.
func wantErr(t *testing.T, what string, err, sentinel error, object string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("%s: got no error, want %v", what, sentinel)
	case !errors.Is(err, sentinel):
		t.Fatalf("%s: got %v, want an error wrapping %q", what, err, sentinel)
	case !strings.Contains(err.Error(), object):
		t.Errorf("%s: error %q does not name the object %q", what, err, object)
	}
}

func asPod(t *testing.T, obj model.Object) *corev1.Pod {
	t.Helper()
	p, ok := obj.(*corev1.Pod)
	if !ok {
		t.Fatalf("got %T, want *v1.Pod", obj)
	}
	return p
}

// Put creates obj, or updates it when it exists (tests that set up state with manifests).
func Put(ctx context.Context, st store.Store, obj model.Object) error {
	_, err := st.Create(ctx, obj)
	if errors.Is(err, store.ErrAlreadyExists) {
		_, err = st.Update(ctx, obj)
	}
	if err != nil {
		return fmt.Errorf("put %s %s/%s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
