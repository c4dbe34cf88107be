package pluginproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// registered registers a counter the way linked packages do in their init functions and
// reports whether the default gatherer then has it.
func registered() (bool, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "trl_pluginproc_probe_total", Help: "probe"})
	prometheus.MustRegister(c)
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return false, err
	}
	for _, mf := range mfs {
		if mf.GetName() == "trl_pluginproc_probe_total" {
			return true, nil
		}
	}
	return false, nil
}

// The test binary, invoked by another name, prints whether a registration took effect and
// the garbage collector's setting.
func TestMain(m *testing.M) {
	if os.Getenv("TRL_PLUGINPROC_CHILD") == "1" {
		ok, err := registered()
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Printf("registered: %v gc: %d\n", ok, debug.SetGCPercent(100))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRegistrationsByProcessName(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		want string
	}{
		{"trellis-cni", "registered: false gc: -1"},
		{"trellis-ipam", "registered: false gc: -1"},
		{"trellis", "registered: true gc: 100"},
		{"pluginproc.test", "registered: true gc: 100"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			link := filepath.Join(dir, tt.name)
			if err := os.Symlink(self, link); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(link)
			cmd.Env = append(os.Environ(), "TRL_PLUGINPROC_CHILD=1", "GOGC=100")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("run as %s: %v\n%s", tt.name, err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tt.want {
				t.Errorf("run as %s: %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}
