package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/trellisnet/trellis/internal/cni/install"
	"github.com/trellisnet/trellis/internal/ctl"
)

// newCNICmd returns `trellis cni install`, the node DaemonSet's init container.
func newCNICmd(o *ctl.Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "cni",
		Short: "Install the CNI plugin on this node (the node DaemonSet's init container)",
		Args:  cobra.NoArgs,
	}
	var cfg install.Config
	var saDir, tokenFor string
	var ttl time.Duration
	in := &cobra.Command{
		Use:   "install [--cni-bin-dir DIR] [--cni-conf-dir DIR] --node-name NODE",
		Short: "Copy this binary as the CNI plugins and write their kubeconfig and network configuration",
		Long: "Copy the running binary to --cni-bin-dir as trellis, with trellis-cni and trellis-ipam\n" +
			"linked to it, write a kubeconfig for the plugins (the API server from\n" +
			"KUBERNETES_SERVICE_HOST/PORT, the CA of the pod's service account and a token of\n" +
			"--token-for, or the pod's own token) and the configuration list " + install.ConfName + "\n" +
			"to --cni-conf-dir. Every file is written to a temporary name and renamed; running it\n" +
			"again rewrites nothing that is already right.",
		Example: "  trellis cni install --node-name $(NODENAME) --token-for trellis-cni",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if cfg.NodeName == "" {
				cfg.NodeName = os.Getenv("NODENAME")
			}
			if cfg.NodeName == "" {
				return ctl.Usagef("--node-name (or $NODENAME) is required")
			}
			host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
			if host == "" || port == "" {
				return fmt.Errorf("cni install: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: run it in a pod")
			}
			cfg.Server = install.ServerURL(host, port)
			ca, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
			if err != nil {
				return fmt.Errorf("cni install: service account CA: %w", err)
			}
			token, err := os.ReadFile(filepath.Join(saDir, "token"))
			if err != nil {
				return fmt.Errorf("cni install: service account token: %w", err)
			}
			cfg.CA, cfg.Token = ca, strings.TrimSpace(string(token))
			log := o.Logger
			if tokenFor != "" {
				ns, err := os.ReadFile(filepath.Join(saDir, "namespace"))
				if err != nil {
					return fmt.Errorf("cni install: service account namespace: %w", err)
				}
				rc := &rest.Config{Host: cfg.Server, BearerToken: cfg.Token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
				tok, exp, err := install.RequestToken(c.Context(), rc, strings.TrimSpace(string(ns)), tokenFor, ttl)
				if err != nil {
					return fmt.Errorf("cni install: %w", err)
				}
				cfg.Token = tok
				if log != nil {
					log.Info("cni token issued", "serviceAccount", tokenFor, "expires", exp)
				}
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("cni install: find this binary: %w", err)
			}
			cfg.Binary = exe
			if err := install.Install(cfg); err != nil {
				return err
			}
			if log != nil {
				log.Info("cni installed", "binDir", cfg.BinDir, "confDir", cfg.ConfDir, "node", cfg.NodeName, "server", cfg.Server)
			}
			return nil
		},
	}
	f := in.Flags()
	f.StringVar(&cfg.BinDir, "cni-bin-dir", "/host/opt/cni/bin", "the host's CNI plugin directory as mounted here")
	f.StringVar(&cfg.ConfDir, "cni-conf-dir", "/host/etc/cni/net.d", "the host's CNI configuration directory as mounted here")
	f.StringVar(&cfg.HostConfDir, "host-cni-conf-dir", "/etc/cni/net.d", "the CNI configuration directory as the host sees it (in the kubeconfig path)")
	f.StringVar(&cfg.NodeName, "node-name", "", "this node's Kubernetes name [$NODENAME]")
	f.StringVar(&cfg.LogLevel, "cni-log-level", "info", "the plugin's log level")
	f.StringVar(&saDir, "service-account-dir", "/var/run/secrets/kubernetes.io/serviceaccount", "the pod's service account token, ca.crt and namespace")
	f.StringVar(&tokenFor, "token-for", "", "write a token of this service account (in the pod's namespace) instead of the pod's own")
	f.DurationVar(&ttl, "token-ttl", 365*24*time.Hour, "validity asked for the --token-for token (the API server may shorten it; restarting the node pod renews it)")
	c.AddCommand(in)
	return c
}
