package kube_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/kube/kubetest"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/kube"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// startAPIServer starts kube-apiserver with extraArgs, installs the CRDs and lists every
// kind once, so that each resource's watch cache exists (a custom resource's is made on
// its first request, and a watch from a revision older than its cache gets 410 Gone).
func startAPIServer(t testing.TB, extraArgs ...string) *kubetest.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts kube-apiserver; skipped with -short")
	}
	c := kubetest.Start(t, extraArgs...)
	c.InstallCRDs(t)
	s, err := kube.New(store.Config{Kubeconfig: c.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range model.Default.Kinds() {
		if _, err := s.List(context.Background(), k, store.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestConformance runs the suite against an API server with its watch cache off, so that
// watches are served by etcd and a compaction of etcd shows as 410 Gone (with the cache, a
// watch from a recent resourceVersion is served from memory).
func TestConformance(t *testing.T) {
	c := startAPIServer(t, "--watch-cache=false")
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, c) })
}

// compacting is the backend plus storetest.Compacter: a compaction of the API server's etcd
// at its current revision, which the API cannot request.
type compacting struct {
	*kube.Store
	etcd string
}

func (s compacting) Compact(ctx context.Context) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{s.etcd}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "compact-probe")
	if err != nil {
		return err
	}
	_, err = cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical())
	return err
}

// newStore wipes what the suite creates (every namespace but the API server's own, with
// their pods and services) and opens the backend.
func newStore(t *testing.T, c *kubetest.Cluster) store.Store {
	t.Helper()
	wipe(t, c)
	s, err := kube.New(store.Config{Kubeconfig: c.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return compacting{Store: s, etcd: c.EtcdURL}
}

var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

func wipe(t *testing.T, c *kubetest.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS = -1
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	nsc := dyn.Resource(kube.Resource(model.KindNamespace))
	list, err := nsc.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("wipe: %v", err)
	}
	zero := int64(0)
	for _, ns := range list.Items {
		name := ns.GetName()
		for _, k := range []*model.Kind{model.KindPod, model.KindService} {
			err := dyn.Resource(kube.Resource(k)).Namespace(name).DeleteCollection(ctx,
				metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{FieldSelector: "metadata.name!=kubernetes"})
			if err != nil {
				t.Fatalf("wipe %s in %s: %v", k.Plural, name, err)
			}
		}
		if !slices.Contains(systemNamespaces, name) {
			deleteNamespace(ctx, t, dyn, name)
		}
	}
}

// deleteNamespace deletes a namespace and does the namespace controller's part (none runs):
// it removes the kubernetes finalizer and deletes again, then waits until it is gone.
func deleteNamespace(ctx context.Context, t *testing.T, dyn dynamic.Interface, name string) {
	nsc := dyn.Resource(kube.Resource(model.KindNamespace))
	if err := nsc.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete namespace %s: %v", name, err)
	}
	for {
		ns, err := nsc.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if err != nil {
			t.Fatalf("get namespace %s: %v", name, err)
		}
		if fin, _, _ := unstructuredSlice(ns.Object, "spec", "finalizers"); len(fin) > 0 {
			ns.Object["spec"] = map[string]any{"finalizers": []any{}}
			if _, err := nsc.Update(ctx, ns, metav1.UpdateOptions{}, "finalize"); err != nil && !apierrors.IsConflict(err) {
				t.Fatalf("finalize namespace %s: %v", name, err)
			}
			continue
		}
		if err := nsc.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("delete namespace %s: %v", name, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("namespace %s not gone: %v", name, errors.Join(ctx.Err(), err))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[f]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}

// TestWatchCache runs against an API server with its watch cache on, as clusters run it:
// the conformance suite (Compaction skipped: the cache serves recent history after etcd
// dropped it, so only a watch older than the cache's window gets 410 Gone) and Calico kinds
// through their CRDs.
func TestWatchCache(t *testing.T) {
	c := startAPIServer(t)
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, c).(compacting).Store })
	})
	t.Run("CalicoKinds", func(t *testing.T) { calicoKinds(t, newStore(t, c)) })
}

// calicoKinds: a cluster-scoped Calico kind through its CRD, in Calico's JSON shape, seen
// by a watch of every kind; and a Trellis kind whose status (no subresource) is stored.
func calicoKinds(t *testing.T, s store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := watchAllAfterList(ctx, t, s, model.KindGlobalNetworkSet)
	defer w.Stop()
	gns := model.KindGlobalNetworkSet.New().(*model.GlobalNetworkSet)
	gns.Name, gns.Labels = "blocked", map[string]string{"role": "blocked"}
	gns.Spec.Nets = []string{"198.51.100.0/24", "2001:db8::/32"}
	created, err := s.Create(ctx, gns)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, model.KindGlobalNetworkSet, "", "blocked")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(created, got); d != "" || got.(*model.GlobalNetworkSet).Spec.Nets[1] != "2001:db8::/32" {
		t.Errorf("get after create (-create +get):\n%s", d)
	}
	if ev := storetest.Next(t, w); ev.Type != store.EventAdded || ev.Object.GetName() != "blocked" {
		t.Errorf("watch of every kind: %s, want ADDED GlobalNetworkSet/blocked", storetest.Describe(ev))
	}
	// A Calico Node is a view of the Kubernetes Node here (TestDerivedKinds); EndpointStatus
	// is a CRD whose status (no subresource) is stored with the object.
	es := model.KindEndpointStatus.New().(*model.EndpointStatus)
	es.Namespace, es.Name = "default", "wep-1"
	s1, err := s.Create(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	s1.(*model.EndpointStatus).Status.PolicyProgrammed = true
	s2, err := s.Update(ctx, s1)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.(*model.EndpointStatus).Status.PolicyProgrammed {
		t.Errorf("EndpointStatus status not stored: %+v", s2.(*model.EndpointStatus).Status)
	}
	// A CRD without a status subresource bumps generation on any change outside metadata.
	if g := s2.GetGeneration(); g != 2 {
		t.Errorf("EndpointStatus generation after a status change = %d, want 2 (the API server's rule for CRDs)", g)
	}
}

// BenchmarkAPIServer measures Create, Get and Update of a pod through the backend against
// kube-apiserver (watch cache on) over the embedded etcd, as BenchmarkEmbedded does for the
// etcd backend:
//
//	go test -run '^$' -bench APIServer ./internal/store/kube/
func BenchmarkAPIServer(b *testing.B) {
	c := startAPIServer(b)
	s, err := kube.New(store.Config{Kubeconfig: c.Kubeconfig})
	if err != nil {
		b.Fatal(err)
	}
	storetest.BenchOps(b, s)
	// A custom resource, for comparison: no pod defaulting, admission or validation.
	b.Run("CreateGlobalNetworkSet", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			gns := model.KindGlobalNetworkSet.New().(*model.GlobalNetworkSet)
			gns.Name = fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
			gns.Spec.Nets = []string{"198.51.100.0/24"}
			if _, err := s.Create(context.Background(), gns); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestListWithoutUpstreamCRD: a kind whose upstream CRD is not installed (the
// ClusterNetworkPolicy CRD of network-policy-api, deleted here: deploy/crds carries it)
// lists empty at the current revision, so that a watch of every kind from it sees what
// changed after it; an empty revision made the agent, which watches from its first list's,
// miss Services and EndpointSlices created while it listed (found by the Netpol
// conformance specs once the agent watched ClusterNetworkPolicies).
func TestListWithoutUpstreamCRD(t *testing.T) {
	c := startAPIServer(t)
	deleteCNPCRD(t, c)
	s := newStore(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := s.List(ctx, model.KindClusterNetworkPolicy, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision == "" {
		t.Fatal("list without the CRD: empty revision")
	}
	gns := model.KindGlobalNetworkSet.New().(*model.GlobalNetworkSet)
	gns.Name = "after-the-list"
	if _, err := s.Create(ctx, gns); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, nil, store.WatchOptions{Revision: res.Revision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for {
		select {
		case ev := <-w.Events():
			if ev.Type == store.EventResync {
				t.Fatalf("watch from the list's revision: %v", ev.Err)
			}
			if ev.Object != nil && ev.Object.GetName() == "after-the-list" {
				return
			}
		case <-ctx.Done():
			t.Fatal("the watch from the list's revision never showed the object created after the list")
		}
	}
}

const cnpCRD = "clusternetworkpolicies.policy.networking.k8s.io"

// deleteCNPCRD removes the ClusterNetworkPolicy CRD and waits until the API server no
// longer serves the kind.
func deleteCNPCRD(t *testing.T, c *kubetest.Cluster) {
	t.Helper()
	if out, err := c.Kubectl("", "delete", "crd", cnpCRD, "--wait"); err != nil {
		t.Fatalf("delete crd: %v\n%s", err, out)
	}
	deadline := time.Now().Add(time.Minute)
	for servesCNP(c) {
		if time.Now().After(deadline) {
			t.Fatalf("the API server still serves %s a minute after its CRD was deleted", cnpCRD)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// servesCNP reports whether the API server serves ClusterNetworkPolicies.
func servesCNP(c *kubetest.Cluster) bool {
	_, err := c.Kubectl("", "get", "--raw", "/apis/policy.networking.k8s.io/v1beta1/clusternetworkpolicies")
	return err == nil
}

// TestWatchUpstreamCRDInstalledLater: a watch that began while the ClusterNetworkPolicy CRD
// was not installed ends with EventResync once it is, so that the watcher (the agent)
// lists again and enforces ClusterNetworkPolicies without a restart; before, it ignored
// them until its next resync for another reason.
func TestWatchUpstreamCRDInstalledLater(t *testing.T) {
	c := startAPIServer(t)
	deleteCNPCRD(t, c)
	s, err := kube.New(store.Config{Kubeconfig: c.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kube.SetCRDPoll(s, 200*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := watchAllAfterList(ctx, t, s, model.KindClusterNetworkPolicy)
	defer w.Stop()
	quiet := time.After(time.Second) // polls that find no CRD end nothing
	for waiting := true; waiting; {
		select {
		case ev := <-w.Events():
			if ev.Type == store.EventResync {
				t.Fatalf("resync while the CRD is not installed: %v", ev.Err)
			}
		case <-quiet:
			waiting = false
		}
	}
	c.InstallCRDs(t)
	for {
		select {
		case ev := <-w.Events():
			if ev.Type != store.EventResync {
				continue
			}
			if ev.Err == nil || !strings.Contains(ev.Err.Error(), "serves it now") {
				t.Fatalf("resync for another reason: %v", ev.Err)
			}
			if _, err := s.List(ctx, model.KindClusterNetworkPolicy, store.ListOptions{}); err != nil {
				t.Fatalf("list after the resync: %v", err)
			}
			return
		case <-ctx.Done():
			t.Fatal("no resync after the ClusterNetworkPolicy CRD was installed")
		}
	}
}

// watchAllAfterList lists kind and watches every kind from the list's revision, as the
// agent does.
func watchAllAfterList(ctx context.Context, t *testing.T, s store.Store, kind *model.Kind) store.Watch {
	t.Helper()
	res, err := s.List(ctx, kind, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, nil, store.WatchOptions{Revision: res.Revision})
	if err != nil {
		t.Fatal(err)
	}
	return w
}
