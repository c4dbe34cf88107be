package routing

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// put creates or replaces every object of the manifest, defaulted.
func put(t testing.TB, st store.Store, manifest string) {
	t.Helper()
	docs, err := model.Decode([]byte(manifest), "test")
	if err != nil {
		t.Fatalf("decode manifest: %v\n%s", err, manifest)
	}
	for _, d := range docs {
		model.SetDefaults(d.Object)
		if err := storetest.Put(context.Background(), st, d.Object); err != nil {
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

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
