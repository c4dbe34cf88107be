package ipam

import (
	"context"
	"errors"
	"net/netip"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrExhausted: no eligible pool has a free address for the request.
	ErrExhausted = errors.New("no free address in the eligible pools")
	// ErrInUse: a specific address was requested but is already allocated.
	ErrInUse = errors.New("address already in use")
	// ErrNoPool: the address or pool named is not in any usable pool.
	ErrNoPool = errors.New("no matching usable pool")
	// ErrRetries: the compare-and-swap retries ran out under contention.
	ErrRetries = errors.New("too many conflicting updates")

	// Store sentinels: a Store implementation wraps or returns these.
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrConflict      = errors.New("revision conflict")
)

// Uses of a pool (Calico's allowedUses).
const (
	UseWorkload = "Workload"
	UseTunnel   = "Tunnel"
)

// Default block sizes (prefix lengths).
const (
	DefaultBlockSize4 = 26
	DefaultBlockSize6 = 122
)

// Pool is the allocator's view of an IPPool.
type Pool struct {
	Name              string
	CIDR              netip.Prefix
	BlockSize         int // prefix length of blocks; 0: family default
	NodeSelector      string
	NamespaceSelector string
	Disabled          bool
	Manual            bool     // assignmentMode Manual: only used when requested by name or CIDR
	AllowedUses       []string // empty: Workload and Tunnel
}

// blockBits is the pool's block prefix length with the default applied.
func (p Pool) blockBits() int {
	if p.BlockSize != 0 {
		return p.BlockSize
	}
	if p.CIDR.Addr().Is4() {
		return DefaultBlockSize4
	}
	return DefaultBlockSize6
}

func (p Pool) allows(use string) bool {
	if len(p.AllowedUses) == 0 {
		return use == UseWorkload || use == UseTunnel
	}
	for _, u := range p.AllowedUses {
		if u == use {
			return true
		}
	}
	return false
}

// Config is the cluster IPAM configuration (Calico's IPAMConfiguration).
type Config struct {
	StrictAffinity   bool
	MaxBlocksPerHost int // 0: no limit
}

// MatchFunc reports whether a Calico selector matches a label set. An empty selector must
// match everything. It is injected so that this package does not depend on how selectors
// are parsed; an error is treated as "does not match" (fail closed).
type MatchFunc func(selector string, labels map[string]string) (bool, error)

// Meta names a record and carries the revision it was read at (opaque to this package).
type Meta struct {
	Name     string
	Revision string
}

// AffinityState is the life cycle of a block affinity.
type AffinityState string

// Affinity states.
const (
	AffinityPending         AffinityState = "pending"
	AffinityConfirmed       AffinityState = "confirmed"
	AffinityPendingDeletion AffinityState = "pendingDeletion"
)

// Affinity ties a block to a node.
type Affinity struct {
	Meta
	Node  string
	CIDR  netip.Prefix
	State AffinityState
}

// Block is one allocation block. Allocations[i] is the index into Attributes of the owner
// of ordinal i, or -1 when free. Unallocated lists the free ordinals in hand-out order
// (released ordinals go to the back, so an address is not reused at once).
type Block struct {
	Meta
	CIDR        netip.Prefix
	Affinity    string // node name; "" when the block is not affine to any node
	Allocations []int
	Unallocated []int
	Attributes  []Attribute
	// Sequence is the next sequence number; Seqs[i] is the number the live allocation at
	// ordinal i got (0 when free).
	Sequence uint64
	Seqs     []uint64
}

// Attribute describes the owner of one or more allocations.
type Attribute struct {
	Handle string
	Attrs  map[string]string
}

// Handle counts the allocations a handle owns, per block name.
type Handle struct {
	Meta
	Blocks map[string]int
}

// Table is compare-and-swap storage of one record type. Get and Delete of an absent record
// return ErrNotFound; Create of an existing one ErrAlreadyExists; Update and Delete with a
// stale Revision ErrConflict. Returned records are copies the caller owns, with Revision set.
type Table[T any] interface {
	Get(ctx context.Context, name string) (T, error)
	List(ctx context.Context) ([]T, error)
	Create(ctx context.Context, v T) (T, error)
	Update(ctx context.Context, v T) (T, error)
	Delete(ctx context.Context, name, revision string) error
}

// Store is the datastore the allocator needs.
type Store interface {
	Blocks() Table[*Block]
	Affinities() Table[*Affinity]
	Handles() Table[*Handle]
	// Commit makes ws all at once or none of them: each write with the precondition of its
	// single Table write (Create: absent; Update and Delete: the Revision is current).
	// When one fails nothing is written and the error wraps ErrAlreadyExists, ErrConflict
	// or ErrNotFound as that Table write would.
	Commit(ctx context.Context, ws []Write) error
}

// Backoff is implemented by a Store that wants a request to wait before it retries after
// a lost compare-and-swap race (this package never reads the clock: the store's adapter
// does). Without it a lost race is retried at once, as MemStore's tests want; against a
// real datastore, requests racing for the same blocks would otherwise retry in lockstep
// and run out of retries.
type Backoff interface {
	// Backoff waits before retry attempt (0 for the first retry); it returns ctx's error
	// if ctx ends first.
	Backoff(ctx context.Context, attempt int) error
}

// WriteOp is what a Write does.
type WriteOp int

// Write ops.
const (
	WriteCreate WriteOp = iota + 1
	WriteUpdate
	WriteDelete
)

// Write is one write of a Store.Commit, of a block or a handle record: exactly one of
// Block and Handle is set. Update and Delete are guarded by the record's Revision.
type Write struct {
	Op     WriteOp
	Block  *Block
	Handle *Handle
}
