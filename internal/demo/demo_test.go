package demo

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHandlerNamesHostAndAddress(t *testing.T) {
	srv := httptest.NewServer(Handler("pod-a"))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got, want := string(body), "pod-a 127.0.0.1\n"; got != want {
		t.Fatalf("body = %q, want %q", got, want)
	}
}

func TestHandlerClientPathNamesClient(t *testing.T) {
	srv := httptest.NewServer(Handler("pod-a"))
	defer srv.Close()
	resp, err := http.Get(srv.URL + ClientPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got, want := string(body), "pod-a 127.0.0.1\n"; got != want {
		t.Fatalf("body = %q, want %q", got, want)
	}
}

func TestUDPEcho(t *testing.T) {
	// Find a free port on loopback, then serve on it.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeUDPEcho(ctx, port, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeUDPEcho: %v", err)
		}
	})
	c, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 16)
	deadline := time.Now().Add(3 * time.Second)
	for {
		// Until the server listens, a write or read may fail with "connection refused".
		_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.Write([]byte("ping"))
		n := 0
		if err == nil {
			n, err = c.Read(buf)
		}
		if err == nil {
			if got := string(buf[:n]); got != "ping" {
				t.Fatalf("echo = %q, want ping", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no echo: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFetch: the body of a 2xx answer is copied; another status and a refused connection
// are errors.
func TestFetch(t *testing.T) {
	srv := httptest.NewServer(Handler("pod-a"))
	defer srv.Close()
	var b strings.Builder
	if err := Fetch(context.Background(), srv.URL+"/", time.Second, &b); err != nil || b.String() != "pod-a 127.0.0.1\n" {
		t.Fatalf("Fetch = %q, %v", b.String(), err)
	}
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	if err := Fetch(context.Background(), missing.URL+"/", time.Second, io.Discard); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Fetch of a 404: %v", err)
	}
	missing.Close()
	if err := Fetch(context.Background(), missing.URL+"/", time.Second, io.Discard); err == nil {
		t.Error("Fetch from a closed server succeeded")
	}
}
