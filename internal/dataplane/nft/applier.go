package nft

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/knftables"
)

// Applier applies desired Tables to one nftables table through a knftables.Interface
// (the real nft, or knftables.Fake in unit tests). It is not safe for concurrent use: the
// agent's runner calls it from one goroutine.
type Applier struct {
	nft knftables.Interface
	// applied is what the last successful sync put in the kernel; nil forces a full sync.
	applied *Table
	// verified is the table the kernel is known to hold at nftables generation gen: read
	// by a full sync's listing or reached from such a state by this Applier's own
	// transactions, with no other transaction in the network namespace in between.
	// nil when unknown (knftables.Fake, after an error, after Invalidate).
	verified *Table
	gen      uint32
	// now is the clock used for durations (tests may replace it).
	now func() time.Time
	// batch sends set elements in lists, one command per set (plan.go addElements);
	// off for knftables.Fake, which cannot parse them.
	batch bool
	// memo holds the listed fingerprint of each rule a full sync wrote (listing.go).
	memo ruleMemo
	// voucher, when set, may vouch that the generations after gen did not touch the
	// table (see SetVoucher).
	voucher Voucher
}

// Voucher reports a run of nftables generations (after, upTo] in which no committed
// transaction touched the Applier's table, as something that sees every commit (the
// agent's monitor of the kernel's notifications) knows; ok is false when it knows none.
type Voucher func() (after, upTo uint32, ok bool)

// SetVoucher lets a full sync trust v: when the generation moved since the kernel was
// known to hold the applied table only through commits v vouches for (other tables'),
// the sync writes the difference without listing the kernel.
func (a *Applier) SetVoucher(v Voucher) { a.voucher = v }

// Result describes one sync.
type Result struct {
	// Full is true for a full sync, false for a partial one.
	Full bool
	// Listed is true when a full sync listed the kernel's table; false when the nftables
	// generation proved it unchanged since the kernel was last known to hold the
	// applied table (the sync then writes the difference to want like a partial one).
	Listed bool
	// Operations is the number of operations in the transaction (0: nothing to do).
	Operations int
	// Duration is the wall time of listing (full syncs) and running the transaction.
	Duration time.Duration
	// Table counts the objects of the applied table.
	Table Stats
}

// NewApplier returns an Applier over nft. It does no I/O; the first Apply is a full sync.
func NewApplier(nft knftables.Interface) *Applier {
	_, fake := unwrap(nft).(*knftables.Fake)
	return &Applier{nft: nft, now: time.Now, batch: !fake, memo: ruleMemo{}}
}

// Apply makes the kernel match want: a partial sync when the Applier knows what it last
// applied, a full sync otherwise (first call, after an error, after Invalidate). On error
// the next Apply is a full sync. want must not be modified afterwards.
func (a *Applier) Apply(ctx context.Context, want *Table) (Result, error) {
	if a.applied == nil {
		return a.FullSync(ctx, want)
	}
	start := a.now()
	gen, known := a.unchangedSince(ctx)
	tx := a.nft.NewTransaction()
	planPartial(tx, a.applied, want, a.batch)
	res := Result{Operations: tx.NumOperations(), Table: want.Stats()}
	if err := a.commit(ctx, tx, want, gen, known); err != nil {
		return res, fmt.Errorf("partial sync of nftables table: %w", err)
	}
	res.Duration = a.now().Sub(start)
	return res, nil
}

// FullSync reconciles the kernel's table with want regardless of what was applied
// before, writing only what differs, in one transaction, without ever flushing the
// table; a kernel that already matches gets no transaction at all.
//
// When the network namespace's nftables generation has not moved since the kernel was
// last known to hold a table (see Applier.verified), nothing can have drifted and the
// difference to that table is written directly. Otherwise the table is listed once
// (chains, rule fingerprints, sets with their elements) and compared with want; the
// chains written are listed again afterwards to learn their rules' fingerprints.
func (a *Applier) FullSync(ctx context.Context, want *Table) (Result, error) {
	start := a.now()
	a.applied = nil
	res := Result{Full: true, Table: want.Stats()}
	if gen, known := a.unchangedSince(ctx); known {
		tx := a.nft.NewTransaction()
		planPartial(tx, a.verified, want, a.batch)
		res.Operations = tx.NumOperations()
		if err := a.commit(ctx, tx, want, gen, true); err != nil {
			return res, fmt.Errorf("full sync of nftables table: %w", err)
		}
		res.Duration = a.now().Sub(start)
		return res, nil
	}
	res.Listed = true
	before, ok := generation(ctx, a.nft)
	have, err := listTable(ctx, a.nft, want)
	if err != nil {
		return res, err
	}
	after, ok2 := generation(ctx, a.nft)
	tx := a.nft.NewTransaction()
	written := planFull(tx, want, have, a.memo, a.batch)
	res.Operations = tx.NumOperations()
	if err := a.commit(ctx, tx, want, before, ok && ok2 && before == after); err != nil {
		return res, fmt.Errorf("full sync of nftables table: %w", err)
	}
	if len(written) > 0 {
		// A failed listing only leaves the rules unknown: the next full sync rewrites them.
		if fps, err := listRules(ctx, a.nft, written); err == nil && a.ownRules(ctx) {
			a.memo.learn(want, fps)
		}
	}
	a.memo = a.memo.prune(want)
	res.Duration = a.now().Sub(start)
	return res, nil
}

// unchangedSince reports the current generation and whether the kernel still holds
// a.verified (the generation has not moved since it was recorded).
func (a *Applier) unchangedSince(ctx context.Context) (uint32, bool) {
	if a.verified == nil {
		return 0, false
	}
	g, ok := generation(ctx, a.nft)
	if !ok {
		return g, false
	}
	if g == a.gen {
		return g, true
	}
	if a.voucher != nil {
		after, upTo, vok := a.voucher()
		return g, vok && after == a.gen && g == upTo
	}
	return g, false
}

// ownRules reports whether the rules just listed are the ones this Applier wrote: the
// kernel holds the applied table at the recorded generation and it has not moved since
// (knftables.Fake, which has no generation, has no other writer).
func (a *Applier) ownRules(ctx context.Context) bool {
	if _, fake := unwrap(a.nft).(*knftables.Fake); fake {
		return true
	}
	_, known := a.unchangedSince(ctx)
	return known
}

// commit runs tx (when it has operations) and records want as applied. The kernel is
// known to hold want afterwards when it held a known table at generation gen (known)
// and the transaction was the only one committed since.
func (a *Applier) commit(ctx context.Context, tx *knftables.Transaction, want *Table, gen uint32, known bool) error {
	a.verified = nil
	if tx.NumOperations() > 0 {
		if err := a.nft.Run(ctx, tx); err != nil {
			a.applied = nil
			return err
		}
		g, ok := generation(ctx, a.nft)
		known = known && ok && g == nextGen(gen)
		gen = g
	}
	a.applied = want
	if known {
		a.verified, a.gen = want, gen
	}
	return nil
}

// Invalidate makes the next Apply a full sync that lists the kernel's table (periodic
// resync, detected drift).
func (a *Applier) Invalidate() { a.applied, a.verified = nil, nil }

// Applied returns the table the last successful sync applied, or nil.
func (a *Applier) Applied() *Table { return a.applied }
