package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
)

// These tests build the trellis binary and run real labs: namespaces, the embedded
// datastore, node agents (nftables) and the pod controller calling the CNI plugin. They
// need root; every lab has a unique name and is taken down in t.Cleanup.

var binary string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "trellis-lab-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trellis")
	build := exec.Command("go", "build", "-o", binary, "github.com/trellisnet/trellis/cmd/trellis")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build trellis:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root (network namespaces, nftables): run the tests as root")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("the node agent needs nft: apt-get install nftables")
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the trellis binary; lab names its datastore.
func run(t testing.TB, lab string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := append([]string{"--datastore-endpoints", Endpoint(lab)}, args...)
	cmd := exec.CommandContext(ctx, binary, full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run trellis %v: %v", args, err)
	}
	return r
}

func mustRun(t testing.TB, lab string, args ...string) string {
	t.Helper()
	r := run(t, lab, args...)
	if r.code != 0 {
		t.Fatalf("trellis %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// newLab starts a lab with a unique name and registers its removal.
// labStore opens lab name's datastore for the rest of the test or benchmark.
func labStore(tb testing.TB, name string) store.Store {
	tb.Helper()
	s, err := OpenStore(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func newLab(t *testing.T, nodes int) string {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := "t" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if r := run(t, name, "lab", "down", "--name", name); r.code != 0 {
			t.Errorf("lab down: exit %d: %s", r.code, r.stderr)
		}
		if t.Failed() {
			for _, f := range []string{"controller.log", "agent-node1.log"} {
				data, _ := os.ReadFile(filepath.Join(logDir(name), f))
				t.Logf("%s:\n%s", f, data)
			}
		}
	})
	out := mustRun(t, name, "lab", "up", "--name", name, "--nodes", fmt.Sprint(nodes))
	if !strings.Contains(out, "lab "+name+" is up") {
		t.Fatalf("lab up printed no final line:\n%s", out)
	}
	return name
}

// assertGone checks that nothing of the lab is left.
func assertGone(t *testing.T, name string) {
	t.Helper()
	if nss := labNamespaces(name); len(nss) > 0 {
		t.Errorf("namespaces left: %v", nss)
	}
	if pids := labPIDs(name, nil); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
	if _, err := os.Stat(Dir(name)); !os.IsNotExist(err) {
		t.Errorf("state directory %s left (stat: %v)", Dir(name), err)
	}
}

func labStatus(t *testing.T, name string) Report {
	t.Helper()
	var r Report
	if err := json.Unmarshal([]byte(mustRun(t, name, "lab", "status", "--name", name, "-o", "json")), &r); err != nil {
		t.Fatalf("decode lab status: %v", err)
	}
	return r
}

func TestUpStatusDownIdempotent(t *testing.T) {
	needRoot(t)
	for _, nodes := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d-nodes", nodes), func(t *testing.T) {
			rootLinks := linkNames(t)
			name := newLab(t, nodes)
			if got := linkNames(t); got != rootLinks {
				t.Errorf("root namespace links changed by lab up: %q, was %q", got, rootLinks)
			}
			r := labStatus(t, name)
			if len(r.Nodes) != nodes || !r.Healthy() {
				t.Fatalf("status: %d nodes (want %d), healthy %v: %+v", len(r.Nodes), nodes, r.Healthy(), r)
			}
			for i, n := range r.Nodes {
				if want := NodeName(i + 1); n.Name != want || !netns.Exists(n.Namespace) || !n.AgentReady {
					t.Errorf("node %d: %+v, want %s with its namespace and a ready agent", i, n, want)
				}
			}
			if out := mustRun(t, name, "lab", "up", "--name", name, "--nodes", fmt.Sprint(nodes)); !strings.Contains(out, "already up") {
				t.Errorf("second lab up: %q, want already up", out)
			}
			// The nodes see each other on the underlay and nothing beyond the fabric.
			if nodes == 2 {
				var l net.Listener
				if err := netns.Do(NodeNS(name, "node2"), func() (err error) {
					l, err = net.Listen("tcp", "10.99.0.12:7777")
					return err
				}); err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				go func() {
					if c, err := l.Accept(); err == nil {
						c.Close()
					}
				}()
				err := netns.Do(NodeNS(name, "node1"), func() error {
					c, err := net.DialTimeout("tcp", "10.99.0.12:7777", 2*time.Second)
					if err == nil {
						c.Close()
					}
					return err
				})
				if err != nil {
					t.Errorf("node1 cannot reach node2 on the underlay: %v", err)
				}
			}
			if nodes == 2 {
				// Pods without spec.nodeName are spread over the nodes.
				mustRun(t, name, "apply", "-f", "testdata/pods.yaml")
				waitRunning(t, name, 3)
				perNode := map[string]int{}
				for _, p := range labStatus(t, name).Pods {
					perNode[p.Node]++
				}
				if perNode["node1"] == 0 || perNode["node2"] == 0 {
					t.Errorf("pods not spread: %v", perNode)
				}
			}
			mustRun(t, name, "lab", "down", "--name", name)
			assertGone(t, name)
			mustRun(t, name, "lab", "down", "--name", name)
			if r := run(t, name, "lab", "status", "--name", name); r.code == 0 {
				t.Errorf("lab status after down: exit 0, want failure")
			}
		})
	}
}

func TestDownAfterCrash(t *testing.T) {
	needRoot(t)
	name := newLab(t, 1)
	if err := os.Remove(statePath(name)); err != nil {
		t.Fatal(err)
	}
	mustRun(t, name, "lab", "down", "--name", name)
	assertGone(t, name)
}

// matrixJSON is `lab matrix -o json`.
type matrixJSON struct {
	Results []connectivity.Row `json:"results"`
}

func TestPodsPolicyAndDelete(t *testing.T) {
	needRoot(t)
	name := newLab(t, 1)
	mustRun(t, name, "apply", "-f", "testdata/pods.yaml")
	waitRunning(t, name, 3)

	probe := func(from, to, port string) bool {
		var pr ProbeResult
		r := run(t, name, "lab", "probe", "--name", name, "--from", from, "--to", to, "--port", port, "-o", "json")
		if err := json.Unmarshal([]byte(r.stdout), &pr); err != nil {
			t.Fatalf("decode probe %s -> %s: %v (%s)", from, to, err, r.stderr)
		}
		if pr.Connected != (r.code == 0) {
			t.Errorf("probe %s -> %s: connected %v but exit %d", from, to, pr.Connected, r.code)
		}
		return pr.Connected
	}
	var bIP string
	for _, p := range labStatus(t, name).Pods {
		if p.Name == "b" {
			bIP = p.IP
		}
	}
	// The pods have no readiness probes, so they are Ready once their processes start,
	// maybe before those listen: reachable within a few seconds is the claim.
	for deadline := time.Now().Add(10 * time.Second); !probe("shop/a", "shop/b", "tcp/80") ||
		!probe("shop/c", "shop/b", "udp/53") || !probe("shop/c", bIP, "tcp/80"); {
		if time.Now().After(deadline) {
			t.Fatal("pods do not reach each other before any policy (10 s after they were ready)")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A crashed container is restarted.
	old := webPID(t, name, "shop/a")
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pid := webPID(t, name, "shop/a"); pid != 0 && pid != old && probe("shop/b", "shop/a", "tcp/80") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the killed http-server of shop/a was not restarted within 10s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	deadline = time.Now().Add(5 * time.Second)
	for restarts(t, name, "a") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("shop/a restarts = %d, want 1", restarts(t, name, "a"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := run(t, name, "lab", "exec", "--name", name, "shop/a", "--", "sh", "-c", "exit 3"); r.code == 0 {
		t.Errorf("lab exec of a failing command: exit 0")
	}
	out := mustRun(t, name, "lab", "exec", "--name", name, "shop/a", "--", "trellis", "lab", "--help")
	if !strings.Contains(out, "probe") {
		t.Errorf("lab exec output: %q", out)
	}

	mustRun(t, name, "apply", "-f", "testdata/policy.yaml")
	want := map[string]string{"shop/a>shop/b tcp/80": "allow", "shop/c>shop/b tcp/80": "deny", "shop/a>shop/c tcp/80": "deny",
		"shop/a>shop/b udp/53": "deny"}
	var m matrixJSON
	deadline = time.Now().Add(10 * time.Second)
	for {
		r := run(t, name, "lab", "matrix", "--name", name, "--ports", "tcp/80,udp/53", "-o", "json", "--compare")
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
			t.Fatalf("decode lab matrix: %v\n%s", err, r.stdout)
		}
		if r.code == 0 || time.Now().After(deadline) {
			if r.code != 0 {
				t.Fatalf("lab matrix --compare: exit %d\n%s", r.code, r.stderr)
			}
			break
		}
		time.Sleep(300 * time.Millisecond) // the agent may still be programming the policy
	}
	got := map[string]string{}
	for _, r := range m.Results {
		got[r.From+">"+r.To+" "+r.Port] = r.Verdict
	}
	if len(m.Results) != 3*3*2 {
		t.Errorf("matrix has %d results, want 18", len(m.Results))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: verdict %q, want %q", k, got[k], v)
		}
	}
	if probe("shop/c", "shop/b", "tcp/80") {
		t.Error("the denied pair c -> b connects")
	}

	// Deleting a pod runs CNI DEL: its veth goes and its address is released.
	sum := sha1.Sum([]byte("shop.b")) // the CNI plugin's host-side name: trl + 11 hex of sha1(ns.pod)
	veth := "trl" + hex.EncodeToString(sum[:])[:11]
	if !linkExists(t, NodeNS(name, "node1"), veth) {
		t.Fatalf("veth %s of shop/b missing before delete", veth)
	}
	before := ipsInUse(t, name)
	mustRun(t, name, "delete", "pod", "b", "-n", "shop")
	deadline = time.Now().Add(15 * time.Second)
	for linkExists(t, NodeNS(name, "node1"), veth) || netns.Exists(PodNS(name, "shop", "b")) {
		if time.Now().After(deadline) {
			t.Fatalf("veth %s or the pod namespace still there after deleting the pod", veth)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after := ipsInUse(t, name); after != before-1 {
		t.Errorf("IPAM addresses in use: %d before delete, %d after, want one fewer", before, after)
	}
}

func restarts(t *testing.T, name, pod string) int32 {
	t.Helper()
	for _, p := range labStatus(t, name).Pods {
		if p.Name == pod {
			return p.Restarts
		}
	}
	return -1
}

// webPID is the pid of the pod's http-server, 0 when none runs.
func webPID(t *testing.T, name, ref string) int {
	t.Helper()
	ns, pod, _ := PodRef(ref)
	for _, pid := range nsPIDs(PodNS(name, ns, pod)) {
		if strings.Contains(strings.Join(cmdline(pid), " "), "http-server") {
			return pid
		}
	}
	return 0
}

func TestPodThatCannotStartIsReported(t *testing.T) {
	needRoot(t)
	name := newLab(t, 1)
	mustRun(t, name, "apply", "-f", "testdata/bad-pod.yaml")
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := mustRun(t, name, "get", "pod", "broken", "-n", "default", "-o", "json")
		if strings.Contains(out, "LabStartFailed") && strings.Contains(out, "trl-no-such-command") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failure recorded on the pod:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if netns.Exists(PodNS(name, "default", "broken")) {
		t.Error("a namespace was created for a pod that cannot start")
	}
}

func waitRunning(t *testing.T, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := labStatus(t, name)
		running := 0
		for _, p := range r.Pods {
			if p.Namespace != DNSNamespace && p.Phase == "Running" && p.Ready && p.IP != "" {
				running++
			}
		}
		if running == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pods running after 30s: %+v", running, n, r.Pods)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func linkExists(t *testing.T, ns, link string) bool {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-br", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("list links in %s: %v: %s", ns, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.SplitN(f[0], "@", 2)[0] == link {
			return true
		}
	}
	return false
}

// ipsInUse reads the pool's "IPS IN USE" from `trellis ipam show`.
func ipsInUse(t *testing.T, name string) int {
	t.Helper()
	for _, l := range strings.Split(mustRun(t, name, "ipam", "show"), "\n") {
		if f := strings.Fields(l); len(f) >= 5 && f[0] == "IP" && f[1] == "Pool" {
			var n int
			if _, err := fmt.Sscan(f[4], &n); err == nil {
				return n
			}
		}
	}
	t.Fatal("no pool line in ipam show")
	return 0
}

// linkNames lists the root namespace's interfaces and IPv4 routes (isolation: the lab
// adds none).
func linkNames(t *testing.T) string {
	t.Helper()
	routes, err := exec.Command("ip", "-4", "route", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route: %v: %s", err, routes)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return strings.Join(names, ",") + "\n" + string(routes)
}

func TestControllerRestartTakesOverPods(t *testing.T) {
	needRoot(t)
	name := newLab(t, 1)
	mustRun(t, name, "apply", "-f", "testdata/pods.yaml")
	waitRunning(t, name, 3)
	st, err := LoadState(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.ControllerPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for alive(st.ControllerPID) {
		time.Sleep(20 * time.Millisecond)
	}
	// Deleted while the controller is down: the restarted one must still run CNI DEL. The
	// lab's supervisor restarts the controller (at once the first time), so the delete may
	// land before or after the restart; either way pod b must be torn down.
	mustRun(t, name, "delete", "pod", "b", "-n", "shop")
	deadline := time.Now().Add(15 * time.Second)
	for {
		now, err := LoadState(name)
		if err == nil && now.ControllerPID != st.ControllerPID && alive(now.ControllerPID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the supervisor did not restart the controller (state: %+v, %v)", now, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	deadline = time.Now().Add(15 * time.Second)
	for netns.Exists(PodNS(name, "shop", "b")) || ipsInUse(t, name) != 3 { // a, c and the lab's DNS
		if time.Now().After(deadline) {
			t.Fatalf("pod b not torn down by the restarted controller (ips in use %d)", ipsInUse(t, name))
		}
		time.Sleep(200 * time.Millisecond)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		r := run(t, name, "lab", "probe", "--name", name, "--from", "shop/a", "--to", "shop/c", "--port", "tcp/80")
		if r.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shop/a cannot reach shop/c after the controller restart: %s%s", r.stdout, r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !labStatus(t, name).Healthy() {
		t.Error("lab not healthy after the restart")
	}
}
