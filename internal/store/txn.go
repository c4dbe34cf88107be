package store

import (
	"errors"
	"fmt"

	"github.com/trellisnet/trellis/internal/model"
)

// OpType says what one Op of an Apply does.
type OpType int

// Op types.
const (
	OpCreate OpType = iota + 1
	OpUpdate
	OpDelete
)

func (t OpType) String() string {
	switch t {
	case OpCreate:
		return "create"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	}
	return "unknown"
}

// Op is one write of an Apply, with the semantics and preconditions of the single write of
// the same name: Create fails with ErrAlreadyExists if the object exists; Update with a
// non-empty resourceVersion is a compare-and-swap (ErrConflict), with an empty one
// unconditional; Update and Delete of an absent object fail with ErrNotFound; Delete checks
// the optional Preconditions. Build Ops with CreateOp, UpdateOp and DeleteOp.
type Op struct {
	Type OpType
	// Object is what Create and Update write.
	Object model.Object
	// Key names the object Delete removes.
	Key model.Key
	// Preconditions of Delete.
	Preconditions DeleteOptions
}

// CreateOp creates obj.
func CreateOp(obj model.Object) Op { return Op{Type: OpCreate, Object: obj} }

// UpdateOp updates obj, guarded by its resourceVersion when it has one.
func UpdateOp(obj model.Object) Op { return Op{Type: OpUpdate, Object: obj} }

// DeleteOp deletes the object of kind, namespace and name if the preconditions hold.
func DeleteOp(kind *model.Kind, namespace, name string, pre DeleteOptions) Op {
	return Op{Type: OpDelete, Key: model.Key{Kind: kind, Namespace: namespace, Name: name}, Preconditions: pre}
}

// OpError is the error of an Apply whose op Index failed: nothing was written. Err wraps
// the sentinel of that op (ErrConflict, ErrAlreadyExists, ErrNotFound, ...), so errors.Is
// works on the OpError as on the error of the single write.
type OpError struct {
	Index int // into the ops passed to Apply
	Err   error
}

func (e *OpError) Error() string { return fmt.Sprintf("transaction op %d: %v", e.Index, e.Err) }

func (e *OpError) Unwrap() error { return e.Err }

// FailedOp returns the index of the op an Apply error names, or -1.
func FailedOp(err error) int {
	var oe *OpError
	if errors.As(err, &oe) {
		return oe.Index
	}
	return -1
}

// OpKeys validates ops as every backend's Apply does before it writes: each op has a known
// type and a storable object or key, and no object appears twice (a transaction writes
// each object at most once). It returns the ops' keys.
func OpKeys(ops []Op) ([]model.Key, error) {
	keys := make([]model.Key, len(ops))
	seen := make(map[model.Key]int, len(ops))
	for i, op := range ops {
		var err error
		switch op.Type {
		case OpCreate, OpUpdate:
			keys[i], err = KeyOf(op.Type.String(), op.Object)
		case OpDelete:
			keys[i], err = op.Key, CheckKey("delete", op.Key)
		default:
			err = fmt.Errorf("unknown op type %d", op.Type)
		}
		if err != nil {
			return nil, &OpError{Index: i, Err: err}
		}
		if j, dup := seen[keys[i]]; dup {
			return nil, &OpError{Index: i, Err: fmt.Errorf("%s %s: already written by op %d of the same transaction", op.Type, keys[i], j)}
		}
		seen[keys[i]] = i
	}
	return keys, nil
}

// NonAtomic is implemented by a backend whose Apply is not all-or-nothing (store/kube:
// ordered single writes, undone on failure as well as another writer lets them be).
// Callers that can split their writes (IPAM) then write one block at a time.
type NonAtomic interface {
	NonAtomicApply()
}

// Derived is implemented by a backend that keeps Calico's Kubernetes data model
// (store/kube): a pod's WorkloadEndpoint is a view of the Pod and a Calico Node one of the
// Kubernetes Node, and the Kubernetes control plane runs the controllers that manage
// Pods, Services, EndpointSlices and Namespaces. Components ask DerivedEndpoints, never the
// backend's type.
type Derived interface {
	// DerivedEndpoints says whether the backend derives endpoints this way.
	DerivedEndpoints() bool
}

// DerivedEndpoints says whether st keeps Calico's Kubernetes data model (see Derived):
// then nothing may store an object per pod (EndpointStatus), and the cluster controllers
// that Kubernetes itself runs must not run.
func DerivedEndpoints(st Store) bool {
	d, ok := st.(Derived)
	return ok && d.DerivedEndpoints()
}
