package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/trellisnet/trellis/internal/netns"
)

// ErrNoExternal is returned for an external host the lab does not have.
var ErrNoExternal = errors.New("no such external host")

// updateState runs fn on the lab's state under an exclusive lock on state.lock and
// saves the state when fn succeeds: node and external changes from concurrent commands
// do not lose each other's records.
func updateState(name string, fn func(*State) error) error {
	if err := os.MkdirAll(Dir(name), 0o755); err != nil {
		return fmt.Errorf("lock lab %s state: %w", name, err)
	}
	f, err := os.OpenFile(filepath.Join(Dir(name), "state.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock lab %s state: %w", name, err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock lab %s state: %w", name, err)
	}
	defer func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN) }()
	st, err := LoadState(name)
	if err != nil {
		return fmt.Errorf("lab %s is not up: %w", name, err)
	}
	if err := fn(st); err != nil {
		return err
	}
	return saveState(st)
}

// fabricUsed is the set of fabric addresses taken by the gateway, nodes and externals.
func fabricUsed(st *State) map[netip.Addr]bool {
	used := map[netip.Addr]bool{gatewayAddr().Addr(): true}
	for _, n := range st.Nodes {
		if p, err := netip.ParsePrefix(n.Address); err == nil {
			used[p.Addr()] = true
		}
	}
	for _, e := range st.Externals {
		used[e.Addr()] = true
	}
	return used
}

// nextExternalAddr is the highest free fabric address (externals count down from .254,
// nodes up from .11).
func nextExternalAddr(st *State) (netip.Prefix, error) {
	used := fabricUsed(st)
	base := netip.MustParsePrefix(UnderlayCIDR).Addr().As4()
	for last := 254; last >= 2; last-- {
		base[3] = byte(last)
		a := netip.AddrFrom4(base)
		if !used[a] {
			return netip.PrefixFrom(a, 24), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free address on the fabric %s", UnderlayCIDR)
}

// External returns the named external host.
func (s *State) External(host string) (External, bool) {
	for _, e := range s.Externals {
		if e.Name == host {
			return e, true
		}
	}
	return External{}, false
}

// AddExternal attaches a host outside the cluster to the lab's fabric: namespace
// trl-LAB-HOST with eth0 at the next free fabric address, recorded in state.json so that
// `lab down` removes it. Adding an existing host returns it unchanged.
func AddExternal(ctx context.Context, labName, host string) (External, error) {
	if err := ValidateName(labName); err != nil {
		return External{}, err
	}
	if err := ValidateHost(host); err != nil {
		return External{}, err
	}
	if err := checkRoot("lab external add"); err != nil {
		return External{}, err
	}
	var ext External
	err := updateState(labName, func(st *State) error {
		if e, ok := st.External(host); ok && netns.Exists(e.Namespace) {
			ext = e
			return nil
		}
		if _, ok := st.Node(host); ok {
			return fmt.Errorf("add external %s to lab %s: a node has that name", host, labName)
		}
		st.Externals = slices.DeleteFunc(st.Externals, func(e External) bool { return e.Name == host })
		addr, err := nextExternalAddr(st)
		if err != nil {
			return fmt.Errorf("add external %s to lab %s: %w", host, labName, err)
		}
		ext = External{Name: host, Namespace: NodeNS(labName, host), Address: addr.String()}
		if err := attachExternal(labName, ext.Namespace, "x"+host, addr); err != nil {
			_ = netns.Delete(ext.Namespace)
			return fmt.Errorf("add external %s to lab %s: %w", host, labName, err)
		}
		if st.IPv6 {
			a6, err := underlayAddr6(ext.Address)
			if err == nil {
				err = addUnderlay6(NodeState{Name: host, Namespace: ext.Namespace, Address: ext.Address})
			}
			if err != nil {
				_ = netns.Delete(ext.Namespace)
				return fmt.Errorf("add external %s to lab %s: %w", host, labName, err)
			}
			ext.Address6 = a6.String()
		}
		st.Externals = append(st.Externals, ext)
		return nil
	})
	return ext, err
}

// RemoveExternal stops the external's router, if any, and deletes its namespace and
// record. Removing a host that is not there is not an error.
func RemoveExternal(ctx context.Context, labName, host string) error {
	if err := ValidateName(labName); err != nil {
		return err
	}
	if err := checkRoot("lab external remove"); err != nil {
		return err
	}
	return updateState(labName, func(st *State) error {
		e, ok := st.External(host)
		if !ok {
			e = External{Name: host, Namespace: NodeNS(labName, host)}
			if _, isNode := st.Node(host); isNode || ValidateHost(host) != nil {
				return nil
			}
		}
		if e.Router != nil {
			stopRouter(labName, e)
		}
		if err := removeHostNS(labName, e.Namespace, "x"+host); err != nil {
			return fmt.Errorf("remove external %s from lab %s: %w", host, labName, err)
		}
		st.Externals = slices.DeleteFunc(st.Externals, func(x External) bool { return x.Name == host })
		return nil
	})
}

// Externals lists the lab's external hosts.
func Externals(labName string) ([]External, error) {
	if err := ValidateName(labName); err != nil {
		return nil, err
	}
	st, err := LoadState(labName)
	if err != nil {
		return nil, fmt.Errorf("lab %s is not up: %w", labName, err)
	}
	return st.Externals, nil
}

// removeHostNS kills what runs in a lab host's namespace and deletes it (its veth goes
// with it), then removes a fabric port left behind.
func removeHostNS(labName, ns, fabSide string) error {
	if netns.Exists(ns) {
		if pids := nsPIDs(ns); len(pids) > 0 {
			killPIDs(pids, 3*time.Second)
		}
		if err := netns.Delete(ns); err != nil {
			return err
		}
	}
	return netns.Do(FabricNS(labName), func() error {
		if l, err := netlink.LinkByName(fabSide); err == nil {
			// Deleting the namespace removes the pair asynchronously: gone is fine.
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				return fmt.Errorf("delete fabric port %s: %w", fabSide, err)
			}
		}
		return nil
	})
}

// attachExternal creates namespace ns with eth0 at addr joined to the fabric bridge by a
// veth whose fabric side is fabSide. The namespace does not forward and gets no default
// route: nothing it sends can leave the fabric.
func attachExternal(labName, ns, fabSide string, addr netip.Prefix) error {
	if err := netns.Create(ns); err != nil {
		return err
	}
	// A port left behind by an earlier, interrupted attach would block the new veth.
	err := netns.Do(FabricNS(labName), func() error {
		if l, err := netlink.LinkByName(fabSide); err == nil {
			_ = netlink.LinkDel(l)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := wireUnderlay(labName, ns, fabSide, "t"+fabSide[1:], addr); err != nil {
		return err
	}
	return netns.Do(ns, func() error {
		return writeSysctl("/proc/sys/net/ipv4/ip_forward", "0")
	})
}

// ExternalExec runs argv inside the external host's namespace ("trellis" is binary) and
// returns its exit code.
func ExternalExec(ctx context.Context, labName, host string, argv []string, stdin io.Reader, stdout, stderr io.Writer, binary string) (int, error) {
	st, err := LoadState(labName)
	if err != nil {
		return 0, fmt.Errorf("lab %s is not up: %w", labName, err)
	}
	e, ok := st.External(host)
	if !ok {
		return 0, fmt.Errorf("exec in external %s of lab %s: %w", host, labName, ErrNoExternal)
	}
	bin := argv[0]
	if bin == "trellis" && binary != "" {
		bin = binary
	}
	return execIn(ctx, e.Namespace, "external "+host, host, append([]string{bin}, argv[1:]...), stdin, stdout, stderr)
}

// execIn runs argv started inside namespace ns with HOSTNAME=hostname and the given
// standard streams, waits for it and returns its exit code; a failure to start or wait
// is an error naming argv[0] and where ("pod default/web", "external ext").
func execIn(ctx context.Context, ns, where, hostname string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Env = append(os.Environ(), "HOSTNAME="+hostname)
	if err := netns.Do(ns, cmd.Start); err != nil {
		return 0, fmt.Errorf("exec %s in %s: %w", argv[0], where, err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("exec %s in %s: %w", argv[0], where, err)
	}
	return 0, nil
}
