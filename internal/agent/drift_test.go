package agent

import (
	"errors"
	"slices"
	"testing"
)

// TestOwnGens: generations inside a one-generation bracket of an own transaction are the
// agent's echo; anything else, a second touched generation in a wider bracket, an unknown
// (0) generation are foreign; nothing is judged while an own transaction is in flight,
// nor while the generation cannot be read.
func TestOwnGens(t *testing.T) {
	var gen uint32 = 100
	var genErr error
	var foreign []uint32
	o := &ownGens{gen: func() (uint32, error) { return gen, genErr }, onForeign: func(g []uint32) { foreign = append(foreign, g...) }}
	commit := func(n uint32) func() error { return func() error { gen += n; return nil } }

	_ = o.run(commit(1)) // own 101
	o.report(101)
	gen++ // foreign 102
	o.report(102)
	if !slices.Equal(foreign, []uint32{102}) {
		t.Fatalf("foreign = %v, want [102]", foreign)
	}
	foreign = nil
	// Reported while in flight: judged at the end of the transaction.
	_ = o.run(func() error {
		gen++ // 103, own
		o.report(103)
		if len(foreign) > 0 {
			t.Errorf("judged while in flight: %v", foreign)
		}
		return nil
	})
	if len(foreign) > 0 {
		t.Fatalf("own 103 judged foreign: %v", foreign)
	}
	// Another writer committed inside the bracket (104 own or foreign, 105): one touched
	// generation is ours, a second is foreign.
	_ = o.run(commit(2))
	o.report(104)
	if len(foreign) > 0 {
		t.Fatalf("a single touched generation in a wide bracket judged foreign: %v", foreign)
	}
	o.report(105)
	if !slices.Equal(foreign, []uint32{105}) {
		t.Fatalf("foreign = %v, want [105]", foreign)
	}
	foreign = nil
	o.report(0)
	if !slices.Equal(foreign, []uint32{0}) {
		t.Fatalf("foreign = %v, want [0]", foreign)
	}
	foreign = nil
	var broken []error
	o.onBroken = func(err error) { broken = append(broken, err) }
	genErr = errors.New("no netlink")
	_ = o.run(commit(1)) // 106 without a bracket
	o.report(106)
	_ = o.run(commit(1)) // 107
	o.report(107)
	if len(foreign) > 0 || len(broken) != 1 {
		t.Fatalf("while the generation is unreadable: foreign %v, broken reported %d times; want none, once", foreign, len(broken))
	}
	genErr = nil
	_ = o.run(commit(1)) // 108, own again
	o.report(108)
	gen++ // foreign 109
	o.report(109)
	if !slices.Equal(foreign, []uint32{109}) {
		t.Fatalf("after recovery: foreign = %v, want [109]", foreign)
	}
}

// TestOwnGensVouch: the run of generations after the last one that touched the table, in
// which the monitor saw only commits to other tables, is vouched for; a touched (or
// unknown) generation ends it, and a gap in the clean generations stops it growing.
func TestOwnGensVouch(t *testing.T) {
	o := &ownGens{gen: func() (uint32, error) { return 0, nil }, onForeign: func([]uint32) {}}
	if _, _, ok := o.vouch(); ok {
		t.Fatal("vouched before the monitor saw anything")
	}
	o.report(10) // the agent's own write, say
	o.clean(11)
	o.clean(12)
	if after, upTo, ok := o.vouch(); !ok || after != 10 || upTo != 12 {
		t.Fatalf("vouch = (%d, %d, %v), want (10, 12, true)", after, upTo, ok)
	}
	o.clean(14) // 13 never seen: the run cannot grow past it
	if _, upTo, _ := o.vouch(); upTo != 12 {
		t.Errorf("run grew over a gap to %d", upTo)
	}
	o.report(15) // touched: a new, empty run
	if _, _, ok := o.vouch(); ok {
		t.Error("vouched right after a generation that touched the table")
	}
	o.report(0) // notifications lost
	o.clean(1)
	if _, _, ok := o.vouch(); ok {
		t.Error("vouched after lost notifications")
	}
}
