package lab

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBGPFilterImportExport runs a 3-node BGP lab with BIRD announcing 198.51.100.0/24 and
// 203.0.113.0/24 and checks BGPFilter end to end: an import filter accepting only
// 198.51.100.0/24 makes every node install that route (protocol 201) and not the other; an
// export rule rejecting one node's block keeps it from BIRD while BIRD keeps the others;
// taking the filter off the BGPPeer restores the block at BIRD and the default import.
func TestBGPFilterImportExport(t *testing.T) {
	if _, err := os.Stat(BirdPath); err != nil {
		t.Skip("needs BIRD 2 at " + BirdPath + ": apt-get install bird2")
	}
	name := newRoutingLab(t, RoutingBGP, 3)
	mustRun(t, name, "lab", "external", "add", "tor", "--name", name, "--bird", "--asn", "65001",
		"--announce", "198.51.100.0/24", "--announce", "203.0.113.0/24")
	st, err := LoadState(name)
	if err != nil {
		t.Fatal(err)
	}
	tor, ok := st.External("tor")
	if !ok || tor.Router == nil {
		t.Fatalf("state has no router tor: %+v", st.Externals)
	}
	peer := func(filters string) string {
		return fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: tor}\n"+
			"spec: {peerIP: %s, asNumber: 65001%s}\n", tor.Addr(), filters)
	}
	const importOnly = `apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata: {name: tor-filter}
spec:
  importV4:
    - {action: Accept, matchOperator: Equal, cidr: 198.51.100.0/24}
    - {action: Reject}
`
	applyText(t, name, importOnly+"---\n"+peer(", filters: [tor-filter]"))
	applyText(t, name, threePods)
	waitPods(t, name, "default/p1", "default/p2", "default/p3")
	ips := podIPs(t, name)
	nodes := []string{"node1", "node2", "node3"}
	installed := func(n, dst string) string {
		for _, r := range routesIn(t, NodeNS(name, n)) {
			if r.Dst == dst {
				return r.Gateway
			}
		}
		return ""
	}
	for _, n := range nodes {
		eventually(t, 15*time.Second, n+" installs 198.51.100.0/24 (protocol 201) via the router", func() (bool, string) {
			gw := installed(n, "198.51.100.0/24")
			return gw == tor.Addr().String(), gw
		})
	}
	for _, n := range nodes {
		if gw := gateways(t, NodeNS(name, n), "203.0.113.0/24"); gw != "" {
			t.Errorf("%s installed 203.0.113.0/24 via %s, which the filter does not import", n, gw)
		}
	}

	// Each pod's block as BIRD routes it, via the pod's node.
	blocks := map[string]string{}
	eventually(t, 20*time.Second, "BIRD learns every node's block", func() (bool, string) {
		for _, p := range []string{"p1", "p2", "p3"} {
			r := routeFor(t, tor.Namespace, ips[p])
			if r.Protocol != "bird" || !strings.Contains(r.Dst, "/") {
				return false, fmt.Sprintf("route for %s: %+v", p, r)
			}
			blocks[p] = r.Dst
		}
		return true, ""
	})
	applyText(t, name, strings.Replace(importOnly, "spec:\n", fmt.Sprintf(
		"spec:\n  exportV4:\n    - {action: Reject, matchOperator: Equal, cidr: %s}\n", blocks["p1"]), 1))
	d := eventually(t, 15*time.Second, "BIRD loses p1's block "+blocks["p1"], func() (bool, string) {
		gw := gateways(t, tor.Namespace, blocks["p1"])
		return gw == "", gw
	})
	t.Logf("export reject reached BIRD in %s", d.Round(time.Millisecond))
	for _, p := range []string{"p2", "p3"} {
		if gw := gateways(t, tor.Namespace, blocks[p]); gw == "" {
			t.Errorf("BIRD lost %s's block %s, which no rule rejects", p, blocks[p])
		}
	}

	applyText(t, name, peer(""))
	d = eventually(t, 15*time.Second, "without the filter BIRD learns p1's block again", func() (bool, string) {
		gw := gateways(t, tor.Namespace, blocks["p1"])
		return gw != "", "none"
	})
	t.Logf("filter removal restored the block in %s", d.Round(time.Millisecond))
	for _, n := range nodes {
		eventually(t, 15*time.Second, n+" drops 198.51.100.0/24 (no pool covers it)", func() (bool, string) {
			gw := installed(n, "198.51.100.0/24")
			return gw == "", gw
		})
	}
}
