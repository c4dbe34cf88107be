package kubebin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFindBinariesNamesTheFix: a missing binary's error says how to build it.
func TestFindBinariesNamesTheFix(t *testing.T) {
	t.Setenv("TRELLIS_KUBE_BIN", t.TempDir())
	_, err := FindBinaries("kube-apiserver")
	if err == nil || !strings.Contains(err.Error(), "make kube") {
		t.Errorf("FindBinaries in an empty dir: %v, want an error naming make kube", err)
	}
}

// TestFindBinariesNeedsExecutable: a file without an execute bit is not a binary.
func TestFindBinariesNeedsExecutable(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRELLIS_KUBE_BIN", dir)
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FindBinaries("kubectl"); err == nil {
		t.Fatal("a non-executable kubectl was accepted")
	}
	if err := os.Chmod(filepath.Join(dir, "kubectl"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := FindBinaries("kubectl")
	if err != nil || got["kubectl"] != filepath.Join(dir, "kubectl") {
		t.Fatalf("FindBinaries = %v, %v", got, err)
	}
}
