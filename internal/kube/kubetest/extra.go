package kubetest

import (
	"os"
	"path/filepath"
)

// ServingCert writes a new CA and a serving certificate for 127.0.0.1 and localhost (with
// its key) into dir, for a server the API server calls, such as an admission webhook; it
// returns the CA in PEM (a webhook configuration's caBundle) and the two file names.
func ServingCert(dir string) (caPEM []byte, certFile, keyFile string, err error) {
	caPEM, p, err := servingCert()
	if err != nil {
		return nil, "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "webhook.crt"), filepath.Join(dir, "webhook.key")
	if err := os.WriteFile(certFile, p.CertPEM, 0o600); err != nil {
		return nil, "", "", err
	}
	if err := os.WriteFile(keyFile, p.KeyPEM, 0o600); err != nil {
		return nil, "", "", err
	}
	return caPEM, certFile, keyFile, nil
}
