package admission

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/kube/kubetest"
)

// webhookConfig registers the webhook for every projectcalico.org/v3 resource, failing
// closed, as Trellis's manifests do.
const webhookConfig = `apiVersion: admissionregistration.k8s.io/v1
kind: %[1]sWebhookConfiguration
metadata: {name: trellis-%[2]s}
webhooks:
- name: %[2]s.projectcalico.org
  clientConfig: {url: "https://%[3]s/%[2]s", caBundle: %[4]s}
  rules:
  - {apiGroups: [projectcalico.org], apiVersions: [v3], resources: ["*"], operations: [CREATE, UPDATE, DELETE]}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
`

// startWebhook serves the reviewer over TLS on loopback and registers it with the cluster.
func startWebhook(t *testing.T, c *kubetest.Cluster, r *Reviewer) {
	ca, cert, key, err := kubetest.ServingCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", cert, key, r.Handler(slog.New(slog.DiscardHandler)), func(a net.Addr) { addr <- a })
	}()
	t.Cleanup(func() { cancel(); <-done })
	a := <-addr
	bundle := base64.StdEncoding.EncodeToString(ca)
	for _, kind := range []string{"Mutating", "Validating"} {
		path := strings.ToLower(strings.TrimSuffix(kind, "ing")) + "e"
		if out, err := c.Kubectl(fmt.Sprintf(webhookConfig, kind, path, a, bundle), "apply", "-f", "-"); err != nil {
			t.Fatalf("register the %s webhook: %v\n%s", kind, err, out)
		}
	}
}

const badSelector = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: broken}
spec: {selector: "app == ", types: [Ingress]}
`

// Through a real kube-apiserver: the webhook refuses what the CRD schema cannot see, with
// the field path, and applies Calico's defaults.
func TestWebhookWithAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	c.InstallCRDs(t)
	startWebhook(t, c, &Reviewer{})
	// The configuration takes effect asynchronously: wait until a broken selector is refused.
	deadline := time.Now().Add(30 * time.Second)
	var out string
	for {
		var err error
		out, err = c.Kubectl(badSelector, "apply", "-f", "-")
		if err != nil && strings.Contains(err.Error(), "spec.selector: Invalid value") {
			out = err.Error()
			break
		}
		if err == nil {
			_, _ = c.Kubectl("", "delete", "gnp", "broken")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook never refused a broken selector: %s", out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.Contains(out, `admission webhook "validate.projectcalico.org" denied the request: spec.selector: Invalid value: "app == "`) {
		t.Errorf("refusal does not name the webhook and field: %s", out)
	}
	ok := "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: fine}\nspec:\n  selector: app == 'web'\n  ingress: [{action: Allow}]\n"
	if out, err := c.Kubectl(ok, "apply", "-f", "-"); err != nil {
		t.Fatalf("a valid policy was refused: %v\n%s", err, out)
	}
	// Calico's defaults, applied by the mutating webhook: types from the rules given.
	if out, err := c.Kubectl("", "get", "gnp", "fine", "-o", "jsonpath={.spec.types}"); err != nil || !strings.Contains(out, "Ingress") {
		t.Errorf("defaulted types: %q, %v", out, err)
	}
}
