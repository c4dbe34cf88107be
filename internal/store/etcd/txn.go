package etcd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Apply implements store.Store: one etcd Txn with a compare per op (create: the key has
// never been created or was deleted; update and delete: the key's mod revision is the one
// the op was prepared from), the writes as its success branch and a read of every key as
// its failure branch, which says which op failed without another round trip. Updates and
// deletes take the stored state from the seen cache when their precondition names a value
// this client has just read or written, as the single writes do; an op without a
// resourceVersion precondition that loses a race is prepared again from a fresh read.
func (s *Store) Apply(ctx context.Context, ops []store.Op) ([]model.Object, error) {
	keys, err := store.OpKeys(ops)
	if err != nil || len(ops) == 0 {
		return nil, err
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		t, err := s.prepareTxn(ctx, ops, keys, attempt == 0)
		if err != nil {
			return nil, err
		}
		resp, err := s.cli.Txn(ctx).If(t.cmps...).Then(t.thens...).Else(t.elses...).Commit()
		if err != nil {
			return nil, wrapErr("apply", describeKeys(keys), err)
		}
		if resp.Succeeded {
			return t.done(s, resp.Header.Revision), nil
		}
		if err := t.failed(s, resp); err != nil {
			return nil, err
		}
	}
}

// txn is an Apply prepared for one attempt.
type txn struct {
	ops    []store.Op
	keys   []model.Key
	out    []model.Object
	data   [][]byte // what a create or update puts
	modRev []int64  // the mod revision each compare expects; 0 for create
	cmps   []clientv3.Cmp
	thens  []clientv3.Op
	elses  []clientv3.Op
}

func (s *Store) prepareTxn(ctx context.Context, ops []store.Op, keys []model.Key, useSeen bool) (*txn, error) {
	n := len(ops)
	t := &txn{ops: ops, keys: keys, out: make([]model.Object, n), data: make([][]byte, n), modRev: make([]int64, n)}
	now := time.Now()
	for i, op := range ops {
		k := objectKey(keys[i])
		if err := s.prepareOp(ctx, t, i, now, useSeen); err != nil {
			return nil, &store.OpError{Index: i, Err: err}
		}
		if op.Type == store.OpCreate {
			t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		} else {
			t.cmps = append(t.cmps, clientv3.Compare(clientv3.ModRevision(k), "=", t.modRev[i]))
		}
		if op.Type == store.OpDelete {
			t.thens = append(t.thens, clientv3.OpDelete(k))
		} else {
			t.thens = append(t.thens, clientv3.OpPut(k, string(t.data[i])))
		}
		t.elses = append(t.elses, clientv3.OpGet(k))
	}
	return t, nil
}

// prepareOp fills in op i of t: the object it returns, the data it puts and the mod
// revision it expects, checking its preconditions against the state it read.
func (s *Store) prepareOp(ctx context.Context, t *txn, i int, now time.Time, useSeen bool) error {
	op, key := t.ops[i], t.keys[i]
	if op.Type == store.OpCreate {
		_, out, data, err := store.NewRecord(op.Object, now)
		t.out[i], t.data[i] = out, data
		return err
	}
	rv := op.Preconditions.ResourceVersion
	if op.Type == store.OpUpdate {
		rv = op.Object.GetResourceVersion()
	}
	old, modRev, err := s.readOrSeen(ctx, op.Type.String(), key, rv, useSeen)
	if err != nil {
		return err
	}
	t.modRev[i] = modRev
	if op.Type == store.OpDelete {
		t.out[i] = old
		return checkDelete(key, old, modRev, op.Preconditions)
	}
	if rv != "" && rv != revString(modRev) {
		return fmt.Errorf("update %s: resourceVersion %s is not the stored %d: %w", key, rv, modRev, store.ErrConflict)
	}
	out, err := store.PrepareUpdate(key.Kind, old, op.Object)
	if err != nil {
		return err
	}
	if t.data[i], err = store.Encode(out); err != nil {
		return fmt.Errorf("update %s: %w", key, err)
	}
	t.out[i] = out
	return nil
}

// done records a committed transaction at rev and returns its results.
func (t *txn) done(s *Store, rev int64) []model.Object {
	for i, op := range t.ops {
		k := objectKey(t.keys[i])
		if op.Type == store.OpDelete {
			s.seen.drop(k)
			continue
		}
		s.seen.put(k, rev, t.data[i])
		t.out[i].SetResourceVersion(revString(rev))
	}
	return t.out
}

// failed finds, from the failure branch's reads, the first op whose precondition does not
// hold and returns its error; nil when only ops without a resourceVersion precondition
// lost a race (the caller prepares them again).
func (t *txn) failed(s *Store, resp *clientv3.TxnResponse) error {
	for i, op := range t.ops {
		var kv *mvccpb.KeyValue
		if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
			kv = kvs[0]
			s.seen.put(string(kv.Key), kv.ModRevision, kv.Value)
		}
		key := t.keys[i]
		rv := op.Preconditions.ResourceVersion
		if op.Type == store.OpUpdate {
			rv = op.Object.GetResourceVersion()
		}
		switch {
		case op.Type == store.OpCreate && kv != nil:
			return &store.OpError{Index: i, Err: fmt.Errorf("create %s: %w", key, store.ErrAlreadyExists)}
		case op.Type == store.OpCreate:
		case kv == nil:
			return &store.OpError{Index: i, Err: fmt.Errorf("%s %s: %w", op.Type, key, store.ErrNotFound)}
		case kv.ModRevision != t.modRev[i] && rv != "":
			return &store.OpError{Index: i, Err: fmt.Errorf("%s %s: resourceVersion %s is not the stored %d: %w", op.Type, key, rv, kv.ModRevision, store.ErrConflict)}
		}
	}
	return nil
}

// checkDelete checks Delete's preconditions against the stored state old at modRev.
func checkDelete(key model.Key, old model.Object, modRev int64, opts store.DeleteOptions) error {
	if opts.ResourceVersion != "" && opts.ResourceVersion != revString(modRev) {
		return fmt.Errorf("delete %s: precondition resourceVersion %s is not the stored %d: %w", key, opts.ResourceVersion, modRev, store.ErrConflict)
	}
	if opts.UID != "" && opts.UID != string(old.GetUID()) {
		return fmt.Errorf("delete %s: precondition uid %s is not the stored %s: %w", key, opts.UID, old.GetUID(), store.ErrConflict)
	}
	return nil
}

// describeKeys names the objects of a transaction for an error message.
func describeKeys(keys []model.Key) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.String()
	}
	return "[" + strings.Join(names, ", ") + "]"
}
