package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/trellisnet/trellis/internal/ipam"
)

// usageJSON is `ipam show -o json`.
type usageJSON struct {
	Pools []poolJSON `json:"pools"`
}

type poolJSON struct {
	Name   string      `json:"name,omitempty"` // empty: blocks outside every pool
	CIDR   string      `json:"cidr,omitempty"`
	InUse  int         `json:"inUse"`
	Size   string      `json:"size,omitempty"` // a decimal: IPv6 pools exceed 64 bits
	Blocks []blockJSON `json:"blocks"`
}

type blockJSON struct {
	CIDR     string         `json:"cidr"`
	Node     string         `json:"node,omitempty"`
	InUse    int            `json:"inUse"`
	Size     int            `json:"size"`
	Borrowed []borrowedJSON `json:"borrowed,omitempty"`
}

type borrowedJSON struct {
	IP     string `json:"ip"`
	Node   string `json:"node"`
	Handle string `json:"handle"`
}

func writeUsageJSON(w io.Writer, usage []ipam.PoolUsage) error {
	out := usageJSON{Pools: []poolJSON{}}
	for _, pu := range usage {
		p := poolJSON{Name: pu.Pool.Name, InUse: pu.InUse, Blocks: []blockJSON{}}
		if pu.Pool.Name != "" {
			p.CIDR, p.Size = pu.Pool.CIDR.String(), pu.Size.String()
		}
		for _, b := range pu.Blocks {
			bj := blockJSON{CIDR: b.CIDR.String(), Node: b.Affinity, InUse: b.InUse, Size: b.Size}
			for _, al := range b.Borrowed {
				bj.Borrowed = append(bj.Borrowed, borrowedJSON{IP: al.Addr.String(), Node: al.Attrs[ipam.AttrNode], Handle: al.Handle})
			}
			p.Blocks = append(p.Blocks, bj)
		}
		out.Pools = append(out.Pools, p)
	}
	return writeJSON(w, out)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeCheckReport(w io.Writer, rep ipam.Report) {
	fmt.Fprintf(w, "Leaked addresses: %d\n", len(rep.Leaked))
	for _, al := range rep.Leaked {
		fmt.Fprintf(w, "  %s handle=%s namespace=%s pod=%s node=%s\n", al.Addr, al.Handle,
			al.Attrs[ipam.AttrNamespace], al.Attrs[ipam.AttrPod], al.Attrs[ipam.AttrNode])
	}
	fmt.Fprintf(w, "Blocks of missing nodes: %d\n", len(rep.OrphanBlocks))
	for _, b := range rep.OrphanBlocks {
		fmt.Fprintf(w, "  %s node=%s in-use=%d\n", b.CIDR, b.Node, b.InUse)
	}
	fmt.Fprintf(w, "Handles without allocations: %d\n", len(rep.DanglingHandles))
	for _, h := range rep.DanglingHandles {
		fmt.Fprintf(w, "  %s\n", h)
	}
	fmt.Fprintf(w, "Allocations without handle record: %d\n", len(rep.MissingHandles))
	for _, h := range rep.MissingHandles {
		fmt.Fprintf(w, "  %s\n", h)
	}
}

func writeReportFile(path string, rep ipam.Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
