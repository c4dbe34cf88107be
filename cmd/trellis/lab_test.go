package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
)

func runCmd(t *testing.T, c *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	err := c.ExecuteContext(context.Background())
	return out.String(), err
}

func TestLabUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bad routing", []string{"up", "--routing", "ipip"}},
		{"bad node count", []string{"up", "--nodes", "0"}},
		{"bad lab name", []string{"up", "--name", "a-b"}},
		{"probe without flags", []string{"probe"}},
		{"probe bad port", []string{"probe", "--from", "a/b", "--to", "10.0.0.1", "--port", "icmp"}},
		{"probe bad source", []string{"probe", "--from", "ab", "--to", "10.0.0.1", "--port", "tcp/80"}},
		{"matrix bad output", []string{"matrix", "-o", "yaml"}},
		{"matrix bad port", []string{"matrix", "--ports", "sctp/9"}},
		{"exec without command", []string{"exec", "default/a"}},
		{"status bad output", []string{"status", "-o", "yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, newLabCmd(&ctl.Options{}), tc.args...)
			var u ctl.UsageError
			if !errors.As(err, &u) {
				t.Fatalf("lab %v: err %v (%T), want a usage error\n%s", tc.args, err, err, out)
			}
		})
	}
}

func TestDemoUsage(t *testing.T) {
	_, err := runCmd(t, newDemoCmd(&ctl.Options{}), "http-server", "--port", "0")
	var u ctl.UsageError
	if !errors.As(err, &u) {
		t.Fatalf("demo http-server --port 0: %v, want a usage error", err)
	}
}

func TestDemoHTTPServerAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	t.Setenv("HOSTNAME", "pod-x")
	ctx, cancel := context.WithCancel(context.Background())
	c := newDemoCmd(&ctl.Options{})
	c.SetArgs([]string{"http-server", "--port", strconv.Itoa(port)})
	c.SetOut(io.Discard)
	done := make(chan error, 1)
	go func() { done <- c.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo http-server: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := string(body); got != "pod-x 127.0.0.1\n" {
				t.Fatalf("body %q", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not answering: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
