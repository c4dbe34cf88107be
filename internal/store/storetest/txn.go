package storetest

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// txnFixture is the state every transaction case starts from: pod a (updated once, so
// generation 1 and a resourceVersion of its own), pod b to delete, service s.
type txnFixture struct {
	a, b, svc model.Object
}

func newTxnFixture(t *testing.T, s store.Store) txnFixture {
	t.Helper()
	mustNamespaces(t, s, "ns1")
	return txnFixture{
		a:   mustCreate(t, s, Pod("ns1", "a", map[string]string{"v": "1"})),
		b:   mustCreate(t, s, Pod("ns1", "b", nil)),
		svc: mustCreate(t, s, service("ns1", "s")),
	}
}

// testTxnCommit applies create, CAS update and guarded delete of mixed kinds at once, and
// checks results, stored state and server-managed metadata.
func testTxnCommit(t *testing.T, s store.Store) {
	f := newTxnFixture(t, s)
	a := asPod(t, f.a)
	a.Labels["v"] = "2"
	a.Spec.Containers[0].Image = "registry.example/app:2"
	ops := []store.Op{
		store.CreateOp(Pod("ns1", "c", nil)),
		store.UpdateOp(a),
		store.DeleteOp(podKind, "ns1", "b", store.DeleteOptions{ResourceVersion: f.b.GetResourceVersion(), UID: string(f.b.GetUID())}),
		store.CreateOp(namespace("ns2")),
	}
	res, err := s.Apply(ctx(t), ops)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(res) != len(ops) {
		t.Fatalf("apply returned %d results, want %d", len(res), len(ops))
	}
	rev := res[0].GetResourceVersion()
	for i, r := range []model.Object{res[0], res[1], res[3]} {
		if r.GetResourceVersion() != rev || rev == "" {
			t.Errorf("result %d resourceVersion %q, want the one revision %q of the transaction", i, r.GetResourceVersion(), rev)
		}
	}
	if res[0].GetUID() == "" || res[0].GetGeneration() != 1 {
		t.Errorf("created pod metadata uid %q generation %d, want set by the store", res[0].GetUID(), res[0].GetGeneration())
	}
	if res[1].GetUID() != f.a.GetUID() || res[1].GetGeneration() != 2 {
		t.Errorf("updated pod uid %q generation %d, want the old uid %q and generation 2", res[1].GetUID(), res[1].GetGeneration(), f.a.GetUID())
	}
	if res[2].GetName() != "b" || res[2].GetResourceVersion() != f.b.GetResourceVersion() {
		t.Errorf("deleted result %s@%s, want the last state of b", res[2].GetName(), res[2].GetResourceVersion())
	}
	got, err := s.Get(ctx(t), podKind, "ns1", "a")
	if err != nil {
		t.Fatal(err)
	}
	sameObject(t, "updated pod", got, res[1])
	if _, err := s.Get(ctx(t), podKind, "ns1", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get deleted pod b: %v, want ErrNotFound", err)
	}
	for _, k := range []model.Key{{Kind: podKind, Namespace: "ns1", Name: "c"}, {Kind: nsKind, Name: "ns2"}} {
		if _, err := s.Get(ctx(t), k.Kind, k.Namespace, k.Name); err != nil {
			t.Errorf("get created %s: %v", k, err)
		}
	}
	if res, err := s.Apply(ctx(t), nil); err != nil || len(res) != 0 {
		t.Errorf("empty apply = %v, %v; want nothing", res, err)
	}
}

// testTxnPrecondition makes one op of otherwise valid transactions fail in each way and
// checks nothing was written and the error names that op.
func testTxnPrecondition(t *testing.T, s store.Store) {
	f := newTxnFixture(t, s)
	stale := asPod(t, f.a).DeepCopy()
	mustUpdate(t, s, asPod(t, f.a).DeepCopy()) // stale's resourceVersion is now old
	cur := asPod(t, f.b).DeepCopy()
	cur.Labels = map[string]string{"x": "y"}
	tests := []struct {
		name     string
		bad      store.Op
		sentinel error
		object   string
	}{
		{"create existing", store.CreateOp(service("ns1", "s")), store.ErrAlreadyExists, "s"},
		{"stale update", store.UpdateOp(stale), store.ErrConflict, "a"},
		{"update absent", store.UpdateOp(Pod("ns1", "zz", nil)), store.ErrNotFound, "zz"},
		{"delete absent", store.DeleteOp(podKind, "ns1", "zz", store.DeleteOptions{}), store.ErrNotFound, "zz"},
		{"delete stale", store.DeleteOp(svcKind, "ns1", "s", store.DeleteOptions{ResourceVersion: "1"}), store.ErrConflict, "s"},
		{"delete wrong uid", store.DeleteOp(svcKind, "ns1", "s", store.DeleteOptions{UID: "not-it"}), store.ErrConflict, "s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := listRev(t, s, podKind)
			ops := []store.Op{store.CreateOp(Pod("ns1", "new", nil)), store.UpdateOp(cur.DeepCopy()), tc.bad}
			_, err := s.Apply(ctx(t), ops)
			wantErr(t, tc.name, err, tc.sentinel, tc.object)
			if i := store.FailedOp(err); i != 2 {
				t.Errorf("failed op %d (%v), want 2", i, err)
			}
			if _, err := s.Get(ctx(t), podKind, "ns1", "new"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("pod of the first op: %v, want ErrNotFound (nothing written)", err)
			}
			got, err := s.Get(ctx(t), podKind, "ns1", "b")
			if err != nil || got.GetResourceVersion() != f.b.GetResourceVersion() {
				t.Errorf("pod of the second op %v, %v: want unchanged", got, err)
			}
			if after := listRev(t, s, podKind); after != before {
				t.Errorf("revision moved from %s to %s: something was written", before, after)
			}
		})
	}
	_, err := s.Apply(ctx(t), []store.Op{store.UpdateOp(cur.DeepCopy()), store.DeleteOp(podKind, "ns1", "b", store.DeleteOptions{})})
	if err == nil || store.FailedOp(err) != 1 {
		t.Errorf("the same object twice: %v, want an error naming op 1", err)
	}
}

// testTxnWatch checks a watch sees a transaction's writes as consecutive events in op
// order, all at the transaction's revision, and that resuming from it skips them all.
func testTxnWatch(t *testing.T, s store.Store) {
	f := newTxnFixture(t, s)
	w := mustWatch(t, s, nil, store.WatchOptions{Revision: listRev(t, s, podKind)})
	a := asPod(t, f.a).DeepCopy()
	a.Labels["v"] = "3"
	res, err := s.Apply(ctx(t), []store.Op{
		store.DeleteOp(svcKind, "ns1", "s", store.DeleteOptions{}),
		store.UpdateOp(a),
		store.CreateOp(namespace("ns3")),
	})
	if err != nil {
		t.Fatal(err)
	}
	rev := res[1].GetResourceVersion()
	mustCreate(t, s, Pod("ns1", "after", nil))
	var got []string
	for range 4 {
		got = append(got, Describe(Next(t, w)))
	}
	after := got[3]
	if !strings.HasPrefix(after, "ADDED Pod/ns1/after@") {
		t.Errorf("event after the transaction %s, want the pod created after it", after)
	}
	want := []string{
		"DELETED Service/ns1/s@" + rev, "MODIFIED Pod/ns1/a@" + rev, "ADDED Namespace/ns3@" + rev, after,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events of a transaction (-want +got):\n%s", d)
	}
	w2 := mustWatch(t, s, nil, store.WatchOptions{Revision: rev})
	if ev := Describe(Next(t, w2)); ev != after {
		t.Errorf("watch from the transaction's revision: first event %s, want %s", ev, after)
	}
}

// testTxnCounters runs writers that each increment a counter label on two objects in one
// transaction, guarded by both resourceVersions: with all-or-nothing writes the counters
// stay equal and no increment is lost.
func testTxnCounters(t *testing.T, s store.Store) {
	const writers, increments = 4, 6
	mustNamespaces(t, s, "ns1")
	mustCreate(t, s, Pod("ns1", "c1", map[string]string{"count": "0"}))
	mustCreate(t, s, service("ns1", "c2"))
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range increments {
				if err := incrementBoth(t, s); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v", err)
	}
	a, errA := s.Get(ctx(t), podKind, "ns1", "c1")
	b, errB := s.Get(ctx(t), svcKind, "ns1", "c2")
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	want := strconv.Itoa(writers * increments)
	if a.GetLabels()["count"] != want || b.GetLabels()["count"] != want {
		t.Errorf("counts %s and %s, want both %s", a.GetLabels()["count"], b.GetLabels()["count"], want)
	}
}

// incrementBoth reads both counters and writes both plus one in one Apply, until it wins.
func incrementBoth(t *testing.T, s store.Store) error {
	for {
		a, err := s.Get(ctx(t), podKind, "ns1", "c1")
		if err != nil {
			return err
		}
		b, err := s.Get(ctx(t), svcKind, "ns1", "c2")
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(a.GetLabels()["count"])
		if err != nil {
			return err
		}
		a.SetLabels(map[string]string{"count": strconv.Itoa(n + 1)})
		b.SetLabels(map[string]string{"count": strconv.Itoa(n + 1)})
		_, err = s.Apply(ctx(t), []store.Op{store.UpdateOp(a), store.UpdateOp(b)})
		if err == nil || !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
}

// testTxnCompensated: on a backend whose Apply is not atomic, ops are written in order and,
// when one fails with nobody else writing, the earlier ones are undone: a created object is
// gone, an updated one has its old content back; the error names the failed op.
func testTxnCompensated(t *testing.T, s store.Store) {
	f := newTxnFixture(t, s)
	a := asPod(t, f.a)
	a.Labels["v"] = "2"
	res, err := s.Apply(ctx(t), []store.Op{store.CreateOp(Pod("ns1", "c", nil)), store.UpdateOp(a)})
	if err != nil || len(res) != 2 {
		t.Fatalf("apply: %v, %d results", err, len(res))
	}
	cur := asPod(t, res[1])
	cur.Labels["v"] = "3"
	stale := cur.DeepCopy()
	stale.ResourceVersion = f.a.GetResourceVersion()
	stale.Name = "b"
	ops := []store.Op{store.CreateOp(Pod("ns1", "new", nil)), store.UpdateOp(cur), store.UpdateOp(stale)}
	_, err = s.Apply(ctx(t), ops)
	if i := store.FailedOp(err); i != 2 || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("failed op %d (%v), want 2 with a conflict", i, err)
	}
	if _, err := s.Get(ctx(t), podKind, "ns1", "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("object of the first op: %v, want it undone (ErrNotFound)", err)
	}
	got, err := s.Get(ctx(t), podKind, "ns1", "a")
	if err != nil || got.GetLabels()["v"] != "2" {
		t.Errorf("object of the second op %v, %v: want its content before the Apply (v=2)", got, err)
	}
}
