package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDatastoreRun(t *testing.T) {
	dir := t.TempDir()
	sock := "unix://" + filepath.Join(dir, "ds.sock")
	cmd := newDatastoreCmd(&ctl.Options{})
	out := &syncBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs([]string{"run", "--data-dir", filepath.Join(dir, "data"), "--listen-client", sock})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	deadline := time.After(30 * time.Second)
	for !strings.Contains(out.String(), "datastore ready on "+sock) {
		select {
		case err := <-done:
			t.Fatalf("datastore run exited early: %v; output:\n%s", err, out)
		case <-deadline:
			t.Fatalf("datastore not ready within 30s; output:\n%s", out)
		case <-time.After(20 * time.Millisecond):
		}
	}

	s, err := etcd.New(store.Config{Endpoints: []string{sock}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	if _, err := s.Create(rctx, storetest.Pod("trl-ns", "web", nil)); err != nil {
		t.Fatalf("create through the served datastore: %v", err)
	}
	podKind := model.KindPod
	if _, err := s.Get(rctx, podKind, "trl-ns", "web"); err != nil {
		t.Fatalf("get: %v", err)
	}

	cancel() // as SIGINT/SIGTERM would
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("datastore run after interrupt: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("datastore run did not stop after its context ended")
	}
	// Stopped: the store is unreachable now.
	qctx, qcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer qcancel()
	if _, err := s.Get(qctx, podKind, "trl-ns", "web"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("get after stop: %v, want ErrUnavailable", err)
	}
}

func TestDatastoreRunUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"bad scheme", []string{"run", "--listen-client", "tcp://127.0.0.1:2379"}},
		{"no socket path", []string{"run", "--listen-client", "unix://"}},
		{"no port", []string{"run", "--listen-client", "http://127.0.0.1"}},
		{"cert without key", []string{"run", "--cert-file", "/nonexistent/c.pem"}},
		{"extra argument", []string{"run", "now"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newDatastoreCmd(&ctl.Options{})
			cmd.SetArgs(append(tc.args, "--data-dir", t.TempDir()))
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			var u ctl.UsageError
			if !errors.As(err, &u) {
				t.Errorf("got %v, want a usage error", err)
			}
		})
	}
}
