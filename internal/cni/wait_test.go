package cni

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

func endpointStatus(ns, name, uid string, programmed bool) *model.EndpointStatus {
	return &model.EndpointStatus{TypeMeta: metav1.TypeMeta{APIVersion: model.GroupTrellis + "/" + model.VersionIPAM, Kind: "EndpointStatus"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Status:     model.EndpointStatusStatus{Node: "n1", EndpointUID: uid, PolicyProgrammed: programmed}}
}

// TestWaitForPolicy drives the policy wait against the in-memory store: the status may be
// there before the wait starts, arrive later, or first belong to an older endpoint.
func TestWaitForPolicy(t *testing.T) {
	wep := &model.WorkloadEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "n1-k8s-a-eth0", UID: types.UID("uid-new")}}
	type write struct {
		after  time.Duration
		status *model.EndpointStatus
	}
	tests := []struct {
		name   string
		before *model.EndpointStatus // present when the wait starts
		later  []write               // created or updated while it waits
		ok     bool
	}{
		{name: "already programmed", before: endpointStatus("web", wep.Name, "uid-new", true), ok: true},
		{name: "programmed later", later: []write{{30 * time.Millisecond, endpointStatus("web", wep.Name, "uid-new", true)}}, ok: true},
		{name: "stale uid then current", before: endpointStatus("web", wep.Name, "uid-old", true),
			later: []write{{30 * time.Millisecond, endpointStatus("web", wep.Name, "uid-new", true)}}, ok: true},
		{name: "another endpoint of the namespace only", later: []write{{10 * time.Millisecond, endpointStatus("web", "n1-k8s-b-eth0", "uid-new", true)}}},
		{name: "stale uid only", before: endpointStatus("web", wep.Name, "uid-old", true)},
		{name: "not programmed", later: []write{{10 * time.Millisecond, endpointStatus("web", wep.Name, "uid-new", false)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memory.New(100)
			ctx := context.Background()
			if tt.before != nil {
				if _, err := st.Create(ctx, tt.before); err != nil {
					t.Fatal(err)
				}
			}
			go func() {
				for _, w := range tt.later {
					time.Sleep(w.after)
					if _, err := st.Create(ctx, w.status); err != nil {
						if _, err := st.Update(ctx, w.status); err != nil {
							t.Errorf("write status: %v", err)
						}
					}
				}
			}()
			timeout := 2 * time.Second
			if !tt.ok {
				timeout = 300 * time.Millisecond
			}
			start := time.Now()
			err := waitForPolicy(ctx, st, wep, timeout)
			if (err == nil) != tt.ok {
				t.Fatalf("waitForPolicy: %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && time.Since(start) > time.Second {
				t.Errorf("waitForPolicy took %s: the status change was missed until the timeout", time.Since(start))
			}
		})
	}
}

// TestWaitForPolicyWithoutWatch checks the polling fallback: a store whose Watch fails.
func TestWaitForPolicyWithoutWatch(t *testing.T) {
	wep := &model.WorkloadEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "n1-k8s-a-eth0", UID: types.UID("uid-new")}}
	st := noWatch{memory.New(100)}
	go func() {
		time.Sleep(30 * time.Millisecond)
		if _, err := st.Create(context.Background(), endpointStatus("web", wep.Name, "uid-new", true)); err != nil {
			t.Errorf("write status: %v", err)
		}
	}()
	if err := waitForPolicy(context.Background(), st, wep, 2*time.Second); err != nil {
		t.Fatalf("waitForPolicy: %v", err)
	}
}

type noWatch struct{ store.Store }

func (noWatch) Watch(context.Context, *model.Kind, store.WatchOptions) (store.Watch, error) {
	return nil, store.ErrUnavailable
}

// TestWaitForAgent drives the kubernetes datastore's policy wait against a fake agent
// socket: it answers as the agent's /endpoint does, after a delay, for one uid only; and
// before the socket exists the plugin keeps asking.
func TestWaitForAgent(t *testing.T) {
	wep := &model.WorkloadEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "n1-k8s-a-eth0", UID: types.UID("pod-uid")}}
	tests := []struct {
		name    string
		ready   time.Duration // the endpoint is programmed this long after the start
		late    time.Duration // the socket is served this long after the start
		uid     string
		timeout time.Duration
		ok      bool
	}{
		{name: "programmed", uid: "pod-uid", timeout: 2 * time.Second, ok: true},
		{name: "programmed after a while", ready: 300 * time.Millisecond, uid: "pod-uid", timeout: 2 * time.Second, ok: true},
		{name: "agent starts late", late: 200 * time.Millisecond, uid: "pod-uid", timeout: 2 * time.Second, ok: true},
		{name: "another uid", uid: "old-uid", timeout: 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "agent.sock")
			start := time.Now()
			mux := http.NewServeMux()
			mux.HandleFunc(agentapi.EndpointPath, func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				wait, _ := time.ParseDuration(q.Get("wait"))
				deadline := time.Now().Add(wait)
				for {
					if q.Get("namespace") == "web" && q.Get("name") == wep.Name && q.Get("uid") == tc.uid && time.Since(start) >= tc.ready {
						fmt.Fprintln(w, "programmed")
						return
					}
					if time.Now().After(deadline) {
						http.Error(w, "not programmed yet", http.StatusServiceUnavailable)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
			srv := httptest.NewUnstartedServer(mux)
			go func() {
				time.Sleep(tc.late)
				l, err := net.Listen("unix", sock)
				if err != nil {
					t.Error(err)
					return
				}
				srv.Listener = l
				srv.Start()
			}()
			t.Cleanup(func() {
				if srv.Listener != nil {
					srv.Close()
				}
			})
			err := waitForAgent(context.Background(), sock, wep, tc.timeout)
			if tc.ok != (err == nil) {
				t.Fatalf("waitForAgent: %v, want ok %v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "did not report its policy programmed within") {
				t.Errorf("error %q does not say what it waited for", err)
			}
		})
	}
}
