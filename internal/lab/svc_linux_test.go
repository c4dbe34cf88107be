package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/controller"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
)

// The services end-to-end test: one 2-node lab (named trls...), the cluster controllers,
// the cluster DNS and the agents' service proxy, probed over real packets from a pod and
// from an external host on the fabric. YAOBank and its policies come last (the policies
// deny by default in every application namespace).

// web-1 and web-2 are ready only while something listens on their port 9000: the test
// starts and stops that listener to change their readiness.
const svcManifest = `
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec:
  nodeName: node1
  containers:
  - name: c
    command: [trellis, demo, http-server, --port, "8080"]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: default, labels: {app: web, local: "yes"}}
spec:
  nodeName: node1
  containers:
  - name: web
    command: [trellis, demo, http-server, --port, "8080"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 9000}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: default, labels: {app: web}}
spec:
  nodeName: node2
  containers:
  - name: web
    command: [trellis, demo, http-server, --port, "8080"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 9000}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-headless, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-sticky, namespace: default}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-local, namespace: default}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: web, local: "yes"}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-lb, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-ext, namespace: default}
spec:
  selector: {app: web}
  externalIPs: [198.51.100.7]
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: trl-lb-pool}
spec:
  cidr: 203.0.113.0/24
  allowedUses: [LoadBalancer]
`

var (
	svcKind   = model.KindService
	sliceKind = model.KindEndpointSlice
)

// newSvcLab starts a 2-node lab named trls<hex> and registers its removal.
func newSvcLab(t *testing.T) string {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := "trls" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"controller.log", "agent-node1.log", "agent-node2.log"} {
				data, _ := os.ReadFile(filepath.Join(logDir(name), f))
				if len(data) > 20000 {
					data = data[len(data)-20000:]
				}
				t.Logf("%s:\n%s", f, data)
			}
		}
		if r := run(t, name, "lab", "down", "--name", name); r.code != 0 {
			t.Errorf("lab down: exit %d: %s", r.code, r.stderr)
		}
	})
	out := mustRun(t, name, "lab", "up", "--name", name, "--nodes", "2")
	if !strings.Contains(out, "lab "+name+" is up") {
		t.Fatalf("lab up printed no final line:\n%s", out)
	}
	return name
}

// waitFor is eventually for a condition that returns what is still wrong ("" when it holds).
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() string) {
	t.Helper()
	eventually(t, timeout, what, func() (bool, string) {
		msg := cond()
		return msg == "", msg
	})
}

// httpGetIn fetches url from inside network namespace ns.
func httpGetIn(ns, url string) (int, string, error) {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := netns.Do(ns, func() error {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			conn = c
			return err
		})
		return conn, err
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// hosts fetches url n times and returns the first word of every answer (the pod name).
func hosts(t *testing.T, ns, url string, n int) []string {
	t.Helper()
	out, err := tryHosts(ns, url, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryHosts is hosts for a waitFor condition: a failed request (an endpoint change the
// agent has not programmed yet) is an answer to wait out, not a failure.
func tryHosts(ns, url string, n int) ([]string, error) {
	var out []string
	for range n {
		code, body, err := httpGetIn(ns, url)
		if err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("get %s from %s: %d %v", url, ns, code, err)
		}
		out = append(out, strings.Fields(body)[0])
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func getService(t *testing.T, st store.Store, name string) *corev1.Service {
	t.Helper()
	o, err := st.Get(context.Background(), svcKind, "default", name)
	if err != nil {
		t.Fatalf("get service %s: %v", name, err)
	}
	return o.(*corev1.Service)
}

// readyEndpoints lists "pod=ready" for the service's endpoints.
func readyEndpoints(t *testing.T, st store.Store, svc string) string {
	t.Helper()
	res, err := st.List(context.Background(), sliceKind, store.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range res.Items {
		s := o.(*discoveryv1.EndpointSlice)
		if s.Labels[discoveryv1.LabelServiceName] != svc {
			continue
		}
		for _, e := range s.Endpoints {
			out = append(out, fmt.Sprintf("%s=%t", e.TargetRef.Name, *e.Conditions.Ready))
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// readyListener starts a listener on port 9000 inside a pod, making it ready; the returned
// function stops it.
func readyListener(t *testing.T, name, pod string) func() {
	t.Helper()
	p, err := startProcess(PodNS(name, "default", pod), []string{binary, "demo", "http-server", "--port", "9000"}, nil,
		filepath.Join(t.TempDir(), "ready.log"))
	if err != nil {
		t.Fatal(err)
	}
	stop := func() { killPIDs([]int{p.pid()}, time.Second); <-p.done }
	t.Cleanup(func() {
		if !p.exited() {
			stop()
		}
	})
	return stop
}

func nodeAddr(t *testing.T, name, node string) string {
	t.Helper()
	st, err := LoadState(name)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := st.Node(node)
	if !ok {
		t.Fatalf("no node %s", node)
	}
	return hostAddr(n)
}

func TestServicesE2E(t *testing.T) {
	needRoot(t)
	name := newSvcLab(t)
	manifest := filepath.Join(t.TempDir(), "svc.yaml")
	if err := os.WriteFile(manifest, []byte(svcManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, name, "apply", "-f", manifest)
	mustRun(t, name, "lab", "external", "add", "--name", name, "ext")
	ext := NodeNS(name, "ext")
	st := labStore(t, name)
	client := PodNS(name, "default", "client")
	node1, node2 := nodeAddr(t, name, "node1"), nodeAddr(t, name, "node2")

	waitFor(t, "pods running, web not ready", 30*time.Second, func() string {
		if got := readyEndpoints(t, st, "web"); got != "web-1=false web-2=false" {
			return "endpoints " + got
		}
		if !netns.Exists(client) {
			return "no client pod"
		}
		return ""
	})
	web := getService(t, st, "web")
	clusterIP := web.Spec.ClusterIP

	t.Run("allocation", func(t *testing.T) {
		if a := net.ParseIP(clusterIP); a == nil || !strings.HasPrefix(clusterIP, "10.96.") || clusterIP == "10.96.0.10" {
			t.Errorf("web clusterIP %q, want one of 10.96.0.0/16 other than the DNS address", clusterIP)
		}
		np := getService(t, st, "web-np").Spec.Ports[0].NodePort
		local := getService(t, st, "web-local")
		if np < 30000 || np > 32767 || local.Spec.HealthCheckNodePort == 0 || local.Spec.Ports[0].NodePort == np {
			t.Errorf("node ports %d and %d, health-check port %d", np, local.Spec.Ports[0].NodePort, local.Spec.HealthCheckNodePort)
		}
		waitFor(t, "load-balancer address", 10*time.Second, func() string {
			if got := getService(t, st, "web-lb").Status.LoadBalancer.Ingress; len(got) != 1 || got[0].IP != "203.0.113.1" {
				return fmt.Sprintf("ingress %v", got)
			}
			return ""
		})
	})

	t.Run("no ready endpoints: refused", func(t *testing.T) {
		waitFor(t, "connection refused", 15*time.Second, func() string {
			_, _, err := httpGetIn(client, "http://"+clusterIP+"/")
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return fmt.Sprintf("error %v", err)
			}
			return ""
		})
	})

	stop1, stop2 := readyListener(t, name, "web-1"), readyListener(t, name, "web-2")
	waitFor(t, "both ready", 15*time.Second, func() string {
		if got := readyEndpoints(t, st, "web"); got != "web-1=true web-2=true" {
			return "endpoints " + got
		}
		return ""
	})
	_ = stop1

	t.Run("ClusterIP balances over ready endpoints", func(t *testing.T) {
		waitFor(t, "both pods answer", 15*time.Second, func() string {
			if got, err := tryHosts(client, "http://"+clusterIP+"/", 20); err != nil {
				return err.Error()
			} else if !slices.Equal(got, []string{"web-1", "web-2"}) {
				return fmt.Sprintf("answers from %v", got)
			}
			return ""
		})
	})

	t.Run("DNS from a pod", func(t *testing.T) {
		lookup := func(args ...string) string {
			// lab exec runs commands as the pod's containers: with the cluster's resolv.conf.
			full := append([]string{"lab", "exec", "--name", name, "default/client", "--", "trellis", "dns", "lookup"}, args...)
			return strings.TrimSpace(mustRun(t, name, full...))
		}
		if got := lookup("web"); got != clusterIP {
			t.Errorf("lookup web = %q, want %s", got, clusterIP)
		}
		if got := lookup("web.default.svc.cluster.local"); got != clusterIP {
			t.Errorf("lookup web.default.svc.cluster.local = %q, want %s", got, clusterIP)
		}
		var ips []string
		for _, p := range []string{"web-1", "web-2"} {
			ips = append(ips, podIP(t, st, p))
		}
		slices.Sort(ips)
		if got := strings.Fields(lookup("web-headless")); !slices.Equal(got, ips) {
			t.Errorf("lookup web-headless = %q, want %q", got, ips)
		}
		if got := lookup("--type", "SRV", "_http._tcp.web"); got != "web.default.svc.cluster.local.:80" {
			t.Errorf("SRV = %q", got)
		}
		if r := run(t, name, "lab", "exec", "--name", name, "default/client", "--", "trellis", "dns", "lookup", "example.org"); r.code == 0 {
			t.Errorf("lookup example.org succeeded: %s (nothing may be forwarded)", r.stdout)
		}
	})

	t.Run("session affinity", func(t *testing.T) {
		ip := getService(t, st, "web-sticky").Spec.ClusterIP
		waitFor(t, "sticky service answers", 10*time.Second, func() string {
			if _, _, err := httpGetIn(client, "http://"+ip+"/"); err != nil {
				return err.Error()
			}
			return ""
		})
		if got := hosts(t, client, "http://"+ip+"/", 20); len(got) != 1 {
			t.Errorf("ClientIP affinity: answers from %v, want one pod", got)
		}
	})

	t.Run("NodePort from an external host", func(t *testing.T) {
		np := getService(t, st, "web-np").Spec.Ports[0].NodePort
		for _, n := range []string{node1, node2} {
			url := "http://" + net.JoinHostPort(n, strconv.Itoa(int(np))) + "/"
			waitFor(t, "node port "+url, 10*time.Second, func() string {
				if code, _, err := httpGetIn(ext, url); err != nil || code != 200 {
					return fmt.Sprintf("%d %v", code, err)
				}
				return ""
			})
		}
	})

	t.Run("externalTrafficPolicy Local and Cluster", func(t *testing.T) {
		local := getService(t, st, "web-local")
		np, hc := local.Spec.Ports[0].NodePort, local.Spec.HealthCheckNodePort
		extIP := strings.Split(externalAddr(t, name), "/")[0]
		url := func(node string, port int32, path string) string {
			return "http://" + net.JoinHostPort(node, strconv.Itoa(int(port))) + path
		}
		waitFor(t, "Local: the client address reaches the pod", 10*time.Second, func() string {
			code, body, err := httpGetIn(ext, url(node1, np, "/client"))
			if err != nil || code != 200 || body != "web-1 "+extIP+"\n" {
				return fmt.Sprintf("%d %q %v", code, body, err)
			}
			return ""
		})
		if code, body, err := httpGetIn(ext, url(node2, np, "/client")); err == nil {
			t.Errorf("Local via node2 (no local endpoint) answered %d %q", code, body)
		}
		t.Run("health-check node port", func(t *testing.T) {
			code, _, err := httpGetIn(ext, url(node1, hc, "/healthz"))
			if err != nil || code != 200 {
				t.Errorf("health check on node1 (a local endpoint): %d %v, want 200", code, err)
			}
			if code, _, err := httpGetIn(ext, url(node2, hc, "/healthz")); err != nil || code == 200 {
				t.Errorf("health check on node2 (no local endpoint): %d %v, want an answer other than 200", code, err)
			}
		})
		cnp := getService(t, st, "web-np").Spec.Ports[0].NodePort
		waitFor(t, "Cluster: via node2 to the pod on node1, masqueraded", 10*time.Second, func() string {
			code, body, err := httpGetIn(ext, url(node2, cnp, "/client"))
			if err != nil || code != 200 {
				return fmt.Sprintf("%d %v", code, err)
			}
			if f := strings.Fields(body); f[0] != "web-1" || f[1] == extIP {
				return fmt.Sprintf("answer %q", body)
			}
			return ""
		})
	})

	t.Run("LoadBalancer and externalIPs", func(t *testing.T) {
		for _, dst := range []string{"203.0.113.0/24", "198.51.100.7/32"} {
			if err := netns.Do(ext, func() error { return addRoute(dst, node1) }); err != nil {
				t.Fatal(err)
			}
		}
		for _, ip := range []string{"203.0.113.1", "198.51.100.7"} {
			waitFor(t, "reach "+ip, 10*time.Second, func() string {
				if code, _, err := httpGetIn(ext, "http://"+ip+"/"); err != nil || code != 200 {
					return fmt.Sprintf("%d %v", code, err)
				}
				return ""
			})
		}
	})

	t.Run("readiness changes remove the endpoint", func(t *testing.T) {
		stop2()
		waitFor(t, "web-2 not ready", 10*time.Second, func() string {
			if got := readyEndpoints(t, st, "web"); got != "web-1=true web-2=false" {
				return "endpoints " + got
			}
			return ""
		})
		waitFor(t, "only web-1 answers", 10*time.Second, func() string {
			if got, err := tryHosts(client, "http://"+clusterIP+"/", 10); err != nil {
				return err.Error()
			} else if !slices.Equal(got, []string{"web-1"}) {
				return fmt.Sprintf("answers from %v", got)
			}
			return ""
		})
	})

	t.Run("a deleted pod's endpoint goes", func(t *testing.T) {
		_ = readyListener(t, name, "web-2")
		waitFor(t, "web-2 ready again", 10*time.Second, func() string {
			if got := readyEndpoints(t, st, "web"); got != "web-1=true web-2=true" {
				return "endpoints " + got
			}
			return ""
		})
		mustRun(t, name, "delete", "pod", "-n", "default", "web-1")
		waitFor(t, "only web-2 answers", 15*time.Second, func() string {
			if got := readyEndpoints(t, st, "web"); got != "web-2=true" {
				return "endpoints " + got
			}
			if got, err := tryHosts(client, "http://"+clusterIP+"/", 10); err != nil {
				return err.Error()
			} else if !slices.Equal(got, []string{"web-2"}) {
				return fmt.Sprintf("answers from %v", got)
			}
			return ""
		})
	})

	t.Run("YAOBank with its policies", func(t *testing.T) {
		out := mustRun(t, name, "lab", "up", "--name", name, "--nodes", "2", "--with-yaobank")
		if !strings.Contains(out, "yaobank is up") {
			t.Fatalf("lab up --with-yaobank:\n%s", out)
		}
		page := func() string {
			code, body, err := httpGetIn(ext, "http://"+net.JoinHostPort(node2, "30180")+"/")
			if err != nil || code != 200 || !strings.Contains(body, `<span id="balance">2,000.00</span>`) ||
				!strings.Contains(body, "summary summary-") {
				return fmt.Sprintf("%d %v %q", code, err, body)
			}
			return ""
		}
		waitFor(t, "the customer page shows the balance", 15*time.Second, page)
		mustRun(t, name, "apply", "-f", filepath.Join("..", "..", "examples", "yaobank-policy.yaml"))
		waitFor(t, "customer -> database denied", 10*time.Second, func() string {
			r := run(t, name, "lab", "probe", "--name", name, "--from", "yaobank/customer", "--to", "yaobank/database",
				"--port", "tcp/2379", "-o", "json")
			var pr ProbeResult
			if err := json.Unmarshal([]byte(r.stdout), &pr); err != nil || pr.Connected {
				return fmt.Sprintf("probe %q %v", r.stdout, err)
			}
			return ""
		})
		waitFor(t, "the page still works under the policies", 10*time.Second, page)
		out = mustRun(t, name, "lab", "matrix", "--name", name, "-n", "yaobank", "--ports", "tcp/80,tcp/2379", "--compare")
		if !strings.Contains(out, "no disagreement") {
			t.Errorf("matrix --compare:\n%s", out)
		}
	})
}

func podIP(t *testing.T, st store.Store, pod string) string {
	t.Helper()
	o, err := st.Get(context.Background(), podKind(), "default", pod)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*corev1.Pod).Status.PodIP
}

func externalAddr(t *testing.T, name string) string {
	t.Helper()
	st, err := LoadState(name)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := st.External("ext")
	if !ok {
		t.Fatal("no external host ext")
	}
	return e.Address
}

func TestYAOBankManifestIsTheExample(t *testing.T) {
	ex, err := os.ReadFile(filepath.Join("..", "..", "examples", "yaobank.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(ex) != string(YAOBankManifest()) {
		t.Error("examples/yaobank.yaml and internal/lab/yaobank.yaml differ: copy one over the other")
	}
	docs, err := model.Decode(YAOBankManifest(), "yaobank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var svcs []string
	for _, d := range docs {
		model.SetDefaults(d.Object)
		if errs := model.Validate(d.Object); len(errs) > 0 {
			t.Errorf("%s: %v", d.Ref(), errs)
		}
		if s, ok := d.Object.(*corev1.Service); ok {
			svcs = append(svcs, s.Name)
		}
	}
	if !slices.Equal(svcs, []string{"database", "summary", "customer"}) {
		t.Errorf("services %v", svcs)
	}
}

func TestDNSObjectsAndResolvConf(t *testing.T) {
	var svc *corev1.Service
	for _, o := range dnsObjects("trlx") {
		model.SetDefaults(o)
		if errs := model.Validate(o); len(errs) > 0 {
			t.Errorf("%s: %v", o.GetName(), errs)
		}
		if s, ok := o.(*corev1.Service); ok {
			svc = s
		}
	}
	if svc == nil || svc.Spec.ClusterIP != controller.DefaultDNSAddr.String() {
		t.Fatalf("kube-dns service %+v", svc)
	}
	want := "nameserver 10.96.0.10\nsearch yaobank.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
	if got := ResolvConf("yaobank"); got != want {
		t.Errorf("resolv.conf = %q, want %q", got, want)
	}
}

// addRoute adds dst via gw in the current namespace (an external host of the lab).
func addRoute(dst, gw string) error {
	_, n, err := net.ParseCIDR(dst)
	if err != nil {
		return err
	}
	if err := netlink.RouteAdd(&netlink.Route{Dst: n, Gw: net.ParseIP(gw)}); err != nil {
		return fmt.Errorf("add route %s via %s: %w", dst, gw, err)
	}
	return nil
}

func TestShimMountsResolvConfPrivately(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the shim needs root (mount namespaces): run the tests as root")
	}
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	hostConf, _ := os.ReadFile(resolvConfPath)
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte(ResolvConf("trlshim")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "lab", "shim", "--resolv-conf", conf, "--", "cat", resolvConfPath).CombinedOutput()
	if err != nil {
		t.Fatalf("shim: %v\n%s", err, out)
	}
	if string(out) != ResolvConf("trlshim") {
		t.Errorf("inside the shim /etc/resolv.conf is %q, want the pod's", out)
	}
	after, _ := os.ReadFile("/proc/self/mountinfo")
	if now, _ := os.ReadFile(resolvConfPath); string(now) != string(hostConf) || string(after) != string(before) {
		t.Errorf("the root mount namespace changed")
	}
}

// TestKubeYAOBankManifestIsTheExample: the Kubernetes-mode YAOBank lab up applies is
// examples/yaobank-k8s.yaml.
func TestKubeYAOBankManifestIsTheExample(t *testing.T) {
	ex, err := os.ReadFile(filepath.Join("..", "..", "examples", "yaobank-k8s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(ex) != string(yaobankKubeManifest) {
		t.Error("examples/yaobank-k8s.yaml and internal/lab/yaobank-k8s.yaml differ: copy one over the other")
	}
}
