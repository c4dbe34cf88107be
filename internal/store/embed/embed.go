package embed

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	etcdembed "go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"

	"github.com/trellisnet/trellis/internal/store"
)

// Defaults of `trellis datastore run`.
const (
	DefaultDataDir = "/var/lib/trellis/datastore"
	DefaultName    = "trellis"
)

// Config describes one embedded etcd member. Zero values take the defaults noted.
type Config struct {
	// Name of the member; DefaultName.
	Name string
	// DataDir holds the member's WAL and database; DefaultDataDir.
	DataDir string
	// ListenClientURLs are where clients connect (unix://, unixs://, http://, https://);
	// store.DefaultEndpoint. Also advertised as the member's client URLs.
	ListenClientURLs []string
	// ListenPeerURLs are where other members connect; unix://DATADIR/peer.sock, fine for a
	// single member. A multi-member cluster needs http://IP:PORT URLs reachable by all.
	ListenPeerURLs []string
	// InitialCluster is "name=peerURL,..." for a new multi-member cluster; empty: this
	// member alone.
	InitialCluster string
	// ClusterToken distinguishes clusters bootstrapped with the same member names.
	ClusterToken string
	// Logger receives etcd's log records at LogLevel and above; discarded if nil.
	Logger *slog.Logger
	// LogLevel is a zap level name ("debug", "info", "warn", "error"); "warn".
	LogLevel string
	// StartTimeout bounds Start waiting for the member to be ready; 60 seconds.
	StartTimeout time.Duration
	// AutoCompactionRetention keeps this much watch history ("1h", or a revision count with
	// AutoCompactionMode "revision"); "1h" periodic. Watches older than that resync.
	AutoCompactionMode, AutoCompactionRetention string
	// TickMs and ElectionMs are etcd's heartbeat and election timeouts; etcd's defaults
	// (100, 1000) when zero. Tests shorten them.
	TickMs, ElectionMs uint
	// UnsafeNoFsync skips fsync: only for tests, a crash can lose acknowledged writes.
	UnsafeNoFsync bool
	// TLS serves https:// and unixs:// client URLs; see TLSConfig.
	TLS TLSConfig
}

// TLSConfig is the server side of client TLS. CertFile and KeyFile are the server's
// certificate; ClientCAFile, when set, requires clients to present a certificate it signed.
type TLSConfig struct {
	CertFile, KeyFile, ClientCAFile string
}

// Server is one embedded etcd member.
type Server struct {
	cfg      Config
	e        *etcdembed.Etcd
	lock     *os.File    // the data directory's lock while the member runs
	stopping atomic.Bool // demotes etcd's shutdown noise in the log
	// live is e while the member runs, for Ready from other goroutines.
	live atomic.Pointer[etcdembed.Etcd]
}

// New returns a stopped server for cfg; it does no I/O.
func New(cfg Config) *Server {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if len(cfg.ListenClientURLs) == 0 {
		cfg.ListenClientURLs = []string{store.DefaultEndpoint}
	}
	if len(cfg.ListenPeerURLs) == 0 {
		cfg.ListenPeerURLs = []string{"unix://" + filepath.Join(cfg.DataDir, "peer.sock")}
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.AutoCompactionMode == "" {
		cfg.AutoCompactionMode = etcdembed.CompactorModePeriodic
	}
	if cfg.AutoCompactionRetention == "" {
		cfg.AutoCompactionRetention = "1h"
	}
	if cfg.ClusterToken == "" {
		cfg.ClusterToken = "trellis"
	}
	return &Server{cfg: cfg}
}

// ClientURLs are the URLs clients use (store.Config.Endpoints).
func (s *Server) ClientURLs() []string { return s.cfg.ListenClientURLs }

// Start starts the member and waits until it serves clients (for a new cluster: until the
// members have elected a leader). On failure nothing is left running.
func (s *Server) Start(ctx context.Context) error {
	ec, err := s.etcdConfig()
	if err != nil {
		return err
	}
	urls := append(append([]url.URL(nil), ec.ListenClientUrls...), ec.ListenPeerUrls...)
	for _, u := range urls {
		if err := checkInUse(u); err != nil {
			return fmt.Errorf("start datastore %s: %w", s.cfg.Name, err)
		}
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("start datastore: %w", err)
	}
	lock, err := lockDataDir(s.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("start datastore %s: %w", s.cfg.Name, err)
	}
	started := false
	defer func() {
		if !started {
			lock.Close()
		}
	}()
	for _, u := range urls {
		if err := makeSocketDir(u); err != nil {
			return fmt.Errorf("start datastore %s: %w", s.cfg.Name, err)
		}
	}
	s.stopping.Store(false)
	e, err := etcdembed.StartEtcd(ec)
	if err != nil {
		return fmt.Errorf("start datastore %s in %s: %w", s.cfg.Name, s.cfg.DataDir, err)
	}
	timer := time.NewTimer(s.cfg.StartTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
		s.e, s.lock, started = e, lock, true
		s.live.Store(e)
		return nil
	case err := <-e.Err():
		s.stopping.Store(true)
		e.Close()
		return fmt.Errorf("start datastore %s: %w", s.cfg.Name, err)
	case <-timer.C:
		s.stopping.Store(true)
		e.Server.HardStop()
		e.Close()
		return fmt.Errorf("start datastore %s: not ready within %v (for a cluster: are the other members up?)", s.cfg.Name, s.cfg.StartTimeout)
	case <-ctx.Done():
		s.stopping.Store(true)
		e.Server.HardStop()
		e.Close()
		return fmt.Errorf("start datastore %s: %w", s.cfg.Name, ctx.Err())
	}
}

// Err reports a fatal error of a running server.
func (s *Server) Err() <-chan error {
	if s.e == nil {
		return nil
	}
	return s.e.Err()
}

// Stop stops the member gracefully (a leader hands over leadership first) and closes its
// listeners. It is safe to call more than once.
func (s *Server) Stop() {
	if s.e != nil {
		s.live.Store(nil)
		s.stopping.Store(true)
		s.e.Close()
		s.e = nil
		s.unlock()
	}
}

func (s *Server) unlock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// Kill stops the member without coordinating with the others, as a crash would (no
// leadership transfer), then closes its listeners. For tests of failover.
func (s *Server) Kill() {
	if s.e != nil {
		s.live.Store(nil)
		s.stopping.Store(true)
		s.e.Server.HardStop()
		s.e.Close()
		s.e = nil
		s.unlock()
	}
}

// Run starts the server, serves until ctx ends or the server fails, then stops it.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	defer s.Stop()
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.Err():
		return fmt.Errorf("datastore %s: %w", s.cfg.Name, err)
	}
}

func (s *Server) etcdConfig() (*etcdembed.Config, error) {
	ec := etcdembed.NewConfig()
	ec.Name = s.cfg.Name
	ec.Dir = s.cfg.DataDir
	var err error
	if ec.ListenClientUrls, err = parseURLs("client", s.cfg.ListenClientURLs); err != nil {
		return nil, err
	}
	ec.AdvertiseClientUrls = ec.ListenClientUrls
	if ec.ListenPeerUrls, err = parseURLs("peer", s.cfg.ListenPeerURLs); err != nil {
		return nil, err
	}
	ec.AdvertisePeerUrls = ec.ListenPeerUrls
	ec.InitialClusterToken = s.cfg.ClusterToken
	if s.cfg.InitialCluster != "" {
		ec.InitialCluster = s.cfg.InitialCluster
	} else {
		ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	}
	ec.AutoCompactionMode = s.cfg.AutoCompactionMode
	ec.AutoCompactionRetention = s.cfg.AutoCompactionRetention
	if s.cfg.TickMs != 0 {
		ec.TickMs = s.cfg.TickMs
	}
	if s.cfg.ElectionMs != 0 {
		ec.ElectionMs = s.cfg.ElectionMs
	}
	ec.UnsafeNoFsync = s.cfg.UnsafeNoFsync
	if t := s.cfg.TLS; t != (TLSConfig{}) {
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, fmt.Errorf("datastore TLS: both a certificate and a key file are required")
		}
		ec.ClientTLSInfo = transport.TLSInfo{
			CertFile:       t.CertFile,
			KeyFile:        t.KeyFile,
			TrustedCAFile:  t.ClientCAFile,
			ClientCertAuth: t.ClientCAFile != "",
		}
	}
	ec.Metrics = "basic"
	level, err := zapcore.ParseLevel(s.cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("datastore log level %q: %w", s.cfg.LogLevel, err)
	}
	ec.LogLevel = level.String()
	log := s.cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ec.ZapLoggerBuilder = etcdembed.NewZapLoggerBuilder(newZapLogger(log.With("member", s.cfg.Name), level, &s.stopping))
	return ec, nil
}

func parseURLs(what string, raw []string) ([]url.URL, error) {
	out := make([]url.URL, 0, len(raw))
	for _, r := range raw {
		u, err := url.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("datastore %s URL %q: %w", what, r, err)
		}
		switch u.Scheme {
		case "unix", "unixs", "http", "https":
		default:
			return nil, fmt.Errorf("datastore %s URL %q: scheme must be unix, unixs, http or https", what, r)
		}
		out = append(out, *u)
	}
	return out, nil
}

// checkInUse refuses a unix socket another process is serving on (etcd would remove it from
// under that process). A stale socket file is fine: etcd replaces it.
func checkInUse(u url.URL) error {
	if u.Scheme != "unix" && u.Scheme != "unixs" {
		return nil
	}
	conn, err := net.DialTimeout("unix", u.Host+u.Path, time.Second)
	if err != nil {
		return nil
	}
	conn.Close()
	return fmt.Errorf("%s is in use by another server", u.String())
}

// makeSocketDir creates the directory of a unix socket.
func makeSocketDir(u url.URL) error {
	if u.Scheme != "unix" && u.Scheme != "unixs" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(u.Host+u.Path), 0o755); err != nil {
		return fmt.Errorf("socket directory for %s: %w", u.String(), err)
	}
	return nil
}
