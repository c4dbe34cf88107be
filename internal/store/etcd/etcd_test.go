package etcd_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/embed"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// startSingle starts a one-member embedded etcd on unix sockets in a temp dir.
func startSingle(t testing.TB) *embed.Server {
	t.Helper()
	dir := t.TempDir()
	srv := embed.New(embed.Config{
		Name:             "trl-single",
		DataDir:          filepath.Join(dir, "data"),
		ListenClientURLs: []string{"unix://" + filepath.Join(dir, "client.sock")},
		ListenPeerURLs:   []string{"unix://" + filepath.Join(dir, "peer.sock")},
		UnsafeNoFsync:    true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// newStore opens the backend on endpoints after deleting every Trellis key, so each
// conformance subtest starts from an empty store.
func newStore(t *testing.T, endpoints []string) store.Store {
	t.Helper()
	wipe(t, endpoints)
	s, err := etcd.New(store.Config{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rawClient(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func wipe(t *testing.T, endpoints []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := rawClient(t, endpoints).Delete(ctx, "/trellis/", clientv3.WithPrefix()); err != nil {
		t.Fatalf("wipe: %v", err)
	}
}

func TestConformanceEmbedded(t *testing.T) {
	srv := startSingle(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, srv.ClientURLs()) })
}
