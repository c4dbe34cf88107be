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

// PodNamespaceOf returns the network namespace of a realised pod.
func PodNamespaceOf(name, ref string) (string, error) {
	ns, pod, err := PodRef(ref)
	if err != nil {
		return "", err
	}
	n := PodNS(name, ns, pod)
	if !netns.Exists(n) {
		return "", fmt.Errorf("pod %s is not running in lab %s (no namespace %s)", ref, name, n)
	}
	return n, nil
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
	err = netns.Do(ns, func() error {
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

// ProbeAll runs probes concurrently (at most 16 at a time) and returns the results in the
// order of specs.
func ProbeAll(ctx context.Context, lab string, specs []ProbeSpec, timeout time.Duration) []ProbeResult {
	out := make([]ProbeResult, len(specs))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = Probe(ctx, lab, s.From, s.To, s.Addr, s.Port, timeout)
		}()
	}
	wg.Wait()
	return out
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
	if err := netns.Do(ns, cmd.Start); err != nil {
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
