package lab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
)

// serverPods is a manifest of demo HTTP server pods p1, p2, ... in namespace default,
// pod pN on node N of nodes (app label pN, port 80).
func serverPods(nodes ...string) string {
	var b strings.Builder
	for i, node := range nodes {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, `apiVersion: v1
kind: Pod
metadata: {name: p%[1]d, namespace: default, labels: {app: p%[1]d}}
spec:
  nodeName: %[2]s
  containers:
  - {name: web, image: trellis, command: [trellis, demo, http-server, --port, "80"]}
`, i+1, node)
	}
	return b.String()
}

// crossNodePods puts one demo HTTP server pod on each of the two nodes.
var crossNodePods = serverPods("node1", "node2")

// newRoutedLab starts a two-node lab with the given routing and registers its removal.
func newRoutedLab(t *testing.T, routing string) string {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := "r" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"agent-node1.log", "agent-node2.log"} {
				data, _ := os.ReadFile(filepath.Join(logDir(name), f))
				t.Logf("%s:\n%s", f, data)
			}
		}
		if r := run(t, name, "lab", "down", "--name", name); r.code != 0 {
			t.Errorf("lab down: exit %d: %s", r.code, r.stderr)
		}
	})
	out := mustRun(t, name, "lab", "up", "--name", name, "--nodes", "2", "--routing", routing)
	if !strings.Contains(out, "lab "+name+" is up") {
		t.Fatalf("lab up printed no final line:\n%s", out)
	}
	return name
}

// probeUntil probes from -> to until it connects or 20 s pass (routes converge).
func probeUntil(t *testing.T, name, from, to string) bool {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var pr ProbeResult
		r := run(t, name, "lab", "probe", "--name", name, "--from", from, "--to", to, "--port", "tcp/80", "--timeout", "1s", "-o", "json")
		if err := json.Unmarshal([]byte(r.stdout), &pr); err != nil {
			t.Fatalf("decode probe %s -> %s: %v (%s)", from, to, err, r.stderr)
		}
		if pr.Connected {
			return true
		}
		if time.Now().After(deadline) {
			t.Logf("probe %s -> %s: %s %s", from, to, r.stdout, r.stderr)
			return false
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// kernelRoute is one entry of `ip -j route show`.
type kernelRoute struct {
	Dst      string `json:"dst"`
	Type     string `json:"type"`
	Gateway  string `json:"gateway"`
	Dev      string `json:"dev"`
	Protocol string `json:"protocol"`
}

func routesIn(t *testing.T, ns string) []kernelRoute {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-j", "route", "show", "proto", "201").Output()
	if err != nil {
		t.Fatalf("ip -n %s route show proto 201: %v", ns, err)
	}
	var rs []kernelRoute
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Fatalf("decode routes of %s: %v (%s)", ns, err, out)
	}
	return rs
}

// remoteRoute finds the protocol-201 route in ns that carries traffic to ip.
func remoteRoute(t *testing.T, ns, ip string) (kernelRoute, bool) {
	t.Helper()
	a := netip.MustParseAddr(ip)
	for _, r := range routesIn(t, ns) {
		p, err := netip.ParsePrefix(r.Dst)
		if err == nil && p.Contains(a) && r.Type != "blackhole" {
			return r, true
		}
	}
	return kernelRoute{}, false
}

func podIPs(t *testing.T, name string) map[string]string {
	t.Helper()
	ips := map[string]string{}
	for _, p := range labReport(t, name).Pods {
		ips[p.Name] = p.IP
	}
	return ips
}

func TestCrossNodeRouting(t *testing.T) {
	needRoot(t)
	for _, routing := range []string{RoutingBGP, RoutingVXLAN} {
		t.Run(routing, func(t *testing.T) {
			name := newRoutedLab(t, routing)
			manifest := filepath.Join(t.TempDir(), "pods.yaml")
			if err := os.WriteFile(manifest, []byte(crossNodePods), 0o644); err != nil {
				t.Fatal(err)
			}
			mustRun(t, name, "apply", "-f", manifest)
			waitPods(t, name, "default/p1", "default/p2")
			ips := podIPs(t, name)
			for _, p := range labReport(t, name).Pods {
				if p.Namespace != "default" {
					continue // the lab's own pods (cluster DNS)
				}
				if want := map[string]string{"p1": "node1", "p2": "node2"}[p.Name]; p.Node != want {
					t.Fatalf("pod %s on %q, want %s", p.Name, p.Node, want)
				}
			}
			if !probeUntil(t, name, "default/p1", "default/p2") || !probeUntil(t, name, "default/p2", "default/p1") {
				t.Fatal("pods on different nodes do not reach each other")
			}
			for _, c := range []struct{ node, remotePod, peerAddr string }{
				{"node1", "p2", "10.99.0.12"}, {"node2", "p1", "10.99.0.11"},
			} {
				ns := NodeNS(name, c.node)
				r, ok := remoteRoute(t, ns, ips[c.remotePod])
				if !ok {
					t.Errorf("%s: no protocol 201 route to %s (pod %s): %+v", c.node, ips[c.remotePod], c.remotePod, routesIn(t, ns))
					continue
				}
				switch routing {
				case RoutingBGP:
					if r.Gateway != c.peerAddr {
						t.Errorf("%s: route %+v to the remote block: want via %s (learned over BGP)", c.node, r, c.peerAddr)
					}
				case RoutingVXLAN:
					if r.Dev != "trellis.vxlan" {
						t.Errorf("%s: route %+v to the remote block: want dev trellis.vxlan", c.node, r)
					}
				}
			}
			if routing == RoutingBGP {
				var s agentapi.Status
				out := mustRun(t, name, "node", "status", "--socket", agentSocket(name, "node1"), "-o", "json")
				if err := json.Unmarshal([]byte(out), &s); err != nil {
					t.Fatalf("decode node status: %v", err)
				}
				if len(s.BGPPeers) != 1 || s.BGPPeers[0].Address != "10.99.0.12" || s.BGPPeers[0].State != "Established" ||
					s.BGPPeers[0].Accepted == 0 || s.BGPPeers[0].Advertised == 0 {
					t.Errorf("node1 bgp peers %+v: want 10.99.0.12 Established with accepted and advertised prefixes", s.BGPPeers)
				}
				text := mustRun(t, name, "node", "status", "--socket", agentSocket(name, "node1"))
				if !strings.Contains(text, "10.99.0.12") || !strings.Contains(text, "Established") {
					t.Errorf("node status text lacks the peer:\n%s", text)
				}
			}
		})
	}
}
