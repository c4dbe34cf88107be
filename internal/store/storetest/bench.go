package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/trellisnet/trellis/internal/store"
)

// benchRuns numbers BenchOps calls, so that names stay unique when a benchmark runs again
// on the same store (-count).
var benchRuns atomic.Int64

// BenchOps measures Create, Get and Update of a pod (namespace trl-bench, created if
// missing), one operation at a time: the per-operation latency of a backend.
func BenchOps(b *testing.B, s store.Store) {
	ctx := context.Background()
	run := benchRuns.Add(1)
	if _, err := s.Create(ctx, namespace("trl-bench")); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		b.Fatal(err)
	}
	b.Run("Create", func(b *testing.B) {
		run := benchRuns.Add(1) // -count runs this function again on the same store
		for i := 0; b.Loop(); i++ {
			if _, err := s.Create(ctx, Pod("trl-bench", fmt.Sprintf("create-%d-%d", run, i), map[string]string{"app": "web"})); err != nil {
				b.Fatal(err)
			}
		}
	})
	obj, err := s.Create(ctx, Pod("trl-bench", fmt.Sprintf("target-%d", run), map[string]string{"app": "web"}))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Get(ctx, podKind, "trl-bench", obj.GetName()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Update", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			obj.SetLabels(map[string]string{"app": "web", "n": fmt.Sprint(i)})
			if obj, err = s.Update(ctx, obj); err != nil {
				b.Fatal(err)
			}
		}
	})
}
