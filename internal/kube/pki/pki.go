// Package pki mints the throwaway certificates of a local Kubernetes control plane: one CA,
// serving certificates for the API server, client certificates whose subject is the
// Kubernetes identity (CN user, O groups), and kubeconfig files that use them. Keys are
// ECDSA P-256. It is for the lab and for tests: nothing here rotates or revokes.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Validity is how long the certificates are valid (from an hour ago, against clock skew).
const Validity = 365 * 24 * time.Hour

// CA is a certificate authority held in memory.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertPEM is the CA certificate, PEM-encoded (for --client-ca-file, kubeconfigs).
	CertPEM []byte
}

// Pair is a certificate and its key, PEM-encoded.
type Pair struct {
	CertPEM, KeyPEM []byte
}

// NewCA makes a self-signed CA named cn.
func NewCA(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ca key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(Validity),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse ca certificate: %w", err)
	}
	return &CA{cert: cert, key: key, CertPEM: Block("CERTIFICATE", der)}, nil
}

// Subject describes a certificate to issue.
type Subject struct {
	// CommonName is the user name for a client certificate.
	CommonName string
	// Organizations are the user's groups for a client certificate.
	Organizations []string
	// DNSNames and IPs are the names a serving certificate is valid for.
	DNSNames []string
	IPs      []net.IP
	// Server and Client select the extended key usages (at least one).
	Server, Client bool
}

// Issue signs a new key pair for s.
func (ca *CA) Issue(s Subject) (Pair, error) {
	if !s.Server && !s.Client {
		return Pair{}, fmt.Errorf("issue %q: neither a server nor a client certificate", s.CommonName)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("generate key for %q: %w", s.CommonName, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: s.CommonName, Organization: s.Organizations},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(Validity),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames: s.DNSNames, IPAddresses: s.IPs,
	}
	if s.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if s.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("sign certificate for %q: %w", s.CommonName, err)
	}
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{CertPEM: Block("CERTIFICATE", der), KeyPEM: keyPEM}, nil
}

// Pool is a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// NewKey makes a bare key pair (a service-account signing key): the private key and the
// public key, PEM-encoded.
func NewKey() (private, public []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	private, err = KeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encode public key: %w", err)
	}
	return private, Block("PUBLIC KEY", pub), nil
}

// Block PEM-encodes der as typ.
func Block(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// KeyPEM encodes an ECDSA private key as an "EC PRIVATE KEY" block.
func KeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return Block("EC PRIVATE KEY", b), nil
}

// serial is a random 128-bit serial number (RFC 5280 asks for unpredictable ones).
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("read random serial: %v", err))
	}
	return n.Add(n, big.NewInt(1))
}

// Kubeconfig is a kubeconfig for one user of one API server: the CA and the client
// certificate embedded, so the file stands alone.
func Kubeconfig(server, user string, caPEM []byte, client Pair) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: client.CertPEM, ClientKeyData: client.KeyPEM}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: user}
	cfg.CurrentContext = "lab"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig for %s: %w", user, err)
	}
	return b, nil
}

// KeyPEM is the CA's private key, PEM-encoded, to keep beside CertPEM for LoadCA.
func (ca *CA) KeyPEM() ([]byte, error) { return KeyPEM(ca.key) }

// LoadCA reads a CA written as CertPEM and KeyPEM.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("load ca: certificate or key is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load ca key: %w", err)
	}
	return &CA{cert: cert, key: key, CertPEM: certPEM}, nil
}
