package agentapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalSocket(t *testing.T) {
	dir := t.TempDir()
	if _, err := LocalSocket(dir, "h"); err == nil || !strings.Contains(err.Error(), "no node agent") {
		t.Errorf("empty dir: %v", err)
	}
	mk := func(node string) string {
		p := filepath.Join(dir, node, "agent.sock")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one := mk("node1")
	if got, err := LocalSocket(dir, "elsewhere"); err != nil || got != one {
		t.Errorf("the only agent: %q, %v", got, err)
	}
	mk("node2")
	if _, err := LocalSocket(dir, "elsewhere"); err == nil || !strings.Contains(err.Error(), "node1, node2") {
		t.Errorf("two agents, no match: %v", err)
	}
	if got, err := LocalSocket(dir, "node1"); err != nil || got != one {
		t.Errorf("the host's agent: %q, %v", got, err)
	}
}
