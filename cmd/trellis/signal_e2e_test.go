package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every long-running component honours SIGTERM during start-up, here while its datastore
// does not answer: it exits within seconds instead of waiting out its retries. The node
// agent runs in a network namespace of the test's own.
func TestSIGTERMDuringStartup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the node agent case needs root (a network namespace)")
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	ns := "trl-sig-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	dir := t.TempDir()
	silent := "unix://" + filepath.Join(dir, "nobody-listens.sock")
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"node run", []string{"ip", "netns", "exec", ns, binary, "node", "run", "--node-name", "sig", "--health-addr", "none",
			"--status-socket", "none", "--routing", "off", "--datastore-endpoints", silent}},
		{"controller run", []string{binary, "controller", "run", "--datastore-endpoints", silent}},
		{"dns serve", []string{binary, "dns", "serve", "--listen", "127.0.0.1:0", "--datastore-endpoints", silent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
			var logs bytes.Buffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond)
			begin := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatalf("%s exited before SIGTERM: %v\n%s", tc.name, err, logs.String())
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
				t.Logf("%s exited %v after SIGTERM", tc.name, time.Since(begin).Round(time.Millisecond))
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("%s ignored SIGTERM during start-up\n%s", tc.name, logs.String())
			}
		})
	}
}

// --log-format json makes every log line one JSON object; an unknown format is a usage error.
func TestLogFormatJSON(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, "controller", "run", "--log-format", "json", "--log-level", "debug",
		"--datastore-endpoints", "unix://"+filepath.Join(dir, "none.sock"))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("no log lines")
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["msg"] == nil || m["level"] == nil {
			t.Errorf("not a JSON log line: %q (%v)", l, err)
		}
	}
	if r := trellis(t, nil, "", "version", "--log-format", "xml"); r.code != 2 {
		t.Errorf("--log-format xml: exit %d, want 2", r.code)
	}
}
