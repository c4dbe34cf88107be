package nft

import (
	"context"
	"errors"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/netns"
)

// InNamespace returns a knftables.Interface that runs every call of inner inside the
// named network namespace (nft is executed on a thread switched into it). Used by tests
// and the lab, where the "host" is itself a namespace.
func InNamespace(ns string, inner knftables.Interface) knftables.Interface {
	return &nsInterface{ns: ns, inner: inner}
}

// NewKernelIn is NewKernel for the named network namespace.
func NewKernelIn(ctx context.Context, ns, table string) (knftables.Interface, error) {
	var inner knftables.Interface
	err := netns.Do(ns, func() error {
		var err error
		inner, err = NewKernel(ctx, table)
		return err
	})
	if err != nil {
		return nil, err
	}
	return InNamespace(ns, inner), nil
}

type nsInterface struct {
	ns    string
	inner knftables.Interface
}

func in[T any](ns string, fn func() (T, error)) (T, error) {
	var out T
	err := netns.Do(ns, func() error {
		var err error
		out, err = fn()
		return err
	})
	return out, err
}

func (n *nsInterface) NewTransaction() *knftables.Transaction { return n.inner.NewTransaction() }

func (n *nsInterface) Run(ctx context.Context, tx *knftables.Transaction) error {
	return netns.Do(n.ns, func() error { return n.inner.Run(ctx, tx) })
}

func (n *nsInterface) Check(ctx context.Context, tx *knftables.Transaction) error {
	return netns.Do(n.ns, func() error { return n.inner.Check(ctx, tx) })
}

func (n *nsInterface) ListAll(ctx context.Context) (map[string][]string, error) {
	return in(n.ns, func() (map[string][]string, error) { return n.inner.ListAll(ctx) })
}

func (n *nsInterface) List(ctx context.Context, objectType string) ([]string, error) {
	return in(n.ns, func() ([]string, error) { return n.inner.List(ctx, objectType) })
}

func (n *nsInterface) ListRules(ctx context.Context, chain string) ([]*knftables.Rule, error) {
	return in(n.ns, func() ([]*knftables.Rule, error) { return n.inner.ListRules(ctx, chain) })
}

func (n *nsInterface) ListElements(ctx context.Context, objectType, name string) ([]*knftables.Element, error) {
	return in(n.ns, func() ([]*knftables.Element, error) { return n.inner.ListElements(ctx, objectType, name) })
}

func (n *nsInterface) ListCounters(ctx context.Context) ([]*knftables.Counter, error) {
	return in(n.ns, func() ([]*knftables.Counter, error) { return n.inner.ListCounters(ctx) })
}

func (n *nsInterface) listTable(ctx context.Context, want *Table) (*Listing, error) {
	return in(n.ns, func() (*Listing, error) { return listTable(ctx, n.inner, want) })
}

func (n *nsInterface) listRules(ctx context.Context, chains []string) (map[string][]string, error) {
	return in(n.ns, func() (map[string][]string, error) { return listRules(ctx, n.inner, chains) })
}

func (n *nsInterface) generation(ctx context.Context) (uint32, error) {
	return in(n.ns, func() (uint32, error) {
		if l, ok := n.inner.(tableLister); ok {
			return l.generation(ctx)
		}
		return 0, errors.New("no nftables generation")
	})
}

// Generation reads the nftables generation (the kernel's count of committed nftables
// transactions, any table) in network namespace ns ("" for the process's own).
func Generation(ctx context.Context, ns string) (uint32, error) {
	if ns == "" {
		return (&kernelNFT{}).generation(ctx)
	}
	return in(ns, func() (uint32, error) { return (&kernelNFT{}).generation(ctx) })
}
