package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/store"
)

// probeTimeout bounds the reachability check of one endpoint.
const probeTimeout = 2 * time.Second

// checkEndpoints refuses endpoints that are no datastore URL: a usage error, at once.
func checkEndpoints(eps []string) error {
	if len(eps) == 0 {
		return ctl.Usagef("no datastore endpoint: set --datastore-endpoints")
	}
	for _, e := range eps {
		u, err := url.Parse(e)
		if err != nil {
			return ctl.Usagef("invalid datastore endpoint %q: %v", e, err)
		}
		switch u.Scheme {
		case "unix", "unixs":
			if u.Host+u.Path == "" {
				return ctl.Usagef("invalid datastore endpoint %q: no socket path (use unix:///PATH)", e)
			}
		case "http", "https":
			if u.Hostname() == "" || u.Port() == "" {
				return ctl.Usagef("invalid datastore endpoint %q: want http(s)://HOST:PORT", e)
			}
		default:
			return ctl.Usagef("invalid datastore endpoint %q: scheme must be unix, unixs, http or https", e)
		}
	}
	return nil
}

// probeEndpoints connects to each endpoint once, briefly, so that a missing socket, a
// file that is not one, or a refused connection fails in seconds naming the cause instead
// of the client retrying until its request timeout. One reachable endpoint is enough.
func probeEndpoints(ctx context.Context, eps []string) error {
	var causes []string
	for _, e := range eps {
		err := probe(ctx, e)
		if err == nil {
			return nil
		}
		causes = append(causes, fmt.Sprintf("%s: %v", e, err))
	}
	return fmt.Errorf("connect to datastore: %s: %w", strings.Join(causes, "; "), store.ErrUnavailable)
}

func probe(ctx context.Context, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	network, addr := "tcp", u.Host
	if u.Scheme == "unix" || u.Scheme == "unixs" {
		network, addr = "unix", u.Host+u.Path
		fi, err := os.Stat(addr)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("no socket at %s", addr)
		case err != nil:
			return err
		case fi.Mode()&os.ModeSocket == 0:
			return fmt.Errorf("%s is not a socket", addr)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return errors.New("connection refused (is the datastore running?)")
		}
		return err
	}
	return c.Close()
}

// newConfigCmd returns `trellis config view`: the effective datastore and where it came
// from, so several labs and datastores on one machine cannot be confused.
func newConfigCmd(o *ctl.Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Show the effective configuration",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(&cobra.Command{
		Use:     "view",
		Short:   "Print the datastore the CLI uses and where that choice came from",
		Example: "  trellis config view\n  TRELLIS_DATASTORE_ENDPOINTS=unix:///tmp/ds.sock trellis config view",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintf(c.OutOrStdout(), "datastore-endpoints: %s\nsource: %s\n", o.Datastore, o.DatastoreSource)
			return nil
		},
	})
	return c
}
