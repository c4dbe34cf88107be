package lab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/kube/kubebin"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
)

// These tests run Kubernetes-mode labs: a real control plane, containerd and a kubelet per
// node, Trellis installed from its manifests, everything driven with kubectl.

func needKube(t *testing.T) {
	t.Helper()
	needRoot(t)
	if _, err := kubebin.FindBinaries(kubeBinaries...); err != nil {
		t.Skip(err)
	}
	for _, b := range runtimeBinaries {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not found: apt-get install containerd runc", b)
		}
	}
}

// newKubeLab starts a Kubernetes-mode lab (with extra lab up arguments) and registers its
// removal, after which nothing of it may remain.
func newKubeLab(t *testing.T, routing string, nodes int, extra ...string) string {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := "k" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"kube-apiserver.log", "node-node1.log"} {
				data, _ := os.ReadFile(filepath.Join(logDir(name), f))
				if len(data) > 8000 {
					data = data[len(data)-8000:]
				}
				t.Logf("%s (end):\n%s", f, data)
			}
			out, _ := exec.Command(binary, "lab", "kubectl", "--name", name, "--", "get", "pods", "-A", "-o", "wide").CombinedOutput()
			t.Logf("pods:\n%s", out)
		}
		if r := run(t, name, "lab", "down", "--name", name); r.code != 0 {
			t.Errorf("lab down: exit %d: %s", r.code, r.stderr)
		}
		assertKubeGone(t, name)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, append([]string{"lab", "up", "--kubernetes", "--name", name, "--routing", routing,
		"--nodes", fmt.Sprint(nodes)}, extra...)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "lab "+name+" is up") {
		t.Fatalf("lab up --kubernetes: %v\n%s", err, out)
	}
	return name
}

// assertKubeGone checks what a Kubernetes-mode lab adds to assertGone: its cgroups and
// the processes in them; the mountpoints lab up created go with the last such lab.
func assertKubeGone(t *testing.T, name string) {
	t.Helper()
	assertGone(t, name)
	hs, _ := cgroupHierarchies()
	for _, h := range append(hs, filepath.Join(cgroupFS, "unified")) {
		if _, err := os.Stat(filepath.Join(h, cgroupLabRoot(name))); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left (stat: %v)", filepath.Join(h, cgroupLabRoot(name)), err)
		}
	}
	if pids := cgroupPIDs(name); len(pids) > 0 {
		t.Errorf("processes left in the lab's cgroups: %v", pids)
	}
	if !otherKubeLab(name) {
		if mps := readMountpoints(); len(mps) > 0 {
			t.Errorf("mountpoints left recorded: %v", mps)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, Dir(name)) || strings.Contains(l, Prefix(name)) {
			t.Errorf("mount left in the machine's mount namespace: %s", l)
		}
	}
}

// crash kills every process of the lab at once with SIGKILL (control plane, node
// runtimes, containerd's shims, the pods' processes), as a crash of the machine's side
// would leave it; lab down must still remove everything.
func crash(t *testing.T, name string) {
	t.Helper()
	pids := append(labPIDs(name, nil), cgroupPIDs(name)...)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	t.Logf("killed %d processes", len(pids))
}

// kubectlT runs kubectl against the lab (through lab kubectl) and returns its output.
func kubectlT(t *testing.T, name, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"lab", "kubectl", "--name", name, "--"}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

const kubeWeb = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: web
        image: localhost/trellis:latest
        imagePullPolicy: Never
        command: [/usr/local/bin/trellis, demo, http-server]
        readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec:
  nodeName: node3
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: localhost/trellis:latest
    imagePullPolicy: Never
    command: [/usr/local/bin/trellis, demo, http-server]
`

const kubePolicies = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-deny, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: web-from-web}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == 'web'}
    destination: {ports: [80]}
`

// TestKubernetesLab runs one real cluster per routing mode (3 nodes each; a lab up costs
// half a minute, so each lab carries a sequence of checks):
//
//   - both: a Deployment spread by the scheduler and a pinned pod reach each other, pod
//     addresses come from the pool, Kubernetes and Calico policies applied with kubectl
//     match the calculation on real packets, a deleted pod's address is released;
//   - bgp: flows naming the denying policy in the agents and the aggregator, which traces
//     one; a Service by DNS name, a NodePort (externalTrafficPolicy Local) from outside
//     keeping the client's address, the agent's pod restarted by its DaemonSet under an
//     established connection, YAOBank with its policies;
//   - vxlan: the datastore's KDD views, ClusterNetworkPolicies, the walkthroughs' Calico
//     manifests through the webhook, a node added and removed, and lab down after every
//     process of the lab was killed.
func TestKubernetesLab(t *testing.T) {
	needKube(t)
	for _, routing := range []string{RoutingBGP, RoutingVXLAN} {
		t.Run(routing, func(t *testing.T) {
			name := newKubeLab(t, routing, 3)
			checkPodsAndPolicies(t, name)
			if routing == RoutingBGP {
				checkFlows(t, name)
			}
			checkDeleteReleases(t, name)
			kubectlT(t, name, kubePolicies, "delete", "-f", "-")
			if routing == RoutingBGP {
				checkServices(t, name)
				checkAgentRestart(t, name)
				checkYAOBank(t, name)
				return
			}
			checkDataModel(t, name)
			checkClusterNetworkPolicy(t, name)
			checkCalicoYAML(t, name)
			checkNodeAddRemove(t, name)
			crash(t, name) // the cleanup's lab down must leave nothing after a crash
		})
	}
}

// checkPodsAndPolicies: the web Deployment and the client pod on all three nodes, every
// pair connected, then the policies on real packets.
func checkPodsAndPolicies(t *testing.T, name string) {
	t.Helper()
	kubectlT(t, name, kubeWeb, "apply", "-f", "-")
	kubectlT(t, name, "", "rollout", "status", "deploy/web", "--timeout=120s")
	kubectlT(t, name, "", "wait", "--for=condition=Ready", "pod/client", "--timeout=60s")
	pods := labReport(t, name).Pods
	nodes, pool := map[string]bool{}, netip.MustParsePrefix(PoolCIDR)
	for _, p := range pods {
		if p.Namespace != "default" {
			continue
		}
		nodes[p.Node] = true
		if a, err := netip.ParseAddr(p.IP); err != nil || !pool.Contains(a) {
			t.Errorf("pod %s address %q is not from the pool %s", p.Name, p.IP, pool)
		}
	}
	if len(nodes) != 3 {
		t.Errorf("pods on %d nodes, want 3: %+v", len(nodes), pods)
	}
	m, r := matrixResults(t, name, "-n", "default", "--compare")
	if r.code != 0 || len(m) != 7*7 {
		t.Fatalf("matrix: exit %d, %d rows\n%s\n%s", r.code, len(m), r.stdout, r.stderr)
	}
	for k, v := range m {
		if v != "allow" {
			t.Errorf("%s: %s without any policy", k, v)
		}
	}
	kubectlT(t, name, kubePolicies, "apply", "-f", "-")
	eventually(t, 30*time.Second, "policies on real packets", func() (bool, string) {
		m, r := matrixResults(t, name, "-n", "default", "--compare")
		for k, v := range m {
			from, to, _ := strings.Cut(k, " ")
			want := "allow"
			if strings.HasPrefix(to, "default/web-") && !strings.HasPrefix(from, "default/web-") {
				want = "deny"
			}
			if v != want {
				return false, fmt.Sprintf("%s: %s, want %s", k, v, want)
			}
		}
		return r.code == 0, r.stdout + r.stderr
	})
}

// checkDeleteReleases deletes a web pod with kubectl and waits until its address is no
// longer allocated in IPAM.
func checkDeleteReleases(t *testing.T, name string) {
	t.Helper()
	ip := strings.TrimSpace(kubectlT(t, name, "", "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}"))
	pod := strings.TrimSpace(kubectlT(t, name, "", "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}"))
	if !allocated(t, name, ip) {
		t.Fatalf("pod %s address %s is not allocated in IPAM", pod, ip)
	}
	kubectlT(t, name, "", "delete", "pod", pod, "--wait=true")
	eventually(t, 30*time.Second, "address of a deleted pod released", func() (bool, string) {
		return !allocated(t, name, ip), ip + " still allocated"
	})
}

// allocated reports whether IPAM has ip allocated (read from the lab's API server).
func allocated(t *testing.T, name, ip string) bool {
	t.Helper()
	s := labStore(t, name)
	snap, err := ipam.New(ipamstore.New(s), ipamstore.Match).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range snap.Blocks {
		for _, a := range b.Allocated() {
			if a.Addr.String() == ip {
				return true
			}
		}
	}
	return false
}

// checkServices: a Service by its DNS name from a pod, a NodePort with
// externalTrafficPolicy Local from a host outside the cluster, on every node, answered with
// the client's own address.
func checkServices(t *testing.T, name string) {
	t.Helper()
	kubectlT(t, name, `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web-local, namespace: default}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: 80, nodePort: 30080}]
`, "apply", "-f", "-")
	eventually(t, 30*time.Second, "a Service by its DNS name from a pod", func() (bool, string) {
		cmd := exec.Command(binary, "lab", "kubectl", "--name", name, "--", "exec", "client", "--", "trellis", "demo", "fetch", "http://web.default.svc.cluster.local/")
		out, err := cmd.CombinedOutput()
		return err == nil && strings.HasPrefix(string(out), "web-"), string(out)
	})
	mustRun(t, name, "lab", "external", "add", "--name", name, "ext")
	for _, node := range []string{"10.99.0.11", "10.99.0.12", "10.99.0.13"} {
		r := run(t, name, "lab", "external", "exec", "--name", name, "ext", "--", binary, "demo", "fetch", "http://"+node+":30080/client")
		if r.code != 0 || !strings.HasSuffix(strings.TrimSpace(r.stdout), " 10.99.0.254") {
			t.Errorf("NodePort (Local) on %s from the external host: exit %d, %q (want the client's own address)\n%s", node, r.code, r.stdout, r.stderr)
		}
	}
}

// checkAgentRestart keeps an HTTP connection from the client pod (node3) to a web pod on
// another node, deletes node3's agent pod and uses the connection again once the
// DaemonSet's new pod is ready.
func checkAgentRestart(t *testing.T, name string) {
	t.Helper()
	target := strings.TrimSpace(kubectlT(t, name, "", "get", "pods", "-l", "app=web", "--field-selector", "spec.nodeName=node1",
		"-o", "jsonpath={.items[0].status.podIP}"))
	path, err := PodNamespaceOf(name, "default/client")
	if err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	if err := netns.DoPath(path, func() (err error) {
		conn, err = net.DialTimeout("tcp", net.JoinHostPort(target, "80"), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	get := func() error {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: web\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	old := strings.TrimSpace(kubectlT(t, name, "", "get", "pods", "-n", "trellis-system", "-l", "app.kubernetes.io/name=trellis-node",
		"--field-selector", "spec.nodeName=node3", "-o", "jsonpath={.items[0].metadata.name}"))
	kubectlT(t, name, "", "delete", "pod", "-n", "trellis-system", old, "--wait=true")
	eventually(t, 90*time.Second, "the DaemonSet's new agent pod ready", func() (bool, string) {
		out := kubectlT(t, name, "", "get", "pods", "-n", "trellis-system", "-l", "app.kubernetes.io/name=trellis-node",
			"--field-selector", "spec.nodeName=node3", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
		for _, f := range strings.Fields(out) {
			if p, ready, _ := strings.Cut(f, "="); p != old && ready == "True" {
				return true, ""
			}
		}
		return false, out
	})
	if err := get(); err != nil {
		t.Errorf("the established connection after the agent's restart: %v", err)
	}
}

// checkDataModel: the lab's store is the API server, with Calico's data model:
// WorkloadEndpoints are views of the pods, the Calico Nodes the Kubernetes Nodes.
func checkDataModel(t *testing.T, name string) {
	t.Helper()
	s := labStore(t, name)
	ctx := context.Background()
	weps, err := s.List(ctx, model.KindWorkloadEndpoint, store.ListOptions{Namespace: "default"})
	if err != nil || len(weps.Items) != 7 {
		t.Fatalf("workload endpoints: %d (want the 6 web pods and the client), %v", len(weps.Items), err)
	}
	for _, o := range weps.Items {
		if w, ok := o.(*model.WorkloadEndpoint); !ok || w.Spec.Pod == "" || len(w.Spec.IPNetworks) == 0 || w.Spec.Orchestrator != "k8s" {
			t.Errorf("workload endpoint %+v", o)
		}
	}
	n, err := s.Get(ctx, model.KindNode, "", "node1")
	if err != nil {
		t.Fatal(err)
	}
	if cn, ok := n.(*model.Node); !ok || cn.Spec.BGP == nil || cn.Spec.BGP.IPv4Address != "10.99.0.11/24" {
		t.Errorf("Calico node1 without the BGP address its agent registered: %+v", n)
	}
}

// checkCalicoYAML applies the walkthroughs' Calico manifests with kubectl through the
// installed webhook (a tier first, then policies in it, server-side dry runs for the rest)
// and checks that a broken policy is refused with its field path.
func checkCalicoYAML(t *testing.T, name string) {
	t.Helper()
	dir := filepath.Join("..", "..", "examples", "labs", "advanced-policy")
	tier, err := os.ReadFile(filepath.Join(dir, "tier.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kubectlT(t, name, string(tier), "apply", "-f", "-")
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "labs", "*", "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "projectcalico.org/v3") {
			continue
		}
		for _, m := range regexp.MustCompile(`(?m)^\s+namespace: (\S+)$`).FindAllStringSubmatch(string(data), -1) {
			_ = exec.Command(binary, "lab", "kubectl", "--name", name, "--", "create", "namespace", m[1]).Run()
		}
		kubectlT(t, name, string(data), "apply", "--dry-run=server", "-f", "-")
	}
	cmd := exec.Command(binary, "lab", "kubectl", "--name", name, "--", "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: broken}
spec:
  selector: app == 'web' &&
`)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "spec.selector") {
		t.Errorf("a policy with a broken selector: %v\n%s", err, out)
	}
}

const kubeCNPs = `apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Pod
metadata: {name: c2, namespace: other}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c2, image: localhost/trellis:latest, imagePullPolicy: Never, command: [/usr/local/bin/trellis, demo, http-server]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: isolate-default}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: default}}}
  ingress:
  - {name: deny-from-other, action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: other}}}]}
---
apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: baseline-other}
spec:
  tier: Baseline
  priority: 5
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: other}}}
  ingress:
  - {name: default-deny, action: Deny, from: [{namespaces: {}}]}
`

// checkClusterNetworkPolicy applies ClusterNetworkPolicies with kubectl (both API versions)
// and checks them on real packets against the calculation: an Admin deny the namespace's
// own policy cannot override, and a Baseline deny that decides only until a
// NetworkPolicy selects the pod.
func checkClusterNetworkPolicy(t *testing.T, name string) {
	t.Helper()
	kubectlT(t, name, kubeCNPs, "apply", "-f", "-")
	kubectlT(t, name, "", "wait", "-n", "other", "--for=condition=Ready", "pod/c2", "--timeout=60s")
	want := func(openC2 bool) func() (bool, string) {
		return func() (bool, string) {
			m, r := matrixResults(t, name, "-n", "default", "-n", "other", "--compare")
			for k, v := range m {
				from, to, _ := strings.Cut(k, " ")
				exp := "allow"
				if from != to && (strings.HasPrefix(from, "other/") || (to == "other/c2" && !openC2)) {
					exp = "deny"
				}
				if v != exp {
					return false, fmt.Sprintf("%s: %s, want %s", k, v, exp)
				}
			}
			return r.code == 0, r.stdout + r.stderr
		}
	}
	eventually(t, 30*time.Second, "Admin and Baseline ClusterNetworkPolicies", want(false))
	kubectlT(t, name, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: other}
spec:
  podSelector: {}
  ingress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: default}
spec:
  podSelector: {}
  ingress: [{}]
`, "apply", "-f", "-")
	eventually(t, 30*time.Second, "NetworkPolicies over Baseline, under Admin", want(true))
}

// checkYAOBank: YAOBank's Deployments with kubectl (lab up --with-yaobank on the running
// lab), the bank's page through its NodePort from outside (the host ext), its policies
// applied with kubectl checked on real packets against the calculation.
func checkYAOBank(t *testing.T, name string) {
	t.Helper()
	mustRun(t, name, "lab", "up", "--kubernetes", "--name", name, "--nodes", "3", "--with-yaobank")
	page := mustRun(t, name, "lab", "external", "exec", "--name", name, "ext", "--", binary, "demo", "fetch", "http://10.99.0.11:30180/")
	if !strings.Contains(page, "Balance") {
		t.Errorf("the bank's page from outside:\n%s", page)
	}
	policy, err := os.ReadFile(filepath.Join("..", "..", "examples", "yaobank-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kubectlT(t, name, string(policy), "apply", "-f", "-")
	eventually(t, 30*time.Second, "YAOBank's policies on real packets", func() (bool, string) {
		m, r := matrixResults(t, name, "-n", YAOBankNamespace, "--ports", "tcp/80,tcp/2379", "--compare")
		denied := 0
		for _, v := range m {
			if v == "deny" {
				denied++
			}
		}
		return r.code == 0 && denied > 0, r.stdout + r.stderr
	})
	page = mustRun(t, name, "lab", "external", "exec", "--name", name, "ext", "--", binary, "demo", "fetch", "http://10.99.0.11:30180/")
	if !strings.Contains(page, "Balance") {
		t.Errorf("the bank's page from outside with its policies:\n%s", page)
	}
}

// checkNodeAddRemove: a node joins the running cluster (kubelet certificate from the lab's
// CA, the DaemonSet's agent) and takes pods; removed (drained, Node deleted), its IPAM
// block affinities are released by the controllers and the other pods keep their
// connectivity.
func checkNodeAddRemove(t *testing.T, name string) {
	t.Helper()
	mustRun(t, name, "lab", "node", "add", "--name", name)
	kubectlT(t, name, "", "scale", "deploy/web", "--replicas=8")
	kubectlT(t, name, "", "rollout", "status", "deploy/web", "--timeout=120s")
	if affinities(t, name, "node4") == 0 {
		t.Fatal("node4 has no block affinity while its pods run")
	}
	if m, r := matrixResults(t, name, "-n", "default", "--compare"); r.code != 0 || len(m) != 81 {
		t.Fatalf("matrix with the added node: exit %d, %d rows\n%s", r.code, len(m), r.stderr)
	}
	mustRun(t, name, "lab", "node", "remove", "--name", name, "node4")
	eventually(t, 60*time.Second, "node4's block affinities released", func() (bool, string) {
		n := affinities(t, name, "node4")
		return n == 0, fmt.Sprintf("%d left", n)
	})
	kubectlT(t, name, "", "rollout", "status", "deploy/web", "--timeout=120s")
	eventually(t, 30*time.Second, "the remaining pods reach each other", func() (bool, string) {
		m, r := matrixResults(t, name, "-n", "default", "--compare")
		for k, v := range m {
			if v != "allow" {
				return false, k + " " + v
			}
		}
		return r.code == 0, r.stderr
	})
}

// affinities counts the block affinities of node.
func affinities(t *testing.T, name, node string) int {
	t.Helper()
	s := labStore(t, name)
	res, err := s.List(context.Background(), model.KindBlockAffinity, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range res.Items {
		if a, ok := o.(*model.BlockAffinity); ok && a.Spec.Node == node {
			n++
		}
	}
	return n
}
