package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/trellisnet/trellis/internal/netns"
)

// Readiness: a container with a readinessProbe (httpGet or tcpSocket) is ready only
// while its probe holds; without one it is ready while it runs. The probes run from
// inside the pod's network namespace to the pod's address, as the kubelet's reach the
// pod, so network policy never decides them.

// containerReadyLocked reports a container's readiness; rt.mu is held.
func (rt *podRuntime) containerReadyLocked(name string) bool {
	r, probed := rt.probeReady[name]
	return !probed || r
}

// conditionStatus is the status of one pod condition: Ready and ContainersReady follow
// the containers' readiness, the others are true once the pod runs.
func (rt *podRuntime) conditionStatus(t corev1.PodConditionType) corev1.ConditionStatus {
	if t != corev1.PodReady && t != corev1.ContainersReady {
		return corev1.ConditionTrue
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, k := range rt.containers {
		if !rt.containerReadyLocked(k.name) {
			return corev1.ConditionFalse
		}
	}
	return corev1.ConditionTrue
}

func (rt *podRuntime) isStopped() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.stopped
}

// startProbes marks every probed container not ready and starts its probe loop.
func (rt *podRuntime) startProbes(pod *corev1.Pod) {
	for _, ct := range pod.Spec.Containers {
		p := ct.ReadinessProbe
		if p == nil || (p.HTTPGet == nil && p.TCPSocket == nil) {
			continue
		}
		rt.mu.Lock()
		if rt.probeReady == nil {
			rt.probeReady = map[string]bool{}
		}
		rt.probeReady[ct.Name] = false
		rt.mu.Unlock()
		go rt.probeLoop(ct.Name, p, ct.Ports)
	}
}

func seconds(v, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func (rt *podRuntime) probeLoop(name string, p *corev1.Probe, ports []corev1.ContainerPort) {
	period, timeout := seconds(p.PeriodSeconds, 10), seconds(p.TimeoutSeconds, 1)
	success, failure := max(p.SuccessThreshold, 1), max(p.FailureThreshold, 3)
	sleep := func(d time.Duration) bool {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(min(100*time.Millisecond, time.Until(end))) {
			if rt.isStopped() {
				return false
			}
		}
		return !rt.isStopped()
	}
	if !sleep(time.Duration(p.InitialDelaySeconds) * time.Second) {
		return
	}
	var okRun, failRun int32
	for {
		err := rt.probeOnce(p, ports, timeout)
		if err == nil {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
		}
		rt.mu.Lock()
		was := rt.probeReady[name]
		now := was
		if err == nil && okRun >= success {
			now = true
		} else if err != nil && failRun >= failure {
			now = false
		}
		rt.probeReady[name] = now
		stopped := rt.stopped
		rt.mu.Unlock()
		if stopped {
			return
		}
		if now != was {
			rt.c.log.Info("container readiness changed", "pod", rt.key(), "container", name, "ready", now, "probe", errString(err))
			if werr := rt.c.writeStatus(rt.c.ctx, rt); werr != nil {
				rt.c.log.Warn("record readiness", "pod", rt.key(), "err", werr)
			}
		}
		if !sleep(period) {
			return
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// probePort resolves a probe's port: a number or a container port's name.
func probePort(port intstr.IntOrString, ports []corev1.ContainerPort) (int, error) {
	if port.Type == intstr.Int {
		return int(port.IntVal), nil
	}
	for _, cp := range ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no container port named %q", port.StrVal)
}

// dialPod connects from inside the pod's namespace.
func (rt *podRuntime) dialPod(ctx context.Context, addr string) (net.Conn, error) {
	var conn net.Conn
	err := netns.Do(rt.netns, func() error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		conn = c
		return err
	})
	return conn, err
}

func (rt *podRuntime) probeOnce(p *corev1.Probe, ports []corev1.ContainerPort, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(rt.c.ctx, timeout)
	defer cancel()
	host := ""
	if len(rt.ips) > 0 {
		host = rt.ips[0]
	}
	if p.TCPSocket != nil {
		port, err := probePort(p.TCPSocket.Port, ports)
		if err != nil {
			return err
		}
		if p.TCPSocket.Host != "" {
			host = p.TCPSocket.Host
		}
		conn, err := rt.dialPod(ctx, net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	g := p.HTTPGet
	port, err := probePort(g.Port, ports)
	if err != nil {
		return err
	}
	if g.Host != "" {
		host = g.Host
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return rt.dialPod(ctx, addr)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: timeout}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("http status %d", resp.StatusCode)
	}
	return nil
}
