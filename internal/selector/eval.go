package selector

import (
	"slices"
	"strings"
)

// Labels is a read-only label set. Callers implement it to layer labels (an endpoint's own
// over those inherited from its namespace or profile) without copying maps.
type Labels interface {
	// Get returns the value of label key and whether it is present.
	Get(key string) (value string, ok bool)
}

// Map is a plain label set.
type Map map[string]string

// Get implements Labels.
func (m Map) Get(key string) (string, bool) {
	v, ok := m[key]
	return v, ok
}

// Layers is a stack of label sets: Get returns the value from the first layer that has the
// key, so earlier layers override later ones. Nil layers are skipped.
type Layers []Labels

// Get implements Labels.
func (ls Layers) Get(key string) (string, bool) {
	for _, l := range ls {
		if l == nil {
			continue
		}
		if v, ok := l.Get(key); ok {
			return v, true
		}
	}
	return "", false
}

func (*All) match(Labels) bool    { return true }
func (*Global) match(Labels) bool { return true }

func (n *Has) match(l Labels) bool {
	_, ok := l.Get(n.Key)
	return ok
}

func (n *Compare) match(l Labels) bool {
	v, ok := l.Get(n.Key)
	switch n.Op {
	case OpEqual:
		return ok && v == n.Value
	case OpNotEqual:
		return !ok || v != n.Value
	case OpContains:
		return ok && strings.Contains(v, n.Value)
	case OpStartsWith:
		return ok && strings.HasPrefix(v, n.Value)
	case OpEndsWith:
		return ok && strings.HasSuffix(v, n.Value)
	}
	return false
}

func (n *In) match(l Labels) bool {
	v, ok := l.Get(n.Key)
	if !ok {
		return n.Negate
	}
	var found bool
	if len(n.Values) <= 8 {
		found = slices.Contains(n.Values, v)
	} else {
		_, found = slices.BinarySearch(n.Values, v)
	}
	return found != n.Negate
}

func (n *Not) match(l Labels) bool { return !n.X.match(l) }

func (n *And) match(l Labels) bool {
	for _, t := range n.Terms {
		if !t.match(l) {
			return false
		}
	}
	return true
}

func (n *Or) match(l Labels) bool {
	for _, t := range n.Terms {
		if t.match(l) {
			return true
		}
	}
	return false
}
