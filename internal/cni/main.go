package cni

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	// For its init's side effect only: prepares a plugin process (see its doc).
	_ "github.com/trellisnet/trellis/internal/cni/pluginproc"
	"github.com/trellisnet/trellis/internal/store"
)

// commandTimeout bounds one plugin invocation (the policy wait included).
const commandTimeout = 2 * time.Minute

// policyPoll is how often the policy wait reads the EndpointStatus when it cannot watch.
const policyPoll = 20 * time.Millisecond

// Backends open the datastores a NetConf's datastore_type names; cmd/trellis passes the
// etcd and Kubernetes backends, so this package imports no other edge.
type Backends struct {
	Etcd, Kubernetes func(store.Config) (store.Store, error)
}

// open connects to the datastore conf names.
func (b Backends) open(conf *NetConf) (store.Store, error) {
	open := b.Etcd
	if conf.DatastoreType == DatastoreKube {
		open = b.Kubernetes
	}
	if open == nil {
		return nil, fmt.Errorf("datastore_type %s: not available in this binary", conf.DatastoreType)
	}
	return open(storeConfig(conf))
}

// Main runs the plugin named name (trellis-cni or trellis-ipam) on the CNI environment and
// stdin, writes the result or error JSON to stdout and returns the exit code.
//
// The process was prepared at package initialisation by package pluginproc (no metric
// registrations, no garbage collection).
func Main(name string, open Backends) int {
	p := &plugin{ipamOnly: name == IPAMPluginName, stderr: os.Stderr, openStore: open.open}
	funcs := skel.CNIFuncs{Add: p.wrap("ADD", p.add), Del: p.wrap("DEL", p.del), Check: p.wrap("CHECK", p.check),
		Status: p.wrap("STATUS", p.status), GC: p.wrap("GC", p.gc)}
	about := "Trellis CNI plugin"
	if p.ipamOnly {
		about = "Trellis IPAM plugin"
		funcs = skel.CNIFuncs{Add: p.wrap("ADD", p.ipamAdd), Del: p.wrap("DEL", p.ipamDel), Check: p.wrap("CHECK", p.ipamCheck),
			Status: p.wrap("STATUS", p.status), GC: p.wrap("GC", p.gc)}
	}
	if e := skel.PluginMainFuncsWithError(funcs, supportedVersions, about); e != nil {
		if err := e.Print(); err != nil {
			fmt.Fprintln(os.Stderr, "write error result:", err)
		}
		return 1
	}
	return 0
}

// plugin carries what one invocation needs.
type plugin struct {
	ipamOnly bool
	stderr   io.Writer
	// openStore connects to the datastore the NetConf names.
	openStore func(conf *NetConf) (store.Store, error)
}

// call is one command's context.
type call struct {
	ctx  context.Context
	args *skel.CmdArgs
	conf *NetConf
	log  *slog.Logger
	st   store.Store
	node string
	tm   *timing
	// derived: the store derives endpoints from pods (store.DerivedEndpoints); the policy
	// wait then asks the node agent's socket.
	derived bool
}

type cmdFunc func(c *call) error

// wrap parses the configuration, sets up logging and the store, and logs the outcome.
func (p *plugin) wrap(cmd string, fn cmdFunc) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		conf, err := parseConf(args.StdinData)
		if err != nil {
			return err
		}
		log, closeLog := newLogger(conf, p.stderr)
		defer closeLog()
		log = log.With("command", cmd, "containerID", args.ContainerID, "netns", args.Netns, "ifname", args.IfName)
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		node := conf.NodeName
		if node == "" {
			if node, err = os.Hostname(); err != nil {
				return fmt.Errorf("node name: %w", err)
			}
		}
		start := time.Now()
		tm := &timing{}
		done := tm.phase("connect")
		backend, err := p.openStore(conf)
		done()
		if err != nil {
			return types.NewError(types.ErrPluginNotAvailable, "datastore unavailable", err.Error())
		}
		defer backend.Close()
		st := &countingStore{Store: backend}
		err = fn(&call{ctx: ctx, args: args, conf: conf, log: log, st: st, node: node, tm: tm,
			derived: store.DerivedEndpoints(backend)})
		if err != nil {
			log.Error("command failed", "error", err, "duration", time.Since(start), "storeRequests", st.n.Load(), tm.attr())
			if errors.Is(err, store.ErrUnavailable) {
				var te *types.Error
				if !errors.As(err, &te) {
					return types.NewError(types.ErrTryAgainLater, "datastore unavailable", err.Error())
				}
			}
			return err
		}
		log.Info("command done", "duration", time.Since(start), "storeRequests", st.n.Load(), tm.attr())
		return nil
	}
}

func storeConfig(conf *NetConf) store.Config {
	return store.Config{Endpoints: conf.DatastoreEndpoints, DialTimeout: conf.storeTimeout, RequestTimeout: conf.storeTimeout,
		Kubeconfig: conf.Kubernetes.Kubeconfig}
}

// newLogger logs to the NetConf log file at its level and to stderr at warn and above.
func newLogger(conf *NetConf, stderr io.Writer) (*slog.Logger, func()) {
	handlers := []slog.Handler{slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})}
	closer := func() {}
	if conf.LogFile != "" {
		f, err := os.OpenFile(conf.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(strings.ToUpper(conf.LogLevel))); err != nil || conf.LogLevel == "" {
				lvl = slog.LevelInfo
			}
			handlers = append(handlers, slog.NewJSONHandler(f, &slog.HandlerOptions{Level: lvl}))
			closer = func() { f.Close() }
		} else {
			fmt.Fprintf(stderr, "trellis-cni: open log file %s: %v\n", conf.LogFile, err)
		}
	}
	return slog.New(slog.NewMultiHandler(handlers...)).With("component", "cni", "network", conf.Name), closer
}
