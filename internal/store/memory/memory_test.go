package memory_test

import (
	"context"
	"testing"

	"github.com/trellisnet/trellis/internal/model"

	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := memory.New(0)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// A watcher that falls behind the bounded history gets EventResync.
func TestHistoryOverflow(t *testing.T) {
	s := memory.New(3)
	defer s.Close()
	ctx := context.Background()
	res, err := s.List(ctx, model.KindPod, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if _, err := s.Create(ctx, storetest.Pod("ns1", n, nil)); err != nil {
			t.Fatal(err)
		}
	}
	w, err := s.Watch(ctx, model.KindPod, store.WatchOptions{Revision: res.Revision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := storetest.Next(t, w); ev.Type != store.EventResync {
		t.Fatalf("watch from before the kept history: %s, want RESYNC", storetest.Describe(ev))
	}
	// One event later is still inside the history of 3.
	w2, err := s.Watch(ctx, model.KindPod, store.WatchOptions{Revision: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	for _, want := range []string{"b", "c", "d"} {
		if ev := storetest.Next(t, w2); ev.Type != store.EventAdded || ev.Object.GetName() != want {
			t.Fatalf("got %s, want ADDED %s", storetest.Describe(ev), want)
		}
	}
}
