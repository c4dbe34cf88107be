package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/trellisnet/trellis/internal/netns"
)

// BirdPath and BirdcPath are Debian's bird2 binaries.
const (
	BirdPath  = "/usr/sbin/bird"
	BirdcPath = "/usr/sbin/birdc"
)

func routerDir(labName, host string) string { return filepath.Join(Dir(labName), "router-"+host) }

// routerPeers resolves the nodes BIRD peers with.
func routerPeers(st *State, rc RouterConfig) ([]birdPeer, error) {
	var out []birdPeer
	for _, n := range st.Nodes {
		if len(rc.Peers) > 0 && !slices.Contains(rc.Peers, n.Name) {
			continue
		}
		p, err := netip.ParsePrefix(n.Address)
		if err != nil {
			return nil, fmt.Errorf("node %s: invalid address %q", n.Name, n.Address)
		}
		bp := birdPeer{Name: n.Name, Addr: p.Addr()}
		if st.IPv6 {
			if a6, err := underlayAddr6(n.Address); err == nil {
				bp.Addr6 = a6.Addr()
			}
		}
		out = append(out, bp)
	}
	for _, want := range rc.Peers {
		if _, ok := st.Node(want); !ok {
			return nil, fmt.Errorf("peer %s: no such node in lab %s", want, st.Name)
		}
	}
	return out, nil
}

// AddRouter adds the external host if needed and runs BIRD in it, configured by rc; its
// configuration, control socket and log are in the lab's state directory. A router that
// already runs is reconfigured.
func AddRouter(ctx context.Context, labName, host string, rc RouterConfig) (External, error) {
	if rc.ASN == 0 {
		return External{}, fmt.Errorf("add router %s to lab %s: an AS number is required", host, labName)
	}
	if _, err := os.Stat(BirdPath); err != nil {
		return External{}, fmt.Errorf("add router %s: BIRD 2 is required at %s: apt-get install bird2", host, BirdPath)
	}
	if _, err := AddExternal(ctx, labName, host); err != nil {
		return External{}, err
	}
	var ext External
	err := updateState(labName, func(st *State) error {
		i := slices.IndexFunc(st.Externals, func(e External) bool { return e.Name == host })
		if i < 0 {
			return fmt.Errorf("add router %s to lab %s: %w", host, labName, ErrNoExternal)
		}
		e := &st.Externals[i]
		rs, err := startRouter(ctx, st, *e, rc)
		if err != nil {
			return fmt.Errorf("add router %s to lab %s: %w", host, labName, err)
		}
		e.Router = rs
		ext = *e
		return nil
	})
	return ext, err
}

// startRouter writes BIRD's configuration and starts it, or makes a running BIRD reload
// it; it waits until BIRD answers on its control socket.
func startRouter(ctx context.Context, st *State, e External, rc RouterConfig) (*RouterState, error) {
	peers, err := routerPeers(st, rc)
	if err != nil {
		return nil, err
	}
	dir := routerDir(st.Name, e.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	rs := &RouterState{Socket: filepath.Join(dir, "bird.ctl"), Config: filepath.Join(dir, "bird.conf"),
		Log: filepath.Join(logDir(st.Name), "router-"+e.Name+".log"), Spec: rc}
	if err := os.WriteFile(rs.Config, []byte(birdConfig(e.Addr(), e.Addr6(), rc, peers)), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", rs.Config, err)
	}
	if e.Router != nil && alive(e.Router.PID) {
		rs.PID = e.Router.PID
		if out, err := birdc(ctx, rs.Socket, "configure"); err != nil {
			return nil, fmt.Errorf("reconfigure bird: %w: %s", err, out)
		}
		return rs, nil
	}
	_ = os.Remove(rs.Socket)
	p, err := startProcess(e.Namespace, []string{BirdPath, "-f", "-c", rs.Config, "-s", rs.Socket,
		"-P", filepath.Join(dir, "bird.pid")}, nil, rs.Log)
	if err != nil {
		return nil, err
	}
	rs.PID = p.pid()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := birdc(ctx, rs.Socket, "show", "status"); err == nil {
			return rs, nil
		}
		if p.exited() {
			return nil, fmt.Errorf("bird exited: %s", logTail(rs.Log))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bird does not answer on %s: %s", rs.Socket, logTail(rs.Log))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reconfigureRouters regenerates the configuration of every router that peers with all
// nodes, after the lab's nodes changed.
func reconfigureRouters(ctx context.Context, st *State) error {
	var errs []error
	for i, e := range st.Externals {
		if e.Router == nil || len(e.Router.Spec.Peers) > 0 || !alive(e.Router.PID) {
			continue
		}
		rs, err := startRouter(ctx, st, e, e.Router.Spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("reconfigure router %s: %w", e.Name, err))
			continue
		}
		st.Externals[i].Router = rs
	}
	return errors.Join(errs...)
}

// stopRouter stops BIRD in an external host.
func stopRouter(labName string, e External) {
	if e.Router == nil {
		return
	}
	if alive(e.Router.PID) && slices.Contains(cmdline(e.Router.PID), BirdPath) {
		killPIDs([]int{e.Router.PID}, 3*time.Second)
	}
	_ = os.RemoveAll(routerDir(labName, e.Name))
}

// birdc runs one birdc command against a control socket.
func birdc(ctx context.Context, sock string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, BirdcPath, append([]string{"-s", sock}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("birdc %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// RouterCommand runs a birdc command (e.g. "show route") against the external host's BIRD.
func RouterCommand(ctx context.Context, labName, host string, args ...string) (string, error) {
	st, err := LoadState(labName)
	if err != nil {
		return "", fmt.Errorf("lab %s is not up: %w", labName, err)
	}
	e, ok := st.External(host)
	if !ok || e.Router == nil {
		return "", fmt.Errorf("router %s in lab %s: %w", host, labName, ErrNoExternal)
	}
	return birdc(ctx, e.Router.Socket, args...)
}

// RouterProtocols is `birdc show protocols` of the external host's BIRD, parsed.
func RouterProtocols(ctx context.Context, labName, host string) ([]RouterProtocol, error) {
	out, err := RouterCommand(ctx, labName, host, "show", "protocols")
	if err != nil {
		return nil, err
	}
	return parseBirdProtocols(out), nil
}

// ExternalDo runs fn inside the external host's namespace (see netns.Do).
func ExternalDo(labName, host string, fn func() error) error {
	st, err := LoadState(labName)
	if err != nil {
		return fmt.Errorf("lab %s is not up: %w", labName, err)
	}
	e, ok := st.External(host)
	if !ok {
		return fmt.Errorf("external %s in lab %s: %w", host, labName, ErrNoExternal)
	}
	return netns.Do(e.Namespace, fn)
}
