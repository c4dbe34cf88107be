package kubetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/deploy/crds"
)

// InstallCRDs applies every CRD of deploy/crds (server-side) and waits until each is
// Established.
func (c *Cluster) InstallCRDs(t testing.TB) {
	t.Helper()
	files, err := crds.Files()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(c.Dir, "crds")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"apply", "--server-side", "--field-manager=trellis"}
	wait := []string{"wait", "--for=condition=Established", "--timeout=120s"}
	for _, f := range files {
		data, err := crds.FS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, f)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-f", path)
		group, plural, _ := strings.Cut(strings.TrimSuffix(f, ".yaml"), "_")
		wait = append(wait, "crd/"+plural+"."+group)
	}
	if out, err := c.Kubectl("", args...); err != nil {
		t.Fatalf("install crds: %v\n%s", err, out)
	}
	if out, err := c.Kubectl("", wait...); err != nil {
		t.Fatalf("crds not established: %v\n%s", err, out)
	}
}

// ServingCert writes a new CA and a serving certificate for 127.0.0.1 and localhost (with
// its key) into dir, for a server the API server calls, such as an admission webhook; it
// returns the CA in PEM (a webhook configuration's caBundle) and the two file names.
func ServingCert(dir string) (caPEM []byte, certFile, keyFile string, err error) {
	caDER, certDER, key, err := servingCert()
	if err != nil {
		return nil, "", "", err
	}
	keyPEM, err := ecKeyPEM(key)
	if err != nil {
		return nil, "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "webhook.crt"), filepath.Join(dir, "webhook.key")
	if err := os.WriteFile(certFile, pemBlock("CERTIFICATE", certDER), 0o600); err != nil {
		return nil, "", "", err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, "", "", err
	}
	return pemBlock("CERTIFICATE", caDER), certFile, keyFile, nil
}
