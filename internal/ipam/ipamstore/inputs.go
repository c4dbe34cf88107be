package ipamstore

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/selector"
	"github.com/trellisnet/trellis/internal/store"
)

// Inputs are the cluster-wide IPAM inputs read from the store.
type Inputs struct {
	Pools    []ipam.Pool
	Reserved []netip.Prefix
	Config   ipam.Config
}

// Load reads every IPPool, IPReservation and the IPAMConfiguration named "default", the
// three concurrently (a CNI ADD waits for them). A pool whose CIDR does not parse is an
// error naming it: IPAM must not guess.
func Load(ctx context.Context, s store.Store) (Inputs, error) {
	var in Inputs
	var errs [3]error
	var wg sync.WaitGroup
	wg.Go(func() { in.Pools, errs[0] = loadPools(ctx, s) })
	wg.Go(func() { in.Reserved, errs[1] = loadReserved(ctx, s) })
	wg.Go(func() { in.Config, errs[2] = loadConfig(ctx, s) })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return Inputs{}, err
		}
	}
	return in, nil
}

// LoadPools reads every IPPool (Load without reservations and configuration: what
// utilisation needs, and all the cluster controllers may read).
func LoadPools(ctx context.Context, s store.Store) ([]ipam.Pool, error) { return loadPools(ctx, s) }

func loadPools(ctx context.Context, s store.Store) ([]ipam.Pool, error) {
	pk, err := model.Resolve("ippools")
	if err != nil {
		return nil, err
	}
	res, err := s.List(ctx, pk, store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list ippools: %w", err)
	}
	var out []ipam.Pool
	for _, obj := range res.Items {
		p, ok := obj.(*model.IPPool)
		if !ok {
			return nil, fmt.Errorf("list ippools: unexpected type %T", obj)
		}
		pool, err := PoolFromModel(p)
		if err != nil {
			return nil, err
		}
		out = append(out, pool)
	}
	return out, nil
}

func loadReserved(ctx context.Context, s store.Store) ([]netip.Prefix, error) {
	rk, err := model.Resolve("ipreservations")
	if err != nil {
		return nil, err
	}
	res, err := s.List(ctx, rk, store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list ipreservations: %w", err)
	}
	var out []netip.Prefix
	for _, obj := range res.Items {
		r, ok := obj.(*model.IPReservation)
		if !ok {
			return nil, fmt.Errorf("list ipreservations: unexpected type %T", obj)
		}
		for i, c := range r.Spec.ReservedCIDRs {
			p, err := ParseCIDROrAddr(c)
			if err != nil {
				return nil, fmt.Errorf("IPReservation %s: spec.reservedCIDRs[%d]: %w", r.Name, i, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func loadConfig(ctx context.Context, s store.Store) (ipam.Config, error) {
	ck, err := model.Resolve("ipamconfigurations")
	if err != nil {
		return ipam.Config{}, err
	}
	obj, err := s.Get(ctx, ck, "", "default")
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ipam.Config{}, nil
	case err != nil:
		return ipam.Config{}, fmt.Errorf("get ipamconfiguration default: %w", err)
	}
	c, ok := obj.(*model.IPAMConfiguration)
	if !ok {
		return ipam.Config{}, nil
	}
	return ipam.Config{StrictAffinity: c.Spec.StrictAffinity, MaxBlocksPerHost: int(c.Spec.MaxBlocksPerHost)}, nil
}

// PoolFromModel converts an IPPool.
func PoolFromModel(p *model.IPPool) (ipam.Pool, error) {
	cidr, err := netip.ParsePrefix(p.Spec.CIDR)
	if err != nil {
		return ipam.Pool{}, fmt.Errorf("IPPool %s: spec.cidr: %w", p.Name, err)
	}
	out := ipam.Pool{Name: p.Name, CIDR: cidr.Masked(), BlockSize: p.Spec.BlockSize,
		NodeSelector: p.Spec.NodeSelector, NamespaceSelector: p.Spec.NamespaceSelector, Disabled: p.Spec.Disabled}
	if p.Spec.AssignmentMode != nil && *p.Spec.AssignmentMode == model.AssignmentManual {
		out.Manual = true
	}
	for _, u := range p.Spec.AllowedUses {
		out.AllowedUses = append(out.AllowedUses, string(u))
	}
	slices.Sort(out.AllowedUses)
	return out, nil
}

// ParseCIDROrAddr accepts "192.0.2.3" as 192.0.2.3/32 as well as a CIDR.
func ParseCIDROrAddr(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

// Match evaluates a Calico selector against labels (ipam.MatchFunc); the empty selector
// matches everything.
func Match(sel string, labels map[string]string) (bool, error) {
	if strings.TrimSpace(sel) == "" {
		return true, nil
	}
	s, err := selector.Parse(sel)
	if err != nil {
		return false, err
	}
	return s.Matches(selector.Map(labels)), nil
}
