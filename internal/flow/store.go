package flow

import "sync"

// Store keeps the most recent aggregated flows, at most its capacity (older ones are
// forgotten), and hands new ones to subscribers. A subscriber that does not keep up
// loses flows (counted), never slows Add.
type Store struct {
	mu      sync.Mutex
	buf     []Flow // ring: next is where the next flow goes
	next    int
	full    bool
	subs    map[*subscription]struct{}
	dropped uint64 // flows subscribers lost
}

type subscription struct {
	filter Filter
	ch     chan Flow
}

// NewStore returns a store keeping up to capacity flows.
func NewStore(capacity int) *Store {
	return &Store{buf: make([]Flow, max(capacity, 1)), subs: map[*subscription]struct{}{}}
}

// Add stores flows and offers each to the subscribers whose filter selects it.
func (s *Store) Add(flows ...Flow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range flows {
		s.buf[s.next] = f
		s.next++
		if s.next == len(s.buf) {
			s.next, s.full = 0, true
		}
		for sub := range s.subs {
			if !sub.filter.Match(&f) {
				continue
			}
			select {
			case sub.ch <- f:
			default:
				s.dropped++
			}
		}
	}
}

// List returns the stored flows filter selects, oldest first, at most limit of the most
// recent ones (0: all).
func (s *Store) List(filter Filter, limit int) []Flow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list(filter, limit)
}

func (s *Store) list(filter Filter, limit int) []Flow {
	var out []Flow
	add := func(part []Flow) {
		for i := range part {
			if filter.Match(&part[i]) {
				out = append(out, part[i])
			}
		}
	}
	if s.full {
		add(s.buf[s.next:])
	}
	add(s.buf[:s.next])
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// Subscribe returns the stored flows filter selects (as List) and a channel of the ones
// added from now on, buffered by buf; cancel ends the subscription and closes the channel.
func (s *Store) Subscribe(filter Filter, limit, buf int) (past []Flow, ch <-chan Flow, cancel func()) {
	sub := &subscription{filter: filter, ch: make(chan Flow, max(buf, 1))}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[sub] = struct{}{}
	var once sync.Once
	return s.list(filter, limit), sub.ch, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.subs, sub)
			close(sub.ch)
			s.mu.Unlock()
		})
	}
}

// Dropped is the number of flows subscribers lost because they did not keep up.
func (s *Store) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}
