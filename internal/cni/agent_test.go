package cni

import (
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// readyzAgent answers /readyz on a unix socket the way the node agent does (STATUS asks it).
type readyzAgent struct {
	socket string
	ready  atomic.Bool
	srv    *http.Server
}

func startReadyzAgent(t testing.TB, socket string) *readyzAgent {
	t.Helper()
	a := &readyzAgent{socket: socket}
	a.ready.Store(true)
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	a.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !a.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	})}
	go func() {
		if err := a.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("fake agent: %v", err)
		}
	}()
	t.Cleanup(a.stop)
	return a
}

func (a *readyzAgent) stop() { a.srv.Close() }
