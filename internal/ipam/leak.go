package ipam

import (
	"net/netip"
	"time"
)

// LeakTracker confirms leaks over time: an allocation becomes a confirmed leak once every
// Check since at least Grace ago has reported it (a workload being set up holds its
// address for a moment before its endpoint exists). It is pure: the caller passes the time.
type LeakTracker struct {
	Grace time.Duration
	first map[leakKey]time.Time
}

type leakKey struct {
	addr   netip.Addr
	handle string
	seq    uint64
}

// Observe records the leaks of one report seen at now and returns, in report order, those
// first seen at least Grace before now. Leaks no longer reported are forgotten.
func (t *LeakTracker) Observe(r Report, now time.Time) []Allocation {
	seen := make(map[leakKey]time.Time, len(r.Leaked))
	var confirmed []Allocation
	for _, al := range r.Leaked {
		k := leakKey{al.Addr, al.Handle, al.Sequence}
		first, ok := t.first[k]
		if !ok {
			first = now
		}
		seen[k] = first
		if now.Sub(first) >= t.Grace {
			confirmed = append(confirmed, al)
		}
	}
	t.first = seen
	return confirmed
}
