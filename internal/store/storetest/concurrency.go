package storetest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/trellisnet/trellis/internal/store"
)

func testConcurrentWriters(t *testing.T, s store.Store) {
	mustNamespaces(t, s, "ns1")
	base := asPod(t, mustCreate(t, s, Pod("ns1", "shared", map[string]string{"writer": "none"})))
	for round := range 5 {
		cur, err := s.Get(ctx(t), podKind, "ns1", "shared")
		if err != nil {
			t.Fatal(err)
		}
		errs := make([]error, 2)
		var start, done sync.WaitGroup
		start.Add(1)
		for i := range errs {
			done.Add(1)
			in := asPod(t, cur).DeepCopy()
			in.Labels["writer"] = fmt.Sprintf("w%d-%d", i, round)
			go func() {
				defer done.Done()
				start.Wait()
				_, errs[i] = s.Update(ctx(t), in)
			}()
		}
		start.Done()
		done.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			default:
				wantErr(t, fmt.Sprintf("round %d writer %d", round, i), err, store.ErrConflict, "Pod/ns1/shared")
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d writers succeeded, want exactly 1 (errors %v)", round, ok, errs)
		}
	}
	got, err := s.Get(ctx(t), podKind, "ns1", "shared")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetUID() != base.UID {
		t.Errorf("uid changed under concurrent updates")
	}
}

// testCounter runs writers that each increment a counter label with a read-modify-write
// retry loop: with compare-and-swap no increment is lost.
func testCounter(t *testing.T, s store.Store) {
	const writers, increments = 4, 8
	mustNamespaces(t, s, "ns1")
	mustCreate(t, s, Pod("ns1", "counter", map[string]string{"count": "0"}))
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	conflicts := make([]int, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range increments {
				for {
					cur, err := s.Get(ctx(t), podKind, "ns1", "counter")
					if err != nil {
						errs <- err
						return
					}
					n, err := strconv.Atoi(cur.GetLabels()["count"])
					if err != nil {
						errs <- err
						return
					}
					cur.SetLabels(map[string]string{"count": strconv.Itoa(n + 1)})
					_, err = s.Update(ctx(t), cur)
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) {
						errs <- err
						return
					}
					conflicts[i]++
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v", err)
	}
	got, err := s.Get(ctx(t), podKind, "ns1", "counter")
	if err != nil {
		t.Fatal(err)
	}
	if c := got.GetLabels()["count"]; c != strconv.Itoa(writers*increments) {
		t.Errorf("count = %s, want %d (an update was lost)", c, writers*increments)
	}
	t.Logf("conflicts retried per writer: %v", conflicts)
}
