package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A second `trellis datastore run` on a data directory a running one holds exits at once
// with an error naming the holder's pid, instead of blocking forever.
func TestDatastoreRunDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	first := exec.Command(binary, "datastore", "run", "--data-dir", data, "--listen-client", "unix://"+filepath.Join(dir, "a.sock"))
	var logs bytes.Buffer
	first.Stdout, first.Stderr = &logs, &logs
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		first.Process.Kill()
		first.Wait()
	})
	env := []string{"TRELLIS_DATASTORE_ENDPOINTS=unix://" + filepath.Join(dir, "a.sock")}
	deadline := time.Now().Add(30 * time.Second)
	for trellis(t, env, "", "get", "tiers").code != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("first datastore not ready:\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	begin := time.Now()
	r := trellis(t, nil, "", "datastore", "run", "--data-dir", data, "--listen-client", "unix://"+filepath.Join(dir, "b.sock"))
	took := time.Since(begin)
	want := fmt.Sprintf("data dir is in use: %s (pid %d)", data, first.Process.Pid)
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("second datastore: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
	if took > 10*time.Second {
		t.Errorf("the refusal took %v, want well under 10s", took)
	}
}
