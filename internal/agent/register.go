package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// BGPAutodetect as Config.BGPIPv4Address: the address, with its prefix length, of the
// interface holding the Kubernetes Node's InternalIP, else the first global IPv4 address of
// an interface that is up and not a loopback (calico-node's IP=autodetect, first-found).
const BGPAutodetect = "autodetect"

// registerLoop writes this node's BGP address (and AS number) to its Calico Node, as
// calico-node does at start, retrying every RetryPeriod until it succeeds or ctx ends.
func (a *Agent) registerLoop(ctx context.Context) {
	for {
		err := a.register(ctx)
		if err == nil && a.routing != nil {
			// The routing loop may have listed the Node before this write, and the watch
			// that would report it may not run yet.
			a.routing.Changed(model.KindNode)
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		a.log.Warn("register node BGP address failed; will retry", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.cfg.RetryPeriod):
		}
	}
}

// register updates the Calico Node when its spec.bgp.ipv4Address (or asNumber) is not the
// configured one, compare-and-swap.
func (a *Agent) register(ctx context.Context) error {
	addr := a.cfg.BGPIPv4Address
	if addr == BGPAutodetect {
		var err error
		if addr, err = a.autodetect(ctx); err != nil {
			return err
		}
	}
	if _, err := parseBGPAddress(addr); err != nil {
		return fmt.Errorf("bgp ipv4 address %q: %w", addr, err)
	}
	for {
		obj, err := a.st.Get(ctx, model.KindNode, "", a.cfg.NodeName)
		if err != nil {
			return fmt.Errorf("read node %s: %w", a.cfg.NodeName, err)
		}
		n, ok := obj.(*model.Node)
		if !ok {
			return fmt.Errorf("read node %s: unexpected %T", a.cfg.NodeName, obj)
		}
		b := model.NodeBGPSpec{}
		if n.Spec.BGP != nil {
			b = *n.Spec.BGP
		}
		wantAS := a.cfg.ASNumber
		if b.IPv4Address == addr && (wantAS == nil || (b.ASNumber != nil && *b.ASNumber == *wantAS)) {
			return nil
		}
		b.IPv4Address = addr
		if wantAS != nil {
			as := *wantAS
			b.ASNumber = &as
		}
		n.Spec.BGP = &b
		_, err = a.st.Update(ctx, n)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("register bgp address %s of node %s: %w", addr, a.cfg.NodeName, err)
		}
		a.log.Info("node bgp address registered", "node", a.cfg.NodeName, "ipv4Address", addr, "asNumber", b.ASNumber)
		return nil
	}
}

// parseBGPAddress parses an address with prefix length (192.0.2.10/24) or without (/32).
func parseBGPAddress(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if !p.Addr().Is4() {
			return netip.Prefix{}, errors.New("not an IPv4 address")
		}
		return p, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() {
		return netip.Prefix{}, errors.New("not an IPv4 address or CIDR")
	}
	return netip.PrefixFrom(ip, 32), nil
}

// autodetect finds the node's BGP address (see BGPAutodetect).
func (a *Agent) autodetect(ctx context.Context) (string, error) {
	var internal netip.Addr
	if obj, err := a.st.Get(ctx, model.KindK8sNode, "", a.cfg.NodeName); err == nil {
		if kn, ok := obj.(*corev1.Node); ok {
			for _, ad := range kn.Status.Addresses {
				if ip, err := netip.ParseAddr(ad.Address); err == nil && ad.Type == corev1.NodeInternalIP && ip.Is4() {
					internal = ip
					break
				}
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("autodetect bgp address: read node %s: %w", a.cfg.NodeName, err)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("autodetect bgp address: %w", err)
	}
	var addrs []netip.Prefix
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, ad := range as {
			if ipn, ok := ad.(*net.IPNet); ok {
				ip, _ := netip.AddrFromSlice(ipn.IP)
				ones, _ := ipn.Mask.Size()
				addrs = append(addrs, netip.PrefixFrom(ip.Unmap(), ones))
			}
		}
	}
	if p, ok := pickBGPAddress(addrs, internal); ok {
		return p.String(), nil
	}
	return "", errors.New("autodetect bgp address: no interface has a global IPv4 address")
}

// pickBGPAddress picks the interface address equal to internal, else the first global
// unicast IPv4 address.
func pickBGPAddress(addrs []netip.Prefix, internal netip.Addr) (netip.Prefix, bool) {
	for _, p := range addrs {
		if internal.IsValid() && p.Addr() == internal {
			return p, true
		}
	}
	for _, p := range addrs {
		if p.Addr().Is4() && p.Addr().IsGlobalUnicast() {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
