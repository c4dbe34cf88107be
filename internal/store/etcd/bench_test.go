package etcd_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/model"
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
			benchOps(b, s)
		})
	}
}

func benchOps(b *testing.B, s store.Store) {
	ctx := context.Background()
	podKind := model.KindPod
	b.Run("Create", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.Create(ctx, storetest.Pod("trl-bench", fmt.Sprintf("create-%d", i), map[string]string{"app": "web"})); err != nil {
				b.Fatal(err)
			}
		}
	})
	obj, err := s.Create(ctx, storetest.Pod("trl-bench", "target", map[string]string{"app": "web"}))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Get(ctx, podKind, "trl-bench", "target"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Update", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			obj.SetLabels(map[string]string{"app": "web", "n": fmt.Sprint(i)})
			if obj, err = s.Update(ctx, obj); err != nil {
				b.Fatal(err)
			}
		}
	})
}
