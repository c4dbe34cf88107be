// Package pluginproc prepares a CNI plugin process (the one trellis binary invoked as
// trellis-cni or trellis-ipam) as early as Go allows: during package initialisation. It
// makes the rest of initialisation skip the Prometheus metric registrations that linked
// packages (the embedded etcd server above all) make in their init functions, and turns
// the garbage collector off for the process.
//
// Why: the plugin is a new process per container operation and the one binary links the
// datastore server, the node agent and the BGP speaker, so every ADD pays for their
// package initialisation before the plugin's own code runs.
//   - Each prometheus Registry.Register starts a goroutine and waits for it, and while
//     packages initialise the main goroutine is locked to the main OS thread, so each wait
//     is a hand-off between OS threads: hundreds per start, milliseconds of CPU, and far
//     more wall time when the node's CPUs are busy. A plugin process serves no metrics.
//   - Initialisation alone allocates close to the runtime's first 4 MB heap goal, so a
//     collection used to start during it, and the plugin allocates a few MB more: a run
//     is too short for collecting to pay. The garbage collector stays off unless the heap
//     reaches MemoryLimit, where it runs as usual.
//
// How: Go initialises packages in import-path order as soon as their imports are
// initialised. This package imports only prometheus and the standard library, so it is
// initialised before every go.etcd.io, google.golang.org, k8s.io and sigs.k8s.io package.
// Packages initialised earlier keep their registrations; if the order ever changed, they
// would simply happen as before.
//
// Invariant: a process invoked by any other name is left exactly as it was. It must never
// be imported for anything but this side effect (internal/cni imports it).
package pluginproc

import (
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// MemoryLimit is the heap size at which a plugin process collects garbage after all.
const MemoryLimit = 256 << 20

// pluginNames are the names the binary runs as a CNI plugin under (cni.PluginName and
// cni.IPAMPluginName; that package imports this one, so they are repeated here).
var pluginNames = map[string]bool{"trellis-cni": true, "trellis-ipam": true}

func init() {
	if len(os.Args) == 0 || !pluginNames[filepath.Base(os.Args[0])] {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(MemoryLimit)
	prometheus.DefaultRegisterer = discard{}
}

// discard is a prometheus.Registerer that registers nothing.
type discard struct{}

func (discard) Register(prometheus.Collector) error  { return nil }
func (discard) MustRegister(...prometheus.Collector) {}
func (discard) Unregister(prometheus.Collector) bool { return true }
