package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// lossyStore's pod watches lose events while lost is set (each tells dropped) and end
// with EventResync when it is cleared, as a watch whose history was compacted away does.
type lossyStore struct {
	store.Store
	mu      sync.Mutex
	lost    bool
	resume  chan struct{}
	dropped chan struct{}
}

func (s *lossyStore) lose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost, s.resume = true, make(chan struct{})
}

func (s *lossyStore) recover() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost = false
	close(s.resume)
}

func (s *lossyStore) Watch(ctx context.Context, k *model.Kind, opts store.WatchOptions) (store.Watch, error) {
	w, err := s.Store.Watch(ctx, k, opts)
	if err != nil || k != model.KindPod {
		return w, err
	}
	out := make(chan store.Event)
	go func() {
		defer close(out)
		defer w.Stop()
		for ev := range w.Events() {
			s.mu.Lock()
			lost, resume := s.lost, s.resume
			s.mu.Unlock()
			if lost {
				s.dropped <- struct{}{}
				select {
				case <-resume:
					out <- store.Event{Type: store.EventResync, Err: fmt.Errorf("history lost")}
				case <-ctx.Done():
				}
				return
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return lossyWatch{out: out, stop: w.Stop}, nil
}

type lossyWatch struct {
	out  chan store.Event
	stop func()
}

func (w lossyWatch) Events() <-chan store.Event { return w.out }
func (w lossyWatch) Stop()                      { w.stop() }

// TestInformerListsAgainAfterLostHistory: events lost while a watch could not continue
// are made good by the re-list that follows its EventResync.
func TestInformerListsAgainAfterLostHistory(t *testing.T) {
	st := &lossyStore{Store: memory.New(0), dropped: make(chan struct{}, 2)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	c, err := New(DefaultConfig(), st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Run(ctx); close(done) }()
	web := map[string]string{"app": "web"}
	s := svc("web", 0, func(s *corev1.Service) { s.Spec.Selector = web })
	s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	create(t, st, s)
	for _, p := range []*corev1.Pod{pod("a", "10.244.0.10", true, web), pod("b", "10.244.0.11", true, web)} {
		p.TypeMeta, p.UID = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ""
		create(t, st, p)
	}
	endpoints := func(want int) func() string {
		return func() string {
			n := 0
			for _, sl := range mustList[*discoveryv1.EndpointSlice](t, st, model.KindEndpointSlice) {
				n += len(sl.Endpoints)
			}
			if n != want {
				return fmt.Sprintf("%d endpoints, want %d", n, want)
			}
			return ""
		}
	}
	eventually(t, "both pods in the slice", endpoints(2))
	st.lose()
	if _, err := st.Delete(context.Background(), model.KindPod, "default", "b", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.dropped:
	case <-time.After(10 * time.Second):
		t.Fatal("no pod watch lost the delete")
	}
	select { // the slice and the label loops each watch pods
	case <-st.dropped:
	case <-time.After(time.Second):
	}
	st.recover()
	eventually(t, "the deleted pod's endpoint gone after the re-list", endpoints(1))
}
