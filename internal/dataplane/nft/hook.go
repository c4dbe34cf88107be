package nft

import (
	"context"
	"errors"

	"sigs.k8s.io/knftables"
)

// WithRunHook returns inner with every transaction run through hook (the agent notes the
// nftables generation around its own writes this way). Everything else, including the
// netlink listing and the generation the Applier uses to skip reading an unchanged kernel,
// stays inner's.
func WithRunHook(inner knftables.Interface, hook func(run func() error) error) knftables.Interface {
	return hooked{Interface: inner, hook: hook}
}

type hooked struct {
	knftables.Interface
	hook func(run func() error) error
}

func (h hooked) Run(ctx context.Context, tx *knftables.Transaction) error {
	return h.hook(func() error { return h.Interface.Run(ctx, tx) })
}

func (h hooked) listTable(ctx context.Context, want *Table) (*Listing, error) {
	return listTable(ctx, h.Interface, want)
}

func (h hooked) listRules(ctx context.Context, chains []string) (map[string][]string, error) {
	return listRules(ctx, h.Interface, chains)
}

var errNoGeneration = errors.New("no nftables generation")

func (h hooked) generation(ctx context.Context) (uint32, error) {
	if g, ok := generation(ctx, h.Interface); ok {
		return g, nil
	}
	return 0, errNoGeneration
}

// unwrap returns the knftables.Interface under any hooks.
func unwrap(nft knftables.Interface) knftables.Interface {
	for {
		h, ok := nft.(hooked)
		if !ok {
			return nft
		}
		nft = h.Interface
	}
}
