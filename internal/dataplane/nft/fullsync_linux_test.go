package nft

import (
	"context"
	"fmt"
	"os/exec"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/testnet"
)

// TestKernelFullSyncNoChange: against the real kernel, a full sync of the table it
// already holds writes nothing (the listing decodes every element type and the rule
// fingerprints are stable), for every kind of object the renderers make.
func TestKernelFullSyncNoChange(t *testing.T) {
	n := hostOnly(t)
	ctx := context.Background()
	for i, want := range fullSyncTables(t) {
		table := fmt.Sprintf("trl-nochange%d", i)
		ap := NewApplier(kernelTable(t, n.Host, table))
		if _, err := ap.FullSync(ctx, want); err != nil {
			t.Fatalf("table %d: %v", i, err)
		}
		ref := testnet.NftDump(t, n.Host, table)
		// The generation proves the table unchanged; then the table is listed for real.
		for _, listed := range []bool{false, true, false} {
			if listed {
				ap.Invalidate()
			}
			res, err := ap.FullSync(ctx, want)
			if err != nil {
				t.Fatalf("table %d: %v", i, err)
			}
			if res.Operations != 0 || res.Listed != listed {
				t.Errorf("table %d, full sync without change: %d operations, listed %v; want 0, %v", i, res.Operations, res.Listed, listed)
			}
		}
		if got := testnet.NftDump(t, n.Host, table); got != ref {
			t.Fatalf("table %d changed:\n%s\nwant:\n%s", i, got, ref)
		}
	}
}

// TestKernelFullSyncAfterPartials: after partial syncs, a full sync by the same Applier
// (by generation, or listed: its rule memo knows only what full syncs wrote) leaves the
// kernel equal to a fresh full sync, and a listed full sync then writes nothing. The
// fresh Applier's syncs in another table move the generation, so the generation path
// is taken only after the Applier's own transactions.
func TestKernelFullSyncAfterPartials(t *testing.T) {
	n := hostOnly(t)
	ctx := context.Background()
	ap := NewApplier(kernelTable(t, n.Host, "trl-mixed"))
	fresh := kernelTable(t, n.Host, "trl-fresh")
	rng := newRand(9)
	for step := range 8 {
		want := Render(Config{MergeRun: 1 - 2*(step%2)}, randomState(rng))
		sync := ap.Apply
		if step%3 == 2 {
			sync = ap.FullSync
		}
		if _, err := sync(ctx, want); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if _, err := NewApplier(fresh).FullSync(ctx, want); err != nil {
			t.Fatalf("step %d: fresh full sync: %v", step, err)
		}
		if got, ref := testnet.NftDump(t, n.Host, "trl-mixed"), testnet.NftDump(t, n.Host, "trl-fresh"); got != ref {
			t.Fatalf("step %d: kernel != fresh full sync\ngot:\n%s\nwant:\n%s", step, got, ref)
		}
		if step%3 == 2 {
			ap.Invalidate()
			if res, err := ap.FullSync(ctx, want); err != nil || res.Operations != 0 || !res.Listed {
				t.Fatalf("step %d: listed full sync: %d operations, listed %v, err %v", step, res.Operations, res.Listed, err)
			}
		}
	}
}

// TestKernelFullSyncRepairsElement deletes a set element behind the Applier's back (the
// full sync adds exactly it back), adds an extra one and flushes a set (both repaired).
func TestKernelFullSyncRepairsElement(t *testing.T) {
	n := hostOnly(t)
	ctx := context.Background()
	a, b, c, s := testPods()
	want := Render(Config{}, connectivityState(a, b, c, s))
	set := elementSet(t, want)
	ap := NewApplier(kernelTable(t, n.Host, "trl-elem"))
	if _, err := ap.FullSync(ctx, want); err != nil {
		t.Fatal(err)
	}
	ref := testnet.NftDump(t, n.Host, "trl-elem")
	nftIn := func(args ...string) {
		t.Helper()
		if err := netns.Do(n.Host, func() error {
			out, err := exec.Command("nft", args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("nft %v: %v: %s", args, err, out)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		drift func()
		ops   int
	}{
		{"element deleted", func() {
			nftIn("delete", "element", "inet", "trl-elem", set.Name, "{ "+sortedKeys(set.Elements)[0]+" }")
		}, 1},
		{"extra element", func() { nftIn("add", "element", "inet", "trl-elem", set.Name, "{ 203.0.113.77 }") }, -1},
		// The kernel's Applier adds a set's elements in one batched command.
		{"set flushed", func() { nftIn("flush", "set", "inet", "trl-elem", set.Name) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.drift()
			if testnet.NftDump(t, n.Host, "trl-elem") == ref {
				t.Fatal("drift did not change the table")
			}
			res, err := ap.FullSync(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Listed {
				t.Error("a change behind the Applier's back did not make the full sync list the table")
			}
			if tc.ops >= 0 && res.Operations != tc.ops {
				t.Errorf("repair took %d operations, want %d", res.Operations, tc.ops)
			}
			if got := testnet.NftDump(t, n.Host, "trl-elem"); got != ref {
				t.Fatalf("not repaired:\ngot:\n%s\nwant:\n%s", got, ref)
			}
		})
	}
}

// TestKernelGenerationShortcut: full syncs after the Applier's own transactions take the
// generation path; any other transaction in the namespace, even in another table,
// makes the next full sync list the table.
func TestKernelGenerationShortcut(t *testing.T) {
	n := hostOnly(t)
	ctx := context.Background()
	rng := newRand(11)
	ap := NewApplier(kernelTable(t, n.Host, "trl-gen"))
	other := kernelTable(t, n.Host, "trl-other")
	for step, wantListed := range []bool{true, false, false, true, false} {
		if step == 3 {
			tx := other.NewTransaction()
			tx.Add(&knftables.Table{})
			if err := other.Run(ctx, tx); err != nil {
				t.Fatal(err)
			}
		}
		want := Render(Config{}, randomState(rng))
		if step == 2 {
			if _, err := ap.Apply(ctx, want); err != nil {
				t.Fatal(err)
			}
		}
		res, err := ap.FullSync(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		if res.Listed != wantListed {
			t.Errorf("step %d: listed %v, want %v", step, res.Listed, wantListed)
		}
	}
}

// TestKernelFullSyncVouched: a commit to another table moves the generation, so a full
// sync must list the kernel, unless a voucher (the agent's monitor, which sees every
// commit) vouches that the commits since the recorded generation did not touch the table:
// then nothing is listed and nothing written. A voucher for another run is not trusted.
func TestKernelFullSyncVouched(t *testing.T) {
	n := hostOnly(t)
	ctx := context.Background()
	want := fullSyncTables(t)[0]
	nftIf := kernelTable(t, n.Host, "trl-vouched")
	ap := NewApplier(nftIf)
	if _, err := ap.FullSync(ctx, want); err != nil {
		t.Fatal(err)
	}
	other := kernelTable(t, n.Host, "trl-vouch-other")
	recorded := ap.gen
	touchOther := func() uint32 {
		tx := other.NewTransaction()
		tx.Add(&knftables.Table{})
		tx.Add(&knftables.Chain{Name: fmt.Sprintf("c%d", ap.gen)})
		if err := other.Run(ctx, tx); err != nil {
			t.Fatal(err)
		}
		g, ok := generation(ctx, nftIf)
		if !ok {
			t.Fatal("no generation")
		}
		return g
	}
	now := touchOther()
	for _, tc := range []struct {
		name    string
		voucher Voucher
		listed  bool
	}{
		{"no voucher", nil, true},
		{"vouched", func() (uint32, uint32, bool) { return recorded, now, true }, false},
		{"a run after another generation", func() (uint32, uint32, bool) { return recorded - 1, now, true }, true},
		{"a run that ends too soon", func() (uint32, uint32, bool) { return recorded, now - 1, true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ap.gen, ap.verified = recorded, want // as after the first full sync
			ap.SetVoucher(tc.voucher)
			res, err := ap.FullSync(ctx, want)
			if err != nil || res.Operations != 0 || res.Listed != tc.listed {
				t.Errorf("full sync: %d operations, listed %v, err %v; want 0, %v", res.Operations, res.Listed, err, tc.listed)
			}
		})
	}
}
