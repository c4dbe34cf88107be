package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trellisnet/trellis/internal/kube/kubebin"
	"github.com/trellisnet/trellis/internal/netns"
)

// KubeState is what a Kubernetes-mode lab records beyond the nodes.
type KubeState struct {
	// ServiceCIDR is the API server's service range.
	ServiceCIDR string `json:"serviceCIDR"`
	// ForwardPort is the machine's loopback port of lab forward (the admin kubeconfig's).
	ForwardPort int `json:"forwardPort"`
	// Bins are the Kubernetes binaries the lab runs (kubelet, kubectl, ...).
	Bins map[string]string `json:"bins"`
	// The control plane's processes.
	EtcdPID              int `json:"etcdPID"`
	APIServerPID         int `json:"apiServerPID"`
	ControllerManagerPID int `json:"controllerManagerPID"`
	SchedulerPID         int `json:"schedulerPID"`
	ForwarderPID         int `json:"forwarderPID"`
	// ImageArchives are imported into every node beside Trellis's images (lab up
	// --image-archive).
	ImageArchives []string `json:"imageArchives,omitempty"`
}

// kubeBinaries are the Kubernetes programs a Kubernetes-mode lab runs.
var kubeBinaries = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl"}

// runtimeBinaries are the container runtime's programs, from the distribution.
var runtimeBinaries = []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr"}

func findKubeBinaries() (map[string]string, error) {
	bins, err := kubebin.FindBinaries(kubeBinaries...)
	if err != nil {
		return nil, err
	}
	for _, b := range runtimeBinaries {
		p, err := exec.LookPath(b)
		if err != nil {
			return nil, fmt.Errorf("%s not found: install Debian's containerd and runc (scripts/setup.sh)", b)
		}
		bins[b] = p
	}
	return bins, nil
}

// upKube builds a Kubernetes-mode lab: fabric and node namespaces as in the etcd mode, a
// control-plane namespace with etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, containerd and a kubelet per node, Trellis's images in every node's
// containerd, and Trellis installed with kubectl apply of `trellis manifests`. It returns
// when every node is Ready and every Trellis pod is ready.
func upKube(ctx context.Context, cfg Config, out io.Writer) (err error) {
	bins, err := findKubeBinaries()
	if err != nil {
		return err
	}
	svcCIDR, err := netip.ParsePrefix(cfg.ServiceCIDR)
	if err != nil || !svcCIDR.Addr().Is4() {
		return fmt.Errorf("invalid service CIDR %q: want an IPv4 prefix such as %s", cfg.ServiceCIDR, DefaultServiceCIDR)
	}
	if st, err := LoadState(cfg.Name); err == nil && st.Kube != nil && status(ctx, st, false).healthy() {
		fmt.Fprintf(out, "lab %s is already up (%d nodes, Kubernetes)\n", cfg.Name, len(st.Nodes))
		return writeCurrent(cfg.Name)
	}
	if err := Down(cfg.Name, io.Discard); err != nil {
		return err
	}
	start := time.Now()
	st := &State{Name: cfg.Name, Routing: cfg.Routing, Binary: cfg.Binary, LogLevel: cfg.LogLevel,
		Kube: &KubeState{ServiceCIDR: svcCIDR.String(), Bins: bins, ImageArchives: cfg.ImageArchives}}
	defer func() {
		if err != nil {
			fmt.Fprintf(out, "lab up failed; run 'trellis lab down --name %s' to clean up (state and logs in %s)\n", cfg.Name, Dir(cfg.Name))
		}
	}()
	if err := kubeNetwork(cfg, st, out); err != nil {
		return err
	}
	if st.Kube.ForwardPort, err = freeLoopbackPort(); err != nil {
		return err
	}
	if err := kubeCreds(cfg.Name, svcCIDR, st.Nodes, st.Kube.ForwardPort); err != nil {
		return err
	}
	if err := saveState(st); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := startControlPlane(ctx, cfg, st, out); err != nil {
		return err
	}
	if err := startNodes(ctx, cfg, st, out); err != nil {
		return err
	}
	if err := routeControlPlane(st); err != nil {
		return err
	}
	if err := installTrellis(ctx, cfg, st, out); err != nil {
		return err
	}
	if err := writeCurrent(cfg.Name); err != nil {
		return err
	}
	fmt.Fprintf(out, "lab %s is up: %d Kubernetes nodes, %s routing, in %s\nkubectl: trellis lab kubectl --name %s -- get nodes (or KUBECONFIG=%s)\n",
		cfg.Name, len(st.Nodes), cfg.Routing, time.Since(start).Round(time.Millisecond), cfg.Name, KubeconfigPath(cfg.Name))
	return nil
}

// kubeNetwork makes the fabric, the control-plane namespace and the node namespaces.
func kubeNetwork(cfg Config, st *State, out io.Writer) error {
	if err := prepareDir(cfg); err != nil {
		return err
	}
	if err := os.MkdirAll(kubeDir(cfg.Name), 0o700); err != nil {
		return err
	}
	fmt.Fprintf(out, "creating fabric %s\n", FabricNS(cfg.Name))
	if err := createFabric(cfg.Name); err != nil {
		return err
	}
	cp := ControlPlaneNS(cfg.Name)
	if err := netns.Create(cp); err != nil {
		return err
	}
	if err := wireUnderlay(cfg.Name, cp, "cp", "ucp", controlPlaneAddr()); err != nil {
		return err
	}
	fmt.Fprintf(out, "control plane: namespace %s, %s\n", cp, controlPlaneAddr())
	for i := 1; i <= cfg.Nodes; i++ {
		node, addr := NodeName(i), underlayAddr(i)
		if err := createNode(cfg.Name, i, node, addr); err != nil {
			return err
		}
		if err := os.MkdirAll(nodeDir(cfg.Name, node), 0o755); err != nil {
			return err
		}
		st.Nodes = append(st.Nodes, NodeState{Name: node, Namespace: NodeNS(cfg.Name, node), Address: addr.String(),
			Socket: filepath.Join(nodeDir(cfg.Name, node), "run-trellis-node", node, "agent.sock")})
		fmt.Fprintf(out, "node %s: namespace %s, underlay %s\n", node, NodeNS(cfg.Name, node), addr)
	}
	return saveState(st)
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startControlPlane starts etcd, the API server (waiting for it), the controller manager,
// the scheduler and the loopback forwarder.
func startControlPlane(ctx context.Context, cfg Config, st *State, out io.Writer) error {
	name, k, cp := cfg.Name, st.Kube, ControlPlaneNS(cfg.Name)
	logs := logDir(name)
	run := func(what string, argv []string, pid *int) error {
		p, err := startProcess(cp, argv, nil, filepath.Join(logs, what+".log"))
		if err != nil {
			return err
		}
		*pid = p.pid()
		fmt.Fprintf(out, "%s: pid %d\n", what, p.pid())
		return saveState(st)
	}
	etcd := append(cfg.base(), "datastore", "run", "--data-dir", filepath.Join(kubeDir(name), "etcd"), "--listen-client", etcdClientURL)
	if err := run("etcd", etcd, &k.EtcdPID); err != nil {
		return err
	}
	if err := run("kube-apiserver", apiServerArgv(name, k), &k.APIServerPID); err != nil {
		return err
	}
	fwd, err := startProcess("", append(cfg.base(), "lab", "forward", "--name", name, "--listen", fmt.Sprintf("127.0.0.1:%d", k.ForwardPort)),
		nil, filepath.Join(logs, "forward.log"))
	if err != nil {
		return err
	}
	k.ForwarderPID = fwd.pid()
	if err := waitUntil(ctx, "the API server", filepath.Join(logs, "kube-apiserver.log"), func() error { return apiReady(ctx, name, k) }); err != nil {
		return err
	}
	fmt.Fprintf(out, "kube-apiserver: ready at https://%s:%d (machine: https://127.0.0.1:%d)\n", controlPlaneAddr().Addr(), apiPort, k.ForwardPort)
	if err := run("kube-controller-manager", controllerManagerArgv(name, k), &k.ControllerManagerPID); err != nil {
		return err
	}
	return run("kube-scheduler", []string{k.Bins["kube-scheduler"], "--kubeconfig=" + filepath.Join(kubeDir(name), "kube-scheduler.kubeconfig"),
		"--authentication-kubeconfig=" + filepath.Join(kubeDir(name), "kube-scheduler.kubeconfig"),
		"--authorization-kubeconfig=" + filepath.Join(kubeDir(name), "kube-scheduler.kubeconfig"),
		"--leader-elect=false", "--bind-address=127.0.0.1"}, &k.SchedulerPID)
}

func apiServerArgv(name string, k *KubeState) []string {
	p := func(f string) string { return pkiPath(name, f) }
	return []string{k.Bins["kube-apiserver"],
		"--advertise-address=" + controlPlaneAddr().Addr().String(), "--bind-address=0.0.0.0",
		"--secure-port=" + strconv.Itoa(apiPort), "--etcd-servers=" + etcdClientURL,
		"--client-ca-file=" + p("ca.crt"), "--tls-cert-file=" + p("apiserver.crt"), "--tls-private-key-file=" + p("apiserver.key"),
		"--kubelet-client-certificate=" + p("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + p("ca.crt"), "--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p("sa.pub"), "--service-account-signing-key-file=" + p("sa.key"),
		"--service-cluster-ip-range=" + k.ServiceCIDR,
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		// Webhooks are called at their Service's endpoints, not its cluster IP: the
		// control plane runs no service proxy (Trellis's runs on the nodes).
		"--enable-aggregator-routing=true",
		"--allow-privileged=true", "--anonymous-auth=false", "--profiling=false",
		"--cert-dir=" + filepath.Join(kubeDir(name), "apiserver-certs"),
	}
}

func controllerManagerArgv(name string, k *KubeState) []string {
	kc := filepath.Join(kubeDir(name), "kube-controller-manager.kubeconfig")
	return []string{k.Bins["kube-controller-manager"], "--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--service-account-private-key-file=" + pkiPath(name, "sa.key"), "--root-ca-file=" + pkiPath(name, "ca.crt"),
		"--use-service-account-credentials=true", "--leader-elect=false", "--bind-address=127.0.0.1",
		"--service-cluster-ip-range=" + k.ServiceCIDR, "--allocate-node-cidrs=false",
		"--flex-volume-plugin-dir=" + filepath.Join(kubeDir(name), "flexvolume"),
	}
}

// apiReady asks the API server's /readyz through the forwarder.
func apiReady(ctx context.Context, name string, k *KubeState) error {
	_, err := kubectl(ctx, name, k, "", "get", "--raw", "/readyz")
	return err
}

// kubectl runs kubectl against the lab with the admin kubeconfig and returns its output.
func kubectl(ctx context.Context, name string, k *KubeState, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.Bins["kubectl"], append([]string{"--kubeconfig=" + KubeconfigPath(name), "--request-timeout=30s"}, args...)...)
	cmd.Env = kubectlEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// kubectlEnv is the environment without KUBECONFIG, so that only the lab's is used.
func kubectlEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KUBECONFIG=") {
			env = append(env, e)
		}
	}
	return env
}

// waitUntil polls check every 200 ms until it succeeds or ctx ends; the error then names
// what was awaited, the last failure and the end of log.
func waitUntil(ctx context.Context, what, log string, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v); %s", what, ctx.Err(), err, logTail(log))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startNodes starts every node's runtime (containerd and kubelet) and imports Trellis's
// images into its containerd.
func startNodes(ctx context.Context, cfg Config, st *State, out io.Writer) error {
	dns, err := dnsAddr(st.Kube.ServiceCIDR)
	if err != nil {
		return err
	}
	if err := ensureMountpoints(); err != nil {
		return err
	}
	archive := filepath.Join(kubeDir(cfg.Name), "images.tar")
	if b, err := exec.CommandContext(ctx, cfg.Binary, "image", "build", "--output", archive).CombinedOutput(); err != nil {
		return fmt.Errorf("build Trellis's images: %w: %s", err, b)
	}
	for i, n := range st.Nodes {
		if err := startNodeRuntime(cfg, st, i, dns.String()); err != nil {
			return err
		}
		fmt.Fprintf(out, "node %s: containerd and kubelet, pid %d\n", n.Name, st.Nodes[i].RuntimePID)
	}
	for _, n := range st.Nodes {
		if err := importImages(ctx, cfg.Name, st.Kube, n.Name, out); err != nil {
			return err
		}
	}
	return nil
}

// importImages waits for the node's containerd and imports Trellis's images, and the
// lab's other image archives, into it.
func importImages(ctx context.Context, name string, k *KubeState, node string, out io.Writer) error {
	sock := containerdSocket(name, node)
	if err := waitUntil(ctx, "containerd of "+node, nodeLog(name, node), func() error {
		_, err := os.Stat(sock)
		return err
	}); err != nil {
		return err
	}
	archives := append([]string{filepath.Join(kubeDir(name), "images.tar")}, k.ImageArchives...)
	for _, archive := range archives {
		if b, err := exec.CommandContext(ctx, k.Bins["ctr"], "--address", sock, "-n", "k8s.io", "images", "import", archive).CombinedOutput(); err != nil {
			return fmt.Errorf("node %s: import images of %s: %w: %s", node, archive, err, b)
		}
	}
	fmt.Fprintf(out, "node %s: images imported (%d archives)\n", node, len(archives))
	return nil
}

func nodeLog(name, node string) string { return filepath.Join(logDir(name), "node-"+node+".log") }

// startNodeRuntime writes node i's configuration and cgroups and starts lab node-runtime
// in its network namespace with a new mount namespace.
func startNodeRuntime(cfg Config, st *State, i int, dnsIP string) error {
	n := st.Nodes[i]
	if err := writeNodeConfig(cfg.Name, n.Name, dnsIP); err != nil {
		return err
	}
	if err := createNodeCgroups(cfg.Name, n.Name); err != nil {
		return err
	}
	argv := append(cfg.base(), "lab", "node-runtime", "--name", cfg.Name, "--node", n.Name,
		"--containerd", st.Kube.Bins["containerd"], "--kubelet", st.Kube.Bins["kubelet"])
	p, err := startProcessAttr(n.Namespace, argv, nil, nodeLog(cfg.Name, n.Name), &syscall.SysProcAttr{Setsid: true, Unshareflags: syscall.CLONE_NEWNS})
	if err != nil {
		return err
	}
	st.Nodes[i].RuntimePID = p.pid()
	return saveState(st)
}

// dnsAddr is the cluster DNS service's address: the tenth of the service range, as
// kubeadm chooses it (10.96.0.10 in 10.96.0.0/12 and 10.96.0.0/16).
func dnsAddr(serviceCIDR string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return netip.Addr{}, err
	}
	a := p.Masked().Addr().As4()
	a[3] += 10
	return netip.AddrFrom4(a), nil
}

// installTrellis applies `trellis manifests` with kubectl, as a user would, and waits for
// every node to be Ready and every Trellis pod ready.
func installTrellis(ctx context.Context, cfg Config, st *State, out io.Writer) error {
	dns, err := dnsAddr(st.Kube.ServiceCIDR)
	if err != nil {
		return err
	}
	k := st.Kube
	if err := waitUntil(ctx, "every node to register", nodeLog(cfg.Name, st.Nodes[len(st.Nodes)-1].Name), func() error {
		o, err := kubectl(ctx, cfg.Name, k, "", "get", "nodes", "-o", "name")
		if err == nil && len(strings.Fields(o)) < len(st.Nodes) {
			err = fmt.Errorf("%d of %d nodes registered", len(strings.Fields(o)), len(st.Nodes))
		}
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d nodes registered\n", len(st.Nodes))
	args := []string{"manifests", "--image", trellisImage, "--image-pull-policy", "Never",
		"--routing", cfg.Routing, "--pod-cidr", PoolCIDR, "--service-cidr", k.ServiceCIDR, "--dns-ip", dns.String(),
		"--api-server", fmt.Sprintf("%s:%d", controlPlaneAddr().Addr(), apiPort)}
	crds, err := renderManifests(ctx, cfg.Binary, append(args, "--crds-only"))
	if err != nil {
		return err
	}
	manifests, err := renderManifests(ctx, cfg.Binary, args)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(kubeDir(cfg.Name), "trellis.yaml"), manifests, 0o644); err != nil {
		return err
	}
	// The CRDs first, established before the resources of their kinds are applied.
	if _, err := kubectl(ctx, cfg.Name, k, string(crds), "apply", "--server-side", "-f", "-"); err != nil {
		return err
	}
	if _, err := kubectl(ctx, cfg.Name, k, "", "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"); err != nil {
		return err
	}
	if _, err := kubectl(ctx, cfg.Name, k, string(manifests), "apply", "--server-side", "-f", "-"); err != nil {
		return err
	}
	fmt.Fprintln(out, "Trellis installed: kubectl apply --server-side -f "+filepath.Join(kubeDir(cfg.Name), "trellis.yaml"))
	return waitUntil(ctx, "every node Ready and every Trellis pod ready", filepath.Join(logDir(cfg.Name), "kube-apiserver.log"), func() error {
		return clusterReady(ctx, cfg.Name, k, len(st.Nodes))
	})
}

// renderManifests runs `trellis manifests` with args.
func renderManifests(ctx context.Context, binary string, args []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, binary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("trellis %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// clusterReady succeeds when every node is Ready and every pod of the trellis-system
// namespace is Ready.
func clusterReady(ctx context.Context, name string, k *KubeState, nodes int) error {
	o, err := kubectl(ctx, name, k, "", "get", "nodes", "-o",
		`jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	if err != nil {
		return err
	}
	if ready := strings.Count(o, "=True"); ready < nodes {
		return fmt.Errorf("%d of %d nodes Ready", ready, nodes)
	}
	o, err = kubectl(ctx, name, k, "", "get", "pods", "-A", "-l", "app.kubernetes.io/part-of=trellis", "-o",
		`jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	if err != nil {
		return err
	}
	var notReady []string
	lines := strings.Fields(o)
	for _, l := range lines {
		if !strings.HasSuffix(l, "=True") {
			notReady = append(notReady, strings.SplitN(l, "=", 2)[0])
		}
	}
	if len(lines) == 0 || len(notReady) > 0 {
		return fmt.Errorf("pods of Trellis not ready: %v", notReady)
	}
	return nil
}

// downKube stops what only a Kubernetes-mode lab has: the processes in its cgroups (pods'
// containers live in namespaces lab down does not find otherwise), the cgroups, and the
// mountpoints lab up created when no other Kubernetes lab remains.
func downKube(name string) error {
	errs := []error{removeCgroups(name)}
	if !otherKubeLab(name) {
		errs = append(errs, removeMountpoints())
	}
	return errors.Join(errs...)
}

// otherKubeLab reports whether a Kubernetes-mode lab other than name is up.
func otherKubeLab(name string) bool {
	entries, _ := os.ReadDir(RootDir)
	for _, e := range entries {
		if !e.IsDir() || e.Name() == name {
			continue
		}
		if st, err := LoadState(e.Name()); err == nil && st.Kube != nil {
			return true
		}
	}
	return false
}

// Kubectl runs kubectl against the named Kubernetes-mode lab with the given streams.
func Kubectl(ctx context.Context, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	st, err := LoadState(name)
	if err != nil {
		return err
	}
	if st.Kube == nil {
		return fmt.Errorf("lab %s is not a Kubernetes-mode lab (lab up --kubernetes)", name)
	}
	cmd := exec.CommandContext(ctx, st.Kube.Bins["kubectl"], append([]string{"--kubeconfig=" + KubeconfigPath(name)}, args...)...)
	cmd.Env = kubectlEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	return cmd.Run()
}
