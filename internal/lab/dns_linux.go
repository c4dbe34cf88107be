package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/trellisnet/trellis/internal/controller"
	"github.com/trellisnet/trellis/internal/model"
)

// The lab's cluster DNS: the pod kube-system/trellis-dns behind kube-system/kube-dns.
const (
	DNSNamespace   = "kube-system"
	DNSPod         = "trellis-dns"
	DNSService     = "kube-dns"
	ClusterDomain  = "cluster.local"
	dnsAppLabel    = "k8s-app"
	dnsAppValue    = "kube-dns"
	resolvConfPath = "/etc/resolv.conf"
)

// dnsObjects are what `lab up` stores for the cluster DNS.
func dnsObjects(name string) []model.Object {
	lbl := map[string]string{dnsAppLabel: dnsAppValue}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	return []model.Object{
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: DNSNamespace, Labels: map[string]string{"kubernetes.io/metadata.name": DNSNamespace}}},
		&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Namespace: DNSNamespace, Name: DNSPod, Labels: lbl},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name:    "dns",
				Image:   "trellis",
				Command: []string{"trellis", "--datastore-endpoints", Endpoint(name), "dns", "serve", "--listen", ":53", "--zone", ClusterDomain},
				Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: udp},
					{Name: "dns-tcp", ContainerPort: 53, Protocol: tcp}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(53)}},
					PeriodSeconds: 1},
			}}}},
		&corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Namespace: DNSNamespace, Name: DNSService, Labels: lbl},
			Spec: corev1.ServiceSpec{Selector: lbl, ClusterIP: controller.DefaultDNSAddr.String(),
				ClusterIPs: []string{controller.DefaultDNSAddr.String()},
				Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: udp, TargetPort: intstr.FromString("dns")},
					{Name: "dns-tcp", Port: 53, Protocol: tcp, TargetPort: intstr.FromString("dns-tcp")}}}},
	}
}

// ResolvConfPath is the resolv.conf the lab mounts over /etc/resolv.conf in the
// containers of pods of namespace ns.
func ResolvConfPath(name, ns string) string {
	return filepath.Join(Dir(name), "resolv", ns+".conf")
}

// ResolvConf is the content of a pod's resolv.conf, as the kubelet writes it.
func ResolvConf(ns string) string {
	return fmt.Sprintf("nameserver %s\nsearch %s.svc.%s svc.%s %s\noptions ndots:5\n",
		controller.DefaultDNSAddr, ns, ClusterDomain, ClusterDomain, ClusterDomain)
}

// withResolvConf wraps a container's argv in the shim that gives it the cluster's
// resolv.conf in a private mount namespace; argv is returned as it is if the file cannot
// be written.
func (c *Controller) withResolvConf(rt *podRuntime, argv []string) []string {
	path := ResolvConfPath(c.name, rt.namespace)
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		err = os.WriteFile(path, []byte(ResolvConf(rt.namespace)), 0o644)
	}
	if err != nil {
		c.log.Warn("pod without cluster DNS: write resolv.conf", "pod", rt.key(), "err", err)
		return argv
	}
	return append([]string{c.binary, "lab", "shim", "--resolv-conf", path, "--"}, argv...)
}

// ShimExec runs argv with resolvConf bind-mounted over /etc/resolv.conf in a new mount
// namespace of its own (/ made a slave mount first, so nothing propagates back): the
// root mount namespace never changes. If the mount itself fails the command still runs
// (without the cluster DNS; a line on standard error says why). It returns only on failure.
func ShimExec(resolvConf string, argv []string) error {
	if len(argv) == 0 {
		return errors.New("shim: no command")
	}
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("shim: find %s: %w", argv[0], err)
	}
	// unshare and exec must happen on one thread: the new namespace is that thread's.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("shim: unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("shim: make / a slave mount: %w", err)
	}
	if err := unix.Mount(resolvConf, resolvConfPath, "", unix.MS_BIND, ""); err != nil {
		// No file to mount over (a dangling symlink, say): the container still runs,
		// without the cluster DNS, and its log says why.
		fmt.Fprintf(os.Stderr, "trellis lab shim: no cluster DNS: bind %s over %s: %v\n", resolvConf, resolvConfPath, err)
	}
	if err := unix.Exec(bin, argv, os.Environ()); err != nil {
		return fmt.Errorf("shim: exec %s: %w", bin, err)
	}
	return nil
}
