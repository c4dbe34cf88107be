package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"

	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
	"github.com/trellisnet/trellis/internal/testnet"
)

// svcEnv is node-a (a testnet host namespace with three pods, running the agent), node-b
// (a namespace holding the remote endpoint address 10.66.0.2) and an external client,
// all joined to node-a by veths:
//
//	ext 192.0.2.2/24 ── 192.0.2.1 node-a 10.255.0.1/30 ── 10.255.0.2 node-b (10.66.0.2 on lo)
//	                              └─ trlwp0..2: pods 10.65.0.2..4, 2001:db8:65::2..4
type svcEnv struct {
	net   *testnet.Net
	ext   string
	nodeB string
	st    store.Store
	agent *Agent
	cfg   Config
}

const (
	svcPrefix  = "trlw" // workload interfaces; fabric links are "trlf..."
	svcNodeIP  = "192.0.2.1"
	svcExtIP   = "192.0.2.2"
	svcRemote  = "10.66.0.2"
	svcLinkA   = "10.255.0.1"
	svcBackend = 8080
)

func newSvcEnv(t *testing.T) *svcEnv {
	t.Helper()
	n := testnet.New(t, testnet.Config{Pods: 3, IfPrefix: svcPrefix})
	e := &svcEnv{net: n, ext: "trl-" + n.Tag + "-ext", nodeB: "trl-" + n.Tag + "-nb"}
	for _, ns := range []string{e.ext, e.nodeB} {
		if err := netns.Create(ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := netns.Delete(ns); err != nil {
				t.Errorf("delete namespace %s: %v", ns, err)
			}
		})
	}
	t.Cleanup(func() {
		_ = netns.Do(n.Host, func() error { return exec.Command("nft", "delete", "table", "inet", testTable).Run() })
	})
	joinNS(t, n.Host, "trlf"+n.Tag+"x", "192.0.2.1/24", e.ext, "192.0.2.2/24")
	joinNS(t, n.Host, "trlf"+n.Tag+"b", "10.255.0.1/30", e.nodeB, "10.255.0.2/30")
	routes(t, e.ext, "10.96.0.0/16 via 192.0.2.1", "203.0.113.0/24 via 192.0.2.1")
	routes(t, e.nodeB, "10.65.0.0/16 via 10.255.0.1", "192.0.2.0/24 via 10.255.0.1")
	routes(t, n.Host, "10.66.0.0/24 via 10.255.0.2", "10.96.0.0/16 via 192.0.2.2")
	ip(t, e.nodeB, "addr", "add", svcRemote+"/32", "dev", "lo")

	dp, err := KernelDataplane(context.Background(), n.Host, testTable)
	if err != nil {
		t.Fatalf("open nftables in %s: %v", n.Host, err)
	}
	dp.Services = KernelServiceHost(n.Host)
	if os.Getenv("TRELLIS_TEST_NO_FLUSH") != "" { // proves the conntrack test can fail
		dp.Services.FlushUDP = nil
	}
	e.st = memory.New(100000)
	e.cfg = testConfig(t, "node-a")
	e.cfg.TableName, e.cfg.WorkloadPrefix, e.cfg.Routing = testTable, svcPrefix, RoutingOff
	e.agent = New(e.cfg, e.st, dp, testLogger(t))
	return e
}

func ip(t *testing.T, ns string, args ...string) {
	t.Helper()
	err := netns.Do(ns, func() error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func routes(t *testing.T, ns string, rs ...string) {
	t.Helper()
	for _, r := range rs {
		ip(t, ns, append([]string{"route", "add"}, strings.Fields(r)...)...)
	}
}

// joinNS joins namespace a (link name aName, address aAddr) to namespace b (eth0, bAddr).
func joinNS(t *testing.T, a, aName, aAddr, b, bAddr string) {
	t.Helper()
	bFD, err := netns.Handle(b)
	if err != nil {
		t.Fatal(err)
	}
	defer bFD.Close()
	err = netns.Do(a, func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(bFD))})
	})
	if err != nil {
		t.Fatalf("add veth %s: %v", aName, err)
	}
	ip(t, a, "addr", "add", aAddr, "dev", aName)
	ip(t, a, "link", "set", aName, "up")
	ip(t, b, "addr", "add", bAddr, "dev", "eth0")
	ip(t, b, "link", "set", "eth0", "up")
	ip(t, b, "link", "set", "lo", "up")
}

// serveWho answers TCP connections and UDP datagrams on port in ns with "NAME PEER-IP".
func serveWho(t *testing.T, ns, name string, port int) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	err := netns.Do(ns, func() error {
		var err error
		if ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("serve in %s: %v", ns, err)
	}
	t.Cleanup(func() { ln.Close(); pc.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peer, _ := netip.ParseAddrPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s %s\n", name, peer.Addr().Unmap())
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			peer, _ := netip.ParseAddrPort(from.String())
			_, _ = pc.WriteTo(fmt.Appendf(nil, "%s %s\n", name, peer.Addr().Unmap()), from)
		}
	}()
}

// who connects from ns to dst and returns the answering backend and the client address
// it saw.
func who(ns, proto string, dst netip.AddrPort, timeout time.Duration) (backend, peer string, err error) {
	var c net.Conn
	err = netns.Do(ns, func() error {
		var err error
		c, err = net.DialTimeout(proto, dst.String(), timeout)
		return err
	})
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	return askWho(c, proto, timeout)
}

func askWho(c net.Conn, proto string, timeout time.Duration) (backend, peer string, err error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if proto == "udp" {
		if _, err := c.Write([]byte("who")); err != nil {
			return "", "", err
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", "", err
	}
	backend, peer, _ = strings.Cut(strings.TrimSpace(line), " ")
	return backend, peer, nil
}

// backends connects n times and returns how often each backend answered.
func backends(t *testing.T, ns, proto string, dst netip.AddrPort, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		b, _, err := who(ns, proto, dst, time.Second)
		if err != nil {
			t.Fatalf("%s %s from %s: %v", proto, dst, ns, err)
		}
		got[b]++
	}
	return got
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

const svcPods = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
`

// svcYAML is a Service; extra is appended to its spec.
func svcYAML(name, clusterIP, extra string, ports ...string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: shop}\nspec:\n  clusterIP: %s\n  ports: [%s]\n%s---\n",
		name, clusterIP, strings.Join(ports, ", "), extra)
}

// sliceYAML is an IPv4 (or IPv6) EndpointSlice of service svc with port 8080 (TCP and
// UDP, names "tcp" and "udp" unless unnamed) and endpoints "ADDR@NODE[!]" (! = not ready).
func sliceYAML(name, svc, family string, named bool, eps ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: %s, namespace: shop, labels: {kubernetes.io/service-name: %s}}\naddressType: %s\n", name, svc, family)
	if named {
		b.WriteString("ports: [{name: tcp, port: 8080, protocol: TCP}, {name: udp, port: 8080, protocol: UDP}]\n")
	} else {
		b.WriteString("ports: [{port: 8080, protocol: TCP}]\n")
	}
	b.WriteString("endpoints:\n")
	for _, ep := range eps {
		ready := !strings.HasSuffix(ep, "!")
		addr, node, _ := strings.Cut(strings.TrimSuffix(ep, "!"), "@")
		fmt.Fprintf(&b, "- addresses: [%q]\n  nodeName: %s\n  conditions: {ready: %v}\n", addr, node, ready)
	}
	b.WriteString("---\n")
	return b.String()
}

func svcManifest(e *svcEnv) string {
	p := e.net.Pods
	a, b := p[1].IPv4.String()+"@node-a", p[2].IPv4.String()+"@node-a"
	tcpudp := []string{"{name: tcp, port: 80, targetPort: 8080}", "{name: udp, port: 80, protocol: UDP, targetPort: 8080}"}
	return svcPods + wepsYAML(e) +
		svcYAML("web", "10.96.0.10", "  clusterIPs: [10.96.0.10, \"2001:db8:96::10\"]\n  ipFamilies: [IPv4, IPv6]\n", tcpudp...) +
		sliceYAML("web", "web", "IPv4", true, a, b) +
		sliceYAML("web6", "web", "IPv6", true, p[1].IPv6.String()+"@node-a") +
		svcYAML("sticky", "10.96.0.11", "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n", "{port: 80}") +
		sliceYAML("sticky", "sticky", "IPv4", false, a, b) +
		svcYAML("np", "10.96.0.20", "  type: NodePort\n", "{port: 80, nodePort: 30080}") +
		sliceYAML("np", "np", "IPv4", false, a, svcRemote+"@node-b") +
		svcYAML("local", "10.96.0.21", "  type: LoadBalancer\n  externalTrafficPolicy: Local\n  healthCheckNodePort: 32001\n  externalIPs: [203.0.113.10]\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.11}]}}\n", "{port: 80, nodePort: 30081}") +
		sliceYAML("local", "local", "IPv4", false, a, svcRemote+"@node-b") +
		svcYAML("remote", "10.96.0.22", "  type: LoadBalancer\n  externalTrafficPolicy: Local\n  healthCheckNodePort: 32002\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.12}]}}\n", "{port: 80, nodePort: 30082}") +
		sliceYAML("remote", "remote", "IPv4", false, svcRemote+"@node-b") +
		svcYAML("empty", "10.96.0.30", "  type: NodePort\n", "{port: 80, nodePort: 30083}") +
		sliceYAML("empty", "empty", "IPv4", false, p[2].IPv4.String()+"@node-a!") +
		svcYAML("self", "10.96.0.31", "", "{port: 80}") +
		sliceYAML("self", "self", "IPv4", false, a) +
		svcYAML("headless", "None", "", "{port: 80}") +
		sliceYAML("headless", "headless", "IPv4", false, a)
}

func wepsYAML(e *svcEnv) string {
	var b strings.Builder
	for i, p := range e.net.Pods {
		b.WriteString(wepYAML("shop", fmt.Sprintf("pod%d", i), "node-a", p.HostIf, map[string]string{"app": fmt.Sprintf("p%d", i)},
			netip.PrefixFrom(p.IPv4, 32).String(), netip.PrefixFrom(p.IPv6, 128).String()))
	}
	return b.String()
}

func TestKernelServices(t *testing.T) {
	testnet.RequireRoot(t)
	e := newSvcEnv(t)
	pods := e.net.Pods
	for i, p := range pods {
		serveWho(t, p.NS, fmt.Sprintf("p%d", i), svcBackend)
	}
	serveWho(t, e.nodeB, "remote", svcBackend)
	put(t, e.st, svcManifest(e))
	startAgent(t, e.agent)
	client := pods[0].NS
	eventually(t, 10*time.Second, func() string {
		if _, _, err := who(client, "tcp", ap("10.96.0.10:80"), 300*time.Millisecond); err != nil {
			return err.Error()
		}
		return ""
	})

	t.Run("status counts services", func(t *testing.T) {
		// web, sticky, np, local, remote, empty, self; headless has no virtual IP.
		if s := e.agent.Status(); s.Services != 7 || s.ServicePorts < s.Services || s.ServiceEndpoints == 0 {
			t.Errorf("status services %d, ports %d, endpoints %d; want 7 services", s.Services, s.ServicePorts, s.ServiceEndpoints)
		}
	})
	t.Run("clusterIP spreads over ready endpoints", func(t *testing.T) {
		for _, proto := range []string{"tcp", "udp"} {
			got := backends(t, client, proto, ap("10.96.0.10:80"), 40)
			if got["p1"] == 0 || got["p2"] == 0 || len(got) != 2 {
				t.Errorf("%s backends %v, want both p1 and p2", proto, got)
			}
		}
		got := backends(t, client, "tcp", ap("[2001:db8:96::10]:80"), 5)
		if got["p1"] != 5 {
			t.Errorf("IPv6 backends %v, want p1 only", got)
		}
	})
	t.Run("session affinity", func(t *testing.T) {
		if got := backends(t, client, "tcp", ap("10.96.0.11:80"), 20); len(got) != 1 {
			t.Errorf("backends with ClientIP affinity %v, want one", got)
		}
	})
	t.Run("affinity timeout change", func(t *testing.T) {
		errs := e.agent.Status().Errors
		put(t, e.st, svcYAML("sticky", "10.96.0.11", "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 120}}\n", "{port: 80}"))
		eventually(t, 5*time.Second, func() string {
			if out := nftIn(t, e.net.Host, "list", "sets", "inet"); !strings.Contains(out, "timeout 2m") || strings.Contains(out, "timeout 1m") {
				return "affinity sets not replaced by ones with the new timeout:\n" + out
			}
			return ""
		})
		if got := e.agent.Status().Errors; got != errs {
			t.Errorf("sync errors went from %d to %d", errs, got)
		}
		if got := backends(t, client, "tcp", ap("10.96.0.11:80"), 10); len(got) != 1 {
			t.Errorf("backends with ClientIP affinity %v, want one", got)
		}
	})
	t.Run("nodePort cluster policy", func(t *testing.T) {
		seen := map[string]string{}
		for range 40 {
			b, peer, err := who(e.ext, "tcp", ap(svcNodeIP+":30080"), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			seen[b] = peer
		}
		// Local endpoint: the client address is kept; remote: masqueraded to node-a.
		want := map[string]string{"p1": svcExtIP, "remote": svcLinkA}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("backend -> client address seen %v, want %v", seen, want)
		}
	})
	t.Run("clusterIP from outside the cluster", func(t *testing.T) {
		seen := map[string]string{}
		for range 40 {
			b, peer, err := who(e.ext, "tcp", ap("10.96.0.20:80"), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			seen[b] = peer
		}
		// As the NodePort: a remote endpoint sees node-a, so that its reply returns.
		want := map[string]string{"p1": svcExtIP, "remote": svcLinkA}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("backend -> client address seen %v, want %v", seen, want)
		}
		// externalTrafficPolicy Local: the local endpoint only, client address kept.
		for range 10 {
			b, peer, err := who(e.ext, "tcp", ap("10.96.0.21:80"), time.Second)
			if err != nil || b != "p1" || peer != svcExtIP {
				t.Fatalf("cluster IP of a Local service from outside: %s seeing %s (%v), want p1 seeing %s", b, peer, err, svcExtIP)
			}
		}
	})
	t.Run("local policy uses local endpoints and keeps the client address", func(t *testing.T) {
		for _, dst := range []string{svcNodeIP + ":30081", "203.0.113.10:80", "203.0.113.11:80"} {
			for range 10 {
				b, peer, err := who(e.ext, "tcp", ap(dst), time.Second)
				if err != nil {
					t.Fatalf("%s: %v", dst, err)
				}
				if b != "p1" || peer != svcExtIP {
					t.Fatalf("%s answered by %s seeing %s, want p1 seeing %s", dst, b, peer, svcExtIP)
				}
			}
		}
		// No local endpoint: external traffic is dropped ...
		if _, _, err := who(e.ext, "tcp", ap(svcNodeIP+":30082"), 300*time.Millisecond); !isTimeout(err) {
			t.Errorf("nodePort without local endpoint: %v, want a timeout (dropped)", err)
		}
		// ... while pods still reach the remote endpoint through the LoadBalancer IP.
		if b, _, err := who(client, "tcp", ap("203.0.113.12:80"), time.Second); err != nil || b != "remote" {
			t.Errorf("pod to LoadBalancer IP of a Local service: %q, %v; want remote", b, err)
		}
	})
	t.Run("health check node ports", func(t *testing.T) {
		for port, want := range map[int]int{32001: 200, 32002: 503} {
			code, body := httpGet(t, e.ext, fmt.Sprintf("http://%s:%d/", svcNodeIP, port))
			wantN := map[int]string{200: `"localEndpoints":1`, 503: `"localEndpoints":0`}[want]
			if code != want || !strings.Contains(body, wantN) {
				t.Errorf("health check %d: %d %s, want %d with %s", port, code, body, want, wantN)
			}
		}
	})
	t.Run("no endpoints rejects", func(t *testing.T) {
		for _, c := range []struct{ ns, dst string }{{client, "10.96.0.30:80"}, {e.ext, svcNodeIP + ":30083"}} {
			start := time.Now()
			_, _, err := who(c.ns, "tcp", ap(c.dst), 2*time.Second)
			if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > time.Second {
				t.Errorf("%s: %v after %s, want connection refused at once", c.dst, err, time.Since(start))
			}
		}
	})
	t.Run("hairpin", func(t *testing.T) {
		if b, _, err := who(pods[1].NS, "tcp", ap("10.96.0.31:80"), time.Second); err != nil || b != "p1" {
			t.Errorf("pod to its own service: %q, %v", b, err)
		}
	})
	t.Run("headless programs nothing", func(t *testing.T) {
		// Ten IPv4 service addresses: web tcp+udp, sticky, np, local (ClusterIP,
		// externalIP, LB IP), remote (ClusterIP, LB IP), self; none for headless (nor
		// for empty, which rejects instead).
		out := nftIn(t, e.net.Host, "list", "map", "inet", testTable, "svc-addr4")
		if n := strings.Count(out, ": goto "); n != 10 {
			t.Errorf("svc-addr4 has %d elements, want 10:\n%s", n, out)
		}
	})
	t.Run("removed and unready endpoints are not used", func(t *testing.T) {
		put(t, e.st, sliceYAML("web", "web", "IPv4", true, pods[1].IPv4.String()+"@node-a", pods[2].IPv4.String()+"@node-a!"))
		eventually(t, 5*time.Second, func() string {
			if got := backends(t, client, "tcp", ap("10.96.0.10:80"), 20); len(got) != 1 || got["p1"] != 20 {
				return fmt.Sprintf("backends %v, want p1 only", got)
			}
			return ""
		})
	})
	t.Run("udp conntrack flushed when the endpoint goes", func(t *testing.T) {
		put(t, e.st, sliceYAML("web", "web", "IPv4", true, pods[2].IPv4.String()+"@node-a"))
		eventually(t, 5*time.Second, func() string {
			if b, _, err := who(client, "tcp", ap("10.96.0.10:80"), time.Second); err != nil || b != "p2" {
				return fmt.Sprintf("tcp: %q, %v; want p2", b, err)
			}
			return ""
		})
		var c net.Conn
		err := netns.Do(client, func() error {
			var err error
			c, err = net.Dial("udp", "10.96.0.10:80")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		eventually(t, 5*time.Second, func() string {
			if b, _, err := askWho(c, "udp", 300*time.Millisecond); err != nil || b != "p2" {
				return fmt.Sprintf("udp from a fixed socket: %q, %v; want p2", b, err)
			}
			return ""
		})
		// The same 5-tuple keeps its conntrack entry (to p2) unless the agent flushes it.
		put(t, e.st, sliceYAML("web", "web", "IPv4", true, pods[1].IPv4.String()+"@node-a"))
		eventually(t, 5*time.Second, func() string {
			if b, _, err := askWho(c, "udp", 300*time.Millisecond); err != nil || b != "p1" {
				return fmt.Sprintf("udp from a fixed socket after p2 left: %q, %v; want p1", b, err)
			}
			return ""
		})
	})
	t.Run("policy sees the endpoint address", func(t *testing.T) {
		// pod1 may not reach pod2; the service leads only to pod2.
		put(t, e.st, `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p2-ingress, namespace: shop}
spec:
  selector: app == 'p2'
  types: [Ingress]
  ingress:
  - {action: Deny, source: {selector: app == 'p1'}}
  - {action: Allow}
---
`+sliceYAML("self", "self", "IPv4", false, pods[2].IPv4.String()+"@node-a"))
		eventually(t, 5*time.Second, func() string {
			if b, _, err := who(client, "tcp", ap("10.96.0.31:80"), time.Second); err != nil || b != "p2" {
				return fmt.Sprintf("pod0 via service: %q, %v; want p2", b, err)
			}
			if _, _, err := who(pods[1].NS, "tcp", ap("10.96.0.31:80"), 300*time.Millisecond); !isTimeout(err) {
				return fmt.Sprintf("pod1 via service: %v, want dropped by policy", err)
			}
			return ""
		})
	})
	t.Run("rules match services", func(t *testing.T) {
		// pod0 may send only TCP to sticky's endpoints (ports from its slice).
		put(t, e.st, `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p0-egress, namespace: shop}
spec:
  selector: app == 'p0'
  types: [Egress]
  egress:
  - {action: Allow, protocol: TCP, destination: {services: {name: sticky}}}
---
`)
		eventually(t, 5*time.Second, func() string {
			if _, _, err := who(client, "tcp", ap(svcRemote+":8080"), 300*time.Millisecond); !isTimeout(err) {
				return fmt.Sprintf("pod0 to the remote endpoint: %v, want dropped", err)
			}
			if _, _, err := who(client, "udp", ap("10.96.0.10:80"), 300*time.Millisecond); !isTimeout(err) {
				return fmt.Sprintf("pod0 to web over UDP: %v, want dropped", err)
			}
			if b, _, err := who(client, "tcp", ap("10.96.0.11:80"), time.Second); err != nil || (b != "p1" && b != "p2") {
				return fmt.Sprintf("pod0 to sticky: %q, %v; want p1 or p2", b, err)
			}
			return ""
		})
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
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func httpGet(t *testing.T, ns, url string) (int, string) {
	t.Helper()
	var c net.Conn
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			err := netns.Do(ns, func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}, DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", url, ns, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// freshAgentTable runs a second agent with e's config on e's store in a new namespace
// until its first (full) sync, and returns its table's dump.
func freshAgentTable(t *testing.T, e *svcEnv) string {
	t.Helper()
	ns := "trl-" + e.net.Tag + "-fresh"
	if err := netns.Create(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(ns); err != nil {
			t.Errorf("delete namespace %s: %v", ns, err)
		}
	})
	dp, err := KernelDataplane(context.Background(), ns, testTable)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, e.cfg.NodeName)
	cfg.TableName, cfg.WorkloadPrefix, cfg.Routing = testTable, svcPrefix, RoutingOff
	fresh := New(cfg, e.st, dp, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fresh.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, 10*time.Second, func() string {
		if s := fresh.Status(); !s.Ready {
			return "fresh agent not synced"
		}
		return ""
	})
	return testnet.NftDump(t, ns, testTable, "svc-af-")
}
