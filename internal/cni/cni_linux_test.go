package cni

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
)

var (
	pool4 = netip.MustParsePrefix("198.51.100.0/24")
	pool6 = netip.MustParsePrefix("2001:db8:1::/120")
)

func (e *env) owned(containerID string) []netip.Addr {
	e.t.Helper()
	got, err := ipam.New(ipamstore.New(e.st), ipamstore.Match).AddrsByHandle(context.Background(), handleID("trl-net", containerID))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []netip.Addr
	for _, al := range got {
		out = append(out, al.Addr)
	}
	return out
}

func (e *env) wep(p *pod) (*model.WorkloadEndpoint, error) {
	obj, err := e.st.Get(context.Background(), model.KindWorkloadEndpoint, p.ns, EndpointName(e.node, workload{Namespace: p.ns, Pod: p.name, IfName: "eth0"}))
	if err != nil {
		return nil, err
	}
	return obj.(*model.WorkloadEndpoint), nil
}

func (e *env) namespaceObjects() {
	e.create(&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"team": "a"}}})
	e.create(&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-sa", Namespace: "web", Labels: map[string]string{"role": "x"}}})
}

func TestAddCheckDel(t *testing.T) {
	for _, version := range []string{"1.1.0", "1.0.0", "0.4.0", "0.3.1"} {
		t.Run(version, func(t *testing.T) {
			e := newEnv(t)
			e.namespaceObjects()
			p := e.newPod("web", "frontend-1", map[string]string{"app": "web"}, nil)
			l := e.conflist(confOpts{version: version, assign6: true})
			r := e.mustAdd(l, p.rt())

			addrs := resultAddrs(r)
			if len(addrs) != 2 || !pool4.Contains(addrs[0]) || !pool6.Contains(addrs[1]) {
				t.Fatalf("result addresses %v, want one from %s and one from %s", addrs, pool4, pool6)
			}
			hostIf := HostVethName("web", "frontend-1", p.containerID)
			if len(r.Interfaces) != 2 || r.Interfaces[0].Name != hostIf || r.Interfaces[0].Mac != "ee:ee:ee:ee:ee:ee" ||
				r.Interfaces[1].Name != "eth0" || r.Interfaces[1].Sandbox != netns.Path(p.netns) {
				t.Errorf("result interfaces %+v", r.Interfaces)
			}
			if len(hostIf) != 14 || hostIf[:3] != "trl" {
				t.Errorf("host interface name %q, want trl + 11 hex", hostIf)
			}
			e.assertPodPlumbing(p, hostIf, addrs)
			if got := e.owned(p.containerID); !slices.Equal(got, addrs) {
				t.Errorf("ipam handle owns %v, want %v", got, addrs)
			}
			wep, err := e.wep(p)
			if err != nil {
				t.Fatalf("workload endpoint: %v", err)
			}
			wantLabels := map[string]string{"app": "web", model.LabelNamespace: "web", model.LabelOrchestrator: "k8s",
				model.LabelServiceAccount: "web-sa", "pcns.team": "a", "pcsa.role": "x"}
			for k, v := range wantLabels {
				if wep.Labels[k] != v {
					t.Errorf("endpoint label %s = %q, want %q (labels %v)", k, wep.Labels[k], v, wep.Labels)
				}
			}
			if wep.Spec.InterfaceName != hostIf || wep.Spec.Node != e.node || len(wep.Spec.IPNetworks) != 2 ||
				len(wep.Spec.Ports) != 1 || wep.Spec.Ports[0].Name != "http" || wep.Spec.Ports[0].Port != 8080 {
				t.Errorf("endpoint spec %+v", wep.Spec)
			}

			canCheck := version >= "0.4.0" // CHECK arrived in 0.4.0
			if err := e.run(func(ctx context.Context) error { return e.cni.CheckNetworkList(ctx, l, p.rt()) }); canCheck && err != nil {
				t.Errorf("CHECK after ADD: %v", err)
			}
			// ADD again for the same container: same addresses.
			r2 := e.mustAdd(l, p.rt())
			if got := resultAddrs(r2); !slices.Equal(got, addrs) {
				t.Errorf("second ADD gave %v, want %v", got, addrs)
			}
			// Tamper: remove the pod's default route; CHECK must fail.
			if err := netns.Do(p.netns, func() error {
				link, err := netlink.LinkByName("eth0")
				if err != nil {
					return err
				}
				return netlink.RouteDel(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: Gateway4.AsSlice()})
			}); err != nil {
				t.Fatal(err)
			}
			if err := e.run(func(ctx context.Context) error { return e.cni.CheckNetworkList(ctx, l, p.rt()) }); canCheck && err == nil {
				t.Error("CHECK succeeded after the default route was removed")
			}

			if err := e.run(func(ctx context.Context) error { return e.cni.DelNetworkList(ctx, l, p.rt()) }); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			if _, ok := e.hostLink(hostIf); ok {
				t.Errorf("host link %s still exists after DEL", hostIf)
			}
			if got := e.owned(p.containerID); len(got) != 0 {
				t.Errorf("addresses %v still allocated after DEL", got)
			}
			if _, err := e.wep(p); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("endpoint after DEL: %v, want not found", err)
			}
			if err := e.run(func(ctx context.Context) error { return e.cni.DelNetworkList(ctx, l, p.rt()) }); err != nil {
				t.Errorf("second DEL: %v", err)
			}
		})
	}
}

// assertPodPlumbing checks the kernel state of one pod interface.
func (e *env) assertPodPlumbing(p *pod, hostIf string, addrs []netip.Addr) {
	t := e.t
	t.Helper()
	e.inHost(func() error {
		l, err := netlink.LinkByName(hostIf)
		if err != nil {
			t.Errorf("host link %s: %v", hostIf, err)
			return nil
		}
		if l.Attrs().HardwareAddr.String() != "ee:ee:ee:ee:ee:ee" || l.Attrs().MTU != 1400 || l.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("host link %s: mac %s mtu %d flags %v", hostIf, l.Attrs().HardwareAddr, l.Attrs().MTU, l.Attrs().Flags)
		}
		for _, s := range []string{"net/ipv4/conf/" + hostIf + "/proxy_arp", "net/ipv4/conf/" + hostIf + "/forwarding"} {
			if v := readSysctl(s); v != "1" {
				t.Errorf("%s = %q, want 1", s, v)
			}
		}
		for _, a := range addrs {
			if !hasRoute(l.Attrs().Index, netip.PrefixFrom(a, a.BitLen()), nil) {
				t.Errorf("no host route to %s via %s", a, hostIf)
			}
		}
		return nil
	})
	if err := netns.Do(p.netns, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if l.Attrs().MTU != 1400 {
			t.Errorf("pod eth0 mtu %d, want 1400", l.Attrs().MTU)
		}
		if !hasRoute(l.Attrs().Index, netip.MustParsePrefix("0.0.0.0/0"), &Gateway4) {
			t.Errorf("pod has no default route via %s", Gateway4)
		}
		if !hasRoute(l.Attrs().Index, netip.MustParsePrefix("169.254.1.1/32"), nil) {
			t.Errorf("pod has no link route to %s", Gateway4)
		}
		if !hasRoute(l.Attrs().Index, netip.MustParsePrefix("::/0"), &Gateway6) {
			t.Errorf("pod has no IPv6 default route via %s", Gateway6)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestPodToPodConnectivity(t *testing.T) {
	e := newEnv(t)
	l := e.conflist(confOpts{version: "1.1.0", assign6: true})
	a := e.newPod("default", "client", nil, nil)
	b := e.newPod("default", "server", nil, nil)
	e.mustAdd(l, a.rt())
	rb := e.mustAdd(l, b.rt())
	for _, dst := range resultAddrs(rb) {
		t.Run(dst.String(), func(t *testing.T) {
			var ln net.Listener
			if err := netns.Do(b.netns, func() error {
				var err error
				ln, err = net.Listen("tcp", netip.AddrPortFrom(dst, 8080).String())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				if c, err := ln.Accept(); err == nil {
					c.Write([]byte("ok"))
					c.Close()
				}
			}()
			var reply []byte
			if err := netns.Do(a.netns, func() error {
				c, err := net.DialTimeout("tcp", netip.AddrPortFrom(dst, 8080).String(), 5e9)
				if err != nil {
					return err
				}
				defer c.Close()
				buf := make([]byte, 2)
				n, err := c.Read(buf)
				reply = buf[:n]
				return err
			}); err != nil {
				t.Fatalf("connect from pod client to %s: %v", dst, err)
			}
			if string(reply) != "ok" {
				t.Errorf("reply %q", reply)
			}
		})
	}
}

func TestDelAfterNetnsRemoved(t *testing.T) {
	e := newEnv(t)
	l := e.conflist(confOpts{version: "1.0.0"})
	p := e.newPod("default", "gone", nil, nil)
	r := e.mustAdd(l, p.rt())
	if err := netns.Delete(p.netns); err != nil {
		t.Fatal(err)
	}
	if err := e.run(func(ctx context.Context) error { return e.cni.DelNetworkList(ctx, l, p.rt()) }); err != nil {
		t.Fatalf("DEL after the namespace was removed: %v", err)
	}
	if got := e.owned(p.containerID); len(got) != 0 {
		t.Errorf("addresses %v (of %v) still allocated", got, resultAddrs(r))
	}
}

func cniCode(err error) uint {
	var te *types.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	l := e.conflist(confOpts{version: "1.1.0"})
	status := func(l *libcni.NetworkConfigList) error {
		return e.run(func(ctx context.Context) error { return e.cni.GetStatusNetworkList(ctx, l) })
	}
	if err := status(l); err != nil {
		t.Errorf("STATUS with datastore and agent up: %v", err)
	}
	e.agent.ready.Store(false)
	if err := status(l); cniCode(err) != types.ErrLimitedConnectivity {
		t.Errorf("STATUS with the agent not ready: %v, want code %d", err, types.ErrLimitedConnectivity)
	}
	e.agent.stop()
	if err := status(l); cniCode(err) != types.ErrLimitedConnectivity {
		t.Errorf("STATUS without the agent: %v, want code %d", err, types.ErrLimitedConnectivity)
	}
	down := e.conflist(confOpts{version: "1.1.0", endpoint: "unix://" + e.dir + "/nothing.sock"})
	if err := status(down); cniCode(err) != types.ErrPluginNotAvailable {
		t.Errorf("STATUS without the datastore: %v, want code %d", err, types.ErrPluginNotAvailable)
	}
}

func TestGC(t *testing.T) {
	e := newEnv(t)
	l := e.conflist(confOpts{version: "1.1.0"})
	var pods []*pod
	for _, n := range []string{"keep", "stale-1", "stale-2"} {
		p := e.newPod("default", n, nil, nil)
		e.mustAdd(l, p.rt())
		pods = append(pods, p)
	}
	// Only the runtime's cache of "keep" survives a restart; GC gets it as the one valid
	// attachment, so libcni DELs nothing from cache and the plugin's GC must find the rest.
	args := &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: pods[0].containerID, IfName: "eth0"}}}
	if err := os.RemoveAll(e.dir + "/cache"); err != nil {
		t.Fatal(err)
	}
	if err := e.run(func(ctx context.Context) error { return e.cni.GCNetworkList(ctx, l, args) }); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got := e.owned(pods[0].containerID); len(got) != 1 {
		t.Errorf("valid attachment lost its address: %v", got)
	}
	if _, err := e.wep(pods[0]); err != nil {
		t.Errorf("valid attachment lost its endpoint: %v", err)
	}
	for _, p := range pods[1:] {
		if got := e.owned(p.containerID); len(got) != 0 {
			t.Errorf("%s: addresses %v survive GC", p.name, got)
		}
		if _, err := e.wep(p); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: endpoint survives GC: %v", p.name, err)
		}
	}
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	for _, plugin := range []string{PluginName, IPAMPluginName} {
		var info interface{ SupportedVersions() []string }
		err := e.run(func(ctx context.Context) error {
			var err error
			info, err = e.cni.GetVersionInfo(ctx, plugin)
			return err
		})
		if err != nil {
			t.Fatalf("VERSION of %s: %v", plugin, err)
		}
		want := []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}
		if got := info.SupportedVersions(); !slices.Equal(got, want) {
			t.Errorf("%s supports %v, want %v", plugin, got, want)
		}
	}
}

func TestAddFailureUndoesEverything(t *testing.T) {
	e := newEnv(t)
	l := e.conflist(confOpts{version: "1.1.0", assign6: true})
	p := e.newPod("default", "broken", nil, nil)
	rt := p.rt()
	rt.NetNS = "/run/netns/trl-missing-" + randSuffix() // fails after IPAM, at the veth
	_, err := e.add(l, rt)
	if err == nil || !strings.Contains(e.logTail(), "addresses assigned") {
		t.Fatalf("ADD into a missing namespace: %v; want a failure after IPAM assigned addresses\n%s", err, e.logTail())
	}
	if got := e.owned(p.containerID); len(got) != 0 {
		t.Errorf("addresses %v left allocated by the failed ADD", got)
	}
	if _, ok := e.hostLink(HostVethName(p.ns, p.name, p.containerID)); ok {
		t.Error("host link left behind by the failed ADD")
	}
	snap, err := ipam.New(ipamstore.New(e.st), ipamstore.Match).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Handles) != 0 {
		t.Errorf("handles left: %v", snap.Handles)
	}
}

func TestIPv6Only(t *testing.T) {
	e := newEnv(t)
	l := e.conflist(confOpts{version: "1.0.0", ipamJSON: `{"type": "trellis-ipam", "assign_ipv4": "false", "assign_ipv6": "true"}`})
	p := e.newPod("default", "v6only", nil, nil)
	r := e.mustAdd(l, p.rt())
	a := resultAddrs(r)
	if len(a) != 1 || !pool6.Contains(a[0]) {
		t.Fatalf("addresses %v, want one from %s", a, pool6)
	}
	if len(r.Routes) != 1 || r.Routes[0].GW.String() != Gateway6.String() {
		t.Errorf("routes %v, want only the IPv6 default via %s", r.Routes, Gateway6)
	}
	if err := e.run(func(ctx context.Context) error { return e.cni.CheckNetworkList(ctx, l, p.rt()) }); err != nil {
		t.Errorf("CHECK: %v", err)
	}
}

// TestDelOfOldSandboxKeepsRecreatedPod: a StatefulSet re-creates a pod under the same name
// (so the same host-side veth name) in a new sandbox, and the runtime repeats the old
// sandbox's DEL afterwards (StopPodSandbox again, RemovePodSandbox), with its namespace
// still there or already gone. The new pod keeps its interface, addresses and endpoint.
// Found by network-policy-api's conformance suite, whose base StatefulSets' pods lost eth0.
func TestDelOfOldSandboxKeepsRecreatedPod(t *testing.T) {
	for _, oldNS := range []string{"kept", "removed", "not given"} {
		t.Run(oldNS, func(t *testing.T) {
			e := newEnv(t)
			l := e.conflist(confOpts{version: "1.0.0", assign6: true})
			old := e.newPod("default", "db-0", nil, nil)
			e.mustAdd(l, old.rt())
			// The re-created pod: same name, a new sandbox (container ID and namespace).
			cur := &pod{ns: old.ns, name: old.name, netns: "trl-p-" + randSuffix(), containerID: "ctr-" + randSuffix()}
			if err := netns.Create(cur.netns); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = netns.Delete(cur.netns) })
			r := e.mustAdd(l, cur.rt())
			addrs := resultAddrs(r)
			rt := old.rt()
			switch oldNS {
			case "removed":
				if err := netns.Delete(old.netns); err != nil {
					t.Fatal(err)
				}
				if err := netns.Create(old.netns); err != nil { // for the cleanup
					t.Fatal(err)
				}
				rt.NetNS = netns.Path(old.netns) + "-gone"
			case "not given":
				rt.NetNS = ""
			}
			for range 2 {
				if err := e.run(func(ctx context.Context) error { return e.cni.DelNetworkList(ctx, l, rt) }); err != nil {
					t.Fatalf("DEL of the old sandbox: %v", err)
				}
			}
			hostIf := HostVethName(cur.ns, cur.name, cur.containerID)
			e.assertPodPlumbing(cur, hostIf, addrs)
			if got := e.owned(cur.containerID); !slices.Equal(got, addrs) {
				t.Errorf("the new sandbox owns %v, want %v", got, addrs)
			}
			if wep, err := e.wep(cur); err != nil || wep.Spec.ContainerID != cur.containerID {
				t.Errorf("the new sandbox's endpoint: %v, %v", wep, err)
			}
		})
	}
}
