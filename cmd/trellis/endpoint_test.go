package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bad endpoints fail at once with the cause: a malformed one is a usage error (exit 2);
// a missing socket, a file that is no socket and a refused connection fail within seconds.
func TestBadDatastoreEndpoints(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // the socket file stays, nobody listens: connection refused
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedTCP := "http://" + tcp.Addr().String()
	tcp.Close()
	for _, tc := range []struct {
		name, endpoints string
		code            int
		want            string
	}{
		{"bad scheme", "ftp://x:1", 2, "scheme must be unix, unixs, http or https"},
		{"no port", "http://127.0.0.1", 2, "want http(s)://HOST:PORT"},
		{"empty", "", 2, "--datastore-endpoints is empty"},
		{"no socket", "unix://" + filepath.Join(dir, "none.sock"), 1, "no socket at"},
		{"not a socket", "unix://" + plain, 1, "is not a socket"},
		{"refused unix", "unix://" + stale, 1, "connection refused"},
		{"refused tcp", refusedTCP, 1, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			begin := time.Now()
			r := trellis(t, nil, "", "get", "tiers", "--datastore-endpoints", tc.endpoints)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
			if d := time.Since(begin); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	r := trellis(t, []string{"TRELLIS_DATASTORE_ENDPOINTS="}, "", "get", "tiers")
	if r.code != 2 || !strings.Contains(r.stderr, "is set but empty") {
		t.Errorf("empty environment variable: exit %d, %q", r.code, r.stderr)
	}
}

// config view and every write name the datastore and where it came from.
func TestWritesSayWhereTheyWent(t *testing.T) {
	env := startDatastore(t)
	ep := strings.TrimPrefix(env[0], "TRELLIS_DATASTORE_ENDPOINTS=")
	out := mustRun(t, env, "", "config", "view")
	if !strings.Contains(out, "datastore-endpoints: "+ep) || !strings.Contains(out, "source: $TRELLIS_DATASTORE_ENDPOINTS") {
		t.Errorf("config view: %q", out)
	}
	out = mustRun(t, env, "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: where}\nspec: {order: 5}\n", "apply", "-f", "-")
	if !strings.Contains(out, "Successfully applied 1 resource(s) in datastore "+ep+" ($TRELLIS_DATASTORE_ENDPOINTS)") {
		t.Errorf("apply output: %q", out)
	}
	out = mustRun(t, nil, "", "config", "view", "--datastore-endpoints", ep)
	if !strings.Contains(out, "source: --datastore-endpoints") {
		t.Errorf("config view with the flag: %q", out)
	}
}
