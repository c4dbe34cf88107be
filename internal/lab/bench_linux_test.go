package lab

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
)

// BenchmarkUp measures `trellis lab up` (to every agent ready) for 3 and 10 nodes and
// reports the resident memory of the lab's processes; the lab is taken down outside the
// timed part. Root only.
func BenchmarkUp(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the lab needs root")
	}
	for _, nodes := range []int{3, 10} {
		b.Run(fmt.Sprintf("nodes-%d", nodes), func(b *testing.B) {
			name := fmt.Sprintf("trlbench%d", nodes)
			down := func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = exec.CommandContext(ctx, binary, "lab", "down", "--name", name).Run()
			}
			b.Cleanup(down)
			var agentRSS, otherRSS float64
			for b.Loop() {
				cmd := exec.Command(binary, "lab", "up", "--name", name, "--nodes", fmt.Sprint(nodes))
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("lab up: %v\n%s", err, out)
				}
				b.StopTimer()
				agentRSS, otherRSS = labRSS(b, name)
				down()
				b.StartTimer()
			}
			b.ReportMetric(agentRSS, "MB-RSS/agent")
			b.ReportMetric(otherRSS, "MB-RSS-datastore+controller")
		})
	}
}

// labRSS returns the mean resident memory of the lab's agents and the sum of its
// datastore and controller, in MB.
func labRSS(b *testing.B, name string) (perAgent, others float64) {
	b.Helper()
	st, err := LoadState(name)
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, n := range st.Nodes {
		sum += rssMB(n.AgentPID)
	}
	return sum / float64(len(st.Nodes)), rssMB(st.DatastorePID) + rssMB(st.ControllerPID)
}

// rssMB reads VmRSS of a process in MB (0 when it is gone).
func rssMB(pid int) float64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkNewNodeFirstPod measures, in a 3-node BGP lab, the time from creating the
// first pod of a just added node to that pod answering TCP from every other node's
// namespace (its block claimed, advertised, learned and installed). Adding and removing
// the node is outside the timed part. Root only.
func BenchmarkNewNodeFirstPod(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the lab needs root")
	}
	name := "trlbenchnode"
	down := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = exec.CommandContext(ctx, binary, "lab", "down", "--name", name).Run()
	}
	b.Cleanup(down)
	if out, err := exec.Command(binary, "lab", "up", "--name", name, "--nodes", "3").CombinedOutput(); err != nil {
		b.Fatalf("lab up: %v\n%s", err, out)
	}
	s := labStore(b, name)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		node := fmt.Sprintf("extra%d", i)
		if out, err := exec.Command(binary, "lab", "node", "add", node, "--name", name).CombinedOutput(); err != nil {
			b.Fatalf("lab node add: %v\n%s", err, out)
		}
		pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "first-" + node, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "web", Image: "trellis",
				Command: []string{"trellis", "demo", "http-server", "--port", "80"}}}}}
		model.SetDefaults(pod)
		b.StartTimer()
		if _, err := s.Create(ctx, pod); err != nil {
			b.Fatal(err)
		}
		ip := waitPodIP(b, name, pod.Name)
		for _, other := range []string{"node1", "node2", "node3"} {
			waitReachable(b, NodeNS(name, other), ip)
		}
		b.StopTimer()
		if out, err := exec.Command(binary, "lab", "node", "remove", node, "--name", name).CombinedOutput(); err != nil {
			b.Fatalf("lab node remove: %v\n%s", err, out)
		}
		b.StartTimer()
	}
}

func waitPodIP(b *testing.B, name, pod string) string {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		pods, err := Pods(context.Background(), name)
		if err == nil {
			for _, p := range pods {
				if p.Name == pod && p.Status.PodIP != "" {
					return p.Status.PodIP
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("pod %s got no address in 20s", pod)
	return ""
}

func waitReachable(b *testing.B, ns, ip string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		err := netns.Do(ns, func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "80"), 100*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	out, _ := exec.Command("ip", "-n", ns, "route").CombinedOutput()
	lab := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(ns, "trl-"), "-", 2)[0], "")
	st, _ := exec.Command(binary, "lab", "status", "--name", lab).CombinedOutput()
	b.Fatalf("%s not reachable from %s in 20s; its routes:\n%s\nlab status:\n%s\n%s", ip, ns, out, st, logTail(filepath.Join(logDir(lab), "controller.log")))
}
