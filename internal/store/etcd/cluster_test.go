package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/embed"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// cluster is three embedded etcd members in this process: peers on 127.0.0.1 ports, clients
// on unix sockets. In-process members start in about a second, need no etcd binary (the
// Debian etcd is 3.4, older than the 3.7 client and server we build on), and Kill stops a
// member without any coordination with the others, as a crash would.
type cluster struct {
	members   []*embed.Server
	endpoints []string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	const n = 3
	var names, peers, initial []string
	for i := range n {
		names = append(names, fmt.Sprintf("trl-m%d", i))
		peers = append(peers, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		initial = append(initial, names[i]+"="+peers[i])
	}
	c := &cluster{}
	for i := range n {
		client := "unix://" + filepath.Join(dir, names[i]+".sock")
		c.endpoints = append(c.endpoints, client)
		c.members = append(c.members, embed.New(embed.Config{
			Name:             names[i],
			DataDir:          filepath.Join(dir, names[i]),
			ListenClientURLs: []string{client},
			ListenPeerURLs:   []string{peers[i]},
			InitialCluster:   strings.Join(initial, ","),
			ClusterToken:     "trl-test-" + filepath.Base(dir),
			TickMs:           50,
			ElectionMs:       500,
			UnsafeNoFsync:    true,
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, m := range c.members {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = m.Start(ctx) }()
	}
	wg.Wait()
	for _, m := range c.members {
		t.Cleanup(m.Stop)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	return c
}

// leader returns the index of the member that is the raft leader, per the maintenance
// Status API.
func (c *cluster) leader(t *testing.T) int {
	t.Helper()
	cli := rawClient(t, c.endpoints)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, ep := range c.endpoints {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := cli.Status(ctx, ep)
			cancel()
			if err == nil && st.Leader != 0 && st.Header.MemberId == st.Leader {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no leader found")
	return -1
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-member etcd cluster")
	}
	c := startCluster(t)
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, c.endpoints) })
	})
	t.Run("LeaderKilled", func(t *testing.T) { testLeaderKilled(t, c) })
}

// writer creates pods one after another, retrying while the cluster is unavailable, and
// records every create the store acknowledged.
type writer struct {
	s     store.Store
	mu    sync.Mutex
	acked []string
	fails int
}

func (w *writer) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func (w *writer) run(ctx context.Context, t *testing.T) {
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("p-%04d", i)
		retried := false
		for ctx.Err() == nil {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := w.s.Create(rctx, storetest.Pod("trl-ns", name, map[string]string{"i": strconv.Itoa(i)}))
			cancel()
			if err == nil || (retried && errors.Is(err, store.ErrAlreadyExists)) {
				// Acknowledged now, or by an earlier attempt whose answer was lost.
				w.mu.Lock()
				w.acked = append(w.acked, name)
				w.mu.Unlock()
				time.Sleep(2 * time.Millisecond) // pace: enough writes to span the failover
				break
			}
			if !errors.Is(err, store.ErrUnavailable) {
				if ctx.Err() == nil {
					t.Errorf("create %s: %v (want success or ErrUnavailable)", name, err)
				}
				return
			}
			w.mu.Lock()
			w.fails++
			w.mu.Unlock()
			retried = true
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// counter increments a label of one pod with read-modify-write and compare-and-swap,
// retrying conflicts and unavailability. An increment whose answer was lost (unavailable)
// may or may not have been applied; one that was acknowledged must never be lost.
type counter struct {
	s         store.Store
	acked     int
	ambiguous int
}

func (c *counter) run(ctx context.Context, t *testing.T, kind *model.Kind) {
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		cur, err := c.s.Get(rctx, kind, "trl-ns", "counter")
		if err == nil {
			n, _ := strconv.Atoi(cur.GetLabels()["count"])
			cur.SetLabels(map[string]string{"count": strconv.Itoa(n + 1)})
			_, err = c.s.Update(rctx, cur)
			switch {
			case err == nil:
				c.acked++
			case !errors.Is(err, store.ErrConflict):
				c.ambiguous++ // unavailable, or stopped mid-request: maybe applied
			}
		}
		cancel()
		if err != nil && !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, store.ErrConflict) {
			if ctx.Err() == nil {
				t.Errorf("counter: %v", err)
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testLeaderKilled(t *testing.T, c *cluster) {
	s := newStore(t, c.endpoints)
	list, err := s.List(context.Background(), model.KindPod, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	pods, err := s.Watch(wctx, model.KindPod, store.WatchOptions{Revision: list.Revision})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.Watch(wctx, nil, store.WatchOptions{Revision: list.Revision})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := s.Create(context.Background(), storetest.Pod("trl-ns", "counter", map[string]string{"count": "0"})); err != nil {
		t.Fatal(err)
	}
	w := &writer{s: s}
	cnt := &counter{s: s}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); w.run(ctx, t) }()
	go func() { defer bg.Done(); cnt.run(ctx, t, model.KindPod) }()
	go func() { bg.Wait(); close(done) }()
	defer func() { stop(); <-done }()

	waitFor(t, "20 writes before the kill", func() bool { return w.ackedCount() >= 20 })
	lead := c.leader(t)
	before := w.ackedCount()
	killed := time.Now()
	c.members[lead].Kill()
	t.Logf("killed leader %d after %d acknowledged writes (kill took %v)", lead, before, time.Since(killed))
	waitFor(t, "20 writes after the kill", func() bool { return w.ackedCount() >= before+20 })
	w.mu.Lock()
	t.Logf("writes continued: %d more within %v of the kill; %d attempts failed as unavailable and were retried", len(w.acked)-before, time.Since(killed), w.fails)
	w.mu.Unlock()
	stop()
	<-done
	if newLead := c.leader(t); newLead == lead {
		t.Errorf("member %d still reported as leader after being killed", lead)
	}

	w.mu.Lock()
	acked := append([]string(nil), w.acked...)
	w.mu.Unlock()
	final, err := s.List(context.Background(), model.KindPod, store.ListOptions{Namespace: "trl-ns"})
	if err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	finalCount := 0
	for _, o := range final.Items {
		present[o.GetName()] = true
		if o.GetName() == "counter" {
			n, _ := strconv.Atoi(o.GetLabels()["count"])
			finalCount = n
			if n < cnt.acked || n > cnt.acked+cnt.ambiguous {
				t.Errorf("counter = %d, want between %d acknowledged and %d (plus unanswered) increments", n, cnt.acked, cnt.acked+cnt.ambiguous)
			}
			t.Logf("counter: %d, %d increments acknowledged, %d unanswered", n, cnt.acked, cnt.ambiguous)
		}
	}
	delete(present, "counter")
	for _, name := range acked {
		if !present[name] {
			t.Errorf("acknowledged write %s lost", name)
		}
	}

	// Each watch either saw every acknowledged create exactly once, in order, or ended with
	// EventResync (after which a consumer relists: the List above has everything).
	for _, wt := range []struct {
		name string
		w    store.Watch
	}{{"pods", pods}, {"all kinds", all}} {
		checkWatch(t, wt.name, wt.w, acked, finalCount)
	}
}

// checkWatch reads w until it has seen every acknowledged create exactly once and the
// counter's every value up to finalCount (consecutive: a gap would skip one), all with
// increasing revisions, or until EventResync.
func checkWatch(t *testing.T, name string, w store.Watch, acked []string, finalCount int) {
	t.Helper()
	want := map[string]bool{}
	for _, a := range acked {
		want[a] = true
	}
	seen := map[string]bool{}
	var last int64
	count := -1
	timeout := time.After(30 * time.Second)
	for len(seen) < len(want) || count < finalCount {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Errorf("watch %s: closed without RESYNC after %d of %d creates", name, len(seen), len(want))
				return
			}
			if ev.Type == store.EventResync {
				t.Logf("watch %s: RESYNC after %d of %d creates: %v", name, len(seen), len(want), ev.Err)
				return
			}
			rev, err := strconv.ParseInt(ev.Revision, 10, 64)
			if err != nil || rev <= last {
				t.Errorf("watch %s: revision %q after %d: not increasing", name, ev.Revision, last)
			}
			last = rev
			n := ev.Object.GetName()
			if n == "counter" {
				c, _ := strconv.Atoi(ev.Object.GetLabels()["count"])
				if c != count+1 {
					t.Errorf("watch %s: counter %d after %d: a change was lost or repeated", name, c, count)
				}
				count = c
				continue
			}
			if ev.Type != store.EventAdded || seen[n] {
				t.Errorf("watch %s: unexpected %s (duplicate or not a create)", name, storetest.Describe(ev))
			}
			seen[n] = true
		case <-timeout:
			t.Errorf("watch %s: neither everything nor RESYNC within 30s (saw %d of %d creates, counter %d of %d)", name, len(seen), len(want), count, finalCount)
			return
		}
	}
	t.Logf("watch %s: resumed across the failover: all %d creates and %d counter changes seen once, in order", name, len(want), finalCount)
}
