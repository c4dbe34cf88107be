package cni

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// etcdMetricFamilies counts the etcd server's metric families in the default registry.
func etcdMetricFamilies() int {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return -1
	}
	n := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "etcd_") {
			n++
		}
	}
	return n
}

// TestPluginSkipsMetricRegistrations checks, on this package's real dependencies (the
// embedded etcd server is linked into the test binary as into trellis), that a process
// invoked as a plugin registers none of the etcd server's metrics at init while any other
// process does: package pluginproc is initialised before them.
func TestPluginSkipsMetricRegistrations(t *testing.T) {
	if n := etcdMetricFamilies(); n == 0 {
		t.Fatalf("the test process registered no etcd metrics: the control is broken")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{PluginName, IPAMPluginName} {
		link := filepath.Join(t.TempDir(), name)
		if err := os.Symlink(self, link); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(link)
		cmd.Env = append(os.Environ(), "TRL_CNI_METRICS_PROBE=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("run as %s: %v", name, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil || n != 0 {
			t.Errorf("run as %s: %q etcd metric families registered, want 0", name, out)
		}
	}
}
