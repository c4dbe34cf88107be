package etcd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/embed"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// pki writes a CA and certificates it signs into dir.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

func newPKI(t *testing.T, dir, name string) *pki {
	t.Helper()
	p := &pki{dir: dir}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.caKey, p.serial = key, 1
	p.write(t, name+"-ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, file, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, file)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue returns certificate and key files for name, for server or client use.
func (p *pki) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
}

// TestTLS serves the embedded datastore on https:// with client-certificate authentication
// and checks that only a client with a certificate from the right CA gets through.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "trl")
	other := newPKI(t, dir, "trl-other")
	serverCert, serverKey := ca.issue(t, "trl-server", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := ca.issue(t, "trl-client", x509.ExtKeyUsageClientAuth)
	strayCert, strayKey := other.issue(t, "trl-stray", x509.ExtKeyUsageClientAuth)
	caFile := filepath.Join(dir, "trl-ca.pem")

	url := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	srv := embed.New(embed.Config{
		Name:             "trl-tls",
		DataDir:          filepath.Join(dir, "data"),
		ListenClientURLs: []string{url},
		ListenPeerURLs:   []string{"unix://" + filepath.Join(dir, "peer.sock")},
		UnsafeNoFsync:    true,
		TLS:              embed.TLSConfig{CertFile: serverCert, KeyFile: serverKey, ClientCAFile: caFile},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(srv.Stop)
	podKind := model.KindPod

	tests := []struct {
		name   string
		cfg    store.Config
		wantOK bool
	}{
		{"client certificate from the CA", store.Config{CAFile: caFile, CertFile: clientCert, KeyFile: clientKey}, true},
		{"no client certificate", store.Config{CAFile: caFile}, false},
		{"client certificate from another CA", store.Config{CAFile: caFile, CertFile: strayCert, KeyFile: strayKey}, false},
		{"server not trusted", store.Config{CAFile: filepath.Join(dir, "trl-other-ca.pem"), CertFile: clientCert, KeyFile: clientKey}, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Endpoints = []string{url}
			s, err := etcd.New(tc.cfg)
			if err != nil {
				t.Fatalf("new: %v", err)
			}
			defer s.Close()
			timeout := 10 * time.Second
			if !tc.wantOK {
				timeout = time.Second // the handshake fails; the client retries until then
			}
			rctx, rcancel := context.WithTimeout(context.Background(), timeout)
			defer rcancel()
			_, err = s.Create(rctx, storetest.Pod("trl-ns", fmt.Sprintf("p%d", i), nil))
			if tc.wantOK {
				if err != nil {
					t.Fatalf("create over TLS: %v", err)
				}
				if _, err := s.Get(rctx, podKind, "trl-ns", fmt.Sprintf("p%d", i)); err != nil {
					t.Fatalf("get over TLS: %v", err)
				}
				return
			}
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("create: %v, want ErrUnavailable (TLS handshake refused)", err)
			}
		})
	}

	if _, err := etcd.New(store.Config{Endpoints: []string{url}, CAFile: filepath.Join(dir, "missing.pem")}); err == nil {
		t.Errorf("new with a missing CA file: no error")
	}
}
