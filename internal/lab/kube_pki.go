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

// kubeCreds writes the credentials of a Kubernetes-mode lab into kubeDir: one CA; the API
// server's serving certificate (its fabric address, loopback, the first service address
// and the kubernetes.default names); client certificates for the admin (system:masters),
// the controller manager, the scheduler, the API server's calls to kubelets, and each
// kubelet (system:node:NODE in system:nodes, as the Node authorizer wants) with its
// serving certificate; the service-account key pair; and a kubeconfig per client.
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
	cp := controlPlaneAddr().Addr()
	files := map[string][]byte{pkiPath(name, "ca.crt"): ca.CertPEM}
	issue := func(file string, s pki.Subject) (pki.Pair, error) {
		p, err := ca.Issue(s)
		files[pkiPath(name, file+".crt")], files[pkiPath(name, file+".key")] = p.CertPEM, p.KeyPEM
		return p, err
	}
	kubeconfig := func(path, server, user string, p pki.Pair) error {
		b, err := pki.Kubeconfig(server, user, ca.CertPEM, p)
		files[path] = b
		return err
	}
	fabric := fmt.Sprintf("https://%s:%d", cp, apiPort)
	var errs []error
	_, err = issue("apiserver", pki.Subject{CommonName: "kube-apiserver", Server: true,
		IPs:      []net.IP{cp.AsSlice(), net.IPv4(127, 0, 0, 1), svc.AsSlice()},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}})
	errs = append(errs, err)
	_, err = issue("apiserver-kubelet-client", pki.Subject{CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"system:masters"}, Client: true})
	errs = append(errs, err)
	admin, err := issue("admin", pki.Subject{CommonName: "lab-admin", Organizations: []string{"system:masters"}, Client: true})
	errs = append(errs, err,
		kubeconfig(KubeconfigPath(name), fmt.Sprintf("https://127.0.0.1:%d", forwardPort), "lab-admin", admin),
		kubeconfig(inClusterKubeconfig(name), fabric, "lab-admin", admin))
	for _, user := range []string{"kube-controller-manager", "kube-scheduler"} {
		p, err := issue(user, pki.Subject{CommonName: "system:" + user, Client: true})
		errs = append(errs, err, kubeconfig(filepath.Join(dir, user+".kubeconfig"), fabric, "system:"+user, p))
	}
	for _, n := range nodes {
		errs = append(errs, nodeCreds(name, n, issue, kubeconfig, fabric))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab %s credentials: %w", name, err)
	}
	saKey, saPub, err := pki.NewKey()
	if err != nil {
		return err
	}
	files[pkiPath(name, "sa.key")], files[pkiPath(name, "sa.pub")] = saKey, saPub
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// nodeCreds issues a kubelet's client and serving certificates and its kubeconfig.
func nodeCreds(name string, n NodeState, issue func(string, pki.Subject) (pki.Pair, error),
	kubeconfig func(path, server, user string, p pki.Pair) error, server string) error {
	addr, err := netip.ParsePrefix(n.Address)
	if err != nil {
		return fmt.Errorf("node %s address %q: %w", n.Name, n.Address, err)
	}
	user := "system:node:" + n.Name
	client, err := issue("kubelet-"+n.Name+"-client", pki.Subject{CommonName: user, Organizations: []string{"system:nodes"}, Client: true})
	if err != nil {
		return err
	}
	if _, err := issue("kubelet-"+n.Name, pki.Subject{CommonName: n.Name, Server: true,
		IPs: []net.IP{addr.Addr().AsSlice()}, DNSNames: []string{n.Name}}); err != nil {
		return err
	}
	return kubeconfig(filepath.Join(nodeDir(name, n.Name), "kubelet.kubeconfig"), server, user, client)
}

func pkiPath(name, file string) string { return filepath.Join(kubeDir(name), "pki", file) }
