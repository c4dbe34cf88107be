package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Kubernetes-mode benchmarks (bench/kube/run.sh). They need root, the Kubernetes binaries,
// containerd and Debian's CNI plugins.

func needKubeB(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	if _, err := findKubeBinaries(); err != nil {
		b.Skip(err)
	}
}

// benchKubeLab starts a Kubernetes-mode lab for a benchmark and takes it down after.
func benchKubeLab(b *testing.B, name string, nodes int) {
	b.Helper()
	_ = exec.Command(binary, "lab", "down", "--name", name).Run()
	b.Cleanup(func() { _ = exec.Command(binary, "lab", "down", "--name", name).Run() })
	out, err := exec.Command(binary, "lab", "up", "--kubernetes", "--name", name, "--nodes", fmt.Sprint(nodes)).CombinedOutput()
	if err != nil {
		b.Fatalf("lab up --kubernetes: %v\n%s", err, out)
	}
}

// BenchmarkKubeUp: `lab up --kubernetes` for 3 nodes, to every node Ready and every
// Trellis pod ready.
func BenchmarkKubeUp(b *testing.B) {
	needKubeB(b)
	name := "kbenchup"
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		_ = exec.Command(binary, "lab", "down", "--name", name).Run()
		b.StartTimer()
		if out, err := exec.Command(binary, "lab", "up", "--kubernetes", "--name", name, "--nodes", "3").CombinedOutput(); err != nil {
			b.Fatalf("lab up --kubernetes: %v\n%s", err, out)
		}
	}
	b.StopTimer()
	_ = exec.Command(binary, "lab", "down", "--name", name).Run()
}

// bridgeConflist is the baseline network: Debian's bridge plugin with host-local IPAM, in
// a range of its own. Named 00-, it sorts before Trellis's 10-trellis.conflist, so the
// node's containerd (max_conf_num 1) uses it while it is there.
const bridgeConflist = `{"cniVersion": "1.0.0", "name": "baseline", "plugins": [
 {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
  "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.250.0.0/16"}]]}}]}`

// BenchmarkKubePodStartup: on one node of a 2-node lab, pods created one after the other,
// from the create call to the pod Running as the API server reports it; the same pods with
// the CNI plugin Debian's bridge (the baseline), then Trellis's. Reports p50/p99 of each and
// the ratio of the p50s.
func BenchmarkKubePodStartup(b *testing.B) {
	needKubeB(b)
	name := "kbenchpod"
	benchKubeLab(b, name, 2)
	dir := nodeDir(name, "node2")
	for _, plugin := range []string{"bridge", "host-local"} {
		data, err := os.ReadFile(filepath.Join("/usr/lib/cni", plugin))
		if err != nil {
			b.Skipf("Debian's CNI plugins: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cni-bin", plugin), data, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	n := max(b.N, 20)
	measure := func(tag string) []time.Duration {
		var out []time.Duration
		for i := 0; i < n; i++ {
			out = append(out, podStartup(b, name, fmt.Sprintf("%s-%d", tag, i)))
		}
		return out
	}
	conf := filepath.Join(dir, "cni-conf", "00-baseline.conflist")
	if err := os.WriteFile(conf, []byte(bridgeConflist), 0o644); err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second) // containerd reloads its CNI configuration on a change
	b.ResetTimer()
	base := measure("bridge")
	b.StopTimer()
	if err := os.Remove(conf); err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	b.StartTimer()
	trellis := measure("trellis")
	b.StopTimer()
	p := func(d []time.Duration, q float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[int(q*float64(len(s)-1))]) / 1e6
	}
	b.ReportMetric(p(base, 0.5), "bridge-p50-ms")
	b.ReportMetric(p(base, 0.99), "bridge-p99-ms")
	b.ReportMetric(p(trellis, 0.5), "trellis-p50-ms")
	b.ReportMetric(p(trellis, 0.99), "trellis-p99-ms")
	b.ReportMetric(p(trellis, 0.5)/p(base, 0.5), "p50-ratio")
}

// podStartup creates a pod on node2 and returns the time until the API server shows it
// Running with an address; the pod is deleted after.
func podStartup(b *testing.B, name, pod string) time.Duration {
	b.Helper()
	s := labStore(b, name)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	grace := int64(0)
	p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "node2", TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "c", Image: trellisImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/usr/local/bin/trellis", "pause"}}}}}
	w, err := s.Watch(ctx, model.KindPod, store.WatchOptions{Namespace: "default"})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	if _, err := s.Create(ctx, p); err != nil {
		b.Fatal(err)
	}
	for ev := range w.Events() {
		if got, ok := ev.Object.(*corev1.Pod); ok && got.Name == pod && got.Status.Phase == corev1.PodRunning && got.Status.PodIP != "" {
			d := time.Since(start)
			if _, err := s.Delete(ctx, model.KindPod, "default", pod, store.DeleteOptions{}); err != nil {
				b.Fatal(err)
			}
			return d
		}
	}
	b.Fatalf("pod %s: not Running: %v", pod, ctx.Err())
	return 0
}

// BenchmarkKubeScale100: a Deployment scaled from 0 to 100 replicas on 3 nodes, to every
// pod Running and answering TCP from a client pod.
func BenchmarkKubeScale100(b *testing.B) {
	needKubeB(b)
	name := "kbenchscale"
	benchKubeLab(b, name, 3)
	kc := func(stdin string, args ...string) string {
		cmd := exec.Command(binary, append([]string{"lab", "kubectl", "--name", name, "--"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	kc(strings.Replace(kubeWeb, "replicas: 6", "replicas: 0", 1), "apply", "-f", "-")
	kc("", "wait", "--for=condition=Ready", "pod/client", "--timeout=60s")
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		kc("", "scale", "deploy/web", "--replicas=0")
		kc("", "wait", "--for=delete", "pod", "-l", "app=web", "--timeout=120s")
		b.StartTimer()
		kc("", "scale", "deploy/web", "--replicas=100")
		for {
			ips := runningIPs(b, name)
			if len(ips) == 100 && allAnswer(b, name, ips) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// runningIPs lists the addresses of the web pods that are Running.
func runningIPs(b *testing.B, name string) []netip.Addr {
	b.Helper()
	pods, err := listPods(context.Background(), name)
	if err != nil {
		b.Fatal(err)
	}
	var out []netip.Addr
	for _, p := range pods {
		if p.Labels["app"] == "web" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// allAnswer probes every address on tcp/80 from the client pod.
func allAnswer(b *testing.B, name string, ips []netip.Addr) bool {
	b.Helper()
	var specs []ProbeSpec
	for _, ip := range ips {
		specs = append(specs, ProbeSpec{From: "default/client", To: ip.String(), Addr: ip, Port: connectivity.Port{Proto: "tcp", Num: 80}})
	}
	for _, r := range ProbeAll(context.Background(), name, specs, ProbeOptions{Confirm: time.Second, Concurrency: 100}) {
		if !r.Connected {
			return false
		}
	}
	return true
}
