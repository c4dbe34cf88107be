package lab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/route"
)

// These tests run multi-node labs with BGP or VXLAN routing, an external BIRD router on
// the fabric, a route-reflector topology, agent crashes and node removal, and BGP service
// advertisement; every lab is named trlr<hex> and taken down in t.Cleanup.

// newRoutingLab starts a lab of n nodes with the given routing and registers its removal.
func newRoutingLab(t *testing.T, routing string, n int) string {
	t.Helper()
	needRoot(t)
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := "trlr" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if t.Failed() {
			files, _ := filepath.Glob(filepath.Join(logDir(name), "*.log"))
			for _, f := range files {
				data, _ := os.ReadFile(f)
				if len(data) > 4000 {
					data = data[len(data)-4000:]
				}
				t.Logf("%s:\n%s", filepath.Base(f), data)
			}
		}
		if r := run(t, name, "lab", "down", "--name", name); r.code != 0 {
			t.Errorf("lab down: exit %d: %s", r.code, r.stderr)
		}
		assertGone(t, name)
	})
	out := mustRun(t, name, "lab", "up", "--name", name, "--nodes", fmt.Sprint(n), "--routing", routing)
	if !strings.Contains(out, "lab "+name+" is up") {
		t.Fatalf("lab up printed no final line:\n%s", out)
	}
	return name
}

// applyText applies a manifest given as text.
func applyText(t *testing.T, name, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, name, "apply", "-f", f)
}

// eventually polls cond every 100 ms until it holds or timeout passes; it returns how long
// it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, detail := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s: %s", what, timeout, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// matrixResults runs `lab matrix -o json` and returns the verdicts by "from to".
func matrixResults(t *testing.T, name string, extra ...string) (map[string]string, result) {
	t.Helper()
	r := run(t, name, append([]string{"lab", "matrix", "--name", name, "-o", "json"}, extra...)...)
	var m matrixJSON
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("decode lab matrix: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	out := map[string]string{}
	for _, x := range m.Results {
		out[x.From+" "+x.To] = x.Verdict
	}
	return out, r
}

// labReport is `lab status -o json`, also when the lab is momentarily unhealthy (exit 1:
// an agent between syncs), which the caller's own checks then judge.
func labReport(t *testing.T, name string) Report {
	t.Helper()
	r := run(t, name, "lab", "status", "--name", name, "-o", "json")
	var rep Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("lab status: exit %d: %v\n%s", r.code, err, r.stderr)
	}
	if r.code != 0 {
		t.Logf("lab status: exit %d (not healthy): %+v", r.code, rep.Nodes)
	}
	return rep
}

// waitPods waits until the named pods (namespace/name) run, ready with an address; other
// pods (the lab's DNS, say) do not count.
func waitPods(t *testing.T, name string, refs ...string) {
	t.Helper()
	eventually(t, 30*time.Second, "pods running", func() (bool, string) {
		up := map[string]bool{}
		for _, p := range labReport(t, name).Pods {
			if p.Phase == "Running" && p.Ready && p.IP != "" {
				up[p.Namespace+"/"+p.Name] = true
			}
		}
		for _, r := range refs {
			if !up[r] {
				return false, r + " is not running"
			}
		}
		return true, ""
	})
}

// podsOn maps pod name to node.
func podsOn(t *testing.T, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range labReport(t, name).Pods {
		out[p.Name] = p.Node
	}
	return out
}

// TestThreeNodeMatrixAndPolicy: with BGP and with VXLAN, the three pods of the docs'
// policy lab (one per node) all reach each other; then its default deny and allow
// policies hold on real packets exactly as the calculation says.
func TestThreeNodeMatrixAndPolicy(t *testing.T) {
	for _, routing := range []string{RoutingBGP, RoutingVXLAN} {
		t.Run(routing, func(t *testing.T) {
			name := newRoutingLab(t, routing, 3)
			mustRun(t, name, "apply", "-f", filepath.Join("..", "..", "examples", "lab", "app.yaml"))
			waitPods(t, name, "shop/frontend", "shop/backend", "shop/database")
			nodes := map[string]bool{}
			for p, n := range podsOn(t, name) {
				if slices.Contains([]string{"frontend", "backend", "database"}, p) {
					nodes[n] = true
				}
			}
			if len(nodes) != 3 {
				t.Fatalf("pods on %v: want one pod on each of 3 nodes", nodes)
			}
			eventually(t, 20*time.Second, "every pod reaches every pod", func() (bool, string) {
				m, r := matrixResults(t, name, "-n", "shop")
				if len(m) != 9 {
					return false, fmt.Sprintf("%d results: %s", len(m), r.stdout)
				}
				for k, v := range m {
					if v != "allow" {
						return false, k + ": " + v
					}
				}
				return true, ""
			})
			mustRun(t, name, "apply", "-f", filepath.Join("..", "..", "examples", "lab", "policy.yaml"))
			eventually(t, 20*time.Second, "lab matrix --compare agrees with the calculation", func() (bool, string) {
				r := run(t, name, "lab", "matrix", "--name", name, "-n", "shop", "--compare")
				return r.code == 0, r.stdout + r.stderr
			})
			m, _ := matrixResults(t, name, "-n", "shop")
			if m["shop/frontend shop/backend"] != "allow" || m["shop/frontend shop/database"] != "deny" {
				t.Errorf("after the policies: frontend->backend %s, frontend->database %s; want allow, deny",
					m["shop/frontend shop/backend"], m["shop/frontend shop/database"])
			}
		})
	}
}

// TestRouteReflectorTopology: the node mesh off, node1 a route reflector (cluster ID), every
// node peering with it by peerSelector: full pod connectivity, and only node1 has sessions
// to both other nodes.
func TestRouteReflectorTopology(t *testing.T) {
	name := newRoutingLab(t, RoutingBGP, 3)
	out := mustRun(t, name, "get", "node", "node1", "-o", "yaml")
	out = strings.Replace(out, "  bgp:\n", "  bgp:\n    routeReflectorClusterID: 224.0.0.1\n", 1)
	out = strings.Replace(out, "  labels:\n", "  labels:\n    route-reflector: \"true\"\n", 1)
	if !strings.Contains(out, "routeReflectorClusterID") || !strings.Contains(out, "route-reflector") {
		t.Fatalf("could not edit node1:\n%s", out)
	}
	applyText(t, name, stripStatus(out)+`---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: to-reflector}
spec: {nodeSelector: all(), peerSelector: has(route-reflector)}
`)
	applyText(t, name, threePods)
	waitPods(t, name, "default/p1", "default/p2", "default/p3")
	eventually(t, 30*time.Second, "full connectivity through the reflector", func() (bool, string) {
		m, r := matrixResults(t, name, "-n", "default")
		for k, v := range m {
			if v != "allow" {
				return false, k + ": " + v
			}
		}
		return len(m) == 9, r.stdout
	})
	peers := map[string][]string{}
	for _, n := range labReport(t, name).Nodes {
		for _, p := range n.BGPPeers {
			if p.State == "Established" {
				peers[n.Name] = append(peers[n.Name], p.Address)
			}
		}
	}
	want := map[string][]string{"node1": {"10.99.0.12", "10.99.0.13"}, "node2": {"10.99.0.11"}, "node3": {"10.99.0.11"}}
	for n, w := range want {
		slices.Sort(peers[n])
		if !slices.Equal(peers[n], w) {
			t.Errorf("%s established sessions %v, want %v", n, peers[n], w)
		}
	}
}

// stripStatus drops a YAML document's status and metadata fields apply would refuse.
func stripStatus(doc string) string {
	var out []string
	skip := false
	for _, line := range strings.Split(doc, "\n") {
		top := !strings.HasPrefix(line, " ")
		if top {
			skip = strings.HasPrefix(line, "status:")
		}
		trim := strings.TrimSpace(line)
		if skip || strings.HasPrefix(trim, "resourceVersion:") || strings.HasPrefix(trim, "uid:") ||
			strings.HasPrefix(trim, "creationTimestamp:") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n") + "\n"
}

// threePods puts one demo HTTP server pod on each of three nodes.
var threePods = serverPods("node1", "node2", "node3")

// routesOf lists all routes of a namespace (`ip -j route`).
func routesOf(t *testing.T, ns string) []birdRoute {
	t.Helper()
	var all []birdRoute
	for _, family := range []string{"-4", "-6"} {
		out, err := exec.Command("ip", "-n", ns, "-j", family, "route", "show").Output()
		if err != nil {
			t.Fatalf("ip -n %s %s route: %v", ns, family, err)
		}
		var rs []birdRoute
		if err := json.Unmarshal(out, &rs); err != nil {
			t.Fatalf("decode routes of %s: %v", ns, err)
		}
		all = append(all, rs...)
	}
	return all
}

// birdRoute is one `ip -j route` entry, multipath included.
type birdRoute struct {
	Dst      string `json:"dst"`
	Gateway  string `json:"gateway"`
	Protocol string `json:"protocol"`
	Type     string `json:"type"`
	Nexthops []struct {
		Gateway string `json:"gateway"`
	} `json:"nexthops"`
}

// gateways is the sorted next hops of the route to dst in ns ("" when there is none).
func gateways(t *testing.T, ns, dst string) string {
	t.Helper()
	for _, r := range routesOf(t, ns) {
		if r.Dst != dst {
			continue
		}
		var gws []string
		if r.Gateway != "" {
			gws = append(gws, r.Gateway)
		}
		for _, h := range r.Nexthops {
			gws = append(gws, h.Gateway)
		}
		slices.Sort(gws)
		return strings.Join(gws, ",")
	}
	return ""
}

// routeFor is the destination of the route in ns that covers ip, "" when none.
func routeFor(t *testing.T, ns, ip string) birdRoute {
	t.Helper()
	a := netip.MustParseAddr(ip)
	best := birdRoute{}
	bestBits := -1
	for _, r := range routesOf(t, ns) {
		p, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			if pa, err2 := netip.ParseAddr(r.Dst); err2 == nil {
				p = netip.PrefixFrom(pa, pa.BitLen())
			} else {
				continue
			}
		}
		if p.Contains(a) && p.Bits() > bestBits {
			best, bestBits = r, p.Bits()
		}
	}
	return best
}

// dialFrom connects to addr:port over TCP from inside namespace ns (a name, or a path).
func dialFrom(ns string, addr string, port int) error {
	dial := func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, fmt.Sprint(port)), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
	if filepath.IsAbs(ns) { // a path, as PodNamespaceOf returns
		return netns.DoPath(ns, dial)
	}
	return netns.Do(ns, dial)
}

// TestExternalRouterServicesAndNodeLifecycle runs one 3-node BGP lab with Debian's BIRD
// on the fabric and checks, in order: BIRD learns every node's block and reaches pods; a
// route BIRD announces is installed only once the nodes accept it; service CIDRs and
// externalTrafficPolicy Local /32s follow endpoints; an agent killed with -9 loses no
// traffic; a removed node's routes are withdrawn within seconds and an added node's
// first pod is reachable from every node.
func TestExternalRouterServicesAndNodeLifecycle(t *testing.T) {
	if _, err := os.Stat(BirdPath); err != nil {
		t.Skip("needs BIRD 2 at " + BirdPath + ": apt-get install bird2")
	}
	name := newRoutingLab(t, RoutingBGP, 3)
	out := mustRun(t, name, "lab", "external", "add", "tor", "--name", name, "--bird", "--asn", "65001",
		"--announce", "203.0.113.0/24")
	if !strings.Contains(out, "bird pid") {
		t.Fatalf("external add printed %q", out)
	}
	st, err := LoadState(name)
	if err != nil {
		t.Fatal(err)
	}
	tor, ok := st.External("tor")
	if !ok || tor.Router == nil {
		t.Fatalf("state has no router tor: %+v", st.Externals)
	}
	applyText(t, name, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: %s, asNumber: 65001}
`, tor.Addr()))
	applyText(t, name, threePods)
	waitPods(t, name, "default/p1", "default/p2", "default/p3")
	l := &routerLab{name: name, tor: tor, ips: podIPs(t, name),
		node: map[string]string{"p1": "10.99.0.11", "p2": "10.99.0.12", "p3": "10.99.0.13"}}
	t.Run("bird learns every block", l.birdLearnsBlocks)
	t.Run("announced route installed once accepted", l.announcedRouteAccepted)
	t.Run("service advertisement", l.serviceAdvertisement)
	t.Run("agent kill -9 under traffic", l.agentKillUnderTraffic)
	t.Run("node removed and added", l.nodeRemovedAndAdded)
}

// routerLab is the lab of TestExternalRouterServicesAndNodeLifecycle.
type routerLab struct {
	name string
	tor  External
	ips  map[string]string // pod name -> IPv4 address
	node map[string]string // pod name -> its node's address
}

// birdLearnsBlocks: BIRD routes each pod block via its node and reaches the pods; lab status shows the sessions.
func (l *routerLab) birdLearnsBlocks(t *testing.T) {
	eventually(t, 20*time.Second, "BIRD routes to each pod's block via its node", func() (bool, string) {
		for p, via := range l.node {
			if r := routeFor(t, l.tor.Namespace, l.ips[p]); r.Gateway != via || r.Protocol != "bird" {
				return false, fmt.Sprintf("route for %s (%s): %+v, want via %s proto bird", p, l.ips[p], r, via)
			}
		}
		return true, ""
	})
	for p := range l.node {
		if err := dialFrom(l.tor.Namespace, l.ips[p], 80); err != nil {
			t.Errorf("tor -> pod %s (%s): %v", p, l.ips[p], err)
		}
	}
	r := labReport(t, l.name)
	if len(r.Externals) != 1 || !slices.ContainsFunc(r.Externals[0].Protocols, func(p RouterProtocol) bool {
		return p.Name == "node_node1" && p.Info == "Established"
	}) {
		t.Errorf("lab status externals %+v: want tor with node_node1 Established", r.Externals)
	}
	for _, n := range r.Nodes {
		if !slices.ContainsFunc(n.BGPPeers, func(p agentapi.BGPPeer) bool { return p.Address == l.tor.Addr().String() && p.State == "Established" }) {
			t.Errorf("lab status: %s peers %+v, want %s Established", n.Name, n.BGPPeers, l.tor.Addr())
		}
	}
}

// announcedRouteAccepted: BIRD's own prefix is installed on the nodes only once an IPPool covers it.
func (l *routerLab) announcedRouteAccepted(t *testing.T) {
	time.Sleep(time.Second)
	for _, n := range []string{"node1", "node2"} {
		if gw := gateways(t, NodeNS(l.name, n), "203.0.113.0/24"); gw != "" {
			t.Errorf("%s installed BIRD's 203.0.113.0/24 via %s before accepting it", n, gw)
		}
	}
	applyText(t, l.name, `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: external-net}
spec: {cidr: 203.0.113.0/24, disabled: true, disableBGPExport: true, nodeSelector: "!all()"}
`)
	for _, n := range []string{"node1", "node2", "node3"} {
		eventually(t, 10*time.Second, n+" installs 203.0.113.0/24 via the router", func() (bool, string) {
			gw := gateways(t, NodeNS(l.name, n), "203.0.113.0/24")
			return gw == l.tor.Addr().String(), gw
		})
	}
}

// serviceAdvertisement: service CIDRs by ECMP from every node, an externalTrafficPolicy Local /32 only from nodes with
// ready local endpoints, following them; an excluded node advertises none; nodes install none.
func (l *routerLab) serviceAdvertisement(t *testing.T) {
	applyText(t, l.name, serviceAdvertManifest("node2", "true", "node3", "false"))
	torRoute := func(dst, want string) func() (bool, string) {
		return func() (bool, string) {
			gw := gateways(t, l.tor.Namespace, dst)
			return gw == want, "got " + gw + ", want " + want
		}
	}
	all3 := "10.99.0.11,10.99.0.12,10.99.0.13"
	eventually(t, 10*time.Second, "cluster CIDR by ECMP from every node", torRoute("10.96.0.0/16", all3))
	eventually(t, 10*time.Second, "external CIDR by ECMP from every node", torRoute("198.51.100.0/24", all3))
	eventually(t, 10*time.Second, "Local service /32 only via node2", torRoute("10.96.0.50", "10.99.0.12"))
	eventually(t, 10*time.Second, "Local external IP only via node2", torRoute("198.51.100.9", "10.99.0.12"))
	for _, n := range []string{"node1", "node2", "node3"} {
		if gw := gateways(t, NodeNS(l.name, n), "10.96.0.0/16"); gw != "" {
			t.Errorf("%s installed the service CIDR learned from others via %s", n, gw)
		}
	}
	applyText(t, l.name, serviceAdvertManifest("node2", "false", "node3", "true"))
	d := eventually(t, 10*time.Second, "the /32 follows the ready endpoint to node3", torRoute("10.96.0.50", "10.99.0.13"))
	t.Logf("Local /32 moved to the new endpoint's node in %s", d.Round(time.Millisecond))
	applyText(t, l.name, serviceAdvertManifest("node2", "false", "node3", "false"))
	eventually(t, 10*time.Second, "the /32 is withdrawn with the last ready endpoint", torRoute("10.96.0.50", ""))
	mustRun(t, l.name, "label", "node", "node3", route.LabelExcludeFromLB+"=true")
	eventually(t, 10*time.Second, "an excluded node advertises no service CIDR", torRoute("10.96.0.0/16", "10.99.0.11,10.99.0.12"))
}

// agentKillUnderTraffic: pod traffic across nodes survives an agent kill -9 and its restart.
func (l *routerLab) agentKillUnderTraffic(t *testing.T) {
	st, err := LoadState(l.name)
	if err != nil {
		t.Fatal(err)
	}
	n2, _ := st.Node("node2")
	lost, total := 0, 0
	probe := func() {
		total++
		r := run(t, l.name, "lab", "probe", "--name", l.name, "--from", "default/p1", "--to", "default/p2", "--port", "tcp/80", "--timeout", "500ms")
		if r.code != 0 {
			lost++
		}
	}
	for range 5 {
		probe()
	}
	if lost > 0 {
		t.Fatalf("%d of %d probes lost before the kill", lost, total)
	}
	if err := exec.Command("kill", "-9", fmt.Sprint(n2.AgentPID)).Run(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		probe()
	}
	mustRun(t, l.name, "lab", "up", "--name", l.name, "--nodes", "3")
	deadline = time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		probe()
	}
	t.Logf("agent kill -9 and restart under traffic: %d of %d probes lost", lost, total)
	if lost > 1 {
		t.Errorf("%d of %d probes lost across an agent kill -9 and restart; want at most 1", lost, total)
	}
}

// nodeRemovedAndAdded: a removed node's block is withdrawn everywhere within seconds; an added node's first pod is
// reachable from the other nodes.
func (l *routerLab) nodeRemovedAndAdded(t *testing.T) {
	block := routeFor(t, NodeNS(l.name, "node1"), l.ips["p3"])
	if block.Gateway != "10.99.0.13" {
		t.Fatalf("node1 route to p3 %+v, want via 10.99.0.13", block)
	}
	start := time.Now()
	mustRun(t, l.name, "lab", "node", "remove", "node3", "--name", l.name)
	removed := time.Since(start)
	for _, n := range []string{"node1", "node2"} {
		d := eventually(t, 10*time.Second, n+" withdraws node3's block", func() (bool, string) {
			gw := gateways(t, NodeNS(l.name, n), block.Dst)
			return gw == "", gw
		})
		t.Logf("%s withdrew node3's block %s %s after lab node remove returned (remove took %s)", n, block.Dst, d.Round(time.Millisecond), removed.Round(time.Millisecond))
	}
	if gw := gateways(t, l.tor.Namespace, block.Dst); gw != "" {
		t.Errorf("BIRD still routes node3's block via %s", gw)
	}
	if netns.Exists(NodeNS(l.name, "node3")) {
		t.Error("node3's namespace is still there")
	}
	out := mustRun(t, l.name, "lab", "node", "add", "--name", l.name)
	if !strings.Contains(out, "agent node3: ready") && !strings.Contains(out, "agent node4: ready") {
		t.Fatalf("lab node add printed %q", out)
	}
	added := "node3"
	if strings.Contains(out, "node4") {
		added = "node4"
	}
	start = time.Now()
	applyText(t, l.name, strings.ReplaceAll(`apiVersion: v1
kind: Pod
metadata: {name: p9, namespace: default, labels: {app: p9}}
spec:
  nodeName: NODE
  containers:
  - {name: web, image: trellis, command: [trellis, demo, http-server, --port, "80"]}
`, "NODE", added))
	waitPods(t, l.name, "default/p9")
	for _, from := range []string{"default/p1", "default/p2"} {
		if !probeUntil(t, l.name, from, "default/p9") {
			t.Errorf("%s does not reach the new node's pod", from)
		}
	}
	t.Logf("new node %s: first pod created to reachable from every node in %s", added, time.Since(start).Round(time.Millisecond))
}

// serviceAdvertManifest is the service advertisement configuration plus a Service without
// selector (so nothing rewrites its EndpointSlice) with one endpoint on each of two nodes.
func serviceAdvertManifest(nodeA, readyA, nodeB, readyB string) string {
	return fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec:
  serviceClusterIPs: [{cidr: 10.96.0.0/16}]
  serviceExternalIPs: [{cidr: 198.51.100.0/24}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.50
  clusterIPs: [10.96.0.50]
  externalTrafficPolicy: Local
  externalIPs: [198.51.100.9]
  ports: [{port: 80, protocol: TCP, nodePort: 30080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-manual, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [10.244.255.1], nodeName: %s, conditions: {ready: %s}}
- {addresses: [10.244.255.2], nodeName: %s, conditions: {ready: %s}}
ports: [{port: 80, protocol: TCP}]
`, nodeA, readyA, nodeB, readyB)
}

// TestExternalAddRemove: external hosts get the highest free fabric addresses, reach the
// nodes over the fabric and nothing else (no default route), show in list and status, and
// are removed with their BIRD by remove (and by lab down, checked in cleanup).
func TestExternalAddRemove(t *testing.T) {
	name := newRoutingLab(t, RoutingBGP, 1)
	out := mustRun(t, name, "lab", "external", "add", "client", "--name", name)
	if !strings.Contains(out, "10.99.0.254/24") || !strings.Contains(out, NodeNS(name, "client")) {
		t.Errorf("external add printed %q, want namespace %s and address 10.99.0.254/24", out, NodeNS(name, "client"))
	}
	if again := mustRun(t, name, "lab", "external", "add", "client", "--name", name); again != out {
		t.Errorf("adding client again printed %q, want the same %q", again, out)
	}
	if r := run(t, name, "lab", "external", "add", "node1", "--name", name); r.code == 0 {
		t.Error("an external named like a node was accepted")
	}
	if r := run(t, name, "lab", "external", "add", "Bad-Name", "--name", name); r.code != 2 {
		t.Errorf("invalid host name: exit %d, want 2", r.code)
	}
	mustRun(t, name, "lab", "external", "add", "tor", "--name", name, "--bird", "--asn", "65001", "--peer", "node1")
	list := mustRun(t, name, "lab", "external", "list", "--name", name)
	for _, want := range []string{"client", "10.99.0.254/24", "tor", "10.99.0.253/24", "65001"} {
		if !strings.Contains(list, want) {
			t.Errorf("external list lacks %q:\n%s", want, list)
		}
	}
	if err := dialFrom(NodeNS(name, "client"), "10.99.0.11", 9); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("client -> node1 tcp/9: %v, want connection refused (reached, nothing listening)", err)
	}
	if gw := gateways(t, NodeNS(name, "client"), "default"); gw != "" {
		t.Errorf("client has a default route via %s", gw)
	}
	st, err := LoadState(name)
	if err != nil {
		t.Fatal(err)
	}
	tor, _ := st.External("tor")
	if tor.Router == nil || !alive(tor.Router.PID) {
		t.Fatalf("tor's BIRD is not running: %+v", tor)
	}
	text := mustRun(t, name, "lab", "status", "--name", name)
	if !strings.Contains(text, "node_node1") || !strings.Contains(text, "EXTERNAL") {
		t.Errorf("lab status lacks the router's protocols:\n%s", text)
	}
	mustRun(t, name, "lab", "external", "remove", "tor", "--name", name)
	if netns.Exists(NodeNS(name, "tor")) || alive(tor.Router.PID) {
		t.Errorf("after remove: namespace exists %v, bird alive %v", netns.Exists(NodeNS(name, "tor")), alive(tor.Router.PID))
	}
	mustRun(t, name, "lab", "external", "remove", "tor", "--name", name) // idempotent
	if list := mustRun(t, name, "lab", "external", "list", "--name", name); strings.Contains(list, "tor") {
		t.Errorf("tor still listed:\n%s", list)
	}
}

// TestDualStackBGP: in a lab up --ipv6, pods get IPv4 and IPv6 addresses, each node has a
// BGP session per family with the other and installs the other's IPv6 block via its IPv6
// underlay address, and pods reach each other over IPv6 across nodes.
func TestDualStackBGP(t *testing.T) {
	needRoot(t)
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := "trlr" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if r := run(t, name, "lab", "down", "--name", name); r.code != 0 {
			t.Errorf("lab down: exit %d: %s", r.code, r.stderr)
		}
	})
	out := mustRun(t, name, "lab", "up", "--name", name, "--nodes", "2", "--ipv6")
	if !strings.Contains(out, "4 sessions established") {
		t.Errorf("lab up --ipv6 did not report 4 established sessions:\n%s", out)
	}
	applyText(t, name, crossNodePods)
	waitPods(t, name, "default/p1", "default/p2")
	pods, err := Pods(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	v6 := map[string]string{}
	for _, p := range pods {
		for _, ip := range p.Status.PodIPs {
			if a, err := netip.ParseAddr(ip.IP); err == nil && a.Is6() {
				v6[p.Name] = ip.IP
			}
		}
	}
	if v6["p1"] == "" || v6["p2"] == "" {
		t.Fatalf("pods have no IPv6 addresses: %v", v6)
	}
	eventually(t, 10*time.Second, "node1 routes p2's IPv6 block via node2's IPv6 address", func() (bool, string) {
		r := routeFor(t, NodeNS(name, "node1"), v6["p2"])
		return r.Gateway == "2001:db8:99::12", fmt.Sprintf("%s: %+v", v6["p2"], r)
	})
	for _, c := range []struct{ from, to string }{{"default/p1", "p2"}, {"default/p2", "p1"}} {
		ns, err := PodNamespaceOf(name, c.from)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, c.from+" reaches "+c.to+" over IPv6", func() (bool, string) {
			err := dialFrom(ns, v6[c.to], 80)
			return err == nil, fmt.Sprint(err)
		})
	}
	if _, err := os.Stat(BirdPath); err != nil {
		t.Skip("the external router part needs BIRD 2 at " + BirdPath + ": apt-get install bird2")
	}
	// An external BIRD with a session per family learns the IPv6 blocks and reaches the pods.
	mustRun(t, name, "lab", "external", "add", "tor", "--name", name, "--bird", "--asn", "65001")
	st, err := LoadState(name)
	if err != nil {
		t.Fatal(err)
	}
	tor, _ := st.External("tor")
	if !tor.Addr6().IsValid() {
		t.Fatalf("tor has no IPv6 address in a dual-stack lab: %+v", tor)
	}
	applyText(t, name, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: %s, asNumber: 65001}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor6}
spec: {peerIP: "%s", asNumber: 65001}
`, tor.Addr(), tor.Addr6()))
	eventually(t, 20*time.Second, "BIRD routes p2's IPv6 block via node2's IPv6 address", func() (bool, string) {
		r := routeFor(t, tor.Namespace, v6["p2"])
		return r.Gateway == "2001:db8:99::12", fmt.Sprintf("%+v", r)
	})
	eventually(t, 10*time.Second, "tor reaches p1 over IPv6", func() (bool, string) {
		err := dialFrom(tor.Namespace, v6["p1"], 80)
		return err == nil, fmt.Sprint(err)
	})
}
