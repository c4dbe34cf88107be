package nft

import (
	"context"
	"fmt"
	"strings"
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
	// now is the clock used for durations (tests may replace it).
	now func() time.Time
	// batch sends set elements in lists, one command per set (plan.go addElements);
	// off for knftables.Fake, which cannot parse them.
	batch bool
}

// Result describes one sync.
type Result struct {
	// Full is true for a full sync, false for a partial one.
	Full bool
	// Operations is the number of operations in the transaction (0: nothing to do).
	Operations int
	// Duration is the wall time of listing (full syncs) and running the transaction.
	Duration time.Duration
	// Table counts the objects of the applied table.
	Table Stats
}

// NewApplier returns an Applier over nft. It does no I/O; the first Apply is a full sync.
func NewApplier(nft knftables.Interface) *Applier {
	_, fake := nft.(*knftables.Fake)
	return &Applier{nft: nft, now: time.Now, batch: !fake}
}

// Apply makes the kernel match want: a partial sync when the Applier knows what it last
// applied, a full sync otherwise (first call, after an error, after Invalidate). On error
// the next Apply is a full sync. want must not be modified afterwards.
func (a *Applier) Apply(ctx context.Context, want *Table) (Result, error) {
	if a.applied == nil {
		return a.FullSync(ctx, want)
	}
	start := a.now()
	tx := a.nft.NewTransaction()
	planPartial(tx, a.applied, want, a.batch)
	res := Result{Operations: tx.NumOperations(), Table: want.Stats()}
	if res.Operations > 0 {
		if err := a.nft.Run(ctx, tx); err != nil {
			a.applied = nil
			return res, fmt.Errorf("partial sync of nftables table: %w", err)
		}
	}
	a.applied = want
	res.Duration = a.now().Sub(start)
	return res, nil
}

// FullSync reconciles the kernel's table with want regardless of what was applied
// before: it lists the table's objects, re-declares and refills everything desired and
// deletes extras, in one transaction, without ever flushing the table.
func (a *Applier) FullSync(ctx context.Context, want *Table) (Result, error) {
	start := a.now()
	a.applied = nil
	have, err := a.existing(ctx)
	if err != nil {
		return Result{Full: true}, err
	}
	tx := a.nft.NewTransaction()
	planFull(tx, want, have, a.batch)
	res := Result{Full: true, Operations: tx.NumOperations(), Table: want.Stats()}
	if err := a.nft.Run(ctx, tx); err != nil {
		return res, fmt.Errorf("full sync of nftables table: %w", err)
	}
	a.applied = want
	res.Duration = a.now().Sub(start)
	return res, nil
}

// Invalidate makes the next Apply a full sync (periodic resync, detected drift).
func (a *Applier) Invalidate() { a.applied = nil }

// Applied returns the table the last successful sync applied, or nil.
func (a *Applier) Applied() *Table { return a.applied }

func (a *Applier) existing(ctx context.Context) (Existing, error) {
	have := Existing{Chains: map[string]bool{}, Sets: map[string]bool{}, Maps: map[string]bool{}}
	// Make sure the table exists so that listing has one failure mode (an empty table
	// has no effect on packets).
	tx := a.nft.NewTransaction()
	tx.Add(&knftables.Table{})
	if err := a.nft.Run(ctx, tx); err != nil {
		return have, fmt.Errorf("create nftables table: %w", err)
	}
	all, err := a.nft.ListAll(ctx)
	if err != nil {
		return have, fmt.Errorf("list nftables table: %w", err)
	}
	for typ, dst := range map[string]map[string]bool{"chain": have.Chains, "set": have.Sets, "map": have.Maps} {
		for _, name := range all[typ] {
			if strings.HasPrefix(name, "__") {
				continue // anonymous sets belong to rules (netlink listing shows them)
			}
			dst[name] = true
		}
	}
	return have, nil
}
