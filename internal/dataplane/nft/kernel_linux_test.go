package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/testnet"
)

// kernelTable opens table (family inet) in namespace ns and deletes it in t.Cleanup.
func kernelTable(t *testing.T, ns, table string) knftables.Interface {
	t.Helper()
	nft, err := NewKernelIn(context.Background(), ns, table)
	if err != nil {
		t.Fatalf("open nftables in %s: %v", ns, err)
	}
	t.Cleanup(func() {
		if netns.Exists(ns) {
			_ = netns.Do(ns, func() error {
				return exec.Command("nft", "delete", "table", "inet", table).Run()
			})
		}
	})
	return nft
}

func hostOnly(t *testing.T) *testnet.Net {
	return testnet.New(t, testnet.Config{Pods: 0})
}

func TestKernelPartialEqualsFull(t *testing.T) {
	n := hostOnly(t)
	ctx := context.Background()
	partial := NewApplier(kernelTable(t, n.Host, "trl-partial"))
	fresh := kernelTable(t, n.Host, "trl-full")
	rng := newRand(42)
	for step := range 16 {
		// Odd steps merge every allow-only run, so partial syncs also move between
		// merged and unmerged chains; every other pair of steps logs flows (NFLOG group).
		want := Render(Config{MergeRun: 1 - 2*(step%2), FlowLogGroup: uint16(step / 2 % 2 * 7)}, randomState(rng))
		if _, err := partial.Apply(ctx, want); err != nil {
			t.Fatalf("step %d: apply: %v", step, err)
		}
		if _, err := NewApplier(fresh).FullSync(ctx, want); err != nil {
			t.Fatalf("step %d: full sync: %v", step, err)
		}
		got, wantDump := testnet.NftDump(t, n.Host, "trl-partial"), testnet.NftDump(t, n.Host, "trl-full")
		if got != wantDump {
			t.Fatalf("step %d: partial != full\npartial:\n%s\nfull:\n%s", step, got, wantDump)
		}
	}
}

func TestKernelDriftRepair(t *testing.T) {
	n := hostOnly(t)
	ctx := context.Background()
	a, b, c, s := testPods()
	want := Render(Config{}, connectivityState(a, b, c, s))
	ap := NewApplier(kernelTable(t, n.Host, "trl-drift"))
	if _, err := ap.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	ref := testnet.NftDump(t, n.Host, "trl-drift")
	nftIn := func(args ...string) {
		t.Helper()
		err := netns.Do(n.Host, func() error {
			out, err := exec.Command("nft", args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("nft %v: %v: %s", args, err, out)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var policyChain string
	for name := range want.Chains {
		if strings.HasPrefix(name, "po-to-") {
			policyChain = name
		}
	}
	for _, tc := range []struct {
		name  string
		drift func()
	}{
		{"rule flushed", func() { nftIn("flush", "chain", "inet", "trl-drift", policyChain) }},
		{"chain deleted", func() {
			nftIn("flush", "chain", "inet", "trl-drift", ChainForwardTo)
			nftIn("delete", "chain", "inet", "trl-drift", ChainForwardTo)
		}},
		{"map element deleted", func() { nftIn("delete", "element", "inet", "trl-drift", MapToWorkload, `{ "trlps" }`) }},
		{"extra chain", func() { nftIn("add", "chain", "inet", "trl-drift", "trl-extra") }},
		{"table deleted", func() { nftIn("delete", "table", "inet", "trl-drift") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.drift()
			if _, err := ap.FullSync(ctx, want); err != nil {
				t.Fatal(err)
			}
			if got := testnet.NftDump(t, n.Host, "trl-drift"); got != ref {
				t.Fatalf("not repaired:\ngot:\n%s\nwant:\n%s", got, ref)
			}
		})
	}
}

// podsByName maps the connectivity table's pod names onto a topology.
func connectivityTopology(t *testing.T) (*testnet.Net, map[string]*testnet.Pod, map[string]testPod) {
	n := testnet.New(t, testnet.Config{Pods: 5})
	names := []string{"a", "b", "c", "s", "x"}
	pods := map[string]*testnet.Pod{}
	tps := map[string]testPod{}
	for i, name := range names {
		p := n.Pods[i]
		pods[name] = p
		tps[name] = testPod{Name: name, Iface: p.HostIf, V4: p.IPv4, V6: p.IPv6}
	}
	return n, pods, tps
}

func TestKernelConnectivity(t *testing.T) {
	rows := loadConnTable(t, "connectivity.table")
	for name, cfg := range renderConfigs {
		t.Run(name, func(t *testing.T) { testConnectivity(t, cfg, rows) })
	}
}

// TestKernelCNP probes cnp.table (ClusterNetworkPolicy tiers) with real packets: a denied
// probe must time out, since Deny drops.
func TestKernelCNP(t *testing.T) {
	rows := loadConnTable(t, "cnp.table")
	for name, cfg := range renderConfigs {
		t.Run(name, func(t *testing.T) {
			testTableConnectivity(t, cfg, rows, func(tps map[string]testPod) *policy.State { return cnpState(t, tps) })
		})
	}
}

// testConnectivity probes every row with real packets between pod namespaces, with the
// table rendered under cfg.
func testConnectivity(t *testing.T, cfg Config, rows []connRow) {
	testTableConnectivity(t, cfg, rows, func(tps map[string]testPod) *policy.State {
		return connectivityState(tps["a"], tps["b"], tps["c"], tps["s"])
	})
}

// testTableConnectivity probes every row with real packets between pod namespaces, with
// the state state gives for the topology's pods rendered under cfg.
func testTableConnectivity(t *testing.T, cfg Config, rows []connRow, state func(map[string]testPod) *policy.State) {
	n, pods, tps := connectivityTopology(t)
	ctx := context.Background()
	ap := NewApplier(kernelTable(t, n.Host, "trl-conn"))
	if _, err := ap.Apply(ctx, Render(cfg, state(tps))); err != nil {
		t.Fatal(err)
	}
	ports := map[int]bool{}
	for _, r := range rows {
		if r.proto != "icmp" {
			ports[r.port] = true
		}
	}
	for _, p := range pods {
		for port := range ports {
			testnet.Serve(t, p.NS, port)
		}
	}
	probeRows(t, rows, func(r connRow) (string, netip.Addr) {
		src, dst := pods[r.src], pods[r.dst]
		if src == nil || dst == nil {
			t.Fatalf("unknown pod in row %s", r)
		}
		if r.v6 {
			return src.NS, dst.IPv6
		}
		return src.NS, dst.IPv4
	})
}

// probeRows sends every row's probe in parallel from the namespace and to the address
// where returns, and checks that exactly the allowed ones get through. A probe that
// fails for another reason than a dropped packet fails the test.
func probeRows(t *testing.T, rows []connRow, where func(connRow) (string, netip.Addr)) {
	t.Helper()
	var wg sync.WaitGroup
	for _, r := range rows {
		ns, dst := where(r)
		timeout := 2 * time.Second
		if !r.want {
			timeout = 400 * time.Millisecond
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := testnet.Probe(ns, r.proto, dst, r.port, timeout)
			if err != nil && !errors.Is(err, testnet.ErrNoReply) {
				t.Errorf("%s: probe: %v", r, err)
				return
			}
			if got := err == nil; got != r.want {
				t.Errorf("%s: allowed=%v, want %v (err: %v)", r, got, r.want, err)
			}
		}()
	}
	wg.Wait()
}
