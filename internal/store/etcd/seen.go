package etcd

import (
	"strconv"
	"sync"
)

// seenMax bounds the entries a seen cache holds; when full it starts over.
const seenMax = 256

// seen remembers, per key, the value this client last read or wrote and its mod revision.
// A key's mod revision names exactly one value, so an Update or Delete guarded by a
// resourceVersion the client has just seen can take the old state from here instead of a
// read: one round trip instead of two. A stale entry costs nothing but that: the guarded
// write fails and the caller reads as before.
type seen struct {
	mu sync.Mutex
	m  map[string]seenValue
}

type seenValue struct {
	rev  int64
	data []byte
}

func (s *seen) put(key string, rev int64, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) >= seenMax {
		s.m = make(map[string]seenValue)
	}
	s.m[key] = seenValue{rev: rev, data: data}
}

// get returns the value of key at resourceVersion rv, if that is the one remembered.
func (s *seen) get(key, rv string) ([]byte, int64, bool) {
	rev, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		return nil, 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok || v.rev != rev {
		return nil, 0, false
	}
	return v.data, rev, true
}

func (s *seen) drop(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}
