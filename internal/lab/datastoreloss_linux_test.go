package lab

import (
	"context"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/connectivity"
)

// TestDatastoreLossVisibleAndSupervised kills the lab's datastore (kill -9) with its
// supervisor paused: the agent turns not-ready naming the datastore and the reason, its
// trellis_datastore_up metric drops to 0, and the dataplane keeps enforcing (real packets:
// allowed still connects, denied still dropped). When the supervisor resumes it restarts
// the datastore; the agent is ready again, lists again and enforces a policy applied after
// the return. Lab status counts the restart.
func TestDatastoreLossVisibleAndSupervised(t *testing.T) {
	needRoot(t)
	name := newLab(t, 1)
	mustRun(t, name, "apply", "-f", "testdata/pods.yaml")
	waitRunning(t, name, 3)
	mustRun(t, name, "apply", "-f", "testdata/policy.yaml")
	verdicts := shopVerdicts(t, name)
	eventually(t, 15*time.Second, "policy enforced before the loss", func() (bool, string) { return verdicts(false) })

	st, err := LoadState(name)
	if err != nil {
		t.Fatal(err)
	}
	readyz, metric := agentProbes(st.Nodes[0].Socket)
	// Pause the supervisor so that the datastore stays down while the test looks.
	if err := syscall.Kill(st.SupervisorPID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(st.SupervisorPID, syscall.SIGCONT) })
	if err := syscall.Kill(st.DatastorePID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	down := eventually(t, 10*time.Second, "agent not ready, naming the datastore", func() (bool, string) {
		code, body := readyz()
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, "datastore unreachable since ") &&
			strings.Contains(body, Endpoint(name)) && metric("trellis_datastore_up 0"), body
	})
	_, body := readyz()
	t.Logf("/readyz %v after kill -9 of the datastore: %s", down.Round(time.Millisecond), body)
	if ok, detail := verdicts(false); !ok {
		t.Errorf("dataplane not enforcing while the datastore is down: %s", detail)
	}
	for _, f := range []string{agentLog(name, "node1"), logDir(name) + "/controller.log"} {
		if log, _ := os.ReadFile(f); !strings.Contains(string(log), "datastore unreachable") || !strings.Contains(string(log), Endpoint(name)) {
			t.Errorf("%s has no warning naming the unreachable datastore", f)
		}
	}

	// The supervisor restarts the datastore; the agent comes back and follows new policy.
	if err := syscall.Kill(st.SupervisorPID, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	up := eventually(t, 30*time.Second, "agent ready again", func() (bool, string) {
		code, body := readyz()
		return code == http.StatusOK && metric("trellis_datastore_up 1") && metric("trellis_datastore_reconnects_total 1"), body
	})
	t.Logf("agent ready again %v after the supervisor resumed", up.Round(time.Millisecond))
	if r := labStatus(t, name); !r.Datastore.Alive || r.Datastore.Restarts != 1 || r.Datastore.PID == st.DatastorePID {
		t.Errorf("lab status after the restart: datastore %+v, want alive, a new pid and 1 restart", r.Datastore)
	}
	if out := mustRun(t, name, "lab", "status", "--name", name); !strings.Contains(out, "restarts 1") {
		t.Errorf("lab status does not show the restart:\n%s", out)
	}
	applyAllowCToB(t, name)
	eventually(t, 15*time.Second, "policy applied after the return enforced", func() (bool, string) { return verdicts(true) })

	// The agent took none of its own writes (nor the restart) for drift.
	if !metric("trellis_agent_drift_repairs_total 0") {
		t.Error("the agent made full syncs for drift although nothing touched its table")
	}

	// A crashed controller is restarted too.
	ctrl := labStatus(t, name).Controller
	if err := syscall.Kill(ctrl.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "controller restarted", func() (bool, string) {
		rep, err := Status(context.Background(), name) // lab status exits 1 while it is down
		if err != nil {
			return false, err.Error()
		}
		r := rep.Controller
		return r.Alive && r.PID != ctrl.PID && r.Restarts == 1, yesNo(r.Alive)
	})
}

// shopVerdicts returns a check of testdata/policy.yaml's pods: a->b tcp/80 connects and
// c->b tcp/80 connects exactly when cToB.
func shopVerdicts(t *testing.T, name string) func(cToB bool) (bool, string) {
	ips := map[string]netip.Addr{}
	for _, p := range labStatus(t, name).Pods {
		ips[p.Name] = netip.MustParseAddr(p.IP)
	}
	tcp80, err := connectivity.ParsePort("tcp/80")
	if err != nil {
		t.Fatal(err)
	}
	return func(cToB bool) (bool, string) {
		ab := Probe(context.Background(), name, "shop/a", "shop/b", ips["b"], tcp80, time.Second)
		cb := Probe(context.Background(), name, "shop/c", "shop/b", ips["b"], tcp80, time.Second)
		return ab.Connected && cb.Connected == cToB, "a->b connected " + yesNo(ab.Connected) + ", c->b connected " + yesNo(cb.Connected)
	}
}

// agentProbes returns readers of an agent's /readyz (code, body) and of one /metrics line.
func agentProbes(socket string) (func() (int, string), func(line string) bool) {
	agent := agentapi.NewClient(socket)
	readyz := func() (int, string) {
		body, code, err := agent.Get(context.Background(), "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		return code, strings.TrimSpace(string(body))
	}
	metric := func(line string) bool {
		body, _, err := agent.Get(context.Background(), "/metrics")
		return err == nil && strings.Contains(string(body), "\n"+line+"\n")
	}
	return readyz, metric
}

// applyAllowCToB allows shop/c -> shop/b on tcp/80.
func applyAllowCToB(t *testing.T, name string) {
	allowC := t.TempDir() + "/allow-c.yaml"
	if err := os.WriteFile(allowC, []byte(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-c-to-b, namespace: shop}
spec:
  podSelector: {matchLabels: {app: b}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: c}}
    ports:
    - {protocol: TCP, port: 80}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, name, "apply", "-f", allowC)
}
