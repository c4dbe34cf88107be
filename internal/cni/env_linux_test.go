package cni

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/embed"
	"github.com/trellisnet/trellis/internal/store/etcd"
)

// The test binary doubles as the plugins: linked as trellis-cni and trellis-ipam into a
// plugin directory, libcni executes it under those names.
func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case PluginName, IPAMPluginName:
		if os.Getenv("TRL_CNI_METRICS_PROBE") == "1" {
			fmt.Println(etcdMetricFamilies())
			os.Exit(0)
		}
		os.Exit(Main(filepath.Base(os.Args[0]), Backends{Etcd: func(cfg store.Config) (store.Store, error) { return etcd.New(cfg) }}))
	}
	code := m.Run()
	shared.stop()
	os.Exit(code)
}

// shared is one embedded etcd for the package's tests, wiped before each test.
var shared sharedEtcd

type sharedEtcd struct {
	once     sync.Once
	dir      string
	srv      *embed.Server
	endpoint string
	err      error
}

func (s *sharedEtcd) start() (string, error) {
	s.once.Do(func() {
		s.dir, s.err = os.MkdirTemp("", "trl-cni-etcd-")
		if s.err != nil {
			return
		}
		s.endpoint = "unix://" + filepath.Join(s.dir, "client.sock")
		s.srv = embed.New(embed.Config{Name: "trl-cni", DataDir: filepath.Join(s.dir, "data"),
			ListenClientURLs: []string{s.endpoint}, ListenPeerURLs: []string{"unix://" + filepath.Join(s.dir, "peer.sock")},
			UnsafeNoFsync: os.Getenv("TRELLIS_TEST_FSYNC") == ""}) // set it to measure with a production-like datastore
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.err = s.srv.Start(ctx)
	})
	return s.endpoint, s.err
}

func (s *sharedEtcd) stop() {
	if s.srv != nil {
		s.srv.Stop()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veths and routes")
	}
}

func randSuffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// env is one test's world: a datastore, a "host" namespace the plugin runs in, a plugin
// directory and libcni.
type env struct {
	t        testing.TB
	endpoint string
	st       store.Store
	hostNS   string
	dir      string
	cni      *libcni.CNIConfig
	agent    *readyzAgent
	node     string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	requireRoot(t)
	ep, err := shared.start()
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Delete(ctx, "/", clientv3.WithPrefix()); err != nil {
		t.Fatalf("wipe datastore: %v", err)
	}
	cli.Close()
	st, err := etcd.New(store.Config{Endpoints: []string{ep}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, endpoint: ep, st: st, hostNS: "trl-h-" + randSuffix(), dir: t.TempDir(), node: "trl-node-1"}
	if err := netns.Create(e.hostNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(e.hostNS); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	e.inHost(setupHostNS)
	plugins := filepath.Join(e.dir, "bin")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// TRELLIS_CNI_PLUGIN names a built trellis binary to run as the plugins instead of this
	// test binary (benchmarks of the real binary, whose start-up costs more).
	if bin := os.Getenv("TRELLIS_CNI_PLUGIN"); bin != "" {
		if self, err = filepath.Abs(bin); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{PluginName, IPAMPluginName} {
		if err := os.Symlink(self, filepath.Join(plugins, n)); err != nil {
			t.Fatal(err)
		}
	}
	e.cni = libcni.NewCNIConfigWithCacheDir([]string{plugins, "/usr/lib/cni"}, filepath.Join(e.dir, "cache"), nil)
	e.agent = startReadyzAgent(t, filepath.Join(e.dir, "agent.sock"))
	e.create(ipPool("pool-v4", "198.51.100.0/24", 28, ""))
	e.create(ipPool("pool-v6", "2001:db8:1::/120", 0, ""))
	return e
}

// setupHostNS gives the host namespace what a node has: loopback, an uplink-like dummy
// device with default routes (proxy ARP answers for 169.254.1.1 only when the host has a
// route to it) and forwarding on.
func setupHostNS() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return err
	}
	// No dummy driver on every kernel: a veth pair inside the namespace serves.
	up := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "trl-uplink"}, PeerName: "trl-uplink-p"}
	if err := netlink.LinkAdd(up); err != nil {
		return err
	}
	for _, n := range []string{"trl-uplink", "trl-uplink-p"} {
		l, err := netlink.LinkByName(n)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
	}
	upl, err := netlink.LinkByName("trl-uplink")
	if err != nil {
		return err
	}
	for _, a := range []string{"203.0.113.1/24", "2001:db8:ff::1/64"} {
		p := netip.MustParsePrefix(a)
		if err := netlink.AddrAdd(upl, &netlink.Addr{IPNet: ipNet(p), Flags: 0x02 /* IFA_F_NODAD */}); err != nil {
			return err
		}
	}
	for _, gw := range []string{"203.0.113.254", "2001:db8:ff::fe"} {
		g := netip.MustParseAddr(gw)
		dst := netip.MustParsePrefix("0.0.0.0/0")
		if g.Is6() {
			dst = netip.MustParsePrefix("::/0")
		}
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: upl.Attrs().Index, Dst: ipNet(dst), Gw: g.AsSlice()}); err != nil {
			return fmt.Errorf("route %s: %w", dst, err)
		}
	}
	for _, s := range [][2]string{{"net/ipv4/ip_forward", "1"}, {"net/ipv6/conf/all/forwarding", "1"}} {
		if err := writeSysctl(s[0], s[1]); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) inHost(fn func() error) {
	e.t.Helper()
	if err := netns.Do(e.hostNS, fn); err != nil {
		e.t.Fatalf("in host namespace: %v", err)
	}
}

func (e *env) create(obj model.Object) {
	e.t.Helper()
	if _, err := e.st.Create(context.Background(), obj); err != nil {
		e.t.Fatalf("create %s: %v", obj.GetName(), err)
	}
}

func ipPool(name, cidr string, blockSize int, nodeSelector string) *model.IPPool {
	return &model.IPPool{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       model.IPPoolSpec{CIDR: cidr, BlockSize: blockSize, NodeSelector: nodeSelector}}
}

// pod is one workload: its Pod object and namespace.
type pod struct {
	ns, name, netns, containerID string
}

func (e *env) newPod(ns, name string, labels, annotations map[string]string) *pod {
	e.t.Helper()
	p := &pod{ns: ns, name: name, netns: "trl-p-" + randSuffix(), containerID: "ctr-" + randSuffix()}
	if err := netns.Create(p.netns); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := netns.Delete(p.netns); err != nil {
			e.t.Errorf("cleanup: %v", err)
		}
	})
	e.createPod(p, labels, annotations)
	return p
}

func (e *env) createPodObject(p *pod) { e.createPod(p, nil, nil) }

func (e *env) createPod(p *pod, labels, annotations map[string]string) {
	e.create(&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{ServiceAccountName: "web-sa", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 9090}}}}}})
}

func (p *pod) rt() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: p.containerID, NetNS: netns.Path(p.netns), IfName: "eth0",
		Args: [][2]string{{"K8S_POD_NAMESPACE", p.ns}, {"K8S_POD_NAME", p.name}, {"K8S_POD_INFRA_CONTAINER_ID", p.containerID}, {"IgnoreUnknown", "1"}}}
}

// confOpts vary the conflist.
type confOpts struct {
	version    string
	assign6    bool
	policyWait string // timeout; "" no wait
	endpoint   string // override the datastore endpoint
	chain      bool   // append portmap and bandwidth
	ipamType   string
	ipamJSON   string // replaces the whole ipam section
}

func (e *env) conflist(o confOpts) *libcni.NetworkConfigList {
	e.t.Helper()
	ep := e.endpoint
	if o.endpoint != "" {
		ep = o.endpoint
	}
	ipamType := IPAMPluginName
	if o.ipamType != "" {
		ipamType = o.ipamType
	}
	wait := ""
	if o.policyWait != "" {
		wait = fmt.Sprintf(`"policy_wait": true, "policy_wait_timeout": %q,`, o.policyWait)
	}
	ipamJSON := fmt.Sprintf(`{"type": %q, "assign_ipv4": "true", "assign_ipv6": %q}`, ipamType, fmt.Sprint(o.assign6))
	if o.ipamJSON != "" {
		ipamJSON = o.ipamJSON
	}
	plugins := []string{fmt.Sprintf(`{"type": %q, "datastore_endpoints": [%q], "datastore_timeout": "2s", "nodename": %q,
		"mtu": 1400, %s "agent_socket": %q, "log_file_path": %q, "log_level": "debug", "ipam": %s}`,
		PluginName, ep, e.node, wait, e.agent.socket, filepath.Join(e.dir, "cni.log"), ipamJSON)}
	if o.chain {
		plugins = append(plugins,
			`{"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}`,
			`{"type": "bandwidth", "capabilities": {"bandwidth": true}}`)
	}
	raw := fmt.Sprintf(`{"cniVersion": %q, "name": "trl-net", "plugins": [%s]}`, o.version, strings.Join(plugins, ","))
	l, err := libcni.ConfListFromBytes([]byte(raw))
	if err != nil {
		e.t.Fatalf("conflist: %v\n%s", err, raw)
	}
	return l
}

func (e *env) add(l *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (*current.Result, error) {
	var res types.Result
	var err error
	if nerr := netns.Do(e.hostNS, func() error {
		res, err = e.cni.AddNetworkList(context.Background(), l, rt)
		return nil
	}); nerr != nil {
		e.t.Fatal(nerr)
	}
	if err != nil {
		return nil, err
	}
	r, cerr := current.NewResultFromResult(res)
	if cerr != nil {
		e.t.Fatalf("convert result: %v", cerr)
	}
	return r, nil
}

func (e *env) mustAdd(l *libcni.NetworkConfigList, rt *libcni.RuntimeConf) *current.Result {
	e.t.Helper()
	r, err := e.add(l, rt)
	if err != nil {
		e.t.Fatalf("ADD %s: %v\nlog:\n%s", rt.ContainerID, err, e.logTail())
	}
	return r
}

func (e *env) run(fn func(ctx context.Context) error) error {
	var err error
	if nerr := netns.Do(e.hostNS, func() error { err = fn(context.Background()); return nil }); nerr != nil {
		e.t.Fatal(nerr)
	}
	return err
}

func (e *env) logTail() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "cni.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

func resultAddrs(r *current.Result) []netip.Addr {
	var out []netip.Addr
	for _, ip := range r.IPs {
		a, _ := netip.AddrFromSlice(ip.Address.IP)
		out = append(out, a.Unmap())
	}
	return out
}

// hostLink finds a link in the host namespace.
func (e *env) hostLink(name string) (netlink.Link, bool) {
	var l netlink.Link
	e.inHost(func() error {
		l, _ = netlink.LinkByName(name)
		return nil
	})
	return l, l != nil
}

var _ = net.IPv4len
