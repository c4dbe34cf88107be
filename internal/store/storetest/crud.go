package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// sameObject compares two objects through their JSON form.
func sameObject(t *testing.T, what string, got, want model.Object) {
	t.Helper()
	g, err := json.MarshalIndent(got, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.MarshalIndent(want, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(w), string(g)); d != "" {
		t.Errorf("%s: object differs (-want +got):\n%s", what, d)
	}
}

func testCreateGet(t *testing.T, s store.Store) {
	mustNamespaces(t, s, "ns1", "ns2")
	in := Pod("ns1", "web", map[string]string{"app": "web"})
	// Server-managed metadata from the caller is ignored.
	in.UID = "caller-uid"
	in.ResourceVersion = "12345"
	in.Generation = 7
	in.CreationTimestamp = metav1.NewTime(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	before := time.Now().Add(-2 * time.Second)
	out := asPod(t, mustCreate(t, s, in))
	if out.ResourceVersion == "" || out.ResourceVersion == "12345" {
		t.Errorf("resourceVersion = %q, want one set by the store", out.ResourceVersion)
	}
	if out.UID == "" || out.UID == "caller-uid" {
		t.Errorf("uid = %q, want one set by the store", out.UID)
	}
	if out.Generation != 1 {
		t.Errorf("generation = %d, want 1", out.Generation)
	}
	if ct := out.CreationTimestamp.Time; ct.Before(before) || ct.After(time.Now().Add(2*time.Second)) {
		t.Errorf("creationTimestamp = %v, want about now", ct)
	}
	if out.Labels["app"] != "web" || len(out.Spec.Containers) != 1 || out.Spec.Containers[0].Image != Image {
		t.Errorf("content not stored: %+v", out)
	}
	if in.UID != "caller-uid" {
		t.Errorf("Create modified its argument")
	}
	got, err := s.Get(ctx(t), podKind, "ns1", "web")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	sameObject(t, "get after create", got, out)
	if gvk := got.GetObjectKind().GroupVersionKind(); gvk.Kind != "Pod" || gvk.Version != "v1" {
		t.Errorf("get: kind %v, want v1 Pod", gvk)
	}

	_, err = s.Create(ctx(t), Pod("ns1", "web", nil))
	wantErr(t, "second create", err, store.ErrAlreadyExists, "Pod/ns1/web")

	// Same name, other namespace or other kind: independent objects.
	mustCreate(t, s, Pod("ns2", "web", nil))
	mustCreate(t, s, service("ns1", "web"))
}

func testNotFound(t *testing.T, s store.Store) {
	_, err := s.Get(ctx(t), podKind, "ns1", "ghost")
	wantErr(t, "get", err, store.ErrNotFound, "Pod/ns1/ghost")
	_, err = s.Update(ctx(t), Pod("ns1", "ghost", nil))
	wantErr(t, "update", err, store.ErrNotFound, "Pod/ns1/ghost")
	_, err = s.Delete(ctx(t), podKind, "ns1", "ghost", store.DeleteOptions{})
	wantErr(t, "delete", err, store.ErrNotFound, "Pod/ns1/ghost")
}

func testUpdate(t *testing.T, s store.Store) {
	mustNamespaces(t, s, "ns1")
	v1 := asPod(t, mustCreate(t, s, Pod("ns1", "web", map[string]string{"app": "web"})))

	// A spec change bumps generation; uid and creationTimestamp are preserved even if the
	// caller changes them.
	in := v1.DeepCopy()
	in.Spec.Containers[0].Image = "registry.example/app:2"
	in.UID = "forged"
	in.CreationTimestamp = metav1.NewTime(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	in.Generation = 99
	v2 := asPod(t, mustUpdate(t, s, in))
	if v2.ResourceVersion == v1.ResourceVersion || v2.ResourceVersion == "" {
		t.Errorf("resourceVersion after update = %q, was %q: want a new one", v2.ResourceVersion, v1.ResourceVersion)
	}
	if v2.UID != v1.UID || !v2.CreationTimestamp.Equal(&v1.CreationTimestamp) {
		t.Errorf("uid/creationTimestamp changed: %s %v -> %s %v", v1.UID, v1.CreationTimestamp, v2.UID, v2.CreationTimestamp)
	}
	if v2.Generation != 2 || v2.Spec.Containers[0].Image != "registry.example/app:2" {
		t.Errorf("after spec change: generation %d image %q, want 2 app:2", v2.Generation, v2.Spec.Containers[0].Image)
	}

	// Metadata-only and status-only changes keep the generation.
	in = v2.DeepCopy()
	in.Labels = map[string]string{"app": "web", "tier": "front"}
	v3 := asPod(t, mustUpdate(t, s, in))
	in = v3.DeepCopy()
	in.Status.PodIP = "192.0.2.10"
	v4 := asPod(t, mustUpdate(t, s, in))
	if v3.Generation != 2 || v4.Generation != 2 {
		t.Errorf("generation after label/status change = %d, %d; want 2, 2", v3.Generation, v4.Generation)
	}
	got, err := s.Get(ctx(t), podKind, "ns1", "web")
	if err != nil {
		t.Fatal(err)
	}
	sameObject(t, "get after updates", got, v4)

	// Compare-and-swap: a stale resourceVersion conflicts and changes nothing.
	stale := v1.DeepCopy()
	stale.Spec.Containers[0].Image = "registry.example/app:3"
	_, err = s.Update(ctx(t), stale)
	wantErr(t, "update with stale resourceVersion", err, store.ErrConflict, "Pod/ns1/web")
	got, err = s.Get(ctx(t), podKind, "ns1", "web")
	if err != nil {
		t.Fatal(err)
	}
	sameObject(t, "get after conflict", got, v4)

	// An empty resourceVersion updates unconditionally.
	blind := Pod("ns1", "web", map[string]string{"app": "blind"})
	v5 := asPod(t, mustUpdate(t, s, blind))
	if v5.Labels["app"] != "blind" || v5.UID != v1.UID || v5.Generation != 3 { // app:2 back to app:1: a spec change
		t.Errorf("unconditional update: %+v", v5.ObjectMeta)
	}
}

func testDelete(t *testing.T, s store.Store) {
	mustNamespaces(t, s, "ns1")
	v1 := asPod(t, mustCreate(t, s, Pod("ns1", "web", map[string]string{"app": "web"})))
	in := v1.DeepCopy()
	in.Labels["v"] = "2"
	v2 := asPod(t, mustUpdate(t, s, in))

	_, err := s.Delete(ctx(t), podKind, "ns1", "web", store.DeleteOptions{ResourceVersion: v1.ResourceVersion})
	wantErr(t, "delete with stale resourceVersion", err, store.ErrConflict, "Pod/ns1/web")
	_, err = s.Delete(ctx(t), podKind, "ns1", "web", store.DeleteOptions{UID: "not-the-uid"})
	wantErr(t, "delete with wrong uid", err, store.ErrConflict, "Pod/ns1/web")
	if _, err := s.Get(ctx(t), podKind, "ns1", "web"); err != nil {
		t.Fatalf("object gone after failed preconditions: %v", err)
	}

	last, err := s.Delete(ctx(t), podKind, "ns1", "web", store.DeleteOptions{ResourceVersion: v2.ResourceVersion, UID: string(v1.UID)})
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	sameObject(t, "deleted object", last, marked(t, v2, last))
	_, err = s.Get(ctx(t), podKind, "ns1", "web")
	wantErr(t, "get after delete", err, store.ErrNotFound, "Pod/ns1/web")
	_, err = s.Delete(ctx(t), podKind, "ns1", "web", store.DeleteOptions{})
	wantErr(t, "second delete", err, store.ErrNotFound, "Pod/ns1/web")

	// Recreated: a new uid.
	v3 := asPod(t, mustCreate(t, s, Pod("ns1", "web", nil)))
	if v3.UID == v1.UID {
		t.Errorf("recreated object kept uid %s", v1.UID)
	}
	if _, err := s.Delete(ctx(t), podKind, "ns1", "web", store.DeleteOptions{}); err != nil {
		t.Errorf("unconditional delete: %v", err)
	}
}

func testClusterScoped(t *testing.T, s store.Store) {
	created := mustCreate(t, s, namespace("team-a"))
	mustCreate(t, s, namespace("team-b"))
	got, err := s.Get(ctx(t), nsKind, "", "team-a")
	if err != nil {
		t.Fatal(err)
	}
	sameObject(t, "get namespace", got, created)
	_, err = s.Create(ctx(t), namespace("team-a"))
	wantErr(t, "second create", err, store.ErrAlreadyExists, "Namespace/team-a")
	list, err := s.List(ctx(t), nsKind, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A Kubernetes API server holds namespaces of its own (default, kube-system, ...).
	teams := slices.DeleteFunc(list.Items, func(o model.Object) bool { return !strings.HasPrefix(o.GetName(), "team-") })
	if got := names(teams); !cmp.Equal(got, []string{"/team-a", "/team-b"}) {
		t.Errorf("list namespaces = %v", got)
	}
	if _, err := s.Delete(ctx(t), nsKind, "", "team-a", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func testInvalidKeys(t *testing.T, s store.Store) {
	bad := []struct {
		name string
		obj  model.Object
	}{
		{"namespaced kind without namespace", Pod("", "web", nil)},
		{"cluster-scoped kind with namespace", func() model.Object { n := namespace("x"); n.Namespace = "ns1"; return n }()},
		{"no name", Pod("ns1", "", nil)},
		{"slash in name", Pod("ns1", "a/b", nil)},
	}
	for _, tc := range bad {
		if _, err := s.Create(ctx(t), tc.obj); err == nil {
			t.Errorf("create with %s: got no error", tc.name)
		}
	}
	if list, err := s.List(ctx(t), podKind, store.ListOptions{}); err != nil || len(list.Items) != 0 {
		t.Errorf("after rejected creates: list = %v, %v; want empty", list, err)
	}
}

func names(objs []model.Object) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

func testList(t *testing.T, s store.Store) {
	// Created out of order; namespaces chosen so that "a-b" sorts between "a" and "b" as a
	// string but not as a key path.
	mustNamespaces(t, s, "b", "a", "a-b")
	for _, p := range []struct{ ns, name, app string }{
		{"b", "x", "web"}, {"a", "y", "db"}, {"a-b", "x", "web"}, {"a", "x", "web"}, {"a", "x-1", "web"},
	} {
		mustCreate(t, s, Pod(p.ns, p.name, map[string]string{"app": p.app}))
	}
	mustCreate(t, s, service("a", "x"))

	web, err := labels.Parse("app=web")
	if err != nil {
		t.Fatal(err)
	}
	notWeb, err := labels.Parse("app!=web")
	if err != nil {
		t.Fatal(err)
	}
	none, err := labels.Parse("app=none")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts store.ListOptions
		want []string
	}{
		{"all", store.ListOptions{}, []string{"a/x", "a/x-1", "a/y", "a-b/x", "b/x"}},
		{"namespace", store.ListOptions{Namespace: "a"}, []string{"a/x", "a/x-1", "a/y"}},
		{"labels", store.ListOptions{Labels: web}, []string{"a/x", "a/x-1", "a-b/x", "b/x"}},
		{"namespace and labels", store.ListOptions{Namespace: "a", Labels: notWeb}, []string{"a/y"}},
		{"nothing matches", store.ListOptions{Labels: none}, []string{}},
		{"empty namespace", store.ListOptions{Namespace: "zz"}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.List(ctx(t), podKind, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, names(res.Items)); d != "" {
				t.Errorf("list (-want +got):\n%s", d)
			}
			if res.Revision == "" {
				t.Errorf("list revision is empty")
			}
			for _, o := range res.Items {
				if o.GetResourceVersion() == "" || o.GetUID() == "" {
					t.Errorf("%s/%s: listed without resourceVersion or uid", o.GetNamespace(), o.GetName())
				}
			}
		})
	}

	// Listed objects are copies.
	res, err := s.List(ctx(t), podKind, store.ListOptions{Namespace: "a"})
	if err != nil {
		t.Fatal(err)
	}
	res.Items[0].SetLabels(map[string]string{"app": "mutated"})
	got, err := s.Get(ctx(t), podKind, "a", "x")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetLabels()["app"] != "web" {
		t.Errorf("mutating a listed object changed the store: labels %v", got.GetLabels())
	}
	// In namespace a: a Kubernetes API server has its own service default/kubernetes.
	svcs, err := s.List(ctx(t), svcKind, store.ListOptions{Namespace: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a/x"}, names(svcs.Items)); d != "" {
		t.Errorf("list services (-want +got):\n%s", d)
	}
}
