package agent

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/testnet"
)

// TestKernelNATOutgoing sends real packets through IPPool natOutgoing in the services
// environment (newSvcEnv): the external host ext (192.0.2.2, 2001:db8:ff::2) has routes
// to neither pod range, so a pod reaches it only when node-a masquerades. Pods p0 and p1
// are in the natOutgoing pool 10.65.0.0/30; p2 (10.65.0.4) is outside every pool. All
// three are in the IPv6 natOutgoing pool 2001:db8:65::/125.
func TestKernelNATOutgoing(t *testing.T) {
	testnet.RequireRoot(t)
	e := newSvcEnv(t)
	pods := e.net.Pods
	ip(t, e.net.Host, "-6", "addr", "add", "2001:db8:ff::1/64", "dev", "trlf"+e.net.Tag+"x", "nodad")
	ip(t, e.ext, "-6", "addr", "add", "2001:db8:ff::2/64", "dev", "eth0", "nodad")
	serveWho(t, e.ext, "ext", svcBackend)
	for i, p := range pods {
		serveWho(t, p.NS, fmt.Sprintf("p%d", i), svcBackend)
	}
	const (
		natPool  = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: nat}\nspec: {cidr: 10.65.0.0/30, blockSize: 30, natOutgoing: true}\n---\n"
		natPool6 = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: nat6}\nspec: {cidr: \"2001:db8:65::/125\", blockSize: 125, natOutgoing: true}\n---\n"
	)
	put(t, e.st, svcPods+wepsYAML(e)+natPool+natPool6)
	startAgent(t, e.agent)

	ext4, ext6 := netip.AddrPortFrom(netip.MustParseAddr(svcExtIP), svcBackend), ap(fmt.Sprintf("[2001:db8:ff::2]:%d", svcBackend))
	// seen connects from ns to dst and checks the client address the server saw.
	seen := func(ns, proto string, dst netip.AddrPort, want string) string {
		_, peer, err := who(ns, proto, dst, time.Second)
		if err != nil || peer != want {
			return fmt.Sprintf("%s %s from %s: server saw %q, %v; want %s", proto, dst, ns, peer, err, want)
		}
		return ""
	}
	// unanswered checks that a connection from ns to dst gets no answer (the reply has
	// no route back to an address that was not masqueraded).
	unanswered := func(ns string, dst netip.AddrPort) string {
		if _, peer, err := who(ns, "tcp", dst, 300*time.Millisecond); !isTimeout(err) {
			return fmt.Sprintf("tcp %s from %s: server saw %q, %v; want no answer", dst, ns, peer, err)
		}
		return ""
	}

	t.Run("a pod in a natOutgoing pool reaches the external host as the node", func(t *testing.T) {
		eventually(t, 10*time.Second, func() string {
			for _, proto := range []string{"tcp", "udp"} {
				if msg := seen(pods[0].NS, proto, ext4, svcNodeIP); msg != "" {
					return msg
				}
			}
			return seen(pods[0].NS, "tcp", ext6, "2001:db8:ff::1")
		})
	})
	t.Run("a pod outside every natOutgoing pool is not masqueraded", func(t *testing.T) {
		if msg := unanswered(pods[2].NS, ext4); msg != "" {
			t.Error(msg)
		}
		if msg := seen(pods[2].NS, "tcp", ext6, "2001:db8:ff::1"); msg != "" {
			t.Error(msg) // its IPv6 address is in the natOutgoing pool
		}
	})
	t.Run("pod to pod on the node keeps the pod address", func(t *testing.T) {
		for _, dst := range []netip.Addr{pods[1].IPv4, pods[2].IPv4, pods[1].IPv6} {
			want := pods[0].IPv4.String()
			if dst.Is6() {
				want = pods[0].IPv6.String()
			}
			// p2 is outside every pool: only the workload interface keeps it un-NATed.
			if msg := seen(pods[0].NS, "tcp", netip.AddrPortFrom(dst, svcBackend), want); msg != "" {
				t.Error(msg)
			}
		}
	})
	t.Run("partial syncs equal a fresh full sync", func(t *testing.T) {
		fresh := freshAgentTable(t, e)
		eventually(t, 5*time.Second, func() string {
			if d := cmp.Diff(fresh, testnet.NftDump(t, e.net.Host, testTable, "svc-af-")); d != "" {
				return "tables differ (-fresh +partial):\n" + d
			}
			return ""
		})
	})
	t.Run("a disabled pool keeps its destinations from being masqueraded", func(t *testing.T) {
		put(t, e.st, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: outside}\nspec: {cidr: 192.0.2.0/24, disabled: true}\n---\n")
		eventually(t, 5*time.Second, func() string { return unanswered(pods[0].NS, ext4) })
		if _, err := e.st.Delete(context.Background(), model.KindIPPool, "", "outside", store.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, func() string { return seen(pods[0].NS, "tcp", ext4, svcNodeIP) })
	})
	t.Run("natOutgoing off", func(t *testing.T) {
		put(t, e.st, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: nat}\nspec: {cidr: 10.65.0.0/30, blockSize: 30}\n---\n")
		eventually(t, 5*time.Second, func() string { return unanswered(pods[0].NS, ext4) })
		if msg := seen(pods[0].NS, "tcp", ext6, "2001:db8:ff::1"); msg != "" {
			t.Error(msg) // the IPv6 pool still has natOutgoing
		}
		if s := e.agent.Status(); s.LastSyncType != "partial" {
			t.Errorf("after a pool change: last sync %q, want partial", s.LastSyncType)
		}
	})
}
