package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/embed"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/testnet"
)

// trellisBin is the trellis binary built by TestMain for the subprocess tests (root only);
// buildErr says why there is none.
var (
	trellisBin string
	buildErr   error
)

func TestMain(m *testing.M) {
	var dir string
	if os.Geteuid() == 0 {
		dir, buildErr = os.MkdirTemp("", "trl-agent-bin-")
		if buildErr == nil {
			trellisBin = filepath.Join(dir, "trellis")
			out, err := exec.Command("go", "build", "-o", trellisBin, "github.com/trellisnet/trellis/cmd/trellis").CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build trellis: %v: %s", err, out)
			}
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// startDatastore runs an embedded etcd on a unix socket (reachable from every network
// namespace) and returns its endpoint and a client store.
func startDatastore(t testing.TB) (string, store.Store) {
	t.Helper()
	dir, err := os.MkdirTemp("", "trl-etcd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	url := "unix://" + filepath.Join(dir, "ds.sock")
	srv := embed.New(embed.Config{DataDir: filepath.Join(dir, "data"), ListenClientURLs: []string{url}, UnsafeNoFsync: true})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("start datastore: %v", err)
	}
	t.Cleanup(srv.Stop)
	st, err := etcd.New(store.Config{Endpoints: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return url, st
}

// agentProc is the trellis binary running `node run` inside a namespace.
type agentProc struct {
	cmd  *exec.Cmd
	done chan error
}

func startAgentProc(t *testing.T, ns, logPath string, args ...string) *agentProc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	p := &agentProc{cmd: exec.Command(trellisBin, args...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// The child inherits the namespace of the thread that forks it.
	if err := netns.Do(ns, p.cmd.Start); err != nil {
		t.Fatalf("start trellis node run in %s: %v", ns, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.signal(syscall.SIGKILL) })
	return p
}

// signal sends sig to the agent process (by its pid) and waits for it to exit.
func (p *agentProc) signal(sig syscall.Signal) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("agent pid %d did not exit after %s", p.cmd.Process.Pid, sig)
	}
}

// handles returns "type name" -> handle for the table, its chains, sets and maps.
func handles(t *testing.T, ns string) map[string]int {
	t.Helper()
	var doc struct {
		Nftables []map[string]struct {
			Name   string `json:"name"`
			Handle int    `json:"handle"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(nftIn(t, ns, "--json", "list", "table", "inet", testTable)), &doc); err != nil {
		t.Fatalf("parse nft json: %v", err)
	}
	out := map[string]int{}
	for _, obj := range doc.Nftables {
		for _, typ := range []string{"table", "chain", "set", "map"} {
			if o, ok := obj[typ]; ok {
				out[typ+" "+o.Name] = o.Handle
			}
		}
	}
	return out
}

func echoOnce(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	msg := []byte("still-here")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	_, err := c.Read(got)
	return err
}

func TestKernelRestart(t *testing.T) {
	testnet.RequireRoot(t)
	if buildErr != nil {
		t.Fatalf("need the trellis binary: %v", buildErr)
	}
	url, st := startDatastore(t)
	n := testnet.New(t, testnet.Config{Pods: 2})
	t.Cleanup(func() {
		_ = netns.Do(n.Host, func() error { return exec.Command("nft", "delete", "table", "inet", testTable).Run() })
	})
	testnet.Serve(t, n.Pods[1].NS, 7001)
	testnet.Serve(t, n.Pods[1].NS, 7003)
	put(t, st, podWEPs(n, "node1", []podSpec{{"restart", "client"}, {"restart", "server"}})+churnPolicy(0))

	dir, err := os.MkdirTemp("", "trl-agent-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, logPath := filepath.Join(dir, "agent.sock"), filepath.Join(dir, "agent.log")
	args := []string{"--datastore-endpoints", url, "--log-level", "debug", "node", "run", "--node-name", "node1",
		"--health-addr", "none", "--status-socket", sock, "--resync-period", "2s", "--min-sync-interval", "20ms", "--table", testTable}
	defer func() {
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("agent log:\n%s", out)
		}
	}()
	client := agentapi.NewClient(sock)
	waitReady := func(minSyncs uint64) {
		t.Helper()
		eventually(t, 15*time.Second, func() string {
			s, err := client.Status(context.Background())
			if err != nil {
				return err.Error()
			}
			if !s.Ready || s.Syncs < minSyncs {
				return fmt.Sprintf("agent not ready: %+v", s)
			}
			return ""
		})
	}
	open := connCase{src: 0, dst: 1, proto: "tcp", port: 7001}
	control := connCase{src: 0, dst: 1, proto: "tcp", port: 7003}
	enforced := func() string {
		return matrixHolds(n, []connCase{open, control}, func(c connCase) bool { return c.port == 7001 })
	}

	first := startAgentProc(t, n.Host, logPath, args...)
	waitReady(1)
	eventually(t, 10*time.Second, enforced)

	// The CNI contract: the local endpoint's status says its policy is programmed.
	wep, err := st.Get(context.Background(), kind(t, "workloadendpoint"), "restart", "pod1")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		s, err := getStatus(st, kind(t, "endpointstatus"), "restart", "pod1")
		if err != nil {
			return err.Error()
		}
		want := model.EndpointStatusStatus{Node: "node1", EndpointUID: string(wep.GetUID()), PolicyProgrammed: true}
		return cmp.Diff(want, s.Status)
	})

	conn, err := testnet.DialTCP(n.Pods[0].NS, netip.AddrPortFrom(n.Pods[1].IPv4, 7001), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := echoOnce(conn); err != nil {
		t.Fatalf("established connection before the kill: %v", err)
	}
	before := handles(t, n.Host)
	if len(before) < 5 {
		t.Fatalf("table has too few objects to compare handles: %v", before)
	}

	// Probe the control port (denied throughout) from now until the end.
	var leaked, probes atomic.Int64
	stop := make(chan struct{})
	proberDone := make(chan struct{})
	go func() {
		defer close(proberDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if ok, _ := probe(n, control, 100*time.Millisecond); ok {
				leaked.Add(1)
			}
			probes.Add(1)
		}
	}()

	if err := first.signal(syscall.SIGKILL); err == nil {
		t.Fatal("agent exited cleanly on SIGKILL?")
	}
	time.Sleep(500 * time.Millisecond)
	if err := echoOnce(conn); err != nil {
		t.Errorf("established connection while the agent is down: %v", err)
	}
	if msg := enforced(); msg != "" {
		t.Errorf("enforcement while the agent is down: %s", msg)
	}

	second := startAgentProc(t, n.Host, logPath, args...)
	waitReady(1)
	after := handles(t, n.Host)
	for name, h := range before {
		if after[name] != h {
			t.Errorf("%s recreated by the restart: handle %d, was %d", name, after[name], h)
		}
	}
	if err := echoOnce(conn); err != nil {
		t.Errorf("established connection after the restart: %v", err)
	}
	if msg := enforced(); msg != "" {
		t.Errorf("enforcement after the restart: %s", msg)
	}
	close(stop)
	<-proberDone
	if leaked.Load() > 0 {
		t.Errorf("%d of %d control-port probes got through across kill -9 and restart", leaked.Load(), probes.Load())
	}

	// trellis node status reads the socket from the host.
	out, err := exec.Command(trellisBin, "node", "status", "--socket", sock).CombinedOutput()
	if err != nil {
		t.Fatalf("trellis node status: %v\n%s", err, out)
	}
	for _, want := range []string{"node:", "node1", "healthy, ready", "endpoints:", "inet " + testTable} {
		if !strings.Contains(string(out), want) {
			t.Errorf("trellis node status output lacks %q:\n%s", want, out)
		}
	}

	// A clean stop leaves the table in place (fail static).
	if err := second.signal(syscall.SIGTERM); err != nil {
		t.Errorf("agent exit after SIGTERM: %v", err)
	}
	if got := handles(t, n.Host); got["table "+testTable] != before["table "+testTable] {
		t.Errorf("table gone or recreated after the agent stopped: %v", got)
	}
	if msg := enforced(); msg != "" {
		t.Errorf("enforcement after the agent stopped: %s", msg)
	}
}
