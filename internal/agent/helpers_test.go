package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// decode turns a YAML manifest into defaulted objects.
func decode(t testing.TB, manifest string) []model.Object {
	t.Helper()
	docs, err := model.Decode([]byte(manifest), "test")
	if err != nil {
		t.Fatalf("decode manifest: %v\n%s", err, manifest)
	}
	out := make([]model.Object, 0, len(docs))
	for _, d := range docs {
		model.SetDefaults(d.Object)
		out = append(out, d.Object)
	}
	return out
}

// put creates or replaces every object of the manifest.
func put(t testing.TB, st store.Store, manifest string) {
	t.Helper()
	for _, obj := range decode(t, manifest) {
		if err := storetest.Put(context.Background(), st, obj); err != nil {
			t.Fatal(err)
		}
	}
}

func kind(t testing.TB, name string) *model.Kind {
	t.Helper()
	k, err := model.Resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// wepYAML is a WorkloadEndpoint on node with one IPv4 (and optionally IPv6) address.
func wepYAML(ns, name, node, iface string, labels map[string]string, addrs ...string) string {
	var l []string
	for k, v := range labels {
		l = append(l, fmt.Sprintf("%s: %s", k, v))
	}
	return fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: %s, namespace: %s, labels: {%s}}
spec: {node: %s, pod: %s, interfaceName: %s, orchestrator: k8s, ipNetworks: [%s]}
---
`, name, ns, strings.Join(l, ", "), node, name, iface, strings.Join(addrs, ", "))
}

func nsYAML(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {team: %s}}\n---\n", name, name)
}

// eventually polls cond every 10 ms until it returns "" or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startAgent runs a in the background until the test ends.
func startAgent(t testing.TB, a *Agent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("agent did not stop within 10s")
		}
	})
}

// testConfig is a config with a private status socket and no TCP listener.
func testConfig(t testing.TB, node string) Config {
	dir, err := os.MkdirTemp("", "trl-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return Config{NodeName: node, HealthAddr: agentapi.Disabled, StatusSocket: filepath.Join(dir, "agent.sock"),
		RateLimit: 20 * time.Millisecond, RetryPeriod: 100 * time.Millisecond, ResyncPeriod: time.Minute}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
