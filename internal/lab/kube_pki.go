package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/trellisnet/trellis/internal/ipmath"
	"github.com/trellisnet/trellis/internal/kube/pki"
)

// creds issues a lab's certificates and kubeconfigs and collects the files to write.
type creds struct {
	name  string
	ca    *pki.CA
	files map[string][]byte
}

func (c *creds) issue(file string, s pki.Subject) (pki.Pair, error) {
	p, err := c.ca.Issue(s)
	c.files[pkiPath(c.name, file+".crt")], c.files[pkiPath(c.name, file+".key")] = p.CertPEM, p.KeyPEM
	return p, err
}

func (c *creds) kubeconfig(path, server, user string, p pki.Pair) error {
	b, err := pki.Kubeconfig(server, user, c.ca.CertPEM, p)
	c.files[path] = b
	return err
}

// write writes every collected file, readable by root only.
func (c *creds) write() error {
	for path, b := range c.files {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// fabricServer is the API server's URL on the fabric.
func fabricServer() string { return fmt.Sprintf("https://%s:%d", controlPlaneAddr().Addr(), apiPort) }

// kubeCreds writes the credentials of a Kubernetes-mode lab into kubeDir: one CA (its key
// kept, mode 0600, so that lab node add can admit a kubelet); the API server's serving
// certificate (its fabric address, loopback, the first service address and the
// kubernetes.default names); client certificates for the admin (system:masters), the
// controller manager, the scheduler, the API server's calls to kubelets, and each kubelet
// (system:node:NODE in system:nodes, as the Node authorizer wants) with its serving
// certificate; the service-account key pair; and a kubeconfig per client.
func kubeCreds(name string, serviceCIDR netip.Prefix, nodes []NodeState, forwardPort int) error {
	dir := kubeDir(name)
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	ca, err := pki.NewCA("trellis-lab-" + name)
	if err != nil {
		return err
	}
	svc, ok := ipmath.Nth(serviceCIDR.Masked(), 1)
	if !ok {
		return fmt.Errorf("service range %s has no first address", serviceCIDR)
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	c := &creds{name: name, ca: ca, files: map[string][]byte{pkiPath(name, "ca.crt"): ca.CertPEM, pkiPath(name, "ca.key"): caKey}}
	cp := controlPlaneAddr().Addr()
	var errs []error
	_, err = c.issue("apiserver", pki.Subject{CommonName: "kube-apiserver", Server: true,
		IPs:      []net.IP{cp.AsSlice(), net.IPv4(127, 0, 0, 1), svc.AsSlice()},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}})
	errs = append(errs, err)
	_, err = c.issue("apiserver-kubelet-client", pki.Subject{CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"system:masters"}, Client: true})
	errs = append(errs, err)
	admin, err := c.issue("admin", pki.Subject{CommonName: "lab-admin", Organizations: []string{"system:masters"}, Client: true})
	errs = append(errs, err,
		c.kubeconfig(KubeconfigPath(name), fmt.Sprintf("https://127.0.0.1:%d", forwardPort), "lab-admin", admin),
		c.kubeconfig(inClusterKubeconfig(name), fabricServer(), "lab-admin", admin))
	for _, user := range []string{"kube-controller-manager", "kube-scheduler"} {
		p, err := c.issue(user, pki.Subject{CommonName: "system:" + user, Client: true})
		errs = append(errs, err, c.kubeconfig(filepath.Join(dir, user+".kubeconfig"), fabricServer(), "system:"+user, p))
	}
	for _, n := range nodes {
		errs = append(errs, c.node(n))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab %s credentials: %w", name, err)
	}
	saKey, saPub, err := pki.NewKey()
	if err != nil {
		return err
	}
	c.files[pkiPath(name, "sa.key")], c.files[pkiPath(name, "sa.pub")] = saKey, saPub
	return c.write()
}

// node issues a kubelet's client and serving certificates and its kubeconfig.
func (c *creds) node(n NodeState) error {
	addr, err := netip.ParsePrefix(n.Address)
	if err != nil {
		return fmt.Errorf("node %s address %q: %w", n.Name, n.Address, err)
	}
	user := "system:node:" + n.Name
	client, err := c.issue("kubelet-"+n.Name+"-client", pki.Subject{CommonName: user, Organizations: []string{"system:nodes"}, Client: true})
	if err != nil {
		return err
	}
	if _, err := c.issue("kubelet-"+n.Name, pki.Subject{CommonName: n.Name, Server: true,
		IPs: []net.IP{addr.Addr().AsSlice()}, DNSNames: []string{n.Name}}); err != nil {
		return err
	}
	return c.kubeconfig(filepath.Join(nodeDir(c.name, n.Name), "kubelet.kubeconfig"), fabricServer(), user, client)
}

// nodeCredsLater issues a new node's kubelet credentials with the lab's stored CA (lab
// node add).
func nodeCredsLater(name string, n NodeState) error {
	certPEM, err1 := os.ReadFile(pkiPath(name, "ca.crt"))
	keyPEM, err2 := os.ReadFile(pkiPath(name, "ca.key"))
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("lab %s CA: %w", name, err)
	}
	ca, err := pki.LoadCA(certPEM, keyPEM)
	if err != nil {
		return err
	}
	c := &creds{name: name, ca: ca, files: map[string][]byte{}}
	if err := c.node(n); err != nil {
		return err
	}
	return c.write()
}

func pkiPath(name, file string) string { return filepath.Join(kubeDir(name), "pki", file) }
