package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/netns"
)

// ProbeResult is one connection attempt over real packets.
type ProbeResult struct {
	Connected bool   `json:"connected"`
	From      string `json:"from"`
	To        string `json:"to"`
	Address   string `json:"address,omitempty"`
	Port      string `json:"port"`
	Error     string `json:"error,omitempty"`
}

// PodRef splits NS/POD.
func PodRef(ref string) (namespace, pod string, err error) {
	ns, p, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || p == "" || strings.Contains(p, "/") {
		return "", "", fmt.Errorf("invalid pod %q: want NAMESPACE/POD", ref)
	}
	return ns, p, nil
}

// PodNamespaceOf returns the path of a realised pod's network namespace: its named
// namespace in the etcd-mode lab, a link under /proc in the Kubernetes mode.
func PodNamespaceOf(name, ref string) (string, error) {
	ns, pod, err := PodRef(ref)
	if err != nil {
		return "", err
	}
	if isKubeLab(name) {
		return kubePodNetns(name, ns, pod)
	}
	n := PodNS(name, ns, pod)
	if !netns.Exists(n) {
		return "", fmt.Errorf("pod %s is not running in lab %s (no namespace %s)", ref, name, n)
	}
	return netns.Path(n), nil
}

// Pods lists the lab's pods.
func Pods(ctx context.Context, name string) ([]*corev1.Pod, error) { return listPods(ctx, name) }

// Probe connects from inside the source pod's namespace to addr.
func Probe(ctx context.Context, lab, from, to string, addr netip.Addr, port connectivity.Port, timeout time.Duration) ProbeResult {
	r := ProbeResult{From: from, To: to, Address: addr.String(), Port: port.String()}
	ns, err := PodNamespaceOf(lab, from)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	target := net.JoinHostPort(addr.String(), strconv.Itoa(int(port.Num)))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn net.Conn
	err = netns.DoPath(ns, func() error {
		var d net.Dialer
		c, err := d.DialContext(ctx, port.Proto, target)
		conn = c
		return err
	})
	if err != nil {
		r.Error = probeError(err)
		return r
	}
	defer conn.Close()
	if port.Proto == "udp" {
		deadline, _ := ctx.Deadline()
		_ = conn.SetDeadline(deadline)
		msg := []byte("trellis-probe")
		if _, err := conn.Write(msg); err != nil {
			r.Error = probeError(err)
			return r
		}
		buf := make([]byte, 64)
		n, err := conn.Read(buf)
		if err != nil {
			r.Error = probeError(err)
			return r
		}
		if string(buf[:n]) != string(msg) {
			r.Error = "unexpected reply"
			return r
		}
	}
	r.Connected = true
	return r
}

func probeError(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}

// PodAddrs maps "ns/pod" to every address (sorted, IPv4 first) of the lab's pods that
// have one.
func PodAddrs(ctx context.Context, name string) (map[string][]netip.Addr, error) {
	pods, err := listPods(ctx, name)
	if err != nil {
		return nil, err
	}
	out := map[string][]netip.Addr{}
	for _, p := range pods {
		var addrs []netip.Addr
		for _, ip := range p.Status.PodIPs {
			if a, err := netip.ParseAddr(ip.IP); err == nil && !slices.Contains(addrs, a.Unmap()) {
				addrs = append(addrs, a.Unmap())
			}
		}
		if a, err := netip.ParseAddr(p.Status.PodIP); err == nil && !slices.Contains(addrs, a.Unmap()) {
			addrs = append(addrs, a.Unmap())
		}
		if len(addrs) > 0 {
			slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
			out[p.Namespace+"/"+p.Name] = addrs
		}
	}
	return out, nil
}

// ProbeSpec is one probe of a batch.
type ProbeSpec struct {
	From, To string
	Addr     netip.Addr
	Port     connectivity.Port
}

// ProbeOptions tune a batch of probes. Round trips in a lab take microseconds, so a probe
// that gets no answer within First is most likely dropped; it is tried once more with
// Confirm before it counts as not connected, so a slow answer is never reported as a deny.
type ProbeOptions struct {
	First       time.Duration // first attempt's timeout (default 200 ms)
	Confirm     time.Duration // the retry's timeout for probes that timed out (default 1 s)
	Concurrency int           // probes in flight at once (default 1024)
	// Progress, when set, is called as probes finish (from one goroutine at a time).
	Progress func(done, total int)
}

func (o ProbeOptions) withDefaults() ProbeOptions {
	if o.First <= 0 {
		o.First = 200 * time.Millisecond
	}
	if o.Confirm <= 0 {
		o.Confirm = time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1024
	}
	o.First = min(o.First, o.Confirm)
	return o
}

// ProbeAll runs probes concurrently and returns the results in the order of specs: every
// probe with the short timeout first, then the ones that timed out again with the
// confirming one.
func ProbeAll(ctx context.Context, lab string, specs []ProbeSpec, o ProbeOptions) []ProbeResult {
	o = o.withDefaults()
	out := make([]ProbeResult, len(specs))
	all := make([]int, len(specs))
	for i := range all {
		all[i] = i
	}
	total := len(specs)
	var retry []int
	var mu sync.Mutex
	done := 0
	probeBatch(ctx, lab, specs, all, o.First, o.Concurrency, out, func(i int) {
		mu.Lock()
		defer mu.Unlock()
		if !out[i].Connected && out[i].Error == "timeout" {
			retry = append(retry, i)
			total++
		}
		done++
		if o.Progress != nil {
			o.Progress(done, total)
		}
	})
	probeBatch(ctx, lab, specs, retry, o.Confirm, o.Concurrency, out, func(int) {
		mu.Lock()
		defer mu.Unlock()
		done++
		if o.Progress != nil {
			o.Progress(done, total)
		}
	})
	return out
}

// probeBatch probes specs[i] for every i in idx, at most n at a time, storing results in
// out and calling finished after each.
func probeBatch(ctx context.Context, lab string, specs []ProbeSpec, idx []int, timeout time.Duration, n int,
	out []ProbeResult, finished func(int)) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, i := range idx {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s := specs[i]
			out[i] = Probe(ctx, lab, s.From, s.To, s.Addr, s.Port, timeout)
			finished(i)
		}()
	}
	wg.Wait()
}

// Exec runs argv inside the pod's namespace with the given standard streams and returns
// its exit code.
func Exec(ctx context.Context, lab, ref string, argv []string, stdin io.Reader, stdout, stderr io.Writer, binary string) (int, error) {
	ns, err := PodNamespaceOf(lab, ref)
	if err != nil {
		return 0, err
	}
	if binary == "" {
		binary, _ = os.Executable()
	}
	argv = slices.Clone(argv)
	if argv[0] == "trellis" && binary != "" {
		argv[0] = binary
	}
	podNS, pod, _ := PodRef(ref)
	// As the pod's containers: with the cluster's resolv.conf, through the shim.
	if rc := ResolvConfPath(lab, podNS); binary != "" && fileExists(rc) {
		argv = append([]string{binary, "lab", "shim", "--resolv-conf", rc, "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Env = append(os.Environ(), "HOSTNAME="+pod)
	if err := netns.DoPath(ns, cmd.Start); err != nil {
		return 0, fmt.Errorf("exec %s in pod %s: %w", argv[0], ref, err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("exec %s in pod %s: %w", argv[0], ref, err)
	}
	return 0, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
