package ipamstore_test

import (
	"testing"

	"github.com/trellisnet/trellis/internal/kube/kubetest"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/kube"
)

// startKube starts kube-apiserver with the CRDs and returns the Kubernetes backend on it:
// IPAM's blocks, affinities and handles are then custom resources, and its compare-and-swap
// is the API server's resourceVersion check.
func startKube(t testing.TB) store.Store {
	t.Helper()
	if testing.Short() {
		t.Skip("starts kube-apiserver; skipped with -short")
	}
	c := kubetest.Start(t)
	c.InstallCRDs(t)
	s, err := kube.New(store.Config{Kubeconfig: c.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConcurrentAssignKube(t *testing.T) {
	concurrentAssign(t, startKube(t), 500, 32)
}

// BenchmarkAssignKube4Nodes is BenchmarkAssignEtcd4Nodes through kube-apiserver.
func BenchmarkAssignKube4Nodes(b *testing.B) { benchAssign4Nodes(b, startKube(b)) }
