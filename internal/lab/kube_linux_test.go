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
	"strings"
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
	for _, h := range hs {
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

// TestKubernetesLab: on a real cluster per routing mode, a Deployment spread by the
// scheduler and a pinned pod reach each other; Kubernetes and Calico policies applied
// with kubectl match the calculation on real packets; addresses come from the pool and a
// deleted pod's address is released.
func TestKubernetesLab(t *testing.T) {
	needKube(t)
	for _, routing := range []string{RoutingBGP, RoutingVXLAN} {
		t.Run(routing, func(t *testing.T) {
			name := newKubeLab(t, routing, 3)
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
			checkDeleteReleases(t, name)
		})
	}
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
	s, err := OpenStore(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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

// TestKubernetesServicesAndAgentRestart: a Service by its DNS name from a pod, a NodePort
// from a host outside the cluster, externalTrafficPolicy Local keeping the client's
// address; the agent's pod deleted with kubectl comes back through its DaemonSet while an
// established connection through its node keeps working.
func TestKubernetesServicesAndAgentRestart(t *testing.T) {
	needKube(t)
	name := newKubeLab(t, RoutingBGP, 3)
	kubectlT(t, name, kubeWeb+`---
apiVersion: v1
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
	kubectlT(t, name, "", "rollout", "status", "deploy/web", "--timeout=120s")
	kubectlT(t, name, "", "wait", "--for=condition=Ready", "pod/client", "--timeout=60s")
	out := kubectlT(t, name, "", "exec", "client", "--", "trellis", "demo", "fetch", "http://web.default.svc.cluster.local/")
	if !strings.HasPrefix(out, "web-") {
		t.Errorf("service by DNS name from a pod: %q", out)
	}
	mustRun(t, name, "lab", "external", "add", "--name", name, "ext")
	for _, node := range []string{"10.99.0.11", "10.99.0.12", "10.99.0.13"} {
		r := run(t, name, "lab", "external", "exec", "--name", name, "ext", "--", binary, "demo", "fetch", "http://"+node+":30080/client")
		if r.code != 0 || !strings.HasSuffix(strings.TrimSpace(r.stdout), " 10.99.0.254") {
			t.Errorf("NodePort (Local) on %s from the external host: exit %d, %q (want the client's own address)\n%s", node, r.code, r.stdout, r.stderr)
		}
	}
	checkAgentRestart(t, name)
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

// TestKubernetesLabStore: the lab's store is the API server, with Calico's data model:
// WorkloadEndpoints are views of the pods, the Calico Nodes carry the BGP addresses the
// agents registered.
func TestKubernetesLabStore(t *testing.T) {
	needKube(t)
	name := newKubeLab(t, RoutingBGP, 1)
	kubectlT(t, name, kubeWeb, "apply", "-f", "-")
	kubectlT(t, name, "", "rollout", "status", "deploy/web", "--timeout=120s")
	s, err := OpenStore(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	weps, err := s.List(ctx, model.KindWorkloadEndpoint, store.ListOptions{Namespace: "default"})
	if err != nil || len(weps.Items) != 6 {
		t.Fatalf("workload endpoints: %d, %v", len(weps.Items), err)
	}
	n, err := s.Get(ctx, model.KindNode, "", "node1")
	if err != nil {
		t.Fatal(err)
	}
	if cn, ok := n.(*model.Node); !ok || cn.Spec.BGP == nil || cn.Spec.BGP.IPv4Address != "10.99.0.11/24" {
		t.Errorf("Calico node1: %+v", n)
	}
}

// TestKubernetesYAOBank: YAOBank's Deployments with kubectl (lab up --with-yaobank), the
// bank's page through its NodePort from outside, its policies applied with kubectl checked
// on real packets against the calculation.
func TestKubernetesYAOBank(t *testing.T) {
	needKube(t)
	name := newKubeLab(t, RoutingBGP, 2)
	mustRun(t, name, "lab", "up", "--kubernetes", "--name", name, "--nodes", "2", "--with-yaobank")
	mustRun(t, name, "lab", "external", "add", "--name", name, "ext")
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

// TestKubernetesNodeAddRemove: a node joins a running cluster (kubelet certificate from the
// lab's CA, the DaemonSet's agent) and takes pods; removed (drained, Node deleted), its
// IPAM block affinities are released by the controllers and the other pods keep their
// connectivity.
func TestKubernetesNodeAddRemove(t *testing.T) {
	needKube(t)
	name := newKubeLab(t, RoutingBGP, 2)
	mustRun(t, name, "lab", "node", "add", "--name", name)
	kubectlT(t, name, kubeWeb, "apply", "-f", "-")
	kubectlT(t, name, "", "rollout", "status", "deploy/web", "--timeout=120s")
	kubectlT(t, name, "", "wait", "--for=condition=Ready", "pod/client", "--timeout=60s")
	if m, r := matrixResults(t, name, "-n", "default", "--compare"); r.code != 0 || len(m) != 49 {
		t.Fatalf("matrix with the added node: exit %d, %d rows\n%s", r.code, len(m), r.stderr)
	}
	if affinities(t, name, "node3") == 0 {
		t.Fatal("node3 has no block affinity while its pods run")
	}
	mustRun(t, name, "lab", "node", "remove", "--name", name, "node3")
	eventually(t, 60*time.Second, "node3's block affinities released", func() (bool, string) {
		n := affinities(t, name, "node3")
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
	s, err := OpenStore(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
