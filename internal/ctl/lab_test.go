package ctl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/lab"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
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
			out, err := runCmd(t, NewLabCmd(&Options{}), tc.args...)
			var u UsageError
			if !errors.As(err, &u) {
				t.Fatalf("lab %v: err %v (%T), want a usage error\n%s", tc.args, err, err, out)
			}
		})
	}
}

func TestDemoUsage(t *testing.T) {
	_, err := runCmd(t, NewDemoCmd(&Options{}), "http-server", "--port", "0")
	var u UsageError
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
	c := NewDemoCmd(&Options{})
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

func TestWriteLabStatus(t *testing.T) {
	r := lab.Report{Name: "x", Routing: "bgp", Datastore: lab.ProcReport{PID: 10, Alive: true},
		Controller: lab.ProcReport{PID: 11, Alive: false},
		Nodes:      []lab.NodeReport{{Name: "node1", Namespace: "trl-x-node1", Address: "10.99.0.11/24", AgentPID: 12, AgentAlive: true, AgentReady: true}},
		Pods:       []lab.PodReport{{Namespace: "default", Name: "web", Node: "node1", IP: "10.244.0.1", Phase: "Running", Ready: true}}}
	var b bytes.Buffer
	writeLabStatus(&b, r)
	for _, want := range []string{"lab x (routing bgp)", "controller: pid 11, alive no", "trl-x-node1", "10.99.0.11/24",
		"default    web  node1  10.244.0.1  Running  yes    0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

func TestCompareMatrix(t *testing.T) {
	docs, err := LoadManifests([]string{"testdata/policy/k8s_basic.yaml"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(0)
	for _, d := range docs {
		if _, err := st.Create(context.Background(), d.Object); err != nil {
			t.Fatal(err)
		}
	}
	open := func(context.Context) (store.Store, error) { return nopClose{st}, nil }
	o := &Options{OpenStore: open}
	specs := []traceSpec{{proto: "tcp", port: 80}, {proto: "udp", port: 9000}}
	sc, err := (&policySource{}).load(context.Background(), o, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	calc, err := sc.matrix(specs)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.names) < 2 {
		t.Fatalf("fixture has %d pods, want at least 2", len(sc.names))
	}
	flip := func(v string) string {
		if v == "allow" {
			return "deny"
		}
		return "allow"
	}
	for _, tc := range []struct {
		name  string
		edit  func([]matrixResult)
		diffs int
	}{
		{"agreement", func([]matrixResult) {}, 0},
		{"self pairs are not compared", func(rs []matrixResult) {
			for i := range rs {
				if rs[i].From == rs[i].To {
					rs[i].Verdict = flip(rs[i].Verdict)
				}
			}
		}, 0},
		{"one disagreement", func(rs []matrixResult) {
			for i := range rs {
				if rs[i].From != rs[i].To {
					rs[i].Verdict = flip(rs[i].Verdict)
					return
				}
			}
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probed := append([]matrixResult(nil), calc...)
			tc.edit(probed)
			var out bytes.Buffer
			err := compareMatrix(context.Background(), o, open, specs, probed, &out, io.Discard)
			if (err != nil) != (tc.diffs > 0) {
				t.Fatalf("compare: err %v, want disagreements=%d\n%s", err, tc.diffs, out.String())
			}
			if tc.diffs == 0 && !strings.Contains(out.String(), "no disagreement") {
				t.Errorf("output %q", out.String())
			}
			if tc.diffs > 0 && !strings.Contains(out.String(), "1 disagreements") {
				t.Errorf("output %q", out.String())
			}
		})
	}
}
