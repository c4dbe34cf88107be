// Package quietmetrics keeps a CNI plugin process (the binary invoked as trellis-cni or
// trellis-ipam) from doing the Prometheus metric registrations that linked packages, the
// embedded etcd server above all, make in their init functions.
//
// Why: the plugin is a new process per container operation and the one trellis binary
// links the datastore server, so every ADD pays for the server's package initialisation.
// Each prometheus Registry.Register starts a goroutine and waits for it, and while
// packages initialise the main goroutine is locked to the main OS thread, so each wait is
// a hand-off between OS threads: a few hundred of them per start, milliseconds of CPU, and
// far more wall time when the node's CPUs are busy. A plugin process never serves metrics.
//
// How: Go initialises packages in import-path order as soon as their imports are
// initialised. This package imports only prometheus and the standard library, so it is
// initialised before every go.etcd.io, google.golang.org and k8s.io package. When the
// process was invoked by a plugin name it replaces prometheus.DefaultRegisterer with one
// that accepts and discards registrations. If the order ever changes, the registrations
// simply happen as before.
//
// Invariant: a process invoked by any other name is left exactly as it was. It must never
// be imported for anything but this side effect (internal/cni imports it).
package quietmetrics

import (
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

// pluginNames are the names the binary runs as a CNI plugin under (cni.PluginName and
// cni.IPAMPluginName; that package imports this one, so they are repeated here).
var pluginNames = map[string]bool{"trellis-cni": true, "trellis-ipam": true}

func init() {
	if len(os.Args) > 0 && pluginNames[filepath.Base(os.Args[0])] {
		prometheus.DefaultRegisterer = discard{}
	}
}

// discard is a prometheus.Registerer that registers nothing.
type discard struct{}

func (discard) Register(prometheus.Collector) error  { return nil }
func (discard) MustRegister(...prometheus.Collector) {}
func (discard) Unregister(prometheus.Collector) bool { return true }
