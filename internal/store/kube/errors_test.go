package kube

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

func TestSentinelOf(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"not found", apierrors.NewNotFound(pods, "a"), store.ErrNotFound},
		{"already exists", apierrors.NewAlreadyExists(pods, "a"), store.ErrAlreadyExists},
		{"conflict", apierrors.NewConflict(pods, "a", errors.New("modified")), store.ErrConflict},
		{"too large", apierrors.NewRequestEntityTooLargeError("limit is 3145728"), store.ErrTooLarge},
		{"service unavailable", apierrors.NewServiceUnavailable("etcd"), store.ErrUnavailable},
		{"server timeout", apierrors.NewServerTimeout(pods, "create", 1), store.ErrUnavailable},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1), store.ErrUnavailable},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), store.ErrUnavailable},
		{"connection refused", &url.Error{Op: "Get", URL: "https://127.0.0.1:1", Err: syscall.ECONNREFUSED}, store.ErrUnavailable},
		{"canceled", &url.Error{Op: "Get", URL: "https://127.0.0.1:1", Err: context.Canceled}, nil},
		{"invalid", apierrors.NewBadRequest("bad"), nil},
		{"gone", apierrors.NewResourceExpired("too old resource version"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sentinelOf(tc.err); got != tc.want {
				t.Errorf("sentinelOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if !gone(apierrors.NewResourceExpired("too old resource version")) {
		t.Errorf("410 Gone not recognised")
	}
}

// TestUnreachable: a server that does not answer is ErrUnavailable, an oversized object
// ErrTooLarge before anything is sent.
func TestUnreachable(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(store.Config{Kubeconfig: kc, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = s.Get(ctx, model.KindPod, "ns1", "a")
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "Pod/ns1/a") {
		t.Errorf("get from a closed port: %v, want ErrUnavailable naming Pod/ns1/a", err)
	}
	if _, err := s.Watch(ctx, model.KindPod, store.WatchOptions{}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("watch from a closed port: %v, want ErrUnavailable", err)
	}
	big := storetest.Pod("ns1", "big", map[string]string{"x": "y"})
	big.Annotations = map[string]string{"blob": strings.Repeat("x", store.MaxObjectBytes)}
	if _, err := s.Create(ctx, big); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("create of %d bytes: %v, want ErrTooLarge", store.MaxObjectBytes, err)
	}
}

func TestNoKubeconfig(t *testing.T) {
	if _, err := New(store.Config{Kubeconfig: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Errorf("New with a missing kubeconfig: no error")
	}
}

func TestCollectionErr(t *testing.T) {
	err := collectionErr("list", model.KindIPPool, apierrors.NewNotFound(schema.GroupResource{}, ""))
	if errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "deploy/crds") {
		t.Errorf("list of an unserved resource: %v, want a hint at deploy/crds and no ErrNotFound", err)
	}
	err = collectionErr("list", model.KindIPPool, apierrors.NewServiceUnavailable("etcd"))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("list while unavailable: %v, want ErrUnavailable", err)
	}
}
