package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// eventTimeout bounds waiting for one event; generous because a cluster may be electing.
const eventTimeout = 15 * time.Second

// Next returns the next event of w, failing the test on timeout or a closed channel.
func Next(t *testing.T, w store.Watch) store.Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch channel closed, want an event")
		}
		return ev
	case <-time.After(eventTimeout):
		t.Fatalf("no event within %v", eventTimeout)
	}
	return store.Event{}
}

// Describe renders an event as "TYPE Kind/namespace/name@revision" (the object's key).
func Describe(ev store.Event) string {
	if ev.Object == nil {
		return fmt.Sprintf("%s <nil>@%s (%v)", ev.Type, ev.Revision, ev.Err)
	}
	ns := ev.Object.GetNamespace()
	if ns != "" {
		ns += "/"
	}
	return fmt.Sprintf("%s %s/%s%s@%s", ev.Type, ev.Object.GetObjectKind().GroupVersionKind().Kind, ns, ev.Object.GetName(), ev.Revision)
}

func mustWatch(t *testing.T, s store.Store, kind *model.Kind, opts store.WatchOptions) store.Watch {
	t.Helper()
	w, err := s.Watch(ctx(t), kind, opts)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

func listRev(t *testing.T, s store.Store, kind *model.Kind) string {
	t.Helper()
	res, err := s.List(ctx(t), kind, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Revision
}

func testWatch(t *testing.T, s store.Store) {
	mustNamespaces(t, s, "ns1", "ns2")
	rev := listRev(t, s, podKind)
	w := mustWatch(t, s, podKind, store.WatchOptions{Revision: rev})

	a := mustCreate(t, s, Pod("ns1", "a", map[string]string{"v": "1"}))
	mustCreate(t, s, service("ns1", "a")) // another kind: not delivered
	b := mustCreate(t, s, Pod("ns2", "b", nil))
	in := asPod(t, a).DeepCopy()
	in.Labels["v"] = "2"
	a2 := mustUpdate(t, s, in)
	last, err := s.Delete(ctx(t), podKind, "ns1", "a", store.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sameObject(t, "deleted object", last, marked(t, a2, last))

	want := []struct {
		typ store.EventType
		obj model.Object
	}{{store.EventAdded, a}, {store.EventAdded, b}, {store.EventModified, a2}, {store.EventDeleted, a2}}
	seen := map[string]bool{rev: true}
	for i, w2 := range want {
		ev := Next(t, w)
		if w2.typ == store.EventDeleted && deletionMark(ev) {
			sameObject(t, fmt.Sprintf("event %d (deletion mark)", i), ev.Object, marked(t, a2, ev.Object))
			seen[ev.Revision] = true
			ev = Next(t, w)
		}
		if ev.Type != w2.typ {
			t.Fatalf("event %d: %s, want %s of %s", i, Describe(ev), w2.typ, w2.obj.GetName())
		}
		sameObject(t, fmt.Sprintf("event %d (%s)", i, ev.Type), ev.Object, marked(t, w2.obj, ev.Object))
		if seen[ev.Revision] || ev.Revision == "" {
			t.Errorf("event %d: revision %q empty or repeated", i, ev.Revision)
		}
		seen[ev.Revision] = true
		if ev.Type != store.EventDeleted && ev.Revision != ev.Object.GetResourceVersion() {
			t.Errorf("event %d: revision %q, object resourceVersion %q: want equal", i, ev.Revision, ev.Object.GetResourceVersion())
		}
	}
}

func testWatchNamespace(t *testing.T, s store.Store) {
	mustNamespaces(t, s, "ns1", "ns2", "ns10")
	w := mustWatch(t, s, podKind, store.WatchOptions{Namespace: "ns2", Revision: listRev(t, s, podKind)})
	mustCreate(t, s, Pod("ns1", "a", nil))
	mustCreate(t, s, Pod("ns2", "b", nil))
	mustCreate(t, s, Pod("ns10", "c", nil))
	mustCreate(t, s, Pod("ns2", "d", nil))
	var got []string
	for range 2 {
		ev := Next(t, w)
		got = append(got, ev.Type.String()+" "+ev.Object.GetNamespace()+"/"+ev.Object.GetName())
	}
	if d := cmp.Diff([]string{"ADDED ns2/b", "ADDED ns2/d"}, got); d != "" {
		t.Errorf("namespace watch (-want +got):\n%s", d)
	}
}

// testWatchAllKinds checks a watch of every kind: each kind's events in order. The
// contract promises no order between kinds (a Kubernetes API server watches each resource
// separately), so the events are compared per kind.
func testWatchAllKinds(t *testing.T, s store.Store) {
	w := mustWatch(t, s, nil, store.WatchOptions{Revision: listRev(t, s, podKind)})
	mustCreate(t, s, namespace("ns1"))
	mustCreate(t, s, Pod("ns1", "a", nil))
	mustCreate(t, s, service("ns1", "a"))
	if _, err := s.Delete(ctx(t), podKind, "ns1", "a", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for n := 0; n < 4; {
		ev := Next(t, w)
		if ev.Type == store.EventResync {
			t.Fatalf("watch of all kinds: %s", Describe(ev))
		}
		if deletionMark(ev) {
			continue
		}
		n++
		kind := ev.Object.GetObjectKind().GroupVersionKind().Kind
		got[kind] = append(got[kind], ev.Type.String()+" "+ev.Object.GetName())
	}
	want := map[string][]string{"Namespace": {"ADDED ns1"}, "Pod": {"ADDED a", "DELETED a"}, "Service": {"ADDED a"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("watch of all kinds, per kind (-want +got):\n%s", d)
	}
}

func testWatchFromNow(t *testing.T, s store.Store) {
	mustNamespaces(t, s, "ns1")
	mustCreate(t, s, Pod("ns1", "before", nil))
	w := mustWatch(t, s, podKind, store.WatchOptions{})
	mustCreate(t, s, Pod("ns1", "after", nil))
	if ev := Next(t, w); ev.Type != store.EventAdded || ev.Object.GetName() != "after" {
		t.Errorf("first event of a watch from now: %s, want ADDED after", Describe(ev))
	}
}

func testWatchResume(t *testing.T, s store.Store) {
	mustNamespaces(t, s, "ns1")
	rev := listRev(t, s, podKind)
	w := mustWatch(t, s, podKind, store.WatchOptions{Revision: rev})
	p := asPod(t, mustCreate(t, s, Pod("ns1", "a", nil)))
	mustCreate(t, s, Pod("ns1", "b", nil))
	p.Labels = map[string]string{"x": "y"}
	mustUpdate(t, s, p)
	if _, err := s.Delete(ctx(t), podKind, "ns1", "b", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, Pod("ns1", "c", nil))
	var all []string
	var evs []store.Event
	for len(evs) == 0 || evs[len(evs)-1].Object.GetName() != "c" { // 5 events, 6 with a deletion mark
		ev := Next(t, w)
		evs = append(evs, ev)
		all = append(all, Describe(ev))
	}
	w.Stop()
	for k := range evs {
		rw := mustWatch(t, s, podKind, store.WatchOptions{Revision: evs[k].Revision})
		var got []string
		for range len(evs) - k - 1 {
			got = append(got, Describe(Next(t, rw)))
		}
		// Nothing else is pending: the next event is a new write, not a duplicate.
		marker := mustCreate(t, s, Pod("ns1", fmt.Sprintf("marker-%d", k), nil))
		ev := Next(t, rw)
		if ev.Object.GetName() != marker.GetName() {
			t.Errorf("resume from event %d: extra event %s before the marker", k, Describe(ev))
		}
		rw.Stop()
		if d := cmp.Diff(all[k+1:], got); d != "" {
			t.Errorf("resume from event %d (%s) (-want +got):\n%s", k, all[k], d)
		}
		all = append(all, Describe(ev))
		evs = append(evs[:len(evs):len(evs)], ev)
	}
}

func testWatchStop(t *testing.T, s store.Store) {
	w := mustWatch(t, s, podKind, store.WatchOptions{})
	w.Stop()
	w.Stop() // idempotent
	waitClosed(t, w, "after Stop")

	c, cancel := context.WithCancel(context.Background())
	w2, err := s.Watch(c, podKind, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, w2, "after its context ended")
}

// waitClosed drains w until its channel closes; only a trailing EventResync is allowed.
func waitClosed(t *testing.T, w store.Watch, what string) {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				return
			}
			if ev.Type != store.EventResync {
				t.Errorf("%s: unexpected event %s", what, Describe(ev))
			}
		case <-deadline:
			t.Fatalf("%s: channel not closed within %v", what, eventTimeout)
		}
	}
}

func testCompaction(t *testing.T, s store.Store) {
	c, ok := s.(Compacter)
	if !ok {
		t.Skipf("%T cannot compact on demand", s)
	}
	mustNamespaces(t, s, "ns1")
	rev := listRev(t, s, podKind)
	for _, n := range []string{"a", "b", "c"} {
		mustCreate(t, s, Pod("ns1", n, nil))
	}
	live := mustWatch(t, s, podKind, store.WatchOptions{Revision: listRev(t, s, podKind)})
	if err := c.Compact(ctx(t)); err != nil {
		t.Fatalf("compact: %v", err)
	}
	w := mustWatch(t, s, podKind, store.WatchOptions{Revision: rev})
	ev := Next(t, w)
	if ev.Type != store.EventResync || ev.Err == nil {
		t.Fatalf("watch from a compacted revision: %s, want RESYNC with a reason", Describe(ev))
	}
	waitClosed(t, w, "after RESYNC")

	// A watch that was current when compaction happened keeps going.
	mustCreate(t, s, Pod("ns1", "d", nil))
	if ev := Next(t, live); ev.Type != store.EventAdded || ev.Object.GetName() != "d" {
		t.Errorf("current watch after compaction: %s, want ADDED d", Describe(ev))
	}
	// And a fresh List+Watch works.
	w = mustWatch(t, s, podKind, store.WatchOptions{Revision: listRev(t, s, podKind)})
	mustCreate(t, s, Pod("ns1", "e", nil))
	if ev := Next(t, w); ev.Type != store.EventAdded || ev.Object.GetName() != "e" {
		t.Errorf("watch after relist: %s, want ADDED e", Describe(ev))
	}
}

// deletionMark reports whether ev marks its object for deletion: the MODIFIED event that
// sets metadata.deletionTimestamp, which Kubernetes writes before it removes a pod (at once
// for a pod bound to no node). Other backends remove objects in one write. The deleted
// state is then the marked one; the Kubernetes backend's Delete returns it with the
// resourceVersion of the removal (the API server's answer), its DELETED event with that of
// the mark, so the suite compares them to the unmarked state plus the mark's metadata.
func deletionMark(ev store.Event) bool {
	return ev.Type == store.EventModified && ev.Object.GetDeletionTimestamp() != nil
}

// marked returns want as the deleted object got should be: want itself, or, when got
// carries a deletion mark, want with the mark's metadata (deletionTimestamp,
// deletionGracePeriodSeconds, and the generation and resourceVersion of that write).
func marked(t *testing.T, want, got model.Object) model.Object {
	t.Helper()
	if got.GetDeletionTimestamp() == nil {
		return want
	}
	out, err := store.Clone(podKind, want)
	if err != nil {
		t.Fatal(err)
	}
	out.SetDeletionTimestamp(got.GetDeletionTimestamp())
	out.SetDeletionGracePeriodSeconds(got.GetDeletionGracePeriodSeconds())
	out.SetGeneration(got.GetGeneration())
	out.SetResourceVersion(got.GetResourceVersion())
	return out
}
