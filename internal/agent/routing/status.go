package routing

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
)

// Peers reports the BGP sessions for status (nil without a speaker).
func (r *Router) Peers() []agentapi.BGPPeer {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	s := r.active
	r.mu.Unlock()
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := s.Status(ctx)
	if err != nil {
		return nil
	}
	now := time.Now()
	out := make([]agentapi.BGPPeer, 0, len(st))
	for _, p := range st {
		bp := agentapi.BGPPeer{Address: p.Address.String(), State: p.State, ASNumber: p.ASNumber,
			Uptime: p.Uptime(now).String(), Received: p.Received, Accepted: p.Accepted, Advertised: p.Advertised}
		if !p.Since.IsZero() {
			bp.Since = p.Since.UTC().Format(time.RFC3339)
		}
		out = append(out, bp)
	}
	slices.SortFunc(out, func(x, y agentapi.BGPPeer) int {
		xa, _ := netip.ParseAddr(x.Address)
		ya, _ := netip.ParseAddr(y.Address)
		return xa.Compare(ya)
	})
	return out
}
