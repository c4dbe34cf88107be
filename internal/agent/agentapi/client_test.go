package agentapi

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientStatus(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"node":"n1","ready":true,"bgpPeers":[{"address":"192.0.2.2","state":"Established"}]}`))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not in sync with the datastore yet", http.StatusServiceUnavailable)
	})
	tcp := httptest.NewServer(mux)
	defer tcp.Close()
	unix := httptest.NewUnstartedServer(mux)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	unix.Listener = l
	unix.Start()
	defer unix.Close()
	for _, target := range []string{tcp.URL, strings.TrimPrefix(tcp.URL, "http://"), sock, "unix://" + sock} {
		c := NewClient(target)
		s, err := c.Status(context.Background())
		if err != nil {
			t.Fatalf("%s: status: %v", target, err)
		}
		if s.Node != "n1" || !s.Ready || len(s.BGPPeers) != 1 || s.BGPPeers[0].State != "Established" {
			t.Errorf("%s: status %+v", target, s)
		}
		if _, code, err := c.Get(context.Background(), "/readyz"); err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("%s: /readyz: code %d, err %v; want 503", target, code, err)
		}
	}
}

func TestNames(t *testing.T) {
	if got := SocketPath("node1"); got != "/run/trellis/node/node1/agent.sock" {
		t.Errorf("SocketPath = %q", got)
	}
	if got := TunnelHandle("node1"); got != "vxlan-tunnel-addr-node1" {
		t.Errorf("TunnelHandle = %q", got)
	}
}
