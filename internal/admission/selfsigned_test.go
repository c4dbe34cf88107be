package admission

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/trellisnet/trellis/internal/kube/kubetest"
)

func TestMint(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, name := range []string{"trellis-webhook.trellis-system.svc", "127.0.0.1"} {
		ca, cert, key, err := Mint(name, now)
		if err != nil {
			t.Fatal(err)
		}
		data := map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": ca}
		if _, _, ok := usable(data, name, now); !ok {
			t.Errorf("%s: a fresh certificate is not usable", name)
		}
		if _, _, ok := usable(data, "other.example", now); ok {
			t.Errorf("%s: usable for another name", name)
		}
		if _, _, ok := usable(data, name, now.Add(certValidity-renewBefore+time.Hour)); ok {
			t.Errorf("%s: usable within %v of its end", name, renewBefore)
		}
		otherCA, _, _, err := Mint(name, now)
		if err != nil {
			t.Fatal(err)
		}
		data["ca.crt"] = otherCA
		if _, _, ok := usable(data, name, now); ok {
			t.Errorf("%s: usable with a CA that did not sign it", name)
		}
	}
}

// selfSignedConfig registers both webhooks under one name, without a caBundle: the
// controller writes it.
const selfSignedConfig = `apiVersion: admissionregistration.k8s.io/v1
kind: %[1]sWebhookConfiguration
metadata: {name: trellis}
webhooks:
- name: %[2]s.trellis.dev
  clientConfig: {url: "https://%[3]s/%[2]s"}
  rules:
  - {apiGroups: [projectcalico.org], apiVersions: [v3], resources: [globalnetworkpolicies], operations: [CREATE, UPDATE]}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
`

// The controller's own CA: minted into a Secret, reused on the next start, written into
// the webhook configurations, and trusted by a real API server.
func TestSelfSignedWithAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	c.InstallCRDs(t)
	if out, err := c.Kubectl("", "create", "namespace", "trellis-system"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	api := API{Client: hc, Host: rc.Host}
	ss := SelfSigned{API: api, Namespace: "trellis-system", Name: "trellis-webhook-tls", DNSName: "127.0.0.1"}
	ctx := context.Background()
	cert, ca, err := ss.Certificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, ca2, err := ss.Certificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert.Certificate[0], again.Certificate[0]) || !bytes.Equal(ca, ca2) {
		t.Error("a second start minted a new certificate instead of reusing the Secret's")
	}
	if out, err := c.Kubectl("", "get", "secret", "-n", "trellis-system", "trellis-webhook-tls", "-o", "jsonpath={.type}"); err != nil || out != "kubernetes.io/tls" {
		t.Errorf("secret type %q, %v", out, err)
	}

	sctx, cancel := context.WithCancel(ctx)
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- ServeCert(sctx, "127.0.0.1:0", cert, (&Reviewer{}).Handler(slog.New(slog.DiscardHandler)), func(a net.Addr) { addr <- a })
	}()
	t.Cleanup(func() { cancel(); <-done })
	a := <-addr
	if err := api.SetCABundle(ctx, "trellis", ca); err == nil {
		t.Error("SetCABundle without any configuration succeeded")
	}
	for _, kind := range []string{"Mutating", "Validating"} {
		path := strings.ToLower(strings.TrimSuffix(kind, "ing")) + "e"
		if out, err := c.Kubectl(fmt.Sprintf(selfSignedConfig, kind, path, a), "apply", "-f", "-"); err != nil {
			t.Fatalf("register the %s webhook: %v\n%s", kind, err, out)
		}
	}
	if err := api.SetCABundle(ctx, "trellis", ca); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Kubectl(badSelector, "apply", "-f", "-")
		if err != nil && strings.Contains(err.Error(), `admission webhook "validate.trellis.dev" denied the request`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server never used the self-signed webhook: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
