package lab

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubernetesConformanceImages is the smoke test of make conformance's images: built
// with `trellis image compose` from the cached Debian root filesystem and agnhost (skipped
// until scripts/conformance.sh has built them), imported with lab up --image-archive,
// started under their upstream names, with the tools the upstream tests exec in them.
func TestKubernetesConformanceImages(t *testing.T) {
	needKube(t)
	cache := os.Getenv("TRELLIS_CONFORMANCE_CACHE")
	if cache == "" {
		cache = "/var/cache/trellis/conformance"
	}
	rootfs, agnhost := filepath.Join(cache, "rootfs", "debian-bookworm.tar"), filepath.Join(cache, "v1.37.1", "bin", "agnhost")
	for _, f := range []string{rootfs, agnhost} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("no conformance build (make conformance builds it): %v", err)
		}
	}
	dir := t.TempDir()
	spec, archive := filepath.Join(dir, "images.json"), filepath.Join(dir, "images.tar")
	data, err := json.Marshal(map[string]any{
		"rootfs": rootfs,
		"files":  []map[string]any{{"source": agnhost, "path": "/agnhost"}},
		"images": []map[string]any{
			{"ref": "registry.k8s.io/e2e-test-images/agnhost:2.66.1", "entrypoint": []string{"/agnhost"}, "cmd": []string{"pause"}},
			{"ref": "registry.k8s.io/pause:3.10.2", "entrypoint": []string{"/agnhost", "pause"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spec, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "image", "compose", "--spec", spec, "--output", archive).CombinedOutput(); err != nil {
		t.Fatalf("image compose: %v\n%s", err, out)
	}
	name := newKubeLab(t, RoutingVXLAN, 1, "--image-archive", archive)
	kubectlT(t, name, `apiVersion: v1
kind: Pod
metadata: {name: agnhost, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: netexec
    image: registry.k8s.io/e2e-test-images/agnhost:2.66.1
    args: [netexec, --http-port=8080]
    ports: [{containerPort: 8080, hostPort: 30808}]
  - name: pause
    image: registry.k8s.io/pause:3.10.2
`, "apply", "-f", "-")
	kubectlT(t, name, "", "wait", "--for=condition=Ready", "pod/agnhost", "--timeout=90s")
	out := kubectlT(t, name, "", "exec", "agnhost", "-c", "netexec", "--", "sh", "-c",
		"curl -s http://127.0.0.1:8080/hostname && command -v bash nc dig getent lsmod ip >/dev/null && echo tools")
	if !strings.HasPrefix(out, "agnhost") || !strings.Contains(out, "tools") {
		t.Errorf("agnhost netexec and the tools in the image: %q", out)
	}
	// hostPort, through the portmap plugin the conflist chains, from outside the node.
	mustRun(t, name, "lab", "external", "add", "--name", name, "ext")
	if r := run(t, name, "lab", "external", "exec", "--name", name, "ext", "--", binary, "demo", "fetch", "http://10.99.0.11:30808/hostname"); r.code != 0 || strings.TrimSpace(r.stdout) != "agnhost" {
		t.Errorf("hostPort from the external host: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	// The API server reaches pods (its proxy; the control plane's route to the pool).
	if out := kubectlT(t, name, "", "get", "--raw", "/api/v1/namespaces/default/pods/agnhost:8080/proxy/hostname"); out != "agnhost" {
		t.Errorf("the API server's proxy to the pod: %q, want agnhost", out)
	}
}
