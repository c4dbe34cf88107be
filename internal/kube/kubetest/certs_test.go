package kubetest

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
)

// TestCredentials: the serving certificate verifies against the CA for 127.0.0.1 and
// localhost, and the token file grants the admin token system:masters.
func TestCredentials(t *testing.T) {
	c, err := writeCredentials(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca file holds no certificate")
	}
	certPEM, err := os.ReadFile(c.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("serving certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("verify serving certificate for %s: %v", host, err)
		}
	}
	tokens, err := os.ReadFile(c.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Token + `,admin,admin-uid,"system:masters"`; strings.TrimSpace(string(tokens)) != want {
		t.Errorf("token file %q, want %q", tokens, want)
	}
}
