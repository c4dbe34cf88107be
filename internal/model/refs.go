package model

import (
	"fmt"
	"net/netip"
)

// Tiers that exist without being created: "default", and the tiers Calico 3.32 keeps for
// ClusterNetworkPolicy: kube-admin before the default tier, kube-baseline after it, both
// with defaultAction Pass. Their orders are fixed.
const (
	KubeAdminTierName     = "kube-admin"
	KubeAdminTierOrder    = 1_000.0
	KubeBaselineTierName  = "kube-baseline"
	KubeBaselineTierOrder = 10_000_000.0
)

// IsBuiltinTier reports whether the tier name exists without a Tier object.
func IsBuiltinTier(name string) bool {
	switch name {
	case DefaultTierName, KubeAdminTierName, KubeBaselineTierName:
		return true
	}
	return false
}

// PolicyTier is the tier a Calico policy (NetworkPolicy, GlobalNetworkPolicy and their
// staged kinds) belongs to, "default" when it names none; ok is false for other objects.
func PolicyTier(obj Object) (tier string, ok bool) {
	switch o := obj.(type) {
	case *NetworkPolicy:
		tier = o.Spec.Tier
	case *GlobalNetworkPolicy:
		tier = o.Spec.Tier
	case *StagedNetworkPolicy:
		tier = o.Spec.Tier
	case *StagedGlobalNetworkPolicy:
		tier = o.Spec.Tier
	default:
		return "", false
	}
	return defaultTier(tier), true
}

// PolicyKindsWithTier are the kinds PolicyTier answers for.
func PolicyKindsWithTier() []*Kind {
	return []*Kind{KindNetworkPolicy, KindGlobalNetworkPolicy, KindStagedNetworkPolicy, KindStagedGlobalNetworkPolicy}
}

// CIDRsOverlap reports whether two CIDRs (host bits allowed, masked first) share an
// address. An IPv4 and an IPv6 CIDR never overlap; an IPv4-mapped IPv6 CIDR is taken as
// the IPv4 CIDR it maps. It fails on a CIDR that does not parse.
func CIDRsOverlap(a, b string) (bool, error) {
	pa, err := parsePoolCIDR(a)
	if err != nil {
		return false, err
	}
	pb, err := parsePoolCIDR(b)
	if err != nil {
		return false, err
	}
	return pa.Overlaps(pb), nil
}

// SameCIDR reports whether two CIDRs name the same network once masked ("10.0.0.1/8" and
// "10.0.0.0/8" do); false when either does not parse.
func SameCIDR(a, b string) bool {
	pa, errA := parsePoolCIDR(a)
	pb, errB := parsePoolCIDR(b)
	return errA == nil && errB == nil && pa == pb
}

func parsePoolCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse CIDR %q: %w", s, err)
	}
	if a := p.Addr(); a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			bits = 0
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), nil
}
