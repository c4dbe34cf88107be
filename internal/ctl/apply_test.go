package ctl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// countingStore counts writes and reads that reach the store.
type countingStore struct {
	store.Store
	mu                     sync.Mutex
	creates, updates, gets int
}

func (s *countingStore) Create(ctx context.Context, obj model.Object) (model.Object, error) {
	s.mu.Lock()
	s.creates++
	s.mu.Unlock()
	return s.Store.Create(ctx, obj)
}

func (s *countingStore) Update(ctx context.Context, obj model.Object) (model.Object, error) {
	s.mu.Lock()
	s.updates++
	s.mu.Unlock()
	return s.Store.Update(ctx, obj)
}

func (s *countingStore) Get(ctx context.Context, k *model.Kind, ns, name string) (model.Object, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Store.Get(ctx, k, ns, name)
}

func (s *countingStore) Close() error { return nil }

func tierFile(t *testing.T, n int, order int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t%03d}\nspec: {order: %d}\n---\n", i, order+i)
	}
	f := filepath.Join(t.TempDir(), "tiers.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// Apply says what it did per object, as kubectl does, and an unchanged object is not
// written: few objects are read one by one, many are listed once.
func TestApplySaysCreatedConfiguredUnchanged(t *testing.T) {
	for _, n := range []int{3, 40} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			mem := memory.New(0)
			defer mem.Close()
			st := &countingStore{Store: mem}
			first := tierFile(t, n, 100)
			out, err := runWriteCmd(t, st, modeApply, first)
			if err != nil || strings.Count(out, " created\n") != n || !strings.Contains(out, "tier.projectcalico.org/t000 created") {
				t.Fatalf("first apply: %v\n%s", err, out)
			}
			st.creates, st.updates, st.gets = 0, 0, 0
			out, err = runWriteCmd(t, st, modeApply, first)
			if err != nil || strings.Count(out, " unchanged\n") != n || !strings.Contains(out, fmt.Sprintf("Successfully applied %d resource(s)", n)) {
				t.Fatalf("second apply: %v\n%s", err, out)
			}
			if st.creates+st.updates != 0 {
				t.Errorf("unchanged apply wrote %d creates and %d updates", st.creates, st.updates)
			}
			if n >= prefetchMin && st.gets != 0 {
				t.Errorf("%d objects of one kind were read one by one (%d gets), not listed", n, st.gets)
			}
			out, err = runWriteCmd(t, st, modeApply, tierFile(t, n, 500))
			if err != nil || strings.Count(out, " configured\n") != n || st.updates != n {
				t.Fatalf("changed apply: %v, %d updates\n%s", err, st.updates, out)
			}
		})
	}
}

// Manifests without a resourceVersion are last-writer-wins: 20 appliers racing on one
// object all succeed.
func TestApplyConcurrentLastWriterWins(t *testing.T) {
	mem := memory.New(0)
	defer mem.Close()
	st := &countingStore{Store: mem}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		f := tierFile(t, 1, 1000+i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = runWriteCmd(t, st, modeApply, f)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("applier %d: %v", i, err)
		}
	}
}

// A long write shows a progress line on a terminal and clears it; a failure part-way
// summarises what was written per kind instead of naming every object.
func TestProgressAndPartialSummary(t *testing.T) {
	var tty strings.Builder
	p := newProgress(&tty, "applied", progressMin)
	for i := 1; i <= progressMin; i++ {
		p.step(i)
	}
	p.finish()
	if !strings.Contains(tty.String(), fmt.Sprintf("\rapplied %d/%d", progressMin, progressMin)) || !strings.HasSuffix(tty.String(), "\r\033[K") {
		t.Errorf("progress output %q", tty.String())
	}
	var none strings.Builder
	q := newProgress(&none, "applied", progressMin-1)
	q.step(1)
	q.finish()
	if none.Len() != 0 {
		t.Errorf("a short write drew progress: %q", none.String())
	}

	mem := memory.New(0)
	defer mem.Close()
	_, err := runWriteCmd(t, &failingStore{Store: mem, n: 30}, modeCreate, tierFile(t, 40, 1))
	if err == nil || !strings.Contains(err.Error(), "created 30 of 40 resource(s) before the failure: 30 Tier; the last was Tier/t029") {
		t.Errorf("partial failure report: %v", err)
	}
}
