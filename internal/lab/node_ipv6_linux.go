package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
)

// IPv6 of a dual-stack lab (lab up --ipv6), from the documentation range.
const (
	// PoolCIDR6 is the lab's IPv6 pod pool.
	PoolCIDR6  = "2001:db8:244::/48"
	PoolBlock6 = 122
	// underlayPrefix6 holds the nodes' IPv6 underlay addresses.
	underlayPrefix6 = "2001:db8:99::"
)

// underlayAddr6 is the IPv6 underlay address of the node whose IPv4 one is v4: the same
// last digits (10.99.0.12 -> 2001:db8:99::12/64).
func underlayAddr6(v4 string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(v4)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("invalid underlay address %q", v4)
	}
	return netip.ParsePrefix(fmt.Sprintf("%s%d/64", underlayPrefix6, p.Addr().As4()[3]))
}

// addUnderlay6 gives the node's eth0 its IPv6 underlay address (no duplicate address
// detection: the fabric is ours, and BGP must be able to bind it at once).
func addUnderlay6(n NodeState) error {
	a6, err := underlayAddr6(n.Address)
	if err != nil {
		return err
	}
	return netns.Do(n.Namespace, func() error {
		l, err := netlink.LinkByName(underlayName)
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", underlayName, n.Namespace, err)
		}
		ipn := &net.IPNet{IP: a6.Addr().AsSlice(), Mask: net.CIDRMask(a6.Bits(), 128)}
		err = netlink.AddrAdd(l, &netlink.Addr{IPNet: ipn, Flags: unix.IFA_F_NODAD})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add address %s to %s in %s: %w", a6, underlayName, n.Namespace, err)
		}
		return nil
	})
}

// seedIPv6 makes a lab dual-stack: every node gets its IPv6 underlay address (in its
// namespace and as spec.bgp.ipv6Address of its Node) and the IPv6 pool is created.
func seedIPv6(ctx context.Context, labName string, nodes []NodeState) error {
	s, err := OpenStore(labName)
	if err != nil {
		return err
	}
	defer s.Close()
	pool := &model.IPPool{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"},
		ObjectMeta: metav1.ObjectMeta{Name: "default-ipv6-ippool"},
		Spec: model.IPPoolSpec{CIDR: PoolCIDR6, BlockSize: PoolBlock6, VXLANMode: model.EncapNever,
			IPIPMode: model.EncapNever, NodeSelector: "all()"}}
	model.SetDefaults(pool)
	if _, err := s.Create(ctx, pool); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("seed lab datastore: create IPPool %s: %w", pool.Name, err)
	}
	for _, n := range nodes {
		if err := setNodeIPv6(ctx, s, n); err != nil {
			return err
		}
	}
	return nil
}

// setNodeIPv6 adds the IPv6 underlay address to the node's namespace and Node resource.
func setNodeIPv6(ctx context.Context, s store.Store, n NodeState) error {
	if err := addUnderlay6(n); err != nil {
		return err
	}
	a6, _ := underlayAddr6(n.Address)
	k := model.KindNode
	for range 5 {
		obj, err := s.Get(ctx, k, "", n.Name)
		if err != nil {
			return fmt.Errorf("set IPv6 address of node %s: %w", n.Name, err)
		}
		node, ok := obj.(*model.Node)
		if !ok {
			return fmt.Errorf("set IPv6 address of node %s: unexpected %T", n.Name, obj)
		}
		if node.Spec.BGP == nil {
			node.Spec.BGP = &model.NodeBGPSpec{}
		}
		if node.Spec.BGP.IPv6Address == a6.String() {
			return nil
		}
		node.Spec.BGP.IPv6Address = a6.String()
		node.Spec.Addresses = append(node.Spec.Addresses, model.NodeAddress{Address: a6.Addr().String(), Type: "InternalIP"})
		if _, err := s.Update(ctx, node); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("set IPv6 address of node %s: %w", n.Name, err)
		}
	}
	return fmt.Errorf("set IPv6 address of node %s: %w", n.Name, store.ErrConflict)
}
