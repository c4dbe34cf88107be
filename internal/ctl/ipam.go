package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/store"
)

// NewIPAMCmd returns `trellis ipam show|check|release`.
func NewIPAMCmd(o *Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "ipam",
		Short: "Inspect and repair IP address management",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newIPAMShowCmd(o), newIPAMCheckCmd(o), newIPAMReleaseCmd(o))
	return c
}

func newIPAMShowCmd(o *Options) *cobra.Command {
	var blocks, borrowed bool
	c := &cobra.Command{
		Use:   "show [--show-blocks] [--show-borrowed]",
		Short: "Show utilisation per pool, and per block or borrowed addresses",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			st, err := o.OpenStore(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			in, err := ipamstore.Load(c.Context(), st)
			if err != nil {
				return err
			}
			snap, err := ipam.New(ipamstore.New(st), ipamstore.Match).Snapshot(c.Context())
			if err != nil {
				return err
			}
			usage := ipam.Usage(snap, in.Pools)
			if borrowed {
				return printBorrowed(c.OutOrStdout(), usage)
			}
			return printUsage(c.OutOrStdout(), usage, blocks)
		},
	}
	c.Flags().BoolVar(&blocks, "show-blocks", false, "list every block with its node and utilisation")
	c.Flags().BoolVar(&borrowed, "show-borrowed", false, "list addresses used by a node other than their block's")
	return c
}

func percent(used int, size *big.Int) string {
	if size.Sign() == 0 {
		return "-"
	}
	f, _ := new(big.Rat).SetFrac(big.NewInt(int64(used)*100), size).Float64()
	return fmt.Sprintf("%.1f%%", f)
}

func printUsage(w io.Writer, usage []ipam.PoolUsage, blocks bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "GROUPING\tCIDR\tNODE\tIPS IN USE\tIPS TOTAL\tUSE")
	for _, pu := range usage {
		name, cidr := "IP Pool", pu.Pool.CIDR.String()
		if pu.Pool.Name == "" {
			name, cidr = "No pool", "-"
		}
		total := pu.Size.String()
		if pu.Pool.Name == "" {
			total = "-"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t\t%d\t%s\t%s\n", name, pu.Pool.Name, cidr, pu.InUse, total, percent(pu.InUse, pu.Size))
		if !blocks {
			continue
		}
		for _, b := range pu.Blocks {
			node := b.Affinity
			if node == "" {
				node = "(none)"
			}
			fmt.Fprintf(tw, "  Block\t%s\t%s\t%d\t%d\t%s\n", b.CIDR, node, b.InUse, b.Size, percent(b.InUse, big.NewInt(int64(b.Size))))
		}
	}
	return tw.Flush()
}

func printBorrowed(w io.Writer, usage []ipam.PoolUsage) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "IP\tBORROWING-NODE\tBLOCK\tBLOCK OWNER\tHANDLE")
	for _, pu := range usage {
		for _, b := range pu.Blocks {
			for _, al := range b.Borrowed {
				owner := b.Affinity
				if owner == "" {
					owner = "(none)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", al.Addr, al.Attrs[ipam.AttrNode], b.CIDR, owner, al.Handle)
			}
		}
	}
	return tw.Flush()
}

func newIPAMCheckCmd(o *Options) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "check [-o report.json]",
		Short: "Find leaked addresses, blocks of deleted nodes and inconsistent handles",
		Long: "An address is leaked when it was allocated for a container (it carries a containerID\n" +
			"attribute) and no WorkloadEndpoint holds it for that container. A block is orphaned when\n" +
			"its node exists neither as a Calico Node nor as a Kubernetes Node. The report written\n" +
			"with -o can be fed to `trellis ipam release --from-report`.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			st, err := o.OpenStore(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			rep, err := ipamCheck(c.Context(), st)
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
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
			if out != "" {
				data, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return fmt.Errorf("encode report: %w", err)
				}
				if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
					return fmt.Errorf("write report: %w", err)
				}
				fmt.Fprintf(w, "Report written to %s\n", out)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write the report as JSON to this file")
	return c
}

// ipamCheck reads the store and runs ipam.Check.
func ipamCheck(ctx context.Context, st store.Store) (ipam.Report, error) {
	return ipamstore.Check(ctx, st)
}

func newIPAMReleaseCmd(o *Options) *cobra.Command {
	var ip, report string
	c := &cobra.Command{
		Use:   "release --ip IP | --from-report FILE",
		Short: "Release an address, or everything a check report found",
		Long: "--ip frees one address whoever holds it. --from-report frees what `trellis ipam check -o`\n" +
			"found: each leaked address only if it still has the handle and sequence number it had\n" +
			"when the report was written (an address freed and reused since is left alone), each\n" +
			"handle without allocations, and the affinity of each block whose node is gone (an\n" +
			"empty block is deleted, a used one kept without affinity).",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if (ip == "") == (report == "") {
				return Usagef("exactly one of --ip and --from-report is required")
			}
			var rep ipam.Report
			var addr netip.Addr
			if ip != "" {
				a, err := netip.ParseAddr(ip)
				if err != nil {
					return Usagef("--ip %q: %v", ip, err)
				}
				addr = a
			} else {
				data, err := os.ReadFile(report)
				if err != nil {
					return fmt.Errorf("read report: %w", err)
				}
				if err := json.Unmarshal(data, &rep); err != nil {
					return fmt.Errorf("decode report %s: %w", report, err)
				}
			}
			st, err := o.OpenStore(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			a := ipam.New(ipamstore.New(st), ipamstore.Match)
			if ip != "" {
				out, err := a.Release(c.Context(), []ipam.ReleaseRequest{{Addr: addr}})
				if err != nil {
					return err
				}
				if out[0].Status != ipam.StatusReleased {
					return fmt.Errorf("release %s: %s", addr, out[0].Status)
				}
				fmt.Fprintf(c.OutOrStdout(), "Released %s (handle %s)\n", addr, out[0].Handle)
				return nil
			}
			return releaseReport(c.Context(), c.OutOrStdout(), a, rep)
		},
	}
	c.Flags().StringVar(&ip, "ip", "", "address to release")
	c.Flags().StringVar(&report, "from-report", "", "report written by `trellis ipam check -o`")
	return c
}

func releaseReport(ctx context.Context, w io.Writer, a *ipam.Allocator, rep ipam.Report) error {
	reqs := make([]ipam.ReleaseRequest, len(rep.Leaked))
	for i, al := range rep.Leaked {
		seq := al.Sequence
		reqs[i] = ipam.ReleaseRequest{Addr: al.Addr, Handle: al.Handle, Sequence: &seq}
	}
	out, err := a.Release(ctx, reqs)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range out {
		if r.Status == ipam.StatusReleased {
			n++
		} else {
			fmt.Fprintf(w, "Skipped %s: %s\n", r.Addr, r.Status)
		}
	}
	fmt.Fprintf(w, "Released %d of %d leaked addresses\n", n, len(rep.Leaked))
	nh := 0
	for _, h := range rep.DanglingHandles {
		ok, err := a.DeleteHandleIfUnused(ctx, h)
		if err != nil {
			return err
		}
		if ok {
			nh++
		}
	}
	fmt.Fprintf(w, "Deleted %d of %d handles without allocations\n", nh, len(rep.DanglingHandles))
	for _, b := range rep.OrphanBlocks {
		if err := a.ReleaseAffinity(ctx, b.Node, b.CIDR); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "Released the affinity of %d blocks of missing nodes\n", len(rep.OrphanBlocks))
	return nil
}
