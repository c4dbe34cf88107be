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
	var output string
	c := &cobra.Command{
		Use:   "show [--show-blocks] [--show-borrowed] [-o table|json]",
		Short: "Show utilisation per pool, and per block or borrowed addresses",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return Usagef("invalid --output %q: use table or json", output)
			}
			usage, err := ipamUsage(c.Context(), o)
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			if output == "json" {
				return writeUsageJSON(w, usage)
			}
			if borrowed && !blocks {
				return printBorrowed(w, usage)
			}
			if err := printUsage(w, usage, blocks); err != nil || !borrowed {
				return err
			}
			fmt.Fprintln(w)
			return printBorrowed(w, usage)
		},
	}
	c.Flags().BoolVar(&blocks, "show-blocks", false, "list every block with its node and utilisation")
	c.Flags().BoolVar(&borrowed, "show-borrowed", false, "list addresses used by a node other than their block's")
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json (json holds pools, blocks and borrowed addresses)")
	return c
}

func ipamUsage(ctx context.Context, o *Options) ([]ipam.PoolUsage, error) {
	st, err := o.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	in, err := ipamstore.Load(ctx, st)
	if err != nil {
		return nil, err
	}
	snap, err := ipam.New(ipamstore.New(st), ipamstore.Match).Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return ipam.Usage(snap, in.Pools), nil
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
	var report, output string
	c := &cobra.Command{
		Use:   "check [--report FILE] [-o text|json]",
		Short: "Find leaked addresses, blocks of deleted nodes and inconsistent handles",
		Long: "An address is leaked when it was allocated for a container (it carries a containerID\n" +
			"attribute) and no WorkloadEndpoint holds it for that container. A block is orphaned when\n" +
			"its node exists neither as a Calico Node nor as a Kubernetes Node. The report written\n" +
			"with --report can be fed to `trellis ipam release --from-report`.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return Usagef("invalid --output %q: use text or json", output)
			}
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
			if output == "json" {
				err = writeJSON(w, rep)
			} else {
				writeCheckReport(w, rep)
			}
			if err != nil || report == "" {
				return err
			}
			if err := writeReportFile(report, rep); err != nil {
				return err
			}
			fmt.Fprintf(c.ErrOrStderr(), "Report written to %s\n", report)
			return nil
		},
	}
	c.Flags().StringVar(&report, "report", "", "also write the report as JSON to this file (for ipam release --from-report)")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
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
