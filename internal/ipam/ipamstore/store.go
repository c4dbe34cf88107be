package ipamstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Store implements ipam.Store over a store.Store.
type Store struct {
	s       store.Store
	blocks  *table[*ipam.Block, *model.IPAMBlock]
	affs    *table[*ipam.Affinity, *model.BlockAffinity]
	handles *table[*ipam.Handle, *model.IPAMHandle]
}

var _ ipam.Store = (*Store)(nil)

// Kinds of the records, as registered in the model.
var (
	BlockKind    = model.KindIPAMBlock
	AffinityKind = model.KindBlockAffinity
	HandleKind   = model.KindIPAMHandle
)

// New returns the adapter over s.
func New(s store.Store) *Store {
	return &Store{
		s:       s,
		blocks:  &table[*ipam.Block, *model.IPAMBlock]{s: s, kind: BlockKind, to: blockToModel, from: blockFromModel},
		affs:    &table[*ipam.Affinity, *model.BlockAffinity]{s: s, kind: AffinityKind, to: affinityToModel, from: affinityFromModel},
		handles: &table[*ipam.Handle, *model.IPAMHandle]{s: s, kind: HandleKind, to: handleToModel, from: handleFromModel},
	}
}

// Blocks implements ipam.Store.
func (s *Store) Blocks() ipam.Table[*ipam.Block] { return s.blocks }

// Affinities implements ipam.Store.
func (s *Store) Affinities() ipam.Table[*ipam.Affinity] { return s.affs }

// Handles implements ipam.Store.
func (s *Store) Handles() ipam.Table[*ipam.Handle] { return s.handles }

// Backoff implements ipam.Backoff: a random wait of up to 0.5 ms doubled with each
// attempt, at most 50 ms ("full jitter"), so requests that lost a race to each other do
// not retry in lockstep.
func (s *Store) Backoff(ctx context.Context, attempt int) error {
	limit := min(500*time.Microsecond<<min(attempt, 7), 50*time.Millisecond)
	t := time.NewTimer(rand.N(limit) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Commit implements ipam.Store: one store.Apply of the writes, in order.
// NonAtomic reports whether Commit is not all-or-nothing on this datastore (the
// Kubernetes API); the Allocator then commits one block at a time.
func (s *Store) NonAtomic() bool {
	_, ok := s.s.(store.NonAtomic)
	return ok
}

func (s *Store) Commit(ctx context.Context, ws []ipam.Write) error {
	ops := make([]store.Op, len(ws))
	for i, w := range ws {
		var obj model.Object
		switch {
		case w.Block != nil && w.Handle == nil:
			obj = blockToModel(w.Block)
		case w.Handle != nil && w.Block == nil:
			obj = handleToModel(w.Handle)
		default:
			return fmt.Errorf("commit: write %d needs exactly one of block and handle", i)
		}
		switch w.Op {
		case ipam.WriteCreate:
			obj.SetResourceVersion("")
			ops[i] = store.CreateOp(obj)
		case ipam.WriteUpdate:
			ops[i] = store.UpdateOp(obj)
		case ipam.WriteDelete:
			kind := s.handles.kind
			if w.Block != nil {
				kind = s.blocks.kind
			}
			ops[i] = store.DeleteOp(kind, "", obj.GetName(), store.DeleteOptions{ResourceVersion: obj.GetResourceVersion()})
		default:
			return fmt.Errorf("commit: write %d: unknown op %d", i, w.Op)
		}
	}
	_, err := s.s.Apply(ctx, ops)
	return mapErr(err)
}

// table is one record type stored as one model kind.
type table[T any, O model.Object] struct {
	s    store.Store
	kind *model.Kind
	to   func(T) O
	from func(O) (T, error)
}

func (t *table[T, O]) decode(obj model.Object) (T, error) {
	o, ok := obj.(O)
	if !ok {
		var zero T
		return zero, fmt.Errorf("decode %s %s: unexpected type %T", t.kind.Kind, obj.GetName(), obj)
	}
	return t.from(o)
}

func (t *table[T, O]) Get(ctx context.Context, name string) (T, error) {
	obj, err := t.s.Get(ctx, t.kind, "", name)
	if err != nil {
		var zero T
		return zero, mapErr(err)
	}
	return t.decode(obj)
}

func (t *table[T, O]) List(ctx context.Context) ([]T, error) {
	res, err := t.s.List(ctx, t.kind, store.ListOptions{})
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]T, 0, len(res.Items))
	for _, obj := range res.Items {
		v, err := t.decode(obj)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (t *table[T, O]) Create(ctx context.Context, v T) (T, error) {
	obj := t.to(v)
	obj.SetResourceVersion("")
	got, err := t.s.Create(ctx, obj)
	if err != nil {
		var zero T
		return zero, mapErr(err)
	}
	return t.decode(got)
}

func (t *table[T, O]) Update(ctx context.Context, v T) (T, error) {
	got, err := t.s.Update(ctx, t.to(v))
	if err != nil {
		var zero T
		return zero, mapErr(err)
	}
	return t.decode(got)
}

func (t *table[T, O]) Delete(ctx context.Context, name, revision string) error {
	_, err := t.s.Delete(ctx, t.kind, "", name, store.DeleteOptions{ResourceVersion: revision})
	return mapErr(err)
}

// mapped keeps a store error's message and makes it match an ipam sentinel too.
type mapped struct{ err, sentinel error }

func (m mapped) Error() string   { return m.err.Error() }
func (m mapped) Unwrap() []error { return []error{m.err, m.sentinel} }

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return mapped{err, ipam.ErrNotFound}
	case errors.Is(err, store.ErrAlreadyExists):
		return mapped{err, ipam.ErrAlreadyExists}
	case errors.Is(err, store.ErrConflict):
		return mapped{err, ipam.ErrConflict}
	}
	return err
}

func objectMeta(m ipam.Meta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, ResourceVersion: m.Revision}
}

func meta(o metav1.Object) ipam.Meta {
	return ipam.Meta{Name: o.GetName(), Revision: o.GetResourceVersion()}
}

func blockToModel(b *ipam.Block) *model.IPAMBlock {
	o := &model.IPAMBlock{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionIPAM, Kind: "IPAMBlock"},
		ObjectMeta: objectMeta(b.Meta)}
	o.Spec = model.IPAMBlockSpec{CIDR: b.CIDR.String(), Affinity: b.Affinity,
		Allocations: make([]*int, len(b.Allocations)), Unallocated: append([]int{}, b.Unallocated...),
		SequenceNumber: b.Sequence}
	for i, ai := range b.Allocations {
		if ai >= 0 {
			v := ai
			o.Spec.Allocations[i] = &v
		}
	}
	for _, a := range b.Attributes {
		o.Spec.Attributes = append(o.Spec.Attributes, model.IPAMAttribute{HandleID: a.Handle, Attrs: a.Attrs})
	}
	for ord, ai := range b.Allocations {
		if ai < 0 || ord >= len(b.Seqs) {
			continue
		}
		if o.Spec.SequenceNumberForAllocation == nil {
			o.Spec.SequenceNumberForAllocation = map[string]uint64{}
		}
		o.Spec.SequenceNumberForAllocation[strconv.Itoa(ord)] = b.Seqs[ord]
	}
	return o
}

func blockFromModel(o *model.IPAMBlock) (*ipam.Block, error) {
	cidr, err := netip.ParsePrefix(o.Spec.CIDR)
	if err != nil {
		return nil, fmt.Errorf("decode IPAMBlock %s: spec.cidr: %w", o.Name, err)
	}
	b := &ipam.Block{Meta: meta(o), CIDR: cidr, Affinity: o.Spec.Affinity,
		Allocations: make([]int, len(o.Spec.Allocations)), Unallocated: append([]int{}, o.Spec.Unallocated...),
		Sequence: o.Spec.SequenceNumber, Seqs: make([]uint64, len(o.Spec.Allocations))}
	for i, p := range o.Spec.Allocations {
		b.Allocations[i] = -1
		if p != nil {
			if *p < 0 || *p >= len(o.Spec.Attributes) {
				return nil, fmt.Errorf("decode IPAMBlock %s: spec.allocations[%d]: attribute %d out of range", o.Name, i, *p)
			}
			b.Allocations[i] = *p
		}
	}
	for _, a := range o.Spec.Attributes {
		b.Attributes = append(b.Attributes, ipam.Attribute{Handle: a.HandleID, Attrs: a.Attrs})
	}
	for k, seq := range o.Spec.SequenceNumberForAllocation {
		ord, err := strconv.Atoi(k)
		if err != nil || ord < 0 || ord >= len(b.Seqs) {
			return nil, fmt.Errorf("decode IPAMBlock %s: spec.sequenceNumberForAllocation[%q]: not an ordinal of the block", o.Name, k)
		}
		b.Seqs[ord] = seq
	}
	return b, nil
}

func affinityToModel(a *ipam.Affinity) *model.BlockAffinity {
	return &model.BlockAffinity{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionIPAM, Kind: "BlockAffinity"},
		ObjectMeta: objectMeta(a.Meta),
		Spec:       model.BlockAffinitySpec{Node: a.Node, CIDR: a.CIDR.String(), State: string(a.State)}}
}

func affinityFromModel(o *model.BlockAffinity) (*ipam.Affinity, error) {
	cidr, err := netip.ParsePrefix(o.Spec.CIDR)
	if err != nil {
		return nil, fmt.Errorf("decode BlockAffinity %s: spec.cidr: %w", o.Name, err)
	}
	return &ipam.Affinity{Meta: meta(o), Node: o.Spec.Node, CIDR: cidr, State: ipam.AffinityState(o.Spec.State)}, nil
}

func handleToModel(h *ipam.Handle) *model.IPAMHandle {
	return &model.IPAMHandle{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionIPAM, Kind: "IPAMHandle"},
		ObjectMeta: objectMeta(h.Meta), Spec: model.IPAMHandleSpec{HandleID: h.Name, Block: h.Blocks}}
}

func handleFromModel(o *model.IPAMHandle) (*ipam.Handle, error) {
	h := &ipam.Handle{Meta: meta(o), Blocks: o.Spec.Block}
	if h.Blocks == nil {
		h.Blocks = map[string]int{}
	}
	return h, nil
}
