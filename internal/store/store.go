package store

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/trellisnet/trellis/internal/model"
)

// Sentinel errors, checked with errors.Is. Backends wrap them with the operation and key.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: Create of an object that exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: a compare-and-swap precondition (resourceVersion or UID) did not hold.
	ErrConflict = errors.New("conflict: the object has been modified; read it again and retry")
	// ErrUnavailable: the backend could not be reached.
	ErrUnavailable = errors.New("datastore unavailable")
	// ErrTooLarge: the object's stored form exceeds MaxObjectBytes.
	ErrTooLarge = errors.New("object too large")
)

// MaxObjectBytes is the largest stored (JSON) form of one object every backend accepts:
// within etcd's default request limit of 1.5 MiB with room for the key, and the size the
// Kubernetes API server accepts.
const MaxObjectBytes = 1 << 20

// Store is the datastore contract every backend meets (in-memory, etcd, the Kubernetes
// API). Revisions and resourceVersions are opaque strings: nothing above the
// backend may parse them or know about keys, leases or etcd revisions.
//
// Server-managed metadata (resourceVersion, uid, creationTimestamp, generation) is set by
// the backend on Create and Update; whatever the caller put there is ignored except the
// resourceVersion precondition of Update. Returned objects are fresh copies the caller owns.
type Store interface {
	// Get returns one object or ErrNotFound.
	Get(ctx context.Context, kind *model.Kind, namespace, name string) (model.Object, error)
	// List returns the objects of a kind, sorted by namespace then name, with the revision
	// of the snapshot (to Watch from).
	List(ctx context.Context, kind *model.Kind, opts ListOptions) (*ListResult, error)
	// Create stores a new object; ErrAlreadyExists if it exists.
	Create(ctx context.Context, obj model.Object) (model.Object, error)
	// Update replaces an existing object. A non-empty obj resourceVersion must equal the
	// stored one (else ErrConflict); an empty one updates unconditionally. ErrNotFound if
	// the object does not exist. generation is bumped when anything but metadata changes.
	Update(ctx context.Context, obj model.Object) (model.Object, error)
	// Delete removes an object and returns its last state; ErrNotFound if absent,
	// ErrConflict if a precondition fails. A backend may first mark the object (Kubernetes
	// sets metadata.deletionTimestamp on a pod: one MODIFIED event before the DELETED one).
	Delete(ctx context.Context, kind *model.Kind, namespace, name string, opts DeleteOptions) (model.Object, error)
	// Apply writes ops as one transaction: all of them or none. The ops are checked against
	// the state before the transaction, each with the preconditions of its single write (see
	// Op); an object may appear in one op only. If any op fails, nothing is written and the
	// error is an *OpError naming that op and wrapping its sentinel (errors.Is(err,
	// ErrConflict) etc. hold, FailedOp(err) gives the index). On success results[i] is what
	// ops[i] wrote (for Delete: the last state) and every write carries the same revision:
	// a Watch sees them as consecutive events, in op order, all with that revision. No ops:
	// nothing happens.
	//
	// A backend without multi-object transactions (store/kube: the Kubernetes API) cannot
	// give the all-or-nothing guarantee. Its Apply does the ops as ordered single writes
	// and, if one fails, undoes the earlier ones (compensation: delete what was created,
	// restore what was updated or deleted, each guarded by the revision it wrote), reporting
	// the failed op as here; writes do not share a revision. Callers must not need more than
	// per-object compare-and-swap for correctness (IPAM does not: a half-applied allocation
	// at worst leaks an address until the leak collector releases it).
	Apply(ctx context.Context, ops []Op) ([]model.Object, error)
	// Watch delivers, in order, every change after opts.Revision (empty: from now; no
	// change acknowledged after Watch returns is missed). A nil kind watches every kind:
	// each kind's events are in order, but events of different kinds may interleave in
	// another order than they happened (the Kubernetes API watches each resource apart;
	// memory and etcd happen to keep one total order).
	Watch(ctx context.Context, kind *model.Kind, opts WatchOptions) (Watch, error)
	// Close releases the backend's resources.
	Close() error
}

// ListOptions narrows a List. Zero values mean "all".
type ListOptions struct {
	Namespace string
	Labels    labels.Selector
}

// ListResult is a consistent snapshot.
type ListResult struct {
	Items    []model.Object
	Revision string
}

// DeleteOptions are optional preconditions.
type DeleteOptions struct {
	ResourceVersion string
	UID             string
}

// WatchOptions select what a Watch delivers. A nil kind passed to Watch means every kind.
type WatchOptions struct {
	Namespace string
	// Revision to start after, as returned by List or carried by an Event. Empty: now.
	Revision string
}

// EventType says what happened to an object.
type EventType int

// Event types. EventResync means the watch cannot continue from where it was (the revision
// was compacted, or the backend lost history): the consumer must List again and re-Watch
// from the new revision. It is the last event on its channel.
const (
	EventAdded EventType = iota + 1
	EventModified
	EventDeleted
	EventResync
)

func (t EventType) String() string {
	switch t {
	case EventAdded:
		return "ADDED"
	case EventModified:
		return "MODIFIED"
	case EventDeleted:
		return "DELETED"
	case EventResync:
		return "RESYNC"
	}
	return "UNKNOWN"
}

// Event is one change. For EventDeleted, Object is the last state before deletion (its
// resourceVersion is that state's). Revision is the store revision of the change itself:
// a Watch from it resumes with the next change, without loss or duplicates. The changes of
// one Apply share a revision and are delivered together, in op order: a Watch from that
// revision resumes after all of them.
type Event struct {
	Type     EventType
	Object   model.Object
	Revision string
	Err      error // why, for EventResync
}

// Watch is a running watch. Events is closed after Stop, after the context passed to
// Watch ends, or after an EventResync.
type Watch interface {
	Events() <-chan Event
	Stop()
}
