package lab

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/metrictest"
	"github.com/trellisnet/trellis/internal/netns"
)

var floodPods = demoPod("default", "flooder", "node1") + demoPod("default", "sink", "node1")

// agentFlowCounts reads the agent's flow-log counters over its status socket: verdicts
// turned into flows, messages read and messages lost.
func agentFlowCounts(t *testing.T, socket string) (logged, messages, lost float64) {
	t.Helper()
	body, code, err := agentapi.NewClient(socket).Get(context.Background(), "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("agent /metrics: http %d, %v", code, err)
	}
	fams, err := metrictest.Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	logged, _ = fams.Value("trellis_flow_packets_logged_total", nil)
	messages, _ = fams.Value("trellis_flow_log_messages_total", nil)
	lost, _ = fams.Value("trellis_flow_log_lost_total", nil)
	return logged, messages, lost
}

// vmRSS is a process's resident memory in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// TestFlowLogFlood: 20,000 short connections between two pods of one node as fast as two
// workers open them. Each connection costs the kernel one log message, which carries both
// its verdicts (the client's egress, the server's ingress); every message is turned into
// two flows or counted as lost, the agent's memory stays bounded, and the flows count the
// connections they report.
func TestFlowLogFlood(t *testing.T) {
	needRoot(t)
	name := newLab(t, 1)
	f := filepath.Join(t.TempDir(), "pods.yaml")
	if err := os.WriteFile(f, []byte(floodPods), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, name, "apply", "-f", f)
	waitRunning(t, name, 2)
	r := labStatus(t, name)
	var sink netip.Addr
	for _, p := range r.Pods {
		if p.Name == "sink" {
			sink = netip.MustParseAddr(p.IP)
		}
	}
	st, err := LoadState(name)
	if err != nil {
		t.Fatal(err)
	}
	node := st.Nodes[0]
	ns, err := PodNamespaceOf(name, "default/flooder")
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(sink, 80).String()
	for deadline := time.Now().Add(10 * time.Second); dialFrom(ns, sink.String(), 80) != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the sink never answered")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // the warm-up's flows flushed
	logged0, msgs0, lost0 := agentFlowCounts(t, node.Socket)
	rss0 := vmRSS(t, node.AgentPID)
	const n = 20000
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for w := range 2 {
		wg.Go(func() {
			err := netns.DoPath(ns, func() error {
				for range n/2 + w*(n%2) {
					c, err := net.DialTimeout("tcp", dst, 5*time.Second)
					if err != nil {
						mu.Lock()
						failed++
						mu.Unlock()
						continue
					}
					_ = c.(*net.TCPConn).SetLinger(0) // RST: no TIME_WAIT exhaustion
					c.Close()
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if failed > 0 {
		t.Errorf("%d of %d connections failed", failed, n)
	}
	var logged, msgs, lost float64
	for deadline := time.Now().Add(20 * time.Second); ; {
		logged, msgs, lost = agentFlowCounts(t, node.Socket)
		if msgs-msgs0+lost-lost0 >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	rss := vmRSS(t, node.AgentPID)
	t.Logf("%d connections in %v (%.0f/s); %.0f messages read, %.0f lost, %.0f verdicts logged; agent RSS %d -> %d MiB",
		n, took.Round(time.Millisecond), n/took.Seconds(), msgs-msgs0, lost-lost0, logged-logged0, rss0>>20, rss>>20)
	// One message a connection (a few more for other traffic of the pods, such as IPv6
	// router solicitations), read or counted lost; each read one is two verdicts.
	if got := msgs - msgs0 + lost - lost0; got < n || got > n+100 {
		t.Errorf("read %.0f + lost %.0f = %.0f messages for %d connections, want %d", msgs-msgs0, lost-lost0, got, n, n)
	}
	if got, read := logged-logged0, msgs-msgs0; got < 2*read-200 || got > 2*read+200 {
		t.Errorf("%.0f verdicts logged from %.0f messages, want two a message", got, read)
	}
	if rss > 300<<20 {
		t.Errorf("agent RSS %d MiB after the flood: not bounded", rss>>20)
	}
	// The flows count what was logged: the client's egress flows to the sink sum to the
	// connections logged at the source.
	var conns uint64
	for deadline := time.Now().Add(10 * time.Second); ; {
		conns = 0
		for _, fl := range labFlows(t, name, "--pod", "default/flooder", "--port", "80") {
			if fl.Reporter == "src" && fl.Destination.Name == "sink" && fl.Action == "allow" {
				conns += fl.Connections
			}
		}
		if conns >= uint64(float64(n)-(lost-lost0)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if lostNow := lost - lost0; float64(conns) < float64(n)-lostNow || conns > n+10 {
		t.Errorf("flows count %d connections from the flooder (%d opened, %.0f verdicts lost)", conns, n, lostNow)
	}
}
