package admission

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Validity of the self-signed CA and serving certificate, and how long before its end a
// serving certificate is replaced at start.
const (
	caValidity    = 10 * 365 * 24 * time.Hour
	certValidity  = 5 * 365 * 24 * time.Hour
	renewBefore   = 30 * 24 * time.Hour
	secretCA      = "ca.crt"
	maxObjectSize = 4 << 20
)

// ErrNotFound is an API object that does not exist (yet).
var ErrNotFound = errors.New("not found")

// API is the part of a Kubernetes API server the self-signed webhook needs: JSON over
// HTTP through an authenticated client.
type API struct {
	Client *http.Client
	// Host is the API server's URL.
	Host string
}

// do sends in (when not nil) and decodes the answer into out (when not nil); 404 is
// ErrNotFound, 409 a conflict error.
func (a API) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(a.Host, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := a.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxObjectSize))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w", method, path, ErrNotFound)
	case resp.StatusCode == http.StatusConflict:
		return fmt.Errorf("%s %s: %w", method, path, errConflict)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

var errConflict = errors.New("conflict")

// SelfSigned is the webhook's own certificate authority, kept in a Secret so that a
// restarted controller serves with the certificate the API server already trusts.
type SelfSigned struct {
	API API
	// Namespace and Name of the Secret (type kubernetes.io/tls, with ca.crt).
	Namespace, Name string
	// DNSName is what the serving certificate is for (SERVICE.NAMESPACE.svc, or an IP).
	DNSName string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Certificate returns the serving certificate and the CA (PEM) from the Secret, minting
// and storing new ones when it is missing, unreadable, for another name or near its end.
// Two controllers starting at once agree: the loser of the create reads the winner's.
func (s SelfSigned) Certificate(ctx context.Context) (tls.Certificate, []byte, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	path := "/api/v1/namespaces/" + s.Namespace + "/secrets/" + s.Name
	for range 3 {
		var sec corev1.Secret
		err := s.API.do(ctx, http.MethodGet, path, nil, &sec)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return tls.Certificate{}, nil, fmt.Errorf("webhook certificate: %w", err)
		}
		if err == nil {
			if cert, ca, ok := usable(sec.Data, s.DNSName, now()); ok {
				return cert, ca, nil
			}
		}
		caPEM, certPEM, keyPEM, merr := Mint(s.DNSName, now())
		if merr != nil {
			return tls.Certificate{}, nil, merr
		}
		data := map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM, secretCA: caPEM}
		if errors.Is(err, ErrNotFound) {
			sec = corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
				ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace,
					Labels: map[string]string{"app.kubernetes.io/part-of": "trellis"}},
				Type: corev1.SecretTypeTLS, Data: data}
			err = s.API.do(ctx, http.MethodPost, "/api/v1/namespaces/"+s.Namespace+"/secrets", &sec, nil)
		} else {
			sec.Data = data
			err = s.API.do(ctx, http.MethodPut, path, &sec, nil)
		}
		if errors.Is(err, errConflict) {
			continue // another controller wrote it first: read and use theirs
		}
		if err != nil {
			return tls.Certificate{}, nil, fmt.Errorf("webhook certificate: store secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		return cert, caPEM, err
	}
	return tls.Certificate{}, nil, fmt.Errorf("webhook certificate: secret %s/%s: %w three times", s.Namespace, s.Name, errConflict)
}

// usable says whether a Secret's data is a serving certificate for name, signed by its CA
// and valid for longer than renewBefore.
func usable(data map[string][]byte, name string, now time.Time) (tls.Certificate, []byte, bool) {
	cert, err := tls.X509KeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey])
	if err != nil || len(data[secretCA]) == 0 {
		return tls.Certificate{}, nil, false
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || leaf.VerifyHostname(name) != nil || now.Add(renewBefore).After(leaf.NotAfter) {
		return tls.Certificate{}, nil, false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data[secretCA]) {
		return tls.Certificate{}, nil, false
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: now}); err != nil {
		return tls.Certificate{}, nil, false
	}
	return cert, data[secretCA], true
}

// Mint returns a new CA and a serving certificate for name (a DNS name or an IP address)
// signed by it, with the certificate's key, all PEM.
func Mint(name string, now time.Time) (caPEM, certPEM, keyPEM []byte, err error) {
	fail := func(err error) ([]byte, []byte, []byte, error) {
		return nil, nil, nil, fmt.Errorf("mint webhook certificate for %s: %w", name, err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		return n
	}
	caTmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "trellis-webhook-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(caValidity), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fail(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certValidity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fail(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// SetCABundle writes caPEM as the caBundle of every webhook of the validating and the
// mutating webhook configuration called name (either may be absent, not both). It writes
// only what differs.
func (a API) SetCABundle(ctx context.Context, name string, caPEM []byte) error {
	found := 0
	const base = "/apis/admissionregistration.k8s.io/v1/"
	var v admissionregv1.ValidatingWebhookConfiguration
	err := a.do(ctx, http.MethodGet, base+"validatingwebhookconfigurations/"+name, nil, &v)
	switch {
	case err == nil:
		found++
		changed := false
		for i := range v.Webhooks {
			if !bytes.Equal(v.Webhooks[i].ClientConfig.CABundle, caPEM) {
				v.Webhooks[i].ClientConfig.CABundle, changed = caPEM, true
			}
		}
		if changed {
			if err := a.do(ctx, http.MethodPut, base+"validatingwebhookconfigurations/"+name, &v, nil); err != nil {
				return fmt.Errorf("set ca bundle: %w", err)
			}
		}
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("set ca bundle: %w", err)
	}
	var m admissionregv1.MutatingWebhookConfiguration
	err = a.do(ctx, http.MethodGet, base+"mutatingwebhookconfigurations/"+name, nil, &m)
	switch {
	case err == nil:
		found++
		changed := false
		for i := range m.Webhooks {
			if !bytes.Equal(m.Webhooks[i].ClientConfig.CABundle, caPEM) {
				m.Webhooks[i].ClientConfig.CABundle, changed = caPEM, true
			}
		}
		if changed {
			if err := a.do(ctx, http.MethodPut, base+"mutatingwebhookconfigurations/"+name, &m, nil); err != nil {
				return fmt.Errorf("set ca bundle: %w", err)
			}
		}
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("set ca bundle: %w", err)
	}
	if found == 0 {
		return fmt.Errorf("set ca bundle: webhook configurations %q: %w", name, ErrNotFound)
	}
	return nil
}
