package flow

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func sample(srcNS, src, dstNS, dst string, port int, action string) Flow {
	return Flow{Source: Endpoint{Namespace: srcNS, Name: src, IP: "10.65.0.2"},
		Destination: Endpoint{Namespace: dstNS, Name: dst, IP: "10.65.0.3", Port: port}, Protocol: "tcp",
		Action: action, Reporter: ReporterDestination,
		Policies:    []PolicyHit{{Tier: "default", Namespace: dstNS, Name: "db", Kind: "NetworkPolicy", Rule: 0, Action: action}},
		Connections: 1, Packets: 4, Bytes: 300}
}

func TestAggregatorSumsByKeyAndBounds(t *testing.T) {
	a := NewAggregator(t0, 2)
	allow := sample("prod", "web", "prod", "db", 5432, ActionAllow)
	for range 3 {
		if !a.Add(allow) {
			t.Fatal("an observation of a known key was dropped")
		}
	}
	deny := sample("dev", "client", "prod", "db", 5432, ActionDeny)
	a.Add(deny)
	if a.Add(sample("dev", "other", "prod", "db", 5432, ActionDeny)) {
		t.Error("a third key was kept with MaxKeys 2")
	}
	if a.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", a.Dropped())
	}
	got := a.Flush(t0.Add(15 * time.Second))
	if len(got) != 2 {
		t.Fatalf("%d flows, want 2: %+v", len(got), got)
	}
	for _, f := range got {
		if !f.Start.Equal(t0) || !f.End.Equal(t0.Add(15*time.Second)) {
			t.Errorf("interval %v-%v, want the flush interval", f.Start, f.End)
		}
		if f.Action == ActionAllow && (f.Connections != 3 || f.Packets != 12 || f.Bytes != 900) {
			t.Errorf("allowed flow sums %d/%d/%d, want 3/12/900", f.Connections, f.Packets, f.Bytes)
		}
	}
	if a.Len() != 0 || len(a.Flush(t0.Add(30*time.Second))) != 0 {
		t.Error("a flush did not start an empty interval")
	}
}

func TestStoreRingAndSubscribers(t *testing.T) {
	st := NewStore(3)
	past, ch, cancel := st.Subscribe(Filter{Action: ActionDeny}, 0, 1)
	if len(past) != 0 {
		t.Fatalf("past %v of an empty store", past)
	}
	for i := range 5 {
		f := sample("prod", "web", "prod", "db", 5000+i, []string{ActionAllow, ActionDeny}[i%2])
		st.Add(f)
	}
	if got := st.List(Filter{}, 0); len(got) != 3 || got[0].Destination.Port != 5002 || got[2].Destination.Port != 5004 {
		t.Errorf("ring kept %+v, want ports 5002-5004 oldest first", got)
	}
	if got := st.List(Filter{}, 1); len(got) != 1 || got[0].Destination.Port != 5004 {
		t.Errorf("limit 1: %+v, want the newest", got)
	}
	// Two denials were added; the subscriber's buffer of 1 held the first, lost the second.
	if f := <-ch; f.Destination.Port != 5001 {
		t.Errorf("subscriber got port %d, want 5001", f.Destination.Port)
	}
	if st.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", st.Dropped())
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Error("channel open after cancel")
	}
	cancel() // idempotent
}

func TestFilter(t *testing.T) {
	f := sample("dev", "client", "prod", "db", 5432, ActionDeny)
	f.End = t0
	for _, tc := range []struct {
		filter Filter
		want   bool
	}{
		{Filter{}, true},
		{Filter{Namespace: "prod"}, true},
		{Filter{Namespace: "dev"}, true},
		{Filter{Namespace: "kube-system"}, false},
		{Filter{Pod: "client"}, true},
		{Filter{Pod: "prod/db"}, true},
		{Filter{Pod: "dev/db"}, false},
		{Filter{Action: ActionAllow}, false},
		{Filter{Port: 5432}, true},
		{Filter{Port: 80}, false},
		{Filter{Since: t0}, true},
		{Filter{Since: t0.Add(time.Second)}, false},
	} {
		if got := tc.filter.Match(&f); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.filter, got, tc.want)
		}
	}
	if err := (Filter{Action: "drop"}).Validate(); err == nil || !strings.Contains(err.Error(), `"drop"`) {
		t.Errorf("action drop: %v", err)
	}
}

// TestAPI: flows pushed to the API are listed with filters, and followed: a follower
// gets the stored flows, then new ones as they are pushed.
func TestAPI(t *testing.T) {
	st := NewStore(100)
	now := t0.Add(time.Hour)
	srv := httptest.NewServer(Handler(st, func() time.Time { return now }))
	defer srv.Close()
	c := &Client{Base: srv.URL}
	ctx := context.Background()
	old := sample("prod", "web", "prod", "db", 5432, ActionAllow)
	old.End = t0
	recent := sample("dev", "client", "prod", "db", 5432, ActionDeny)
	recent.End = now.Add(-time.Minute)
	if err := c.Push(ctx, []Flow{old, recent}); err != nil {
		t.Fatal(err)
	}
	got, err := c.List(ctx, Filter{Since: now.Add(-15 * time.Minute)}, 0)
	if err != nil || len(got) != 1 || got[0].Action != ActionDeny {
		t.Fatalf("since 15m: %+v, %v; want the recent denial", got, err)
	}
	resp, err := srv.Client().Get(srv.URL + Path + "?since=15m&action=deny")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET since=15m: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = srv.Client().Get(srv.URL + Path + "?action=drop")
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("GET action=drop: %v %v, want 400", resp, err)
	}
	resp.Body.Close()

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan Flow, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.Follow(fctx, Filter{Action: ActionDeny}, 0, func(f Flow) error { seen <- f; return nil })
	}()
	if f := <-seen; f.Source.Name != "client" {
		t.Errorf("follow: first %+v, want the stored denial", f)
	}
	next := sample("dev", "late", "prod", "db", 5432, ActionDeny)
	for deadline := time.Now().Add(5 * time.Second); ; {
		// The follower may subscribe after the first push; push until it sees one.
		st.Add(next)
		select {
		case f := <-seen:
			if f.Source.Name != "late" {
				t.Errorf("follow: %+v, want the new denial", f)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("follow ended with %v", err)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("a followed flow never arrived")
		}
	}
}

func TestFileWriterRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows", "flows.log")
	w := &FileWriter{Path: path, MaxBytes: 1000, Keep: 2}
	defer w.Close()
	for range 12 {
		if err := w.Write([]Flow{sample("prod", "web", "prod", "db", 5432, ActionAllow)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{path, path + ".1", path + ".2"} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		flows, err := ReadJSONLines(f)
		f.Close()
		fi, _ := os.Stat(p)
		if err != nil || len(flows) == 0 || fi.Size() > 1000 {
			t.Errorf("%s: %d flows, %d bytes, %v", p, len(flows), fi.Size(), err)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 exists with Keep 2", path)
	}
}
