package pki

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func parse(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIssue: a serving certificate verifies for its names and addresses only, a client
// certificate carries the Kubernetes identity and verifies for client auth only.
func TestIssue(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(Subject{CommonName: "kube-apiserver", Server: true, IPs: []net.IP{net.IPv4(10, 99, 0, 2)}, DNSNames: []string{"kubernetes.default"}})
	if err != nil {
		t.Fatal(err)
	}
	sc := parse(t, srv.CertPEM)
	server := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, name := range []string{"10.99.0.2", "kubernetes.default"} {
		server.DNSName = name
		if _, err := sc.Verify(server); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}
	server.DNSName = "10.99.0.3"
	if _, err := sc.Verify(server); err == nil {
		t.Error("serving certificate verified for an address it does not name")
	}
	cl, err := ca.Issue(Subject{CommonName: "system:node:node1", Organizations: []string{"system:nodes"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	cc := parse(t, cl.CertPEM)
	if cc.Subject.CommonName != "system:node:node1" || len(cc.Subject.Organization) != 1 || cc.Subject.Organization[0] != "system:nodes" {
		t.Errorf("client subject %v", cc.Subject)
	}
	if _, err := cc.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := cc.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate verified as a server's")
	}
	if _, err := ca.Issue(Subject{CommonName: "nothing"}); err == nil {
		t.Error("a certificate for neither use was issued")
	}
}

// TestKubeconfig: the file names the server and embeds the CA and the client pair.
func TestKubeconfig(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ca.Issue(Subject{CommonName: "admin", Organizations: []string{"system:masters"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Kubeconfig("https://10.99.0.2:6443", "admin", ca.CertPEM, cl)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://10.99.0.2:6443" || string(cfg.CAData) != string(ca.CertPEM) || string(cfg.CertData) != string(cl.CertPEM) || string(cfg.KeyData) != string(cl.KeyPEM) {
		t.Errorf("kubeconfig round trip: host %q", cfg.Host)
	}
}

// TestLoadCA: a CA written out and read back issues certificates that verify against it.
func TestLoadCA(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	key, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadCA(ca.CertPEM, key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := again.Issue(Subject{CommonName: "x", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse(t, p.CertPEM).Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate of the loaded CA: %v", err)
	}
	if _, err := LoadCA(ca.CertPEM, []byte("junk")); err == nil {
		t.Error("a CA with a junk key loaded")
	}
}
