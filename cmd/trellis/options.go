package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/lab"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/store/kube"
)

// globalFlags are the root's persistent flags. Precedence: flag > TRELLIS_* environment >
// default; resolved here and nowhere else.
type globalFlags struct {
	endpoints string
	// source says where endpoints came from, for `config view`.
	source    string
	caFile    string
	certFile  string
	keyFile   string
	logLevel  string
	logFormat string
	// dsType is the datastore type: etcdv3 (Trellis's own etcd) or kubernetes.
	dsType     string
	kubeconfig string
}

// envNames maps each global flag to its environment variable.
var envNames = map[string]string{
	"datastore-endpoints": "TRELLIS_DATASTORE_ENDPOINTS",
	"datastore-ca":        "TRELLIS_DATASTORE_CA",
	"datastore-cert":      "TRELLIS_DATASTORE_CERT",
	"datastore-key":       "TRELLIS_DATASTORE_KEY",
	"log-level":           "TRELLIS_LOG_LEVEL",
	"log-format":          "TRELLIS_LOG_FORMAT",
	"datastore-type":      "TRELLIS_DATASTORE_TYPE",
	"kubeconfig":          "KUBECONFIG",
	// The long-running components' health and metrics address (`node run`, `controller
	// run`, `dns serve`, `datastore run`).
	"health-addr":  healthAddrEnv,
	"metrics-addr": metricsAddrEnv, // `node run` only
	// `node run` only, with calico-node's names.
	"bgp-ipv4-address": "IP",
	"as-number":        "AS",
	"flow-log-group":   "TRELLIS_FLOW_LOG_GROUP",
	"flow-aggregator":  "TRELLIS_FLOW_AGGREGATOR",
	"flow-mark-mask":   "TRELLIS_FLOW_MARK_MASK",
}

func addGlobalFlags(root *cobra.Command, g *globalFlags) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.dsType, "datastore-type", datastoreEtcd, "datastore: etcdv3 (Trellis's etcd, --datastore-endpoints) or kubernetes (the Kubernetes API, --kubeconfig) [$TRELLIS_DATASTORE_TYPE]")
	pf.StringVar(&g.kubeconfig, "kubeconfig", "", "kubeconfig of the Kubernetes datastore (default: in-cluster configuration) [$KUBECONFIG]")
	pf.StringVar(&g.endpoints, "datastore-endpoints", "", "comma-separated etcd client URLs (http://, https://, unix://) [$TRELLIS_DATASTORE_ENDPOINTS] (default: the running lab's, else "+store.DefaultEndpoint+")")
	pf.StringVar(&g.caFile, "datastore-ca", "", "CA certificate file to verify the datastore [$TRELLIS_DATASTORE_CA]")
	pf.StringVar(&g.certFile, "datastore-cert", "", "client certificate file [$TRELLIS_DATASTORE_CERT]")
	pf.StringVar(&g.keyFile, "datastore-key", "", "client key file [$TRELLIS_DATASTORE_KEY]")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error [$TRELLIS_LOG_LEVEL]")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json (one object a line) [$TRELLIS_LOG_FORMAT]")
}

// applyEnv fills every global flag the user did not set from its environment variable.
func applyEnv(c *cobra.Command) error {
	for flag, env := range envNames {
		f := c.Flags().Lookup(flag)
		if f == nil || f.Changed {
			continue
		}
		if v, ok := os.LookupEnv(env); ok {
			if flag == "datastore-endpoints" && strings.TrimSpace(v) == "" {
				return ctl.Usagef("$%s is set but empty: unset it or name an endpoint", env)
			}
			if err := f.Value.Set(v); err != nil {
				return ctl.Usagef("$%s: %v", env, err)
			}
			f.Changed = true
		}
	}
	return nil
}

func (g *globalFlags) storeConfig() store.Config {
	if g.endpoints == "" {
		g.endpoints, g.source = store.DefaultEndpoint, "default"
		if name, ok := lab.Current(); ok {
			g.endpoints, g.source = lab.Endpoint(name), "lab "+name+" (the lab started last)"
		}
	}
	var eps []string
	for _, e := range strings.Split(g.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	return store.Config{Endpoints: eps, CAFile: g.caFile, CertFile: g.certFile, KeyFile: g.keyFile}
}

func (g *globalFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, ctl.Usagef("invalid --log-level %q: use debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, ctl.Usagef("invalid --log-format %q: use text or json", g.logFormat)
}

// options builds the ctl.Options every command receives; it runs after flag parsing.
func (g *globalFlags) options(o *ctl.Options) func(c *cobra.Command, _ []string) error {
	return func(c *cobra.Command, _ []string) error {
		endpointsFlag := c.Flags().Changed("datastore-endpoints")
		if err := applyEnv(c); err != nil {
			return err
		}
		switch {
		case endpointsFlag && strings.TrimSpace(g.endpoints) == "":
			return ctl.Usagef("--datastore-endpoints is empty: name an endpoint or leave the flag out")
		case endpointsFlag:
			g.source = "--datastore-endpoints"
		case c.Flags().Changed("datastore-endpoints"):
			g.source = "$" + envNames["datastore-endpoints"]
		}
		log, err := g.logger()
		if err != nil {
			return err
		}
		o.Logger = log
		cfg := g.storeConfig()
		o.Datastore = strings.Join(cfg.Endpoints, ",")
		o.DatastoreSource = g.source
		switch g.dsType {
		case datastoreEtcd:
		case datastoreKube:
			o.Datastore, o.DatastoreSource = "kubernetes "+orIn(g.kubeconfig, "(in-cluster)"), "--datastore-type"
			open := func(context.Context) (store.Store, error) {
				return kube.New(store.Config{Kubeconfig: g.kubeconfig})
			}
			o.OpenStore, o.OpenStoreWait = open, open
			return nil
		default:
			return ctl.Usagef("invalid --datastore-type %q: use etcdv3 or kubernetes", g.dsType)
		}
		connect := func(ctx context.Context, probe bool) (store.Store, error) {
			if err := checkEndpoints(cfg.Endpoints); err != nil {
				return nil, err
			}
			if probe {
				if err := probeEndpoints(ctx, cfg.Endpoints); err != nil {
					return nil, err
				}
			}
			s, err := etcd.New(cfg)
			if err != nil {
				return nil, fmt.Errorf("connect to datastore %s: %w", strings.Join(cfg.Endpoints, ","), err)
			}
			return s, nil
		}
		o.OpenStore = func(ctx context.Context) (store.Store, error) { return connect(ctx, true) }
		o.OpenStoreWait = func(ctx context.Context) (store.Store, error) { return connect(ctx, false) }
		return nil
	}
}

// Datastore types.
const (
	datastoreEtcd = "etcdv3"
	datastoreKube = "kubernetes"
)

func orIn(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}
