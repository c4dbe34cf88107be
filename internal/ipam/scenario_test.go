package ipam

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the current output")

// TestScenarios runs the datadriven files in testdata: each case is a command line, a
// "----" line and the expected output, ended by a blank line. Run with -update to rewrite
// the expected outputs.
//
// Commands: pool NAME CIDR [block=N] [selector=S] [nsselector=S] [disabled] [manual];
// config [strict] [max=N]; reserve CIDR...; label node|ns k=v...;
// assign NODE HANDLE [v4=N] [v6=N] [pools4=a,b] [pools6=a,b];
// assign-ip NODE HANDLE ADDR; release ADDR [handle=H] [seq=N]; release-handle HANDLE;
// release-affinity NODE CIDR; show; check [live=h1,h2] [nodes=a,b].
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runScenario(t, f) })
	}
}

type scenario struct {
	a        *Allocator
	pools    []Pool
	cfg      Config
	reserved []netip.Prefix
	nodeLbl  map[string]string
	nsLbl    map[string]string
}

func runScenario(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{a: New(NewMemStore(), eqMatch), nodeLbl: map[string]string{}, nsLbl: map[string]string{}}
	var out strings.Builder
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		cmd := line
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command %q not followed by ----", path, i+1, cmd)
		}
		i += 2
		var want []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		got := s.run(cmd)
		out.WriteString(cmd + "\n----\n" + got)
		if i < len(lines) {
			out.WriteString("\n")
		}
		if !*update && strings.TrimRight(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", path, cmd, got, strings.Join(want, "\n"))
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func kv(args []string) (map[string]string, []string) {
	m := map[string]string{}
	var pos []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			m[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	return m, pos
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (s *scenario) run(line string) string {
	ctx := context.Background()
	f := strings.Fields(line)
	opts, pos := kv(f[1:])
	switch f[0] {
	case "pool":
		p := Pool{Name: pos[0], CIDR: netip.MustParsePrefix(pos[1]), NodeSelector: strings.ReplaceAll(opts["selector"], "_", " "),
			NamespaceSelector: strings.ReplaceAll(opts["nsselector"], "_", " "),
			Disabled:          slices.Contains(pos, "disabled"), Manual: slices.Contains(pos, "manual")}
		p.BlockSize, _ = strconv.Atoi(opts["block"])
		s.pools = append(s.pools, p)
		return "ok\n"
	case "config":
		s.cfg.StrictAffinity = slices.Contains(pos, "strict")
		s.cfg.MaxBlocksPerHost, _ = strconv.Atoi(opts["max"])
		return "ok\n"
	case "reserve":
		for _, c := range pos {
			s.reserved = append(s.reserved, netip.MustParsePrefix(c))
		}
		return "ok\n"
	case "label":
		target := s.nodeLbl
		if pos[0] == "ns" {
			target = s.nsLbl
		}
		for k, v := range opts {
			target[k] = v
		}
		return "ok\n"
	case "assign":
		n4, _ := strconv.Atoi(opts["v4"])
		n6, _ := strconv.Atoi(opts["v6"])
		r, err := s.a.AutoAssign(ctx, AssignArgs{Node: pos[0], Handle: pos[1], Num4: n4, Num6: n6, Pools: s.pools,
			IPv4Pools: splitList(opts["pools4"]), IPv6Pools: splitList(opts["pools6"]), Reserved: s.reserved, Config: s.cfg,
			NodeLabels: s.nodeLbl, NamespaceLabels: s.nsLbl, Attrs: map[string]string{AttrNode: pos[0]}})
		if err != nil {
			return "error: " + errorClass(err) + "\n"
		}
		var b strings.Builder
		for _, al := range append(r.IPv4, r.IPv6...) {
			fmt.Fprintf(&b, "%s block=%s seq=%d\n", al.Addr, al.Block, al.Sequence)
		}
		return b.String()
	case "assign-ip":
		al, err := s.a.AssignIP(ctx, AssignIPArgs{Addr: netip.MustParseAddr(pos[2]), Node: pos[0], Handle: pos[1], Pools: s.pools,
			Attrs: map[string]string{AttrNode: pos[0]}})
		if err != nil {
			return "error: " + errorClass(err) + "\n"
		}
		return fmt.Sprintf("%s block=%s seq=%d\n", al.Addr, al.Block, al.Sequence)
	case "release":
		r := ReleaseRequest{Addr: netip.MustParseAddr(pos[0]), Handle: opts["handle"]}
		if v, ok := opts["seq"]; ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			r.Sequence = &n
		}
		out, err := s.a.Release(ctx, []ReleaseRequest{r})
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		return string(out[0].Status) + "\n"
	case "release-handle":
		freed, err := s.a.ReleaseByHandle(ctx, pos[0])
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		return fmt.Sprintf("freed %v\n", freed)
	case "release-affinity":
		if err := s.a.ReleaseAffinity(ctx, pos[0], netip.MustParsePrefix(pos[1])); err != nil {
			return "error: " + err.Error() + "\n"
		}
		return "ok\n"
	case "show":
		return s.show()
	case "check":
		live := splitList(opts["live"])
		nodes := splitList(opts["nodes"])
		snap, _ := s.a.Snapshot(ctx)
		r := Check(snap, func(al Allocation) bool { return slices.Contains(live, al.Handle) }, func(n string) bool { return slices.Contains(nodes, n) })
		var b strings.Builder
		for _, al := range r.Leaked {
			fmt.Fprintf(&b, "leaked %s handle=%s seq=%d\n", al.Addr, al.Handle, al.Sequence)
		}
		for _, o := range r.OrphanBlocks {
			fmt.Fprintf(&b, "orphan block %s node=%s in-use=%d\n", o.CIDR, o.Node, o.InUse)
		}
		for _, h := range r.DanglingHandles {
			fmt.Fprintf(&b, "dangling handle %s\n", h)
		}
		for _, h := range r.MissingHandles {
			fmt.Fprintf(&b, "missing handle %s\n", h)
		}
		if b.Len() == 0 {
			return "clean\n"
		}
		return b.String()
	}
	return "unknown command " + f[0] + "\n"
}

func errorClass(err error) string {
	for _, e := range []error{ErrExhausted, ErrNoPool, ErrInUse, ErrRetries} {
		if strings.Contains(err.Error(), e.Error()) {
			return e.Error()
		}
	}
	return err.Error()
}

// show prints blocks (address order), affinities and handles canonically.
func (s *scenario) show() string {
	snap, _ := s.a.Snapshot(context.Background())
	var b strings.Builder
	for _, blk := range snap.Blocks {
		aff := blk.Affinity
		if aff == "" {
			aff = "-"
		}
		fmt.Fprintf(&b, "block %s affinity=%s used=%d/%d next-seq=%d\n", blk.CIDR, aff, blk.InUse(), len(blk.Allocations), blk.Sequence)
		for _, al := range blk.Allocated() {
			fmt.Fprintf(&b, "  %s handle=%s seq=%d\n", al.Addr, al.Handle, al.Sequence)
		}
	}
	for _, af := range snap.Affinities {
		fmt.Fprintf(&b, "affinity %s %s %s\n", af.Node, af.CIDR, af.State)
	}
	for _, h := range snap.Handles {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(h.Blocks)) {
			parts = append(parts, fmt.Sprintf("%s:%d", k, h.Blocks[k]))
		}
		fmt.Fprintf(&b, "handle %s %s\n", h.Name, strings.Join(parts, " "))
	}
	return b.String()
}
