package etcd_test

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// TestSeenValues checks the writes that take the old state from the client's memory of
// what it last read or wrote instead of reading it: another client's write in between must
// still make them fail, and the server-managed metadata must come out as after a read.
func TestSeenValues(t *testing.T) {
	srv := startSingle(t)
	podKind := model.KindPod
	ctx := context.Background()
	t.Run("update after create keeps metadata", func(t *testing.T) {
		a := newStore(t, srv.ClientURLs())
		created, err := a.Create(ctx, storetest.Pod("default", "p", nil))
		if err != nil {
			t.Fatal(err)
		}
		p := created.(*corev1.Pod)
		p.Spec.NodeName = "n2" // a spec change: generation 2
		updated, err := a.Update(ctx, p)
		if err != nil {
			t.Fatalf("update with the resourceVersion just written: %v", err)
		}
		b, err := etcd.New(store.Config{Endpoints: srv.ClientURLs()})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		got, err := b.Get(ctx, podKind, "default", "p")
		if err != nil {
			t.Fatal(err)
		}
		ct := created.GetCreationTimestamp()
		for _, o := range []model.Object{updated, got} {
			if ot := o.GetCreationTimestamp(); o.GetUID() != created.GetUID() || !ot.Equal(&ct) || o.GetGeneration() != 2 {
				t.Errorf("%s: uid %s created %v generation %d, want uid %s created %v generation 2", o.GetResourceVersion(),
					o.GetUID(), o.GetCreationTimestamp(), o.GetGeneration(), created.GetUID(), created.GetCreationTimestamp())
			}
		}
	})
	t.Run("update after another client's write conflicts", func(t *testing.T) {
		a := newStore(t, srv.ClientURLs())
		b := newStore(t, srv.ClientURLs())
		created, err := a.Create(ctx, storetest.Pod("default", "p", nil))
		if err != nil {
			t.Fatal(err)
		}
		other := storetest.Pod("default", "p", map[string]string{"by": "b"})
		if _, err := b.Update(ctx, other); err != nil {
			t.Fatal(err)
		}
		mine := created.(*corev1.Pod)
		mine.Labels = map[string]string{"by": "a"}
		if _, err := a.Update(ctx, mine); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("update with a resourceVersion overwritten by another client: %v, want ErrConflict", err)
		}
		got, err := a.Get(ctx, podKind, "default", "p")
		if err != nil {
			t.Fatal(err)
		}
		if got.GetLabels()["by"] != "b" {
			t.Errorf("labels %v, want the other client's", got.GetLabels())
		}
		// Having read again, the client updates from what it read.
		got.SetLabels(map[string]string{"by": "a"})
		if _, err := a.Update(ctx, got); err != nil {
			t.Errorf("update after reading again: %v", err)
		}
	})
	t.Run("delete after another client recreated conflicts", func(t *testing.T) {
		a := newStore(t, srv.ClientURLs())
		b := newStore(t, srv.ClientURLs())
		if _, err := b.Create(ctx, storetest.Pod("default", "p", nil)); err != nil {
			t.Fatal(err)
		}
		seen, err := a.Get(ctx, podKind, "default", "p")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Delete(ctx, podKind, "default", "p", store.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		again, err := b.Create(ctx, storetest.Pod("default", "p", nil))
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Delete(ctx, podKind, "default", "p", store.DeleteOptions{ResourceVersion: seen.GetResourceVersion()})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("delete guarded by a deleted incarnation's resourceVersion: %v, want ErrConflict", err)
		}
		old, err := a.Delete(ctx, podKind, "default", "p", store.DeleteOptions{ResourceVersion: again.GetResourceVersion()})
		if err != nil {
			t.Fatalf("delete guarded by the current resourceVersion: %v", err)
		}
		if old.GetUID() != again.GetUID() {
			t.Errorf("deleted uid %s, want %s", old.GetUID(), again.GetUID())
		}
	})
}
