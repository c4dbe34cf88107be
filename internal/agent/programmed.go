package agent

import (
	"context"
	"sync"
)

// programmed is what the policy loop last programmed: the UID of each local endpoint. The
// status server's /endpoint reads it (the kubernetes datastore's answer to the CNI plugin's
// policy wait, instead of EndpointStatus objects).
type programmed struct {
	mu      sync.Mutex
	eps     map[nsName]string
	changed chan struct{} // closed and replaced at every set
}

type nsName struct{ namespace, name string }

func newProgrammed() *programmed {
	return &programmed{eps: map[nsName]string{}, changed: make(chan struct{})}
}

// set records the endpoints of a successful sync and wakes the waiters.
func (p *programmed) set(local map[objKey]string) {
	eps := make(map[nsName]string, len(local))
	for k, uid := range local {
		eps[nsName{k.namespace, k.name}] = uid
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eps = eps
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait reports whether endpoint namespace/name with uid is programmed, waiting until it
// is or ctx ends.
func (p *programmed) wait(ctx context.Context, namespace, name, uid string) bool {
	for {
		p.mu.Lock()
		ok := p.eps[nsName{namespace, name}] == uid
		ch := p.changed
		p.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}
