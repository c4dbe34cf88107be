package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/metrictest"
)

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDaemon runs the binary with args and env until the test ends (SIGTERM, then wait).
func startDaemon(t *testing.T, env []string, args ...string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return logs
}

// waitReady polls http://addr/readyz until it answers 200.
func waitReady(t *testing.T, what, addr string, logs *syncBuffer) {
	t.Helper()
	if err := metrictest.WaitReady("http://"+addr, 30*time.Second); err != nil {
		t.Fatalf("%s not ready on %s: %v\nlogs:\n%s", what, addr, err, logs.String())
	}
}

// TestHealthAndMetricsOfEveryDaemon runs `datastore run` (its --health-addr from
// $TRELLIS_HEALTH_ADDR), `controller run` and `dns serve` with --log-format json and
// checks each one's /readyz, a metric family of each on /metrics, and that every log
// line is JSON.
func TestHealthAndMetricsOfEveryDaemon(t *testing.T) {
	dir := t.TempDir()
	sock := "unix://" + filepath.Join(dir, "ds.sock")
	dsAddr, ctlAddr, dnsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	daemons := []struct {
		name, addr, family string
		env, args          []string
	}{
		{"datastore", dsAddr, "etcd_server_has_leader", []string{healthAddrEnv + "=" + dsAddr},
			[]string{"datastore", "run", "--data-dir", filepath.Join(dir, "data"), "--listen-client", sock}},
		{"controller", ctlAddr, "trellis_loop_runs_total", nil,
			[]string{"controller", "run", "--datastore-endpoints", sock, "--health-addr", ctlAddr}},
		{"dns", dnsAddr, "trellis_dns_services", nil,
			[]string{"dns", "serve", "--datastore-endpoints", sock, "--listen", "127.0.0.1:0", "--health-addr", dnsAddr}},
	}
	logs := map[string]*syncBuffer{}
	for _, d := range daemons {
		logs[d.name] = startDaemon(t, d.env, append(d.args, "--log-format", "json")...)
		waitReady(t, d.name, d.addr, logs[d.name])
	}
	for _, d := range daemons {
		fams, err := metrictest.Scrape("http://" + d.addr + "/metrics")
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		if _, ok := fams[d.family]; !ok {
			t.Errorf("%s: /metrics lacks %s; it has %v", d.name, d.family, fams.Names())
		}
		for _, l := range strings.Split(strings.TrimSpace(logs[d.name].String()), "\n") {
			var m map[string]any
			if strings.HasPrefix(l, "datastore ready on ") { // stdout, not a log line
				continue
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil || m["msg"] == nil {
				t.Errorf("%s: not a JSON log line: %q (%v)", d.name, l, err)
			}
		}
	}
}

func TestHealthAddrInvalid(t *testing.T) {
	for _, args := range [][]string{
		{"controller", "run", "--health-addr", "9094"},
		{"dns", "serve", "--health-addr", "localhost"},
		{"datastore", "run", "--health-addr", "x"},
	} {
		if r := trellis(t, nil, "", args...); r.code != 2 || !strings.Contains(r.stderr, "--health-addr") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming --health-addr", args, r.code, r.stderr)
		}
	}
}
