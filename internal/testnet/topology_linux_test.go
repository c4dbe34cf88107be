package testnet

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/netns"
)

func TestTopologyConnectivity(t *testing.T) {
	n := New(t, Config{Pods: 2})
	const port = 7001
	Serve(t, n.Pods[1].NS, port)
	dst := n.Pods[1]
	for _, proto := range []string{TCP, UDP, ICMP} {
		for _, addr := range [...]struct {
			name string
			ip   func(*Pod) string
		}{{"v4", func(p *Pod) string { return p.IPv4.String() }}, {"v6", func(p *Pod) string { return p.IPv6.String() }}} {
			t.Run(fmt.Sprintf("%s/%s", proto, addr.name), func(t *testing.T) {
				ip := dst.IPv4
				if addr.name == "v6" {
					ip = dst.IPv6
				}
				if err := Probe(n.Pods[0].NS, proto, ip, port, 2*time.Second); err != nil {
					t.Fatalf("pod0 -> pod1: %v", err)
				}
			})
		}
	}
	t.Run("closed port fails", func(t *testing.T) {
		if err := Probe(n.Pods[0].NS, TCP, dst.IPv4, port+1, time.Second); err == nil {
			t.Fatal("probe to a closed port succeeded")
		}
	})
	t.Run("no route times out", func(t *testing.T) {
		// An address that exists nowhere in the topology: the host has no route for it
		// beyond its own namespace, so the probe must not succeed.
		err := Probe(n.Pods[0].NS, ICMP, n.Pods[0].IPv4.Next().Next().Next().Next(), 0, 300*time.Millisecond)
		if err == nil {
			t.Fatal("ping to an address nobody owns succeeded")
		}
	})
}

func TestCloseRemovesNamespaces(t *testing.T) {
	RequireRoot(t)
	n, err := Build(Config{Pods: 1})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	names := []string{n.Host, n.Pods[0].NS}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if netns.Exists(name) {
			t.Errorf("namespace %s still exists after Close", name)
		}
	}
}

func TestNetnsDoIsolation(t *testing.T) {
	n := New(t, Config{Pods: 1})
	// The host-side veth exists inside the host namespace and nowhere else.
	var inHost bool
	if err := netns.Do(n.Host, func() error {
		_, err := net.InterfaceByName(n.Pods[0].HostIf)
		inHost = err == nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !inHost {
		t.Fatalf("%s not visible inside %s", n.Pods[0].HostIf, n.Host)
	}
	if _, err := net.InterfaceByName(n.Pods[0].HostIf); err == nil {
		t.Fatalf("%s visible in the test's own namespace: namespace not restored", n.Pods[0].HostIf)
	}
	wantErr := errors.New("boom")
	if err := netns.Do(n.Host, func() error { return wantErr }); !errors.Is(err, wantErr) {
		t.Fatalf("Do returned %v, want %v", err, wantErr)
	}
	if err := netns.Do("trl-does-not-exist", func() error { return nil }); err == nil {
		t.Fatal("Do into a missing namespace succeeded")
	}
}
