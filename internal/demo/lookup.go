package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"time"
)

// Lookup resolves name with the resolver of the namespace it runs in (a pod's
// /etc/resolv.conf: the cluster DNS and its search domains) and writes its addresses to w,
// one a line, sorted: a pod's stand-in for dig, which the image lacks.
func Lookup(ctx context.Context, name string, timeout time.Duration, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return fmt.Errorf("lookup %s: %w", name, err)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, a := range slices.Compact(addrs) {
		if _, err := fmt.Fprintln(w, a); err != nil {
			return err
		}
	}
	return nil
}
