package kubetest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/trellisnet/trellis/internal/kube/pki"
)

// credentials are the files the API server and its clients use, all in one directory.
type credentials struct {
	CAFile, CertFile, KeyFile string // serving: CA, certificate for 127.0.0.1, its key
	SAKeyFile, SAPubFile      string // service-account signing key pair
	TokenFile, Token          string // static token file with the admin token
}

// writeCredentials makes a throwaway CA, a serving certificate for 127.0.0.1 and localhost
// signed by it, a service-account key pair and an admin token (group system:masters).
func writeCredentials(dir string) (credentials, error) {
	c := credentials{
		CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "apiserver.crt"),
		KeyFile: filepath.Join(dir, "apiserver.key"), SAKeyFile: filepath.Join(dir, "sa.key"),
		SAPubFile: filepath.Join(dir, "sa.pub"), TokenFile: filepath.Join(dir, "tokens.csv"),
	}
	caPEM, serving, err := servingCert()
	if err != nil {
		return c, err
	}
	saKey, saPub, err := pki.NewKey()
	if err != nil {
		return c, err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return c, fmt.Errorf("generate token: %w", err)
	}
	c.Token = hex.EncodeToString(tok)
	files := map[string][]byte{
		c.CAFile: caPEM, c.CertFile: serving.CertPEM, c.KeyFile: serving.KeyPEM,
		c.SAKeyFile: saKey, c.SAPubFile: saPub,
		c.TokenFile: []byte(c.Token + `,admin,admin-uid,"system:masters"` + "\n"),
	}
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return c, fmt.Errorf("write credentials: %w", err)
		}
	}
	return c, nil
}

// servingCert returns a new CA certificate and a serving certificate for 127.0.0.1 and
// localhost that it signed, with its key.
func servingCert() ([]byte, pki.Pair, error) {
	ca, err := pki.NewCA("trellis-kubetest-ca")
	if err != nil {
		return nil, pki.Pair{}, err
	}
	p, err := ca.Issue(pki.Subject{CommonName: "kube-apiserver", Server: true,
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}})
	return ca.CertPEM, p, err
}
