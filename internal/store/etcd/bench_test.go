package etcd_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/embed"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// BenchmarkEmbedded measures Create, Get and Update of a pod through the etcd backend
// against a single embedded member on a unix socket, with fsync on (as
// `trellis datastore run` serves) and off.
//
//	go test -run '^$' -bench Embedded ./internal/store/etcd/
func BenchmarkEmbedded(b *testing.B) {
	for _, fsync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%v", fsync), func(b *testing.B) {
			dir := b.TempDir()
			srv := embed.New(embed.Config{
				Name:             "trl-bench",
				DataDir:          filepath.Join(dir, "data"),
				ListenClientURLs: []string{"unix://" + filepath.Join(dir, "client.sock")},
				UnsafeNoFsync:    !fsync,
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer srv.Stop()
			s, err := etcd.New(store.Config{Endpoints: srv.ClientURLs()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchOps(b, s)
		})
	}
}
