package lab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// familyMatrix runs `lab matrix -o json` with extra flags and returns the verdicts by
// "from to family", with the run's result.
func familyMatrix(t *testing.T, name string, extra ...string) (map[string]string, result) {
	t.Helper()
	r := run(t, name, append([]string{"lab", "matrix", "--name", name, "-o", "json"}, extra...)...)
	var m matrixJSON
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("decode lab matrix: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	out := map[string]string{}
	for _, x := range m.Results {
		out[fmt.Sprintf("%s %s %d", x.From, x.To, x.Family)] = x.Verdict
	}
	return out, r
}

// TestDualStackProbeMatrixAndService: in a two-node `lab up --ipv6` lab, the matrix
// probes both families by default and every cross-node pair connects over both; a Calico
// rule allowing TCP 80 over IPv4 only denies IPv6 on real packets while the calculation
// agrees (--compare); and a RequireDualStack NodePort service is reached on its IPv6
// cluster IP from a pod and on a node's IPv6 address from a host outside the cluster.
func TestDualStackProbeMatrixAndService(t *testing.T) {
	needRoot(t)
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := "trlv" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if r := run(t, name, "lab", "down", "--name", name); r.code != 0 {
			t.Errorf("lab down: exit %d: %s", r.code, r.stderr)
		}
		assertGone(t, name)
	})
	mustRun(t, name, "lab", "up", "--name", name, "--nodes", "2", "--ipv6")
	applyText(t, name, crossNodePods)
	waitPods(t, name, "default/p1", "default/p2")
	const p1, p2 = "default/p1", "default/p2"

	t.Run("matrix probes both families across nodes", func(t *testing.T) {
		eventually(t, 15*time.Second, "all-allow matrix over IPv4 and IPv6", func() (bool, string) {
			m, r := familyMatrix(t, name)
			if r.code != 0 {
				return false, r.stderr
			}
			for _, k := range []string{p1 + " " + p2, p2 + " " + p1} {
				for _, f := range []string{"4", "6"} {
					if m[k+" "+f] != "allow" {
						return false, fmt.Sprintf("%s %s: %q in %v", k, f, m[k+" "+f], m)
					}
				}
			}
			return len(m) == 8, fmt.Sprint(m)
		})
		m, _ := familyMatrix(t, name, "--family", "6")
		if len(m) != 4 || m[p1+" "+p2+" 6"] != "allow" {
			t.Errorf("--family 6: %v, want 4 IPv6 results", m)
		}
	})

	t.Run("probe picks the family", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			v6   bool // the probed address must be IPv6
		}{
			{nil, false},
			{[]string{"--family", "6"}, true},
			{[]string{"--family", "4"}, false},
		} {
			r := run(t, name, append([]string{"lab", "probe", "--name", name, "--from", p1, "--to", p2,
				"--port", "tcp/80", "-o", "json"}, tc.args...)...)
			var pr ProbeResult
			if err := json.Unmarshal([]byte(r.stdout), &pr); err != nil {
				t.Fatalf("probe %v: %v\n%s", tc.args, err, r.stderr)
			}
			a, err := netip.ParseAddr(pr.Address)
			if err != nil || !pr.Connected || tc.v6 != a.Is6() {
				t.Errorf("probe %v: %+v, want connected, IPv6 %v", tc.args, pr, tc.v6)
			}
		}
		if r := run(t, name, "lab", "probe", "--name", name, "--from", p1, "--to", "192.0.2.1", "--family", "6",
			"--port", "tcp/80"); r.code != 2 {
			t.Errorf("an IPv4 --to with --family 6: exit %d, want 2 (usage)", r.code)
		}
	})

	t.Run("an IPv4-only rule denies IPv6 and compare agrees", func(t *testing.T) {
		applyText(t, name, `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web-v4-only, namespace: default}
spec:
  selector: app == 'p2'
  types: [Ingress]
  ingress:
  - {action: Allow, protocol: TCP, ipVersion: 4, destination: {ports: [80]}}
`)
		eventually(t, 15*time.Second, "p1 -> p2 IPv6 denied, IPv4 allowed", func() (bool, string) {
			m, _ := familyMatrix(t, name)
			want := map[string]string{p1 + " " + p2 + " 4": "allow", p1 + " " + p2 + " 6": "deny",
				p2 + " " + p1 + " 4": "allow", p2 + " " + p1 + " 6": "allow"}
			for k, v := range want {
				if m[k] != v {
					return false, fmt.Sprintf("%s: %s, want %s", k, m[k], v)
				}
			}
			return true, ""
		})
		r := run(t, name, "lab", "matrix", "--name", name, "--compare")
		if r.code != 0 || !strings.Contains(r.stdout, "no disagreement") {
			t.Errorf("compare: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "IPv6") {
			t.Errorf("table output names no IPv6 section:\n%s", r.stdout)
		}
	})

	t.Run("dual-stack NodePort service over IPv6", func(t *testing.T) {
		applyText(t, name, `apiVersion: v1
kind: Service
metadata: {name: web6, namespace: default}
spec:
  type: NodePort
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  selector: {app: p1}
  ports:
  - {name: http, protocol: TCP, port: 80, targetPort: 80, nodePort: 30680}
`)
		st := labStore(t, name)
		var cip6 netip.Addr
		eventually(t, 10*time.Second, "the service gets an IPv6 cluster IP in 2001:db8:96::/112", func() (bool, string) {
			svc := getService(t, st, "web6")
			for _, s := range svc.Spec.ClusterIPs {
				if a, err := netip.ParseAddr(s); err == nil && a.Is6() {
					cip6 = a
				}
			}
			return netip.MustParsePrefix("2001:db8:96::/112").Contains(cip6), fmt.Sprint(svc.Spec.ClusterIPs)
		})
		ns2, err := PodNamespaceOf(name, p2)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "p2 reaches the IPv6 cluster IP", func() (bool, string) {
			err := dialFrom(ns2, cip6.String(), 80)
			return err == nil, fmt.Sprint(err)
		})
		r := run(t, name, "lab", "probe", "--name", name, "--from", p2, "--to", cip6.String(), "--port", "tcp/80")
		if r.code != 0 {
			t.Errorf("lab probe to the IPv6 cluster IP: exit %d: %s%s", r.code, r.stdout, r.stderr)
		}

		ext, err := AddExternal(t.Context(), name, "ext6")
		if err != nil {
			t.Fatal(err)
		}
		if !ext.Addr6().IsValid() {
			t.Fatalf("external host has no IPv6 fabric address in a dual-stack lab: %+v", ext)
		}
		st2, err := LoadState(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, node := range st2.Nodes {
			n6, err := underlayAddr6(node.Address)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 15*time.Second, "ext6 reaches the NodePort on "+node.Name+"'s IPv6 address", func() (bool, string) {
				err := dialFrom(ext.Namespace, n6.Addr().String(), 30680)
				return err == nil, fmt.Sprint(err)
			})
			code, body, err := httpGetIn(ext.Namespace, "http://"+netip.AddrPortFrom(n6.Addr(), 30680).String()+"/")
			if err != nil || code != 200 || !strings.HasPrefix(body, "p1") {
				t.Errorf("GET via %s's IPv6 NodePort: %d %q %v, want 200 from p1", node.Name, code, body, err)
			}
		}
	})
}
