package kubetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
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
	caDER, certDER, key, err := servingCert()
	if err != nil {
		return c, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return c, fmt.Errorf("generate service-account key: %w", err)
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return c, fmt.Errorf("generate token: %w", err)
	}
	c.Token = hex.EncodeToString(tok)
	keyPEM, err1 := ecKeyPEM(key)
	saPEM, err2 := ecKeyPEM(saKey)
	saPub, err3 := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err := errors.Join(err1, err2, err3); err != nil {
		return c, fmt.Errorf("encode keys: %w", err)
	}
	files := map[string][]byte{
		c.CAFile: pemBlock("CERTIFICATE", caDER), c.CertFile: pemBlock("CERTIFICATE", certDER),
		c.KeyFile: keyPEM, c.SAKeyFile: saPEM, c.SAPubFile: pemBlock("PUBLIC KEY", saPub),
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
// localhost that it signed, with the serving key.
func servingCert() (caDER, certDER []byte, key *ecdsa.PrivateKey, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate ca key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trellis-kubetest-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err = x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create ca certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse ca certificate: %w", err)
	}
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create serving certificate: %w", err)
	}
	return caDER, certDER, key, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func ecKeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pemBlock("EC PRIVATE KEY", b), nil
}
