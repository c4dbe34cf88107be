package bgp_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/route"
)

var threeNodes = []clusterNode{
	{name: "a", cidr: "192.0.2.11/24", block: "10.244.0.0/26"},
	{name: "b", cidr: "192.0.2.12/24", block: "10.244.0.64/26"},
	{name: "c", cidr: "192.0.2.13/24", block: "10.244.0.128/26"},
}

// TestMeshKernel: three speakers in a full mesh learn each other's blocks (and a borrowed
// address) into the kernel; a killed speaker's routes survive on its peers (graceful
// restart) and on its own node while it restarts; a removed node's routes are withdrawn.
func TestMeshKernel(t *testing.T) {
	f := newFabric(t)
	in := clusterInput(threeNodes)
	in.Borrowed = []route.Borrowed{{Addr: netip.MustParseAddr("10.244.0.5"), Node: "b"}}
	res := route.Compute(in)
	kids := map[string]*child{}
	for _, n := range threeNodes {
		ns := f.addHost(t, n.name, n.cidr)
		kids[n.name] = startChild(t, ns, nodeConfig(t, res, n.name))
	}
	want := map[string][]string{
		"a": {"blackhole 10.244.0.0/26", "10.244.0.5/32 via 192.0.2.12 dev eth0", "10.244.0.64/26 via 192.0.2.12 dev eth0", "10.244.0.128/26 via 192.0.2.13 dev eth0"},
		"b": {"10.244.0.0/26 via 192.0.2.11 dev eth0", "blackhole 10.244.0.64/26", "10.244.0.128/26 via 192.0.2.13 dev eth0"},
		"c": {"10.244.0.0/26 via 192.0.2.11 dev eth0", "10.244.0.5/32 via 192.0.2.12 dev eth0", "10.244.0.64/26 via 192.0.2.12 dev eth0", "blackhole 10.244.0.128/26"},
	}
	for _, n := range threeNodes {
		d := eventually(t, 20*time.Second, "node "+n.name+" learns the mesh's routes", hasRoutes(t, f.hosts[n.name], want[n.name], nil))
		t.Logf("node %s converged after %v more", n.name, d)
	}
	eventually(t, 5*time.Second, "a's status shows both peers established", func() (bool, string) {
		st := kids["a"].status(t)
		ok := len(st) == 2 && st[0].Established() && st[1].Established() &&
			st[0].Address == netip.MustParseAddr("192.0.2.12") && st[0].Received == 2 && st[1].Received == 1
		return ok, fmt.Sprintf("%+v", st)
	})

	// Drift: a learned route deleted behind the agent's back comes back.
	if err := netns.Do(f.hosts["a"], exec.Command("ip", "route", "del", "10.244.0.64/26", "proto", "201").Run); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "deleted route restored", hasRoutes(t, f.hosts["a"], want["a"], nil))

	// kill -9 of c's speaker: a and b keep c's block (graceful restart), c keeps its routes.
	kids["c"].stop(t, syscall.SIGKILL)
	time.Sleep(3 * time.Second)
	for _, n := range []string{"a", "b", "c"} {
		if ok, got := hasRoutes(t, f.hosts[n], want[n], nil)(); !ok {
			t.Errorf("3 s after c's speaker was killed node %s lost routes:\n%s", n, got)
		}
	}
	// The restarted agent keeps the routes it finds until its peers sent End-of-RIB.
	restart := nodeConfig(t, res, "c")
	restart.SyncGrace = 20 * time.Second
	kids["c"].write(t, restart)
	kids["c"].start(t)
	// Until c's sessions are back, every route must stay on every node (sampled).
	eventually(t, 20*time.Second, "c's sessions re-established", func() (bool, string) {
		for _, n := range []string{"a", "b", "c"} {
			if ok, got := hasRoutes(t, f.hosts[n], want[n], nil)(); !ok {
				t.Fatalf("while c's speaker restarted node %s lost routes:\n%s", n, got)
			}
		}
		st := kids["c"].status(t)
		return len(st) == 2 && st[0].Established() && st[1].Established(), fmt.Sprintf("%+v", st)
	})
	for _, n := range threeNodes {
		eventually(t, 5*time.Second, "node "+n.name+" after c's restart", hasRoutes(t, f.hosts[n.name], want[n.name], nil))
	}

	// Node c leaves: its speaker stops with a NOTIFICATION and the others drop the peer.
	kids["c"].stop(t, syscall.SIGTERM)
	res2 := route.Compute(clusterInput(threeNodes[:2]))
	kids["a"].reload(t, nodeConfig(t, res2, "a"))
	kids["b"].reload(t, nodeConfig(t, res2, "b"))
	for _, n := range []string{"a", "b"} {
		d := eventually(t, 10*time.Second, "c's block withdrawn from "+n, hasRoutes(t, f.hosts[n], nil, []string{"10.244.0.128/26"}))
		t.Logf("c's block withdrawn from %s after %v", n, d)
	}
}

// TestRouteReflectorKernel: mesh off, node rr reflects; a and b peer only with rr and
// still learn each other's blocks with the originator as next hop.
func TestRouteReflectorKernel(t *testing.T) {
	f := newFabric(t)
	nodes := []clusterNode{
		{name: "rr", cidr: "192.0.2.10/24", block: "10.244.1.0/26", labels: map[string]string{"route-reflector": "true"}, clusterID: "224.0.0.1"},
		threeNodes[0], threeNodes[1],
	}
	off := false
	cfg := &model.BGPConfiguration{Spec: model.BGPConfigurationSpec{NodeToNodeMeshEnabled: &off}}
	cfg.Name = "default"
	peer := &model.BGPPeer{Spec: model.BGPPeerSpec{NodeSelector: "all()", PeerSelector: "route-reflector == 'true'"}}
	peer.Name = "to-rr"
	res := route.Compute(clusterInput(nodes, cfg, peer))
	kids := map[string]*child{}
	for _, n := range nodes {
		ns := f.addHost(t, n.name, n.cidr)
		kids[n.name] = startChild(t, ns, nodeConfig(t, res, n.name))
	}
	eventually(t, 20*time.Second, "a learns b's block through the reflector",
		hasRoutes(t, f.hosts["a"], []string{"10.244.0.64/26 via 192.0.2.12 dev eth0", "10.244.1.0/26 via 192.0.2.10 dev eth0"}, nil))
	eventually(t, 5*time.Second, "b learns a's block through the reflector",
		hasRoutes(t, f.hosts["b"], []string{"10.244.0.0/26 via 192.0.2.11 dev eth0"}, nil))
	st := kids["a"].status(t)
	if len(st) != 1 || st[0].Address != netip.MustParseAddr("192.0.2.10") {
		t.Errorf("a's peers = %+v, want only the reflector", st)
	}
	eventually(t, 5*time.Second, "rr's clients", func() (bool, string) {
		st := kids["rr"].status(t)
		return len(st) == 2 && st[0].RRClient && st[1].RRClient && st[0].Established() && st[1].Established(), fmt.Sprintf("%+v", st)
	})
}

const birdConf = `router id 192.0.2.100;
protocol device { }
protocol static { ipv4; route 203.0.113.0/24 blackhole; }
template bgp trellis {
  local 192.0.2.100 as 65000;
  connect retry time 1;
  ipv4 { import all; export all; };
}
protocol bgp node_a from trellis { neighbor 192.0.2.11 as 64512; }
protocol bgp node_b from trellis { neighbor 192.0.2.12 as 64512; }
`

// startBIRD runs Debian's bird2 in ns with its config and control socket in a temporary
// directory, stopped in t.Cleanup; it returns the socket path.
func startBIRD(t *testing.T, ns string) string {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/bird"); err != nil {
		t.Skip("needs BIRD 2 at /usr/sbin/bird: apt-get install bird2")
	}
	dir := t.TempDir()
	conf, sock := filepath.Join(dir, "bird.conf"), filepath.Join(dir, "bird.ctl")
	if err := os.WriteFile(conf, []byte(birdConf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command("/usr/sbin/bird", "-f", "-c", conf, "-s", sock, "-P", filepath.Join(dir, "bird.pid"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := netns.Do(ns, cmd.Start); err != nil {
		t.Fatalf("start bird: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("bird output:\n%s", out.String())
		}
	})
	return sock
}

func birdRoutes(sock string) string {
	out, err := exec.Command("birdc", "-s", sock, "show", "route").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("birdc: %v: %s", err, out)
	}
	return string(out)
}

// TestBIRDPeer: an external router (BIRD, AS 65000) peers with two nodes through a global
// BGPPeer; it learns every node's block, and its route is installed only on the node that
// is configured to accept it.
func TestBIRDPeer(t *testing.T) {
	f := newFabric(t)
	nodes := threeNodes[:2]
	peer := &model.BGPPeer{Spec: model.BGPPeerSpec{PeerIP: "192.0.2.100", ASNumber: 65000}}
	peer.Name = "bird"
	res := route.Compute(clusterInput(nodes, peer))
	birdNS := f.addHost(t, "bird", "192.0.2.100/24")
	sock := startBIRD(t, birdNS)
	kids := map[string]*child{}
	for _, n := range nodes {
		ns := f.addHost(t, n.name, n.cidr)
		kids[n.name] = startChild(t, ns, nodeConfig(t, res, n.name))
	}
	eventually(t, 30*time.Second, "BIRD learns every node's block", func() (bool, string) {
		out := birdRoutes(sock)
		return strings.Contains(out, "10.244.0.0/26") && strings.Contains(out, "10.244.0.64/26"), out
	})
	// Both nodes receive 203.0.113.0/24 but accept only the pod pool: not installed.
	eventually(t, 10*time.Second, "a receives BIRD's route", func() (bool, string) {
		for _, p := range kids["a"].status(t) {
			if p.Address == netip.MustParseAddr("192.0.2.100") && p.Established() && p.Received >= 1 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", kids["a"].status(t))
	})
	time.Sleep(time.Second)
	if ok, got := hasRoutes(t, f.hosts["a"], nil, []string{"203.0.113.0/24"})(); !ok {
		t.Errorf("a installed BIRD's route without accepting it:\n%s", got)
	}
	kids["a"].reload(t, nodeConfig(t, res, "a", netip.MustParsePrefix("203.0.113.0/24")))
	eventually(t, 10*time.Second, "a installs BIRD's route once it accepts it",
		hasRoutes(t, f.hosts["a"], []string{"203.0.113.0/24 via 192.0.2.100 dev eth0", "10.244.0.64/26 via 192.0.2.12 dev eth0"}, nil))
	if ok, got := hasRoutes(t, f.hosts["b"], nil, []string{"203.0.113.0/24"})(); !ok {
		t.Errorf("b installed BIRD's route without accepting it:\n%s", got)
	}
}

// TestECMPKernel: two nodes advertise the same prefix; the third installs one route with
// both next hops (multipath), and a single next hop once one of them withdraws it.
func TestECMPKernel(t *testing.T) {
	f := newFabric(t)
	res := route.Compute(clusterInput(threeNodes))
	anycast := netip.MustParsePrefix("198.51.100.0/24")
	kids := map[string]*child{}
	for _, n := range threeNodes {
		ns := f.addHost(t, n.name, n.cidr)
		cfg := nodeConfig(t, res, n.name, anycast)
		if n.name != "c" {
			cfg.Advertise = append(cfg.Advertise, anycast)
		}
		kids[n.name] = startChild(t, ns, cfg)
	}
	ecmp := []string{"198.51.100.0/24 nexthop via 192.0.2.11 dev eth0 nexthop via 192.0.2.12 dev eth0"}
	d := eventually(t, 20*time.Second, "c installs the anycast prefix with both next hops", hasRoutes(t, f.hosts["c"], ecmp, nil))
	t.Logf("ECMP route installed after %v", d)
	kids["a"].reload(t, nodeConfig(t, res, "a", anycast))
	eventually(t, 10*time.Second, "c keeps only b's path once a withdraws",
		hasRoutes(t, f.hosts["c"], []string{"198.51.100.0/24 via 192.0.2.12 dev eth0"}, []string{"nexthop"}))
}

// TestIPv6Kernel: two nodes with IPv4 and IPv6 underlay addresses run a session per
// family; each installs the other's IPv6 block via its IPv6 address (and the IPv4 block via
// the IPv4 one).
func TestIPv6Kernel(t *testing.T) {
	f := newFabric(t)
	nodes := threeNodes[:2]
	in := clusterInput(nodes)
	v6 := map[string]string{"a": "2001:db8::11/64", "b": "2001:db8::12/64"}
	blocks6 := map[string]string{"a": "2001:db8:42::/122", "b": "2001:db8:42::40/122"}
	for _, n := range in.Nodes {
		n.Spec.BGP.IPv6Address = v6[n.Name]
		in.Blocks = append(in.Blocks, route.Block{CIDR: netip.MustParsePrefix(blocks6[n.Name]), Node: n.Name})
	}
	res := route.Compute(in)
	pool6 := netip.MustParsePrefix("2001:db8:42::/48")
	for _, n := range nodes {
		ns := f.addHost(t, n.name, n.cidr)
		if out, err := exec.Command("ip", "-n", ns, "addr", "add", v6[n.name], "dev", "eth0", "nodad").CombinedOutput(); err != nil {
			t.Fatalf("add %s in %s: %v: %s", v6[n.name], ns, err, out)
		}
		startChild(t, ns, nodeConfig(t, res, n.name, pool6))
	}
	eventually(t, 20*time.Second, "a learns b's blocks of both families", hasRoutes(t, f.hosts["a"],
		[]string{"10.244.0.64/26 via 192.0.2.12 dev eth0", "2001:db8:42::40/122 via 2001:db8::12 dev eth0"}, nil))
	eventually(t, 5*time.Second, "b learns a's blocks of both families", hasRoutes(t, f.hosts["b"],
		[]string{"10.244.0.0/26 via 192.0.2.11 dev eth0", "2001:db8:42::/122 via 2001:db8::11 dev eth0"}, nil))
}
