package flow

import (
	"sync"
	"time"
)

// Aggregator sums the flow observations of one interval by key (Flow.Key). It holds at
// most MaxKeys keys per interval: an observation of a new key beyond that is dropped
// and counted, never waited for, so a connection flood costs bounded memory.
type Aggregator struct {
	mu      sync.Mutex
	maxKeys int
	start   time.Time
	cur     map[string]*Flow
	dropped uint64
}

// NewAggregator returns an aggregator whose first interval starts at start.
func NewAggregator(start time.Time, maxKeys int) *Aggregator {
	return &Aggregator{maxKeys: maxKeys, start: start, cur: map[string]*Flow{}}
}

// Add adds one observation (its Start and End are ignored) to the current interval. It
// reports false when the observation was dropped.
func (a *Aggregator) Add(f Flow) bool { return a.AddKeyed(f.Key(), f) }

// AddKeyed is Add for a caller that already has the flow's key (k == f.Key()).
func (a *Aggregator) AddKeyed(k string, f Flow) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.cur[k]; ok {
		cur.Connections += f.Connections
		cur.Packets += f.Packets
		cur.Bytes += f.Bytes
		return true
	}
	if len(a.cur) >= a.maxKeys {
		a.dropped++
		return false
	}
	f.Start, f.End = time.Time{}, time.Time{}
	a.cur[k] = &f
	return true
}

// Flush ends the current interval at now and returns its flows, sorted, with Start and
// End the interval's bounds; the next interval starts at now.
func (a *Aggregator) Flush(now time.Time) []Flow {
	a.mu.Lock()
	cur, start := a.cur, a.start
	a.cur, a.start = make(map[string]*Flow, len(cur)), now
	a.mu.Unlock()
	out := make([]Flow, 0, len(cur))
	for _, f := range cur {
		f.Start, f.End = start, now
		out = append(out, *f)
	}
	Sort(out)
	return out
}

// Dropped is the number of observations dropped since the aggregator started.
func (a *Aggregator) Dropped() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
}

// Len is the number of keys of the current interval.
func (a *Aggregator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.cur)
}
