package lab

import (
	"crypto/sha1"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/netns"
)

// shopKinds are the namespaced kinds the namespace test stores in shop.
const shopKinds = "pod,networkpolicy,stagednetworkpolicy,knp,networkset,serviceaccount,service,endpointslice,workloadendpoint"

// TestNamespaceDeleteRemovesItsObjectsAndPods: `trellis delete namespace shop` makes the
// controller delete everything in shop; the lab controller then tears down the pods
// (network namespaces, veths) and the agent removes their chains and the policies'.
func TestNamespaceDeleteRemovesItsObjectsAndPods(t *testing.T) {
	needRoot(t)
	name := newLab(t, 1)
	for _, f := range []string{"testdata/pods.yaml", "testdata/policy.yaml", "testdata/shop-extras.yaml"} {
		mustRun(t, name, "apply", "-f", f)
	}
	waitRunning(t, name, 3)
	var veths []string
	for _, pod := range []string{"a", "b", "c"} {
		sum := sha1.Sum([]byte("shop." + pod)) // the CNI plugin's host-side name
		veths = append(veths, "trl"+hex.EncodeToString(sum[:])[:11])
	}
	nodeNS := NodeNS(name, "node1")
	within(t, 15*time.Second, "shop's objects, veths and policy chains present", func() string {
		objs := mustRun(t, name, "get", shopKinds, "-n", "shop", "-o", "name")
		table := nftTable(t, nodeNS)
		switch {
		case strings.Count(objs, "\n") < 14: // 3 pods, 3 endpoints, 2+2 policies, set, account, service, slice
			return "objects:\n" + objs
		case !strings.Contains(table, "chain po-"):
			return "no policy chain in the table"
		case !strings.Contains(table, veths[1]) || !linkExists(t, nodeNS, veths[1]):
			return "shop/b's veth missing"
		}
		return ""
	})

	mustRun(t, name, "delete", "namespace", "shop")
	within(t, 15*time.Second, "shop's objects deleted", func() string {
		if objs := mustRun(t, name, "get", shopKinds, "-n", "shop", "-o", "name"); objs != "" {
			return "left:\n" + objs
		}
		return ""
	})
	within(t, 15*time.Second, "shop's pods torn down and their state gone from the agent", func() string {
		table := nftTable(t, nodeNS)
		for i, pod := range []string{"a", "b", "c"} {
			switch {
			case netns.Exists(PodNS(name, "shop", pod)):
				return "network namespace of shop/" + pod + " left"
			case linkExists(t, nodeNS, veths[i]):
				return "veth of shop/" + pod + " left"
			case strings.Contains(table, veths[i]):
				return "shop/" + pod + "'s interface still in the table"
			}
		}
		if strings.Contains(table, "chain po-") {
			return "policy chains left:\n" + table
		}
		return ""
	})
	// The cluster DNS in kube-system is untouched.
	if out := mustRun(t, name, "get", "pod", "-n", DNSNamespace, "-o", "name"); !strings.Contains(out, DNSPod) {
		t.Errorf("kube-system pods after deleting shop: %q", out)
	}
}

// within polls cond until it returns "" or d passes.
func within(t *testing.T, d time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, d, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// nftTable is the agent's table in a node namespace as nft prints it.
func nftTable(t *testing.T, ns string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "inet", "trellis").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table in %s: %v: %s", ns, err, out)
	}
	return string(out)
}
