package store_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

func pod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p := model.KindPod.New().(*corev1.Pod)
	p.Namespace, p.Name = ns, name
	return p
}

func TestKeyOf(t *testing.T) {
	unknown := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "example.com/v9", Kind: "Pod"}}
	unknown.Name = "x"
	tests := []struct {
		name    string
		obj     model.Object
		wantErr string
	}{
		{"ok", pod(t, "ns1", "web"), ""},
		{"no namespace", pod(t, "", "web"), "namespace is required"},
		{"no name", pod(t, "ns1", ""), "name is required"},
		{"slash", pod(t, "ns1", "a/b"), "must not contain '/'"},
		{"unknown kind", unknown, `unknown apiVersion "example.com/v9"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, err := store.KeyOf("create", tc.obj)
			if tc.wantErr == "" {
				if err != nil || key.String() != "Pod/ns1/web" {
					t.Fatalf("KeyOf = %v, %v; want Pod/ns1/web", key, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "create ") {
				t.Fatalf("KeyOf error = %v, want one starting with the operation and containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestPrepareUpdateGeneration(t *testing.T) {
	kind := model.KindPod
	old := pod(t, "ns1", "web")
	created, err := store.PrepareCreate(kind, old, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(p *corev1.Pod)
		want   int64
	}{
		{"nothing", func(p *corev1.Pod) {}, 1},
		{"labels", func(p *corev1.Pod) { p.Labels = map[string]string{"a": "b"} }, 1},
		{"annotations", func(p *corev1.Pod) { p.Annotations = map[string]string{"a": "b"} }, 1},
		{"status", func(p *corev1.Pod) { p.Status.PodIP = "192.0.2.1" }, 1},
		{"spec", func(p *corev1.Pod) { p.Spec.NodeName = "node-9" }, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := created.(*corev1.Pod).DeepCopy()
			tc.change(in)
			in.UID, in.Generation = "forged", 50
			out, err := store.PrepareUpdate(kind, created, in)
			if err != nil {
				t.Fatal(err)
			}
			if out.GetGeneration() != tc.want {
				t.Errorf("generation = %d, want %d", out.GetGeneration(), tc.want)
			}
			if out.GetUID() != created.GetUID() {
				t.Errorf("uid = %q, want the stored %q", out.GetUID(), created.GetUID())
			}
		})
	}
}
