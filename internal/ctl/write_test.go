package ctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// failingStore fails every Create after the first n (never, for a negative n); Close leaves
// the underlying store open so a test can inspect it.
type failingStore struct {
	store.Store
	n int
}

func (s *failingStore) Create(ctx context.Context, obj model.Object) (model.Object, error) {
	if s.n == 0 {
		return nil, store.ErrUnavailable
	}
	s.n--
	return s.Store.Create(ctx, obj)
}

func (s *failingStore) Close() error { return nil }

func runWriteCmd(t *testing.T, st store.Store, mode writeMode, file string) (string, error) {
	t.Helper()
	o := &Options{OpenStore: func(context.Context) (store.Store, error) { return st, nil }}
	var out bytes.Buffer
	err := runWrite(context.Background(), o, mode, &writeFlags{files: []string{file}}, strings.NewReader(""), &out)
	return out.String(), err
}

func TestWriteReportsWhatWasWrittenBeforeAFailure(t *testing.T) {
	mem := memory.New(0)
	defer mem.Close()
	_, err := runWriteCmd(t, &failingStore{Store: mem, n: 2}, modeCreate, "testdata/write/three.yaml")
	if err == nil {
		t.Fatal("create succeeded although the store failed on the third object")
	}
	msg := err.Error()
	for _, want := range []string{"Tier/third", "created 2 of 3", "Tier/first", "Tier/second", "unavailable"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	tiers, _ := model.Resolve("tier")
	res, lerr := mem.List(context.Background(), tiers, store.ListOptions{})
	if lerr != nil || len(res.Items) != 2 {
		t.Fatalf("store holds %v (err %v), want exactly the two reported tiers", res, lerr)
	}
}

func TestApplyCreatesThenUpdates(t *testing.T) {
	mem := memory.New(0)
	defer mem.Close()
	for i := 0; i < 2; i++ {
		out, err := runWriteCmd(t, &failingStore{Store: mem, n: -1}, modeApply, "testdata/write/three.yaml")
		if err != nil || !strings.Contains(out, "Successfully applied 3 resource(s)") {
			t.Fatalf("apply #%d: %q, %v", i+1, out, err)
		}
	}
	tiers, _ := model.Resolve("tier")
	obj, err := mem.Get(context.Background(), tiers, "", "second")
	if err != nil {
		t.Fatal(err)
	}
	if obj.GetGeneration() != 1 {
		t.Errorf("re-applying an unchanged object bumped generation to %d", obj.GetGeneration())
	}
}

func TestReplaceAndDeleteOfMissingObjectsFail(t *testing.T) {
	mem := memory.New(0)
	defer mem.Close()
	for _, mode := range []writeMode{modeReplace, modeDelete} {
		_, err := runWriteCmd(t, &failingStore{Store: mem, n: -1}, mode, "testdata/write/three.yaml")
		if !errors.Is(err, store.ErrNotFound) && (err == nil || !strings.Contains(err.Error(), "not found")) {
			t.Errorf("%s of missing objects: %v, want not found", modeVerb[mode], err)
		}
	}
}

func TestApplyNamespaceFlag(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/np.yaml"
	doc := `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: unnamed}
spec: {selector: all()}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: named, namespace: %s}
spec: {selector: all()}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: cluster-scoped}
spec: {nets: [192.0.2.0/24]}
`
	write := func(ns string) {
		if err := os.WriteFile(file, []byte(fmt.Sprintf(doc, ns)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mem := memory.New(0)
	defer mem.Close()
	o := &Options{OpenStore: func(context.Context) (store.Store, error) { return &failingStore{Store: mem, n: -1}, nil }}
	run := func(ns string) error {
		var out bytes.Buffer
		return runWrite(context.Background(), o, modeApply, &writeFlags{files: []string{file}, namespace: ns}, strings.NewReader(""), &out)
	}
	nps, _ := model.Resolve("networkpolicy")

	write("other")
	err := run("prod")
	if err == nil || !strings.Contains(err.Error(), `"other"`) || !strings.Contains(err.Error(), "document 2") {
		t.Fatalf("apply -n prod of a policy in namespace other: err %v, want a problem naming document 2 and its namespace", err)
	}
	if res, _ := mem.List(context.Background(), nps, store.ListOptions{}); len(res.Items) != 0 {
		t.Fatalf("a rejected file wrote %d objects", len(res.Items))
	}

	write("prod")
	if err := run("prod"); err != nil {
		t.Fatalf("apply -n prod: %v", err)
	}
	for _, name := range []string{"unnamed", "named"} {
		if _, err := mem.Get(context.Background(), nps, "prod", name); err != nil {
			t.Errorf("policy %s not in namespace prod: %v", name, err)
		}
	}
	if _, err := mem.Get(context.Background(), nps, "default", "unnamed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("policy without a namespace went to default despite -n: %v", err)
	}
}

func TestApplyKeepsWhatTheClusterSet(t *testing.T) {
	file := t.TempDir() + "/svc.yaml"
	manifest := `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	mem := memory.New(0)
	defer mem.Close()
	st := &failingStore{Store: mem, n: -1}
	for _, mode := range []writeMode{modeApply, modeReplace} {
		if _, err := runWriteCmd(t, st, modeApply, file); err != nil {
			t.Fatal(err)
		}
		// What the allocators do.
		svcs, _ := model.Resolve("service")
		obj, err := mem.Get(context.Background(), svcs, "shop", "web")
		if err != nil {
			t.Fatal(err)
		}
		svc := obj.(*corev1.Service)
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.0.20", []string{"10.96.0.20"}
		svc.Spec.Ports[0].NodePort = 30080
		if _, err := mem.Update(context.Background(), svc); err != nil {
			t.Fatal(err)
		}
		if _, err := runWriteCmd(t, st, mode, file); err != nil {
			t.Fatalf("mode %d: %v", mode, err)
		}
		obj, _ = mem.Get(context.Background(), svcs, "shop", "web")
		got := obj.(*corev1.Service)
		if got.Spec.ClusterIP != "10.96.0.20" || got.Spec.Ports[0].NodePort != 30080 {
			t.Errorf("mode %d: re-writing the manifest left clusterIP %q nodePort %d, want the allocated 10.96.0.20 and 30080",
				mode, got.Spec.ClusterIP, got.Spec.Ports[0].NodePort)
		}
		if got.Spec.Ports[0].TargetPort.IntValue() != 8080 {
			t.Errorf("mode %d: targetPort %v, want the manifest's 8080", mode, got.Spec.Ports[0].TargetPort)
		}
	}
}
