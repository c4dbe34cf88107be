package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/agent"
	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/store/memory"
)

func runNodeCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	c := newNodeCmd(&ctl.Options{})
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	err := c.ExecuteContext(context.Background())
	return out.String(), err
}

func TestNodeStatus(t *testing.T) {
	dir, err := os.MkdirTemp("", "trl-node-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	a := agent.New(agent.Config{NodeName: "n1", HealthAddr: agentapi.Disabled, StatusSocket: sock},
		memory.New(100), agent.Dataplane{NFT: knftables.NewFake(knftables.InetFamily, "trellis")}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for !a.Status().Ready {
		if time.Now().After(deadline) {
			t.Fatal("agent not ready after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	out, err := runNodeCmd(t, "status", "--socket", sock)
	if err != nil {
		t.Fatalf("node status: %v\n%s", err, out)
	}
	for _, want := range []string{"node:", "n1", "inet trellis", "healthy, ready", "last sync:", "full",
		"endpoints:", "policies:", "chains:", "sets:", "bgp peers:"} {
		if !strings.Contains(out, want) {
			t.Errorf("text status lacks %q:\n%s", want, out)
		}
	}

	out, err = runNodeCmd(t, "status", "--socket", sock, "-o", "json")
	if err != nil {
		t.Fatalf("node status -o json: %v\n%s", err, out)
	}
	var s agentapi.Status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("decode json status: %v\n%s", err, out)
	}
	if s.Node != "n1" || !s.Ready || s.LastSync == nil || s.Chains == 0 {
		t.Errorf("json status = %+v, want node n1, ready, a last sync and chains", s)
	}
}

func TestNodeUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"run without node name", []string{"run"}},
		{"status bad output", []string{"status", "--socket", "/nonexistent", "-o", "yaml"}},
		{"flow mark mask not a number", []string{"run", "--node-name", "n1", "--flow-mark-mask", "ffq"}},
		{"flow mark mask on the pass mark", []string{"run", "--node-name", "n1", "--flow-mark-mask", "0x00f00000"}},
		{"flow mark mask too narrow", []string{"run", "--node-name", "n1", "--flow-mark-mask", "0x03000000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runNodeCmd(t, tc.args...)
			var ue ctl.UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a usage error", err)
			}
		})
	}
	t.Run("run without nft names the fix", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := runNodeCmd(t, "run", "--node-name", "n1")
		if err == nil || !strings.Contains(err.Error(), "apt-get install nftables") {
			t.Fatalf("err = %v, want one naming apt-get install nftables", err)
		}
	})
	t.Run("status of an absent agent", func(t *testing.T) {
		_, err := runNodeCmd(t, "status", "--socket", "/nonexistent/trl/agent.sock")
		var ue ctl.UsageError
		if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "is the agent running") {
			t.Fatalf("err = %v, want a failure asking whether the agent runs", err)
		}
	})
}
