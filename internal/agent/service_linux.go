package agent

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/trellisnet/trellis/internal/netns"
)

// KernelServiceHost returns the ServiceHost of network namespace ns ("" for the
// process's own): listeners are opened inside it and conntrack entries deleted there.
func KernelServiceHost(ns string) ServiceHost {
	in := func(fn func() error) error {
		if ns == "" {
			return fn()
		}
		return netns.Do(ns, fn)
	}
	return ServiceHost{
		Listen: func(port int) (net.Listener, error) {
			var ln net.Listener
			err := in(func() error {
				var err error
				ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("listen on health-check node port %d: %w", port, err)
			}
			return ln, nil
		},
		FlushUDP: func(eps []netip.AddrPort) (int, error) {
			var n uint
			err := in(func() error {
				h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
				if err != nil {
					return err
				}
				defer h.Close()
				f := &udpEndpointFilter{eps: map[netip.AddrPort]bool{}}
				for _, ep := range eps {
					f.eps[ep] = true
				}
				for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
					c, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, fam, f)
					n += c
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return int(n), fmt.Errorf("delete conntrack entries of %d udp endpoints: %w", len(eps), err)
			}
			return int(n), nil
		},
	}
}

// udpEndpointFilter matches UDP flows DNATed to one of eps: the reply comes from the
// endpoint while the original destination was another address (the service's).
type udpEndpointFilter struct {
	eps map[netip.AddrPort]bool
}

func (f *udpEndpointFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != unix.IPPROTO_UDP {
		return false
	}
	src, ok := netip.AddrFromSlice(flow.Reverse.SrcIP)
	if !ok {
		return false
	}
	ep := netip.AddrPortFrom(src.Unmap(), flow.Reverse.SrcPort)
	if !f.eps[ep] {
		return false
	}
	dst, _ := netip.AddrFromSlice(flow.Forward.DstIP)
	return netip.AddrPortFrom(dst.Unmap(), flow.Forward.DstPort) != ep
}
