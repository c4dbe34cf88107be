package cni

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
)

func TestPolicyWait(t *testing.T) {
	e := newEnv(t)
	p := e.newPod("default", "waiter", nil, nil)
	hostIf := HostVethName("default", "waiter", p.containerID)

	t.Run("timeout undoes the ADD", func(t *testing.T) {
		_, err := e.add(e.conflist(confOpts{version: "1.1.0", policyWait: "300ms"}), p.rt())
		if err == nil || !strings.Contains(err.Error(), "policy") {
			t.Fatalf("ADD without an agent: %v, want a policy-wait error", err)
		}
		if _, ok := e.hostLink(hostIf); ok {
			t.Errorf("host link %s left behind", hostIf)
		}
		if got := e.owned(p.containerID); len(got) != 0 {
			t.Errorf("addresses %v left allocated", got)
		}
		if _, err := e.wep(p); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("endpoint left behind: %v", err)
		}
	})
	t.Run("agent reports programmed", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() { fakeAgent(ctx, e, p) })
		start := time.Now()
		e.mustAdd(e.conflist(confOpts{version: "1.1.0", policyWait: "10s"}), p.rt())
		t.Logf("ADD with policy wait took %s", time.Since(start))
		cancel()
		wg.Wait()
	})
}

// fakeAgent plays the node agent's side of the contract: as soon as the endpoint exists
// (it watches the pod's namespace, so its own latency is a store round trip, not a poll
// interval) it writes an EndpointStatus carrying the endpoint's UID.
func fakeAgent(ctx context.Context, e *env, p *pod) {
	w, err := e.st.Watch(ctx, model.KindWorkloadEndpoint, store.WatchOptions{Namespace: p.ns})
	if err != nil {
		return // the plugin's policy wait then times out and the test says so
	}
	defer w.Stop()
	report := func() bool {
		wep, err := e.wep(p)
		if err != nil {
			return false
		}
		st := &model.EndpointStatus{TypeMeta: metav1.TypeMeta{APIVersion: model.GroupTrellis + "/" + model.VersionIPAM, Kind: "EndpointStatus"},
			ObjectMeta: metav1.ObjectMeta{Name: wep.Name, Namespace: wep.Namespace},
			Status:     model.EndpointStatusStatus{Node: e.node, EndpointUID: string(wep.UID), PolicyProgrammed: true}}
		_, err = e.st.Create(ctx, st)
		return err == nil
	}
	if report() {
		return
	}
	for ev := range w.Events() {
		if ev.Type != store.EventDeleted && ev.Object != nil && report() {
			return
		}
	}
}

func TestChainingPortmapBandwidth(t *testing.T) {
	for _, bin := range []string{"portmap", "bandwidth"} {
		if _, err := os.Stat("/usr/lib/cni/" + bin); err != nil {
			t.Skipf("needs /usr/lib/cni/%s (apt-get install containernetworking-plugins)", bin)
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("portmap needs iptables")
	}
	e := newEnv(t)
	l := e.conflist(confOpts{version: "1.0.0", chain: true, assign6: true})
	p := e.newPod("default", "chained", nil, nil)
	rt := p.rt()
	rt.CapabilityArgs = map[string]any{
		"portMappings": []map[string]any{{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}},
		"bandwidth":    map[string]any{"ingressRate": 8000000, "ingressBurst": 800000, "egressRate": 8000000, "egressBurst": 800000},
	}
	r := e.mustAdd(l, rt)
	hostIf := HostVethName("default", "chained", p.containerID)
	if len(r.IPs) != 2 || len(r.Interfaces) < 2 {
		t.Fatalf("chained result %+v", r)
	}
	// bandwidth shaped the host veth (ingress) and added an ifb device (egress).
	e.inHost(func() error {
		l, err := netlink.LinkByName(hostIf)
		if err != nil {
			return err
		}
		qd, err := netlink.QdiscList(l)
		if err != nil {
			return err
		}
		found := false
		for _, q := range qd {
			found = found || q.Type() == "tbf"
		}
		if !found {
			t.Errorf("no tbf qdisc on %s: %v", hostIf, qd)
		}
		return nil
	})
	// portmap forwards host port 18080 to the pod: connect from the host namespace to its
	// own uplink address.
	var ln net.Listener
	if err := netns.Do(p.netns, func() error {
		var err error
		ln, err = net.Listen("tcp4", ":8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("pm"))
			c.Close()
		}
	}()
	var reply []byte
	e.inHost(func() error {
		c, err := net.DialTimeout("tcp4", "203.0.113.1:18080", 5*time.Second)
		if err != nil {
			out, _ := exec.Command("iptables", "-t", "nat", "-S").CombinedOutput()
			t.Errorf("connect to the mapped port: %v\n%s", err, out)
			return nil
		}
		defer c.Close()
		buf := make([]byte, 2)
		n, _ := c.Read(buf)
		reply = buf[:n]
		return nil
	})
	if string(reply) != "pm" {
		t.Errorf("reply through portmap %q, want pm", reply)
	}
	// No CHECK of this chain: Debian's portmap 1.1.1 looks for its IPv4 rules in ip6tables
	// (fixed upstream later); trellis-cni's CHECK is covered by TestAddCheckDel.
	if err := e.run(func(ctx context.Context) error { return e.cni.DelNetworkList(ctx, l, rt) }); err != nil {
		t.Fatalf("DEL of the chain: %v", err)
	}
	e.inHost(func() error {
		out, _ := exec.Command("iptables", "-t", "nat", "-S").CombinedOutput()
		if bytes.Contains(out, []byte("18080")) {
			t.Errorf("portmap rules survive DEL:\n%s", out)
		}
		return nil
	})
}

func TestAnnotationsAndPools(t *testing.T) {
	e := newEnv(t)
	e.create(ipPool("special", "192.0.2.0/24", 28, ""))
	e.create(ipPool("zone-b", "203.0.113.0/25", 28, "zone == 'b'"))
	e.create(&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: "annotated", Annotations: map[string]string{AnnotationIPv4Pools: `["192.0.2.0/24"]`}}})
	l := e.conflist(confOpts{version: "1.1.0"})
	special := netip.MustParsePrefix("192.0.2.0/24")
	tests := []struct {
		name, ns    string
		annotations map[string]string
		want        func(netip.Addr) bool
		wantErr     bool
	}{
		{"default pools", "default", nil, pool4.Contains, false},
		{"pod annotation by name", "default", map[string]string{AnnotationIPv4Pools: `["special"]`}, special.Contains, false},
		{"namespace annotation by CIDR", "annotated", nil, special.Contains, false},
		{"pod annotation wins over namespace", "annotated", map[string]string{AnnotationIPv4Pools: `["pool-v4"]`}, pool4.Contains, false},
		{"fixed address", "default", map[string]string{AnnotationIPAddrs: `["198.51.100.77"]`},
			func(a netip.Addr) bool { return a == netip.MustParseAddr("198.51.100.77") }, false},
		{"fixed address in use", "default", map[string]string{AnnotationIPAddrs: `["198.51.100.77"]`}, nil, true},
		{"node selector excludes the pool", "default", map[string]string{AnnotationIPv4Pools: `["zone-b"]`}, nil, true},
		{"bad annotation", "default", map[string]string{AnnotationIPv4Pools: `special`}, nil, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := e.newPod(tc.ns, fmt.Sprintf("pod-%d", i), nil, tc.annotations)
			r, err := e.add(l, p.rt())
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ADD succeeded with %v", resultAddrs(r))
				}
				if got := e.owned(p.containerID); len(got) != 0 {
					t.Errorf("failed ADD left %v allocated", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			if a := resultAddrs(r); len(a) != 1 || !tc.want(a[0]) {
				t.Errorf("address %v", a)
			}
		})
	}
}

func TestDelegatedIPAM(t *testing.T) {
	if _, err := os.Stat("/usr/lib/cni/host-local"); err != nil {
		t.Skip("needs /usr/lib/cni/host-local")
	}
	e := newEnv(t)
	dataDir := filepath.Join(e.dir, "host-local")
	l := e.conflist(confOpts{version: "1.0.0", ipamJSON: fmt.Sprintf(`{"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": "203.0.113.128/25"}]]}`, dataDir)})
	p := e.newPod("default", "hl", nil, nil)
	r := e.mustAdd(l, p.rt())
	a := resultAddrs(r)
	if len(a) != 1 || !netip.MustParsePrefix("203.0.113.128/25").Contains(a[0]) {
		t.Fatalf("address %v, want one from host-local's range", a)
	}
	e.assertPodPlumbingV4(p, a[0])
	if err := e.run(func(ctx context.Context) error { return e.cni.DelNetworkList(ctx, l, p.rt()) }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "trl-net", a[0].String())); !os.IsNotExist(err) {
		t.Errorf("host-local still holds %s: %v", a[0], err)
	}
}

func (e *env) assertPodPlumbingV4(p *pod, a netip.Addr) {
	e.t.Helper()
	if err := netns.Do(p.netns, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0].IPNet.String() != a.String()+"/32" {
			e.t.Errorf("pod addresses %v, want %s/32", addrs, a)
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// ipamConf is a standalone trellis-ipam configuration for node.
func (e *env) ipamConf(node string) []byte {
	return fmt.Appendf(nil, `{"cniVersion": "1.1.0", "name": "trl-net", "type": %q, "datastore_endpoints": [%q], "nodename": %q,
		"log_file_path": %q, "ipam": {"type": %q}}`, IPAMPluginName, e.endpoint, node, filepath.Join(e.dir, "ipam.log"), IPAMPluginName)
}

// TestIPAMPluginConcurrentWithKills starts trellis-ipam ADDs in parallel across 4 nodes,
// kills some with SIGKILL at random points, then checks: no address twice, every block
// affine to the node its addresses went to, Check reports leaks only for killed
// containers, and GC per node plus the dangling-handle clean-up leave nothing behind.
func TestIPAMPluginConcurrentWithKills(t *testing.T) {
	e := newEnv(t)
	self := filepath.Join(e.dir, "bin", IPAMPluginName)
	sandbox := e.newPod("default", "sandbox", nil, nil).netns
	e.create(ipPool("pool-big", "10.200.0.0/16", 26, "")) // room for 500 (never configured on a link)
	const n = 500
	nodes := []string{"trl-n0", "trl-n1", "trl-n2", "trl-n3"}
	rng := rand.New(rand.NewPCG(7, 9))
	type proc struct {
		cid    string
		node   string
		killed bool
		kill   atomic.Bool // set by the timer that killed it
		err    error
	}
	procs := make([]*proc, n)
	delays := make([]time.Duration, n)
	for i := range n {
		procs[i] = &proc{cid: fmt.Sprintf("ctr-%03d", i), node: nodes[i%4]}
		if rng.IntN(3) == 0 {
			delays[i] = time.Duration(rng.IntN(40)) * time.Millisecond
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, pr := range procs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command(self)
			cmd.Env = append(os.Environ(), "CNI_COMMAND=ADD", "CNI_CONTAINERID="+pr.cid, "CNI_NETNS="+netns.Path(sandbox),
				"CNI_IFNAME=eth0", "CNI_PATH="+filepath.Dir(self))
			cmd.Stdin = bytes.NewReader(e.ipamConf(pr.node))
			var out bytes.Buffer
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				pr.err = err
				return
			}
			if d := delays[i]; d > 0 {
				time.AfterFunc(d, func() {
					// Mark first: Wait may return as soon as the signal lands. A process
					// that finished just before counts as killed too (the runtime would
					// not know it succeeded), which GC then cleans up like the others.
					pr.kill.Store(true)
					cmd.Process.Kill()
				})
			}
			err := cmd.Wait()
			pr.killed = pr.kill.Load()
			if err != nil {
				if !pr.killed {
					pr.err = fmt.Errorf("%w: %s", err, out.String())
				}
				pr.killed = true
			}
			if !pr.killed {
				if r, err := current.NewResult(out.Bytes()); err != nil || len(r.(*current.Result).IPs) != 1 {
					pr.err = fmt.Errorf("result %q: %v", out.String(), err)
				}
			}
		})
	}
	wg.Wait()
	killed := map[string]bool{}
	for _, pr := range procs {
		if pr.err != nil {
			t.Errorf("%s: %v", pr.cid, pr.err)
		}
		if pr.killed {
			killed[pr.cid] = true
		}
	}
	t.Logf("%d of %d ADDs killed", len(killed), n)
	a := ipam.New(ipamstore.New(e.st), ipamstore.Match)
	ctx := context.Background()
	snap, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	for _, b := range snap.Blocks {
		for _, al := range b.Allocated() {
			if seen[al.Addr] {
				t.Errorf("address %s allocated twice", al.Addr)
			}
			seen[al.Addr] = true
			if al.Attrs[ipam.AttrNode] != b.Affinity {
				t.Errorf("address %s for %s in block %s affine to %s", al.Addr, al.Attrs[ipam.AttrNode], b.CIDR, b.Affinity)
			}
		}
	}
	live := func(al ipam.Allocation) bool { return !killed[al.Attrs[ipam.AttrContainerID]] }
	rep := ipam.Check(snap, live, func(string) bool { return true })
	for _, al := range rep.Leaked {
		if !killed[al.Attrs[ipam.AttrContainerID]] {
			t.Errorf("leak reported for a live container: %+v", al)
		}
	}
	// GC on every node with the live containers as valid attachments.
	for _, node := range nodes {
		var valid []string
		for _, pr := range procs {
			if !pr.killed {
				valid = append(valid, fmt.Sprintf(`{"containerID": %q, "ifname": "eth0"}`, pr.cid))
			}
		}
		conf := bytes.Replace(e.ipamConf(node), []byte(`"type": "trellis-ipam",`),
			fmt.Appendf(nil, `"type": "trellis-ipam", "cni.dev/valid-attachments": [%s],`, strings.Join(valid, ",")), 1)
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), "CNI_COMMAND=GC", "CNI_PATH="+filepath.Dir(self))
		cmd.Stdin = bytes.NewReader(conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("GC on %s: %v\n%s", node, err, out)
		}
	}
	snap, err = a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep = ipam.Check(snap, live, func(string) bool { return true })
	if len(rep.Leaked) != 0 || len(rep.MissingHandles) != 0 {
		t.Errorf("after GC: leaked %v, missing handles %v", rep.Leaked, rep.MissingHandles)
	}
	for _, h := range rep.DanglingHandles {
		cid, _ := containerOfHandle("trl-net", h)
		if !killed[cid] {
			t.Errorf("dangling handle %s of a live container", h)
		}
		if _, err := a.DeleteHandleIfUnused(ctx, h); err != nil {
			t.Error(err)
		}
	}
	liveCount := 0
	for _, b := range snap.Blocks {
		liveCount += b.InUse()
	}
	if liveCount != n-len(killed) {
		t.Errorf("%d addresses in use, want %d (one per live container)", liveCount, n-len(killed))
	}
}

var _ = libcni.CNIConfig{}

// TestCheckFindsWorkloadWithoutEndpoint: the plugin's allocations carry the container ID
// that the store-level check matches against WorkloadEndpoints, so an attachment whose
// endpoint is missing (a plugin killed between IPAM and the endpoint write) is reported,
// and only that one.
func TestCheckFindsWorkloadWithoutEndpoint(t *testing.T) {
	e := newEnv(t)
	e.create(&model.Node{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: e.node}})
	l := e.conflist(confOpts{version: "1.1.0", assign6: true})
	ok, lost := e.newPod("default", "ok", nil, nil), e.newPod("default", "lost", nil, nil)
	e.mustAdd(l, ok.rt())
	rl := e.mustAdd(l, lost.rt())
	wep, err := e.wep(lost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Delete(context.Background(), model.KindWorkloadEndpoint, wep.Namespace, wep.Name, store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := ipamstore.Check(context.Background(), e.st)
	if err != nil {
		t.Fatal(err)
	}
	var leaked []netip.Addr
	for _, al := range rep.Leaked {
		leaked = append(leaked, al.Addr)
		if al.Handle != handleID("trl-net", lost.containerID) {
			t.Errorf("leak reported for handle %s", al.Handle)
		}
	}
	if len(leaked) != len(rl.IPs) || len(rep.OrphanBlocks) != 0 {
		t.Errorf("leaked %v (want the lost pod's %v), orphan blocks %v", leaked, resultAddrs(rl), rep.OrphanBlocks)
	}
}
