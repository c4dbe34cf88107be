package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sync"

	"github.com/ti-mo/conntrack"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/flow/collect"
	"github.com/trellisnet/trellis/internal/flow/nflog"
	"github.com/trellisnet/trellis/internal/netns"
)

// inNamespace runs fn in network namespace ns ("" for the process's own).
func inNamespace(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	return netns.Do(ns, fn)
}

// KernelDataplane opens the inet table in the network namespace ns ("" for the calling
// process's own) with the real nft, after checking that nft is 1.0.1 or newer (the error
// names the fix). Rule counters are read with `nft --json list table` in the same namespace.
func KernelDataplane(ctx context.Context, ns, table string) (Dataplane, error) {
	var dp Dataplane
	var err error
	if ns == "" {
		dp.NFT, err = nft.NewKernel(ctx, table)
	} else {
		dp.NFT, err = nft.NewKernelIn(ctx, ns, table)
	}
	if err != nil {
		return Dataplane{}, err
	}
	dp.Counters = NFTCounters(ns, table)
	dp.Monitor = NFTMonitor(ns, table)
	dp.Generation = NFTGeneration(ns)
	dp.Services = KernelServiceHost(ns)
	dp.FlowLog = func(group uint16) (FlowReader, error) {
		var r *nflog.Reader
		err := inNamespace(ns, func() error {
			var err error
			r, err = nflog.Open(nflog.Config{Group: group})
			return err
		})
		return r, err
	}
	dp.FlowCounters = conntrackCounters(ns)
	return dp, nil
}

// NFTCounters returns a CounterReader for the inet table in namespace ns ("" for the
// process's own).
func NFTCounters(ns, table string) CounterReader {
	return func(ctx context.Context) ([]RuleCounter, error) {
		var out []byte
		run := func() error {
			var err error
			out, err = exec.CommandContext(ctx, "nft", "--json", "--terse", "list", "table", "inet", table).Output()
			return err
		}
		var err error
		if ns == "" {
			err = run()
		} else {
			err = netns.Do(ns, run)
		}
		if err != nil {
			return nil, fmt.Errorf("list counters of nftables table inet %s: %w", table, err)
		}
		return parseCounters(out)
	}
}

// parseCounters extracts the rules' comments and counters from `nft --json --terse list
// table` (terse: without set elements, which can be many).
func parseCounters(data []byte) ([]RuleCounter, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse nft json: %w", err)
	}
	var out []RuleCounter
	for _, obj := range doc.Nftables {
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var rule struct {
			Comment string                       `json:"comment"`
			Expr    []map[string]json.RawMessage `json:"expr"`
		}
		if err := json.Unmarshal(raw, &rule); err != nil {
			return nil, fmt.Errorf("parse nft json rule: %w", err)
		}
		if rule.Comment == "" {
			continue
		}
		for _, e := range rule.Expr {
			c, ok := e["counter"]
			if !ok {
				continue
			}
			var v struct{ Packets, Bytes uint64 }
			if err := json.Unmarshal(c, &v); err != nil {
				continue // a named counter reference, not an inline counter
			}
			out = append(out, RuleCounter{Comment: trimQuotes(rule.Comment), Packets: v.Packets, Bytes: v.Bytes})
		}
	}
	return out, nil
}

// conntrackCounters returns a dump of the conntrack table of namespace ns ("" for the
// process's own) with both directions' counters summed. The first call turns on
// conntrack accounting (nf_conntrack_acct) in that namespace, as flow logs need it:
// connections tracked before count from then on.
func conntrackCounters(ns string) func() ([]collect.ConnCounters, error) {
	var mu sync.Mutex
	var conn *conntrack.Conn
	return func() ([]collect.ConnCounters, error) {
		mu.Lock()
		defer mu.Unlock()
		if conn == nil {
			err := inNamespace(ns, func() error {
				if err := os.WriteFile("/proc/sys/net/netfilter/nf_conntrack_acct", []byte("1"), 0o644); err != nil {
					return fmt.Errorf("turn on conntrack accounting: %w", err)
				}
				c, err := conntrack.Dial(nil)
				if err != nil {
					return fmt.Errorf("open conntrack socket: %w", err)
				}
				conn = c
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		flows, err := conn.Dump(nil)
		if err != nil {
			conn.Close()
			conn = nil
			return nil, fmt.Errorf("dump conntrack: %w", err)
		}
		out := make([]collect.ConnCounters, 0, len(flows))
		for _, f := range flows {
			// The filter hooks saw the original source (SNAT comes after them) and the
			// translated destination: the reply's source.
			o, r := f.TupleOrig, f.TupleReply
			out = append(out, collect.ConnCounters{Src: o.IP.SourceAddress, Dst: r.IP.SourceAddress,
				Proto: nflog.ProtoName(o.Proto.Protocol), SrcPort: o.Proto.SourcePort, DstPort: r.Proto.SourcePort,
				Packets: f.CountersOrig.Packets + f.CountersReply.Packets, Bytes: f.CountersOrig.Bytes + f.CountersReply.Bytes,
				OrigDst: netip.AddrPortFrom(o.IP.DestinationAddress, o.Proto.DestinationPort)})
		}
		return out, nil
	}
}
