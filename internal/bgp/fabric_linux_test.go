package bgp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/trellisnet/trellis/internal/bgp"
	"github.com/trellisnet/trellis/internal/dataplane/link"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/route"
	"github.com/trellisnet/trellis/internal/testnet"
)

// fabric is a bridge in a namespace of its own with hosts (namespaces) attached by veths:
// the lab's underlay in miniature. Every name starts with trl-bg-TAG.
type fabric struct {
	tag, ns string
	hosts   map[string]string // host name -> namespace
}

func newFabric(t *testing.T) *fabric {
	t.Helper()
	testnet.RequireRoot(t)
	f := &fabric{tag: testnet.RandomTag(), hosts: map[string]string{}}
	f.ns = f.newNS(t, "fabric")
	h := handleIn(t, f.ns)
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "trlbr"}}); err != nil {
		t.Fatalf("add bridge: %v", err)
	}
	br, err := h.LinkByName("trlbr")
	if err == nil {
		err = h.LinkSetUp(br)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fabric) newNS(t *testing.T, name string) string {
	t.Helper()
	ns := fmt.Sprintf("trl-bg-%s-%s", f.tag, name)
	if err := netns.Create(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	h := handleIn(t, ns)
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// addHost creates namespace trl-bg-TAG-NAME with eth0 (address cidr) on the bridge.
func (f *fabric) addHost(t *testing.T, name, cidr string) string {
	t.Helper()
	ns := f.newNS(t, name)
	f.hosts[name] = ns
	fabFD, err := netns.Handle(f.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer fabFD.Close()
	h := handleIn(t, ns)
	port := fmt.Sprintf("trlv%d", len(f.hosts))
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: port,
		PeerNamespace: netlink.NsFd(int(fabFD))}); err != nil {
		t.Fatalf("add veth for %s: %v", name, err)
	}
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix(cidr)
	ipnet := &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
	if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: ipnet}); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(eth0); err != nil {
		t.Fatal(err)
	}
	fh := handleIn(t, f.ns)
	pl, err := fh.LinkByName(port)
	if err != nil {
		t.Fatal(err)
	}
	br, err := fh.LinkByName("trlbr")
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.LinkSetMaster(pl, br); err != nil {
		t.Fatal(err)
	}
	if err := fh.LinkSetUp(pl); err != nil {
		t.Fatal(err)
	}
	return ns
}

func handleIn(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	var h *netlink.Handle
	err := netns.Do(ns, func() (err error) {
		h, err = netlink.NewHandle()
		return err
	})
	if err != nil {
		t.Fatalf("open netlink in %s: %v", ns, err)
	}
	t.Cleanup(h.Close)
	return h
}

// child is a speaker process in a node namespace.
type child struct {
	ns, dir string
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
}

func startChild(t *testing.T, ns string, cfg childConfig) *child {
	t.Helper()
	c := &child{ns: ns, dir: t.TempDir(), stderr: &bytes.Buffer{}}
	c.write(t, cfg)
	c.start(t)
	return c
}

func (c *child) write(t *testing.T, cfg childConfig) {
	t.Helper()
	if err := writeJSON(filepath.Join(c.dir, "config.json"), cfg); err != nil {
		t.Fatal(err)
	}
}

func (c *child) start(t *testing.T) {
	t.Helper()
	if err := os.Remove(filepath.Join(c.dir, "status.json")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envConfig+"="+filepath.Join(c.dir, "config.json"),
		envStatus+"="+filepath.Join(c.dir, "status.json"))
	cmd.Stderr = c.stderr
	if err := netns.Do(c.ns, cmd.Start); err != nil {
		t.Fatalf("start speaker in %s: %v", c.ns, err)
	}
	c.cmd = cmd
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() && c.stderr.Len() > 0 {
			t.Logf("speaker in %s stderr:\n%s", c.ns, c.stderr)
		}
	})
}

// reload writes a new configuration and tells the child to apply it.
func (c *child) reload(t *testing.T, cfg childConfig) {
	t.Helper()
	c.write(t, cfg)
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// stop sends sig and waits for the process to end.
func (c *child) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

func (c *child) status(t *testing.T) []bgp.PeerStatus {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "status.json"))
	if err != nil {
		return nil
	}
	var st []bgp.PeerStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// kernelRoutes is the text of the routes of Trellis's protocol in ns, one a line, sorted.
func kernelRoutes(t *testing.T, ns string) string {
	t.Helper()
	rs, err := link.New(handleIn(t, ns)).Routes()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range rs {
		lines = append(lines, r.String())
	}
	return strings.Join(lines, "\n")
}

// eventually polls cond every 100 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, got := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("after %v: %s; have:\n%s", timeout, what, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hasRoutes reports whether every line of want is among ns's routes (and none of absent).
func hasRoutes(t *testing.T, ns string, want, absent []string) func() (bool, string) {
	return func() (bool, string) {
		got := kernelRoutes(t, ns)
		lines := map[string]bool{}
		for _, l := range strings.Split(got, "\n") {
			lines[l] = true
		}
		for _, w := range want {
			if !lines[w] {
				return false, got
			}
		}
		for _, a := range absent {
			if strings.Contains(got, a) {
				return false, got
			}
		}
		return true, got
	}
}

// clusterInput describes nodes NAME=ADDRESS/24 with one /26 block each.
type clusterNode struct {
	name, cidr, block string
	labels            map[string]string
	clusterID         string
}

func clusterInput(nodes []clusterNode, objs ...model.Object) route.Input {
	in := route.Input{BGP: true}
	for _, n := range nodes {
		mn := &model.Node{Spec: model.NodeSpec{BGP: &model.NodeBGPSpec{IPv4Address: n.cidr, RouteReflectorClusterID: n.clusterID}}}
		mn.Name, mn.Labels = n.name, n.labels
		in.Nodes = append(in.Nodes, mn)
		in.Blocks = append(in.Blocks, route.Block{CIDR: netip.MustParsePrefix(n.block), Node: n.name})
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *model.BGPConfiguration:
			in.BGPConfig = append(in.BGPConfig, o)
		case *model.BGPPeer:
			in.BGPPeers = append(in.BGPPeers, o)
		}
	}
	return in
}

var podPool = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}

func nodeConfig(t *testing.T, res route.Result, name string, accept ...netip.Prefix) childConfig {
	t.Helper()
	n, ok := res.Find(name)
	if !ok || n.BGP == nil {
		t.Fatalf("no BGP speaker for node %s in:\n%s", name, res)
	}
	return childConfig{Speaker: *n.BGP, Advertise: n.Advertise, Routes: n.Routes,
		Accept: append(append([]netip.Prefix(nil), podPool...), accept...)}
}
