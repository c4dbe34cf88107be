package lab

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/flow"
)

// flowsProxy is the flow aggregator's API through the API server's service proxy.
const flowsProxy = "/api/v1/namespaces/trellis-system/services/http:trellis-flows:7070/proxy"

// webDenial reports whether f is a connection to a web pod that its ingress policy denied
// at the end of tier default (kubePolicies: the tier's last policy is web-from-web).
func webDenial(f flow.Flow) bool {
	return f.Action == flow.ActionDeny && f.Reporter == flow.ReporterDestination && f.Destination.Namespace == "default" &&
		strings.HasPrefix(f.Destination.Name, "web-") && len(f.Policies) == 1 && f.Policies[0].Name == "web-from-web" &&
		f.Policies[0].Rule == -1 && f.Policies[0].Tier == "default"
}

// checkFlows: with kubePolicies applied and the matrix probed, the installed agents'
// flows name the policy that denied; they reach the aggregator Deployment (pushed to its
// Service's fixed cluster IP from the host network), which traces a denied flow with the
// calculation over the Kubernetes datastore.
func checkFlows(t *testing.T, name string) {
	t.Helper()
	eventually(t, 30*time.Second, "lab flows names the denying policy", func() (bool, string) {
		r := run(t, name, "lab", "flows", "--name", name, "-n", "default", "--action", "deny", "-o", "json")
		var out struct{ Flows []flow.Flow }
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			return false, fmt.Sprintf("exit %d: %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		for _, f := range out.Flows {
			if webDenial(f) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d denied flows, none a web denial: %+v", len(out.Flows), out.Flows)
	})
	var denied flow.Flow
	eventually(t, 60*time.Second, "the aggregator has the agents' flows", func() (bool, string) {
		out, err := exec.Command(binary, "lab", "kubectl", "--name", name, "--", "get", "--raw",
			flowsProxy+flow.Path+"?action=deny&namespace=default").CombinedOutput()
		if err != nil {
			return false, fmt.Sprintf("%v: %s", err, out)
		}
		var r struct{ Flows []flow.Flow }
		if err := json.Unmarshal(out, &r); err != nil {
			return false, fmt.Sprintf("%v: %s", err, out)
		}
		for _, f := range r.Flows {
			if webDenial(f) {
				denied = f
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d flows, none a web denial", len(r.Flows))
	})
	body, _ := json.Marshal(denied)
	out := kubectlT(t, name, string(body), "create", "--raw", flowsProxy+"/api/v1/trace", "-f", "-")
	var rep connectivity.TraceReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("trace through the aggregator: %v\n%s", err, out)
	}
	if rep.Verdict != "deny" || rep.Ingress.Reason != "end of tier" || rep.Ingress.Tier != "default" {
		t.Errorf("aggregator's trace of %s -> %s: %+v, want a deny at the end of tier default", denied.Source.Name, denied.Destination.Name, rep)
	}
}
