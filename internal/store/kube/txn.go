package kube

import (
	"context"
	"errors"
	"fmt"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// NonAtomicApply marks Apply as not all-or-nothing (store.NonAtomic).
func (s *Store) NonAtomicApply() {}

// undo reverses one applied op.
type undo func(ctx context.Context) error

// Apply writes ops one by one, in order: the Kubernetes API has no multi-object
// transaction. When op i fails, the ops before it are undone in reverse order (an object
// created is deleted, one updated is written back, one deleted is created again) and the
// error is a store.OpError naming op i. Undoing is best effort: an undo another writer got
// in the way of is reported with the error. Each write keeps its own compare-and-swap, so
// IPAM's guarantee holds: a half-applied allocation may leak an address until the leak
// collector releases it, never hand it out twice.
func (s *Store) Apply(ctx context.Context, ops []store.Op) ([]model.Object, error) {
	if _, err := store.OpKeys(ops); err != nil {
		return nil, err
	}
	out := make([]model.Object, len(ops))
	var undos []undo
	for i, op := range ops {
		res, u, err := s.applyOp(ctx, op)
		if err != nil {
			var failed []error
			for j := len(undos) - 1; j >= 0; j-- {
				if uerr := undos[j](ctx); uerr != nil {
					failed = append(failed, uerr)
				}
			}
			oe := &store.OpError{Index: i, Err: err}
			if len(failed) > 0 {
				return nil, fmt.Errorf("%w (undoing the earlier ops failed: %w)", oe, errors.Join(failed...))
			}
			return nil, oe
		}
		out[i], undos = res, append(undos, u)
	}
	return out, nil
}

func (s *Store) applyOp(ctx context.Context, op store.Op) (model.Object, undo, error) {
	switch op.Type {
	case store.OpCreate:
		res, err := s.Create(ctx, op.Object)
		if err != nil {
			return nil, nil, err
		}
		k, _ := model.KeyOf(res)
		return res, func(ctx context.Context) error {
			_, err := s.Delete(ctx, k.Kind, k.Namespace, k.Name, store.DeleteOptions{ResourceVersion: res.GetResourceVersion()})
			return err
		}, nil
	case store.OpUpdate:
		k, _ := model.KeyOf(op.Object)
		old, err := s.Get(ctx, k.Kind, k.Namespace, k.Name)
		if err != nil {
			return nil, nil, err
		}
		res, err := s.Update(ctx, op.Object)
		if err != nil {
			return nil, nil, err
		}
		return res, func(ctx context.Context) error {
			back := model.Clone(old)
			back.SetResourceVersion(res.GetResourceVersion())
			_, err := s.Update(ctx, back)
			return err
		}, nil
	}
	k := op.Key
	res, err := s.Delete(ctx, k.Kind, k.Namespace, k.Name, op.Preconditions)
	if err != nil {
		return nil, nil, err
	}
	return res, func(ctx context.Context) error {
		again := model.Clone(res)
		again.SetResourceVersion("")
		again.SetUID("")
		_, err := s.Create(ctx, again)
		return err
	}, nil
}
