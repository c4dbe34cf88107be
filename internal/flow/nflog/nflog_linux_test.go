package nflog

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/testnet"
)

// logNamespace makes a namespace whose output hook logs UDP to port 9999 to group with
// prefix (the table goes with the namespace).
func logNamespace(t *testing.T, group, prefix string) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed: apt-get install nftables")
	}
	n := testnet.New(t, testnet.Config{Pods: 1})
	ns := n.Pods[0].NS
	script := `table inet trl-nflog {
  chain out {
    type filter hook output priority 0;
    udp dport 9999 meta mark set 0x00a20000 counter log prefix "` + prefix + `" group ` + group + `
  }
}
`
	testnet.LoadNft(t, ns, script)
	return ns
}

// openIn opens a reader inside ns.
func openIn(t *testing.T, ns string, cfg Config) *Reader {
	t.Helper()
	var r *Reader
	if err := netns.Do(ns, func() error {
		var err error
		r, err = Open(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// sendUDP sends n datagrams from ns to dst:9999 from one socket and returns its port.
// The socket is not connected, so the port unreachable errors the host answers with do
// not fail later sends.
func sendUDP(t *testing.T, ns string, dst netip.Addr, n int) uint16 {
	t.Helper()
	var port uint16
	if err := netns.Do(ns, func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		port = uint16(c.LocalAddr().(*net.UDPAddr).Port)
		for range n {
			if _, err := c.WriteToUDPAddrPort([]byte("trellis"), netip.AddrPortFrom(dst, 9999)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return port
}

// TestReadLoggedPackets: packets an nft rule logs to a group arrive with the rule's
// prefix, their mark, addresses, protocol and ports, and none is counted lost.
func TestReadLoggedPackets(t *testing.T) {
	testnet.RequireRoot(t)
	ns := logNamespace(t, "9", "fa0123456789")
	r := openIn(t, ns, Config{Group: 9, Flush: 10 * time.Millisecond, Batch: 4})
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []Packet
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, func(p Packet) {
			mu.Lock()
			got = append(got, p)
			mu.Unlock()
		})
	}()
	dst := testnet.GatewayV4
	sport := sendUDP(t, ns, dst, 10)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 10 {
		t.Fatalf("read %d packets, want 10", len(got))
	}
	for _, p := range got {
		if p.Prefix != "fa0123456789" || p.Dst != dst || p.Proto != "udp" || p.DstPort != 9999 || p.SrcPort != sport || !p.Src.Is4() || p.Len != 20+8+7 || p.Mark != 0x00a20000 {
			t.Errorf("packet %+v: want prefix fa0123456789, mark 0x00a20000, udp from port %d to %s:9999, length 35", p, sport, dst)
		}
	}
	if s := r.Stats(); s.Packets != 10 || s.Lost != 0 || s.Bad != 0 {
		t.Errorf("stats %+v, want 10 packets, none lost or bad", s)
	}
}

// TestLostMessagesCounted: a reader that does not read while the kernel logs more than
// its socket holds loses messages, the kernel never waits for it, and the sequence
// numbers count exactly what was lost.
func TestLostMessagesCounted(t *testing.T) {
	testnet.RequireRoot(t)
	ns := logNamespace(t, "10", "fd0123456789")
	r := openIn(t, ns, Config{Group: 10, Batch: 1, ReadBuffer: 16 << 10})
	const sent = 2000
	start := time.Now()
	sendUDP(t, ns, testnet.GatewayV4, sent)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("sending %d logged packets took %v: the kernel waited for the reader", sent, d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	read := 0
	go func() { done <- r.Run(ctx, func(Packet) { read++ }) }()
	// One more after the reader runs, so the gap shows in the sequence numbers.
	time.Sleep(200 * time.Millisecond)
	sendUDP(t, ns, testnet.GatewayV4, 1)
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	s := r.Stats()
	t.Logf("sent %d, read %d, stats %+v", sent+1, read, s)
	if s.Lost == 0 || read >= sent {
		t.Fatalf("nothing lost with a 16 KiB buffer and %d packets: read %d, stats %+v", sent, read, s)
	}
	if got := s.Packets + s.Lost; got != sent+1 {
		t.Errorf("read %d + lost %d = %d, want the %d sent", s.Packets, s.Lost, got, sent+1)
	}
}
