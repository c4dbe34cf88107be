package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/kube/kubebin"
	"github.com/trellisnet/trellis/internal/store/embed"
)

// ReadyTimeout bounds the wait for the API server's /readyz (3-5 s on an idle machine;
// much more while the machine compiles).
const ReadyTimeout = 3 * time.Minute

// Cluster is a running API server and its etcd.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig with admin rights.
	Kubeconfig string
	// Server is the API server's URL, https://127.0.0.1:PORT.
	Server string
	// Dir is the temporary directory holding the cluster's files.
	Dir string
	// EtcdURL is the client URL of the API server's etcd (http://127.0.0.1:PORT), for tests
	// that reach under the API server (a compaction, to provoke 410 Gone on watches).
	EtcdURL string
	// PID is the API server's process (for benchmarks that read its CPU time and memory).
	PID     int
	kubectl string
	token   string
	ca      *x509.CertPool
}

// Start starts etcd and kube-apiserver for t and stops them in t.Cleanup. It skips t when
// the binaries are missing and fails it when they do not come up. extraArgs are appended to
// kube-apiserver's flags (for example --watch-cache=false, so that watches are served by etcd
// and see its compactions).
func Start(t testing.TB, extraArgs ...string) *Cluster {
	t.Helper()
	bins, err := kubebin.FindBinaries("kube-apiserver", "kubectl")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	creds, err := writeCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	etcdURL := "http://" + freeAddr(t)
	srv := embed.New(embed.Config{Name: "kubetest", DataDir: filepath.Join(dir, "etcd"),
		ListenClientURLs: []string{etcdURL}, UnsafeNoFsync: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start etcd for the api server: %v", err)
	}
	t.Cleanup(srv.Stop)

	addr := freeAddr(t)
	c := &Cluster{Server: "https://" + addr, Dir: dir, EtcdURL: etcdURL, kubectl: bins["kubectl"], token: creds.Token}
	pem, err := os.ReadFile(creds.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	c.ca = x509.NewCertPool()
	c.ca.AppendCertsFromPEM(pem)
	if c.Kubeconfig, err = writeKubeconfig(dir, c.Server, creds); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "kube-apiserver.log")
	exited, pid, err := startAPIServer(t, bins["kube-apiserver"], append(apiServerArgs(addr, etcdURL, dir, creds), extraArgs...), logPath)
	c.PID = pid
	if err != nil {
		t.Fatal(err)
	}
	if err := c.waitReady(exited); err != nil {
		t.Fatalf("%v\n%s", err, tail(logPath, 40))
	}
	return c
}

// apiServerArgs are kube-apiserver's flags: loopback only, token authentication, RBAC. No
// controller-manager runs, so the ServiceAccount admission plugin, which refuses pods until
// the controller has created their namespace's default service account, is off.
func apiServerArgs(addr, etcdURL, dir string, c credentials) []string {
	host, port, _ := net.SplitHostPort(addr)
	return []string{
		"--bind-address=" + host, "--advertise-address=" + host, "--secure-port=" + port,
		"--etcd-servers=" + etcdURL,
		"--tls-cert-file=" + c.CertFile, "--tls-private-key-file=" + c.KeyFile,
		"--client-ca-file=" + c.CAFile, "--token-auth-file=" + c.TokenFile,
		"--authorization-mode=RBAC", "--anonymous-auth=false",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.SAPubFile,
		"--service-account-signing-key-file=" + c.SAKeyFile,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--profiling=false", "--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount",
	}
}

// startAPIServer starts the binary with its output in logPath; the returned channel is
// closed when the process exits. t.Cleanup stops it: SIGTERM, then SIGKILL after 10 s.
func startAPIServer(t testing.TB, bin string, args []string, logPath string) (<-chan struct{}, int, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, 0, fmt.Errorf("create api server log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, 0, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	return exited, cmd.Process.Pid, nil
}

// waitReady polls /readyz until it answers ok, the process exits or ReadyTimeout passes.
func (c *Cluster) waitReady(exited <-chan struct{}) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: c.ca}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(ReadyTimeout)
	last := errors.New("no answer")
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("kube-apiserver exited before it was ready (last: %w)", last)
		case <-time.After(250 * time.Millisecond):
		}
		req, err := http.NewRequest(http.MethodGet, c.Server+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("readyz request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("readyz: %s", resp.Status)
	}
	return fmt.Errorf("kube-apiserver not ready within %v (last: %w)", ReadyTimeout, last)
}

// Kubectl runs kubectl against the cluster with stdin (may be empty) and returns its
// stdout; the error carries stderr.
func (c *Cluster) Kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(c.kubectl, args...)
	cmd.Env = append(filterEnv(os.Environ(), "KUBECONFIG=", "HOME="),
		"KUBECONFIG="+c.Kubeconfig, "HOME="+c.Dir)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err,
			strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func filterEnv(env []string, drop ...string) []string {
	var out []string
next:
	for _, e := range env {
		for _, d := range drop {
			if strings.HasPrefix(e, d) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

func writeKubeconfig(dir, server string, c credentials) (string, error) {
	p := filepath.Join(dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: kubetest
  context:
    cluster: kubetest
    user: admin
current-context: kubetest
`, server, c.CAFile, c.Token)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		return "", fmt.Errorf("write kubeconfig: %w", err)
	}
	return p, nil
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
