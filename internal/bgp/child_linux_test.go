package bgp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/trellisnet/trellis/internal/bgp"
	"github.com/trellisnet/trellis/internal/dataplane/link"
	"github.com/trellisnet/trellis/internal/route"
)

// The kernel tests run each node's speaker in a child process living entirely in the
// node's namespace (gobgp dials from goroutines of its own, see the package doc): the test
// binary re-executes itself with envChild set, and TestMain runs childMain instead of the
// tests. The child plays a minimal agent: speaker plus route installation through
// internal/dataplane/link, reloading its configuration on SIGHUP, stopping on SIGTERM
// (NOTIFICATION: peers drop its routes) or SIGUSR1 (graceful: peers keep them).
const (
	envChild  = "TRELLIS_BGP_TEST_CHILD"
	envConfig = "TRELLIS_BGP_TEST_CONFIG"
	envStatus = "TRELLIS_BGP_TEST_STATUS"
)

// childConfig is what a child speaker does.
type childConfig struct {
	Speaker   route.Speaker
	Advertise []netip.Prefix
	Accept    []netip.Prefix
	Routes    []route.Route // calculated routes (blackholes)
	// SyncGrace is how long a starting child keeps routes it finds in the kernel while its
	// peers have not all sent End-of-RIB.
	SyncGrace time.Duration
}

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		if err := childMain(); err != nil {
			fmt.Fprintln(os.Stderr, "bgp test child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func readChildConfig() (childConfig, error) {
	var c childConfig
	b, err := os.ReadFile(os.Getenv(envConfig))
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	return c, err
}

func childMain() error {
	cfg, err := readChildConfig()
	if err != nil {
		return err
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	m := link.New(h)
	start := time.Now()
	var mu sync.Mutex
	var sp *bgp.Speaker
	synced := false
	apply := func(learned []route.Route) {
		mu.Lock()
		defer mu.Unlock()
		want := route.Merge(cfg.Routes, learned)
		synced = synced || (sp != nil && sp.Synced()) // the grace applies to the start only
		if !synced && time.Since(start) < cfg.SyncGrace {
			if cur, err := m.Routes(); err == nil {
				want = route.Merge(want, cur) // keep what a previous run installed
			}
		}
		if _, err := m.SyncRoutes(want); err != nil {
			fmt.Fprintln(os.Stderr, "sync routes:", err)
		}
	}
	s := cfg.Speaker
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mu.Lock()
	sp = bgp.New(bgp.Config{RouterID: s.RouterID, ASNumber: s.ASNumber, ListenAddress: s.Address, ListenAddress6: s.Address6,
		ListenPort: int(s.ListenPort), ClusterID: s.ClusterID, ConnectRetry: time.Second, Logger: logger}, apply)
	mu.Unlock()
	ctx := context.Background()
	if err := sp.Start(ctx); err != nil {
		return err
	}
	configure := func() error {
		sp.SetAccept(cfg.Accept)
		if err := sp.SetPeers(ctx, cfg.Speaker.Peers); err != nil {
			return err
		}
		return sp.SetPrefixes(cfg.Advertise)
	}
	if err := configure(); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGUSR1)
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				c, err := readChildConfig()
				if err != nil {
					return err
				}
				mu.Lock()
				cfg = c
				mu.Unlock()
				if err := configure(); err != nil {
					return err
				}
			case syscall.SIGTERM:
				return sp.Stop(ctx, false)
			case syscall.SIGUSR1:
				return sp.Stop(ctx, true)
			}
		case <-tick.C:
			apply(sp.Learned()) // periodic full resync repairs drift
			st, err := sp.Status(ctx)
			if err != nil {
				return err
			}
			if err := writeJSON(os.Getenv(envStatus), st); err != nil {
				return err
			}
		}
	}
}

// writeJSON writes v to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
