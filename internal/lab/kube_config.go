package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// containerdConfig is a node's containerd configuration (format version 2, containerd
// 1.6): every path under the node's directory, the cgroupfs driver, oom_score_adj kept
// within what root without CAP_SYS_RESOURCE may set, the CNI directories at their usual
// paths (the node's mount namespace shows its own there), the lab's pause image, and the
// streaming server on the node's loopback, where the kubelet relays exec and logs.
func containerdConfig(name, node string) string {
	dir := nodeDir(name, node)
	q := strconv.Quote
	return strings.Join([]string{
		"version = 2",
		"root = " + q(filepath.Join(dir, "containerd", "root")),
		"state = " + q(filepath.Join(dir, "containerd", "state")),
		`disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]`,
		"[grpc]",
		"  address = " + q(containerdSocket(name, node)),
		"[ttrpc]",
		"  address = " + q(containerdSocket(name, node)+".ttrpc"),
		"[debug]",
		`  address = ""`,
		"[metrics]",
		`  address = ""`,
		"[plugins]",
		`  [plugins."io.containerd.internal.v1.opt"]`,
		"    path = " + q(filepath.Join(dir, "containerd", "opt")),
		`  [plugins."io.containerd.grpc.v1.cri"]`,
		"    sandbox_image = " + q(pauseImage),
		"    restrict_oom_score_adj = true",
		`    stream_server_address = "127.0.0.1"`,
		`    stream_server_port = "0"`,
		"    enable_cdi = false",
		`    [plugins."io.containerd.grpc.v1.cri".containerd]`,
		`      snapshotter = "overlayfs"`,
		`      default_runtime_name = "runc"`,
		`      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]`,
		`        runtime_type = "io.containerd.runc.v2"`,
		`        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]`,
		"          SystemdCgroup = false",
		"          Root = " + q(filepath.Join(dir, "runc")),
		`    [plugins."io.containerd.grpc.v1.cri".cni]`,
		`      bin_dir = "/opt/cni/bin"`,
		`      conf_dir = "/etc/cni/net.d"`,
		"      max_conf_num = 1",
		"",
	}, "\n")
}

// kubeletConfig is a node's KubeletConfiguration: cgroup v1 with the cgroupfs driver under
// the node's own cgroupRoot, no iptables chains, kernel defaults left alone (the node's
// mount namespace shows the values it checks), webhook authentication and authorisation of
// its API (the API server's client certificate), and eviction thresholds that a lab on a
// tmpfs does not trip.
func kubeletConfig(name, node, dnsIP string) string {
	dir := nodeDir(name, node)
	q := strconv.Quote
	return strings.Join([]string{
		"apiVersion: kubelet.config.k8s.io/v1beta1",
		"kind: KubeletConfiguration",
		"failCgroupV1: false",
		"cgroupDriver: cgroupfs",
		"cgroupRoot: " + q(cgroupRoot(name, node)),
		"cgroupsPerQOS: true",
		"enforceNodeAllocatable: [pods]",
		"containerRuntimeEndpoint: " + q("unix://"+containerdSocket(name, node)),
		"makeIPTablesUtilChains: false",
		"protectKernelDefaults: false",
		"failSwapOn: false",
		"readOnlyPort: 0",
		"healthzBindAddress: 127.0.0.1",
		"clusterDomain: cluster.local",
		"clusterDNS: [" + q(dnsIP) + "]",
		"resolvConf: " + q(filepath.Join(dir, "resolv.conf")),
		"tlsCertFile: " + q(pkiPath(name, "kubelet-"+node+".crt")),
		"tlsPrivateKeyFile: " + q(pkiPath(name, "kubelet-"+node+".key")),
		"authentication:",
		"  anonymous: {enabled: false}",
		"  webhook: {enabled: true}",
		"  x509: {clientCAFile: " + q(pkiPath(name, "ca.crt")) + "}",
		"authorization: {mode: Webhook}",
		"podLogsDir: /var/log/pods",
		"volumePluginDir: " + q(filepath.Join(dir, "volume-plugins")),
		"serializeImagePulls: false",
		"imageGCHighThresholdPercent: 100",
		"evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}",
		"localStorageCapacityIsolation: false",
		"maxPods: 250",
		"",
	}, "\n")
}

// writeNodeConfig writes a node's containerd and kubelet configuration files.
func writeNodeConfig(name, node, dnsIP string) error {
	dir := nodeDir(name, node)
	files := map[string]string{
		"containerd.toml": containerdConfig(name, node),
		"kubelet.yaml":    kubeletConfig(name, node, dnsIP),
		// Pods with dnsPolicy Default get this; it names no server outside the lab.
		"resolv.conf": "search cluster.local\noptions ndots:1\n",
	}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			return fmt.Errorf("node %s: write %s: %w", node, f, err)
		}
	}
	return installLoopbackPlugin(dir)
}

// distributionPlugins are the distribution's CNI plugins (Debian's
// containernetworking-plugins) a node gets in its /opt/cni/bin, as a kubeadm node's OS
// package (kubernetes-cni) gives them: loopback, which containerd runs for every pod's lo,
// and portmap, which Trellis's conflist chains for hostPorts when it is there.
var distributionPlugins = []string{"/usr/lib/cni/loopback", "/usr/lib/cni/portmap"}

// installLoopbackPlugin puts the distribution's plugins into the node's /opt/cni/bin:
// Trellis installs only its own plugins.
func installLoopbackPlugin(dir string) error {
	bin := filepath.Join(dir, "cni-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	for _, p := range distributionPlugins {
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("the CNI plugin a node needs: %w (apt-get install containernetworking-plugins)", err)
		}
		if err := os.WriteFile(filepath.Join(bin, filepath.Base(p)), data, 0o755); err != nil {
			return err
		}
	}
	return nil
}
