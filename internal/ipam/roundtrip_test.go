package ipam

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recordingStore records every request made through it, as "op table".
type recordingStore struct {
	Store
	ops *[]string
}

func (s recordingStore) Blocks() Table[*Block] {
	return recordingTable[*Block]{s.Store.Blocks(), "blocks", s.ops}
}
func (s recordingStore) Affinities() Table[*Affinity] {
	return recordingTable[*Affinity]{s.Store.Affinities(), "affinities", s.ops}
}
func (s recordingStore) Handles() Table[*Handle] {
	return recordingTable[*Handle]{s.Store.Handles(), "handles", s.ops}
}

func (s recordingStore) Commit(ctx context.Context, ws []Write) error {
	op := "commit"
	for _, w := range ws {
		table, verb := "blocks", map[WriteOp]string{WriteCreate: "create", WriteUpdate: "update", WriteDelete: "delete"}[w.Op]
		if w.Handle != nil {
			table = "handles"
		}
		op += " " + verb + " " + table + ","
	}
	*s.ops = append(*s.ops, strings.TrimSuffix(op, ","))
	return s.Store.Commit(ctx, ws)
}

type recordingTable[T any] struct {
	Table[T]
	name string
	ops  *[]string
}

func (t recordingTable[T]) Get(ctx context.Context, name string) (T, error) {
	*t.ops = append(*t.ops, "get "+t.name)
	return t.Table.Get(ctx, name)
}
func (t recordingTable[T]) List(ctx context.Context) ([]T, error) {
	*t.ops = append(*t.ops, "list "+t.name)
	return t.Table.List(ctx)
}
func (t recordingTable[T]) Create(ctx context.Context, v T) (T, error) {
	*t.ops = append(*t.ops, "create "+t.name)
	return t.Table.Create(ctx, v)
}
func (t recordingTable[T]) Update(ctx context.Context, v T) (T, error) {
	*t.ops = append(*t.ops, "update "+t.name)
	return t.Table.Update(ctx, v)
}
func (t recordingTable[T]) Delete(ctx context.Context, name, revision string) error {
	*t.ops = append(*t.ops, "delete "+t.name)
	return t.Table.Delete(ctx, name, revision)
}

// TestAutoAssignRoundTrips pins the datastore requests of the common CNI ADD: a dual-stack
// assignment from blocks already affine to the node. Each is a round trip the ADD waits
// for, so a change here is a latency change (see the package doc).
func TestAutoAssignRoundTrips(t *testing.T) {
	ctx := context.Background()
	var ops []string
	a := New(recordingStore{NewMemStore(), &ops}, nil)
	args := func(handle string) AssignArgs {
		return AssignArgs{Node: "n1", Handle: handle, Num4: 1, Num6: 1,
			Pools: []Pool{{Name: "v4", CIDR: pfx("10.0.0.0/24"), BlockSize: 28}, {Name: "v6", CIDR: pfx("2001:db8::/120")}}}
	}
	if _, err := a.AutoAssign(ctx, args("first")); err != nil { // claims the node's blocks
		t.Fatal(err)
	}
	ops = nil
	res, err := a.AutoAssign(ctx, args("second"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IPv4) != 1 || len(res.IPv6) != 1 {
		t.Fatalf("assigned %+v, want one address of each family", res)
	}
	want := []string{
		"list affinities",
		"get blocks", // IPv4
		"get blocks", // IPv6
		"commit create handles, update blocks, update blocks", // one write: the handle unread
	}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	// The handle counts both addresses, as if read back.
	h, err := a.store.Handles().Get(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	if n := h.Blocks[BlockName(res.IPv4[0].Block)] + h.Blocks[BlockName(res.IPv6[0].Block)]; n != 2 || len(h.Blocks) != 2 {
		t.Errorf("handle blocks %v, want one address in each family's block", h.Blocks)
	}
}

// contendedStore fails every commit that writes more than one block, as heavy contention
// on a node's blocks would.
type contendedStore struct{ *MemStore }

func (s contendedStore) Commit(ctx context.Context, ws []Write) error {
	blocks := 0
	for _, w := range ws {
		if w.Block != nil {
			blocks++
		}
	}
	if blocks > 1 {
		return fmt.Errorf("commit: %w", ErrConflict)
	}
	return s.MemStore.Commit(ctx, ws)
}

// TestContendedDualStackFallsBack checks that dual-stack requests whose two-block commits
// keep losing races still succeed, one commit per family, and release likewise.
func TestContendedDualStackFallsBack(t *testing.T) {
	ctx := context.Background()
	a := New(contendedStore{NewMemStore()}, nil)
	pools := []Pool{{Name: "v4", CIDR: pfx("10.0.0.0/24"), BlockSize: 28}, {Name: "v6", CIDR: pfx("2001:db8::/120")}}
	res, err := a.AutoAssign(ctx, AssignArgs{Node: "n1", Handle: "h", Num4: 1, Num6: 1, Pools: pools})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IPv4) != 1 || len(res.IPv6) != 1 {
		t.Fatalf("assigned %+v, want one address of each family", res)
	}
	consistent(t, a)
	freed, err := a.ReleaseByHandle(ctx, "h")
	if err != nil || len(freed) != 2 {
		t.Fatalf("release: %v, %v; want both addresses freed", freed, err)
	}
	if s := snapshot(t, a); len(s.Handles) != 0 {
		t.Errorf("handles left after release: %+v", s.Handles)
	}
	consistent(t, a)
}
