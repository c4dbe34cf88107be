package install

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/trellisnet/trellis/internal/cni"
)

// File names on the host.
const (
	BinaryName     = "trellis"
	ConfName       = "10-trellis.conflist"
	KubeconfigName = "trellis-kubeconfig"
	NetworkName    = "k8s-pod-network"
)

// Config is what one installation writes.
type Config struct {
	// BinDir and ConfDir are the host's CNI directories as mounted in the container.
	BinDir, ConfDir string
	// HostConfDir is ConfDir as the host (the plugin) sees it, for the kubeconfig path in
	// the configuration (/etc/cni/net.d).
	HostConfDir string
	// Binary is the file copied as the plugins (the running executable).
	Binary string
	// NodeName is the Kubernetes node name the plugin writes endpoints for.
	NodeName string
	// Server is the API server's URL; CA its certificate authority (PEM); Token the
	// bearer token of the plugin's service account.
	Server string
	CA     []byte
	Token  string
	// LogLevel is the plugin's log level (info when empty).
	LogLevel string
	// PortMap chains the portmap plugin after Trellis's for pods' hostPorts, as Calico's
	// configuration does. Install sets it when the host's CNI bin directory has portmap
	// (a missing chained plugin would fail every pod's ADD).
	PortMap bool
}

// PortMapPlugin is the reference CNI plugin that implements hostPort.
const PortMapPlugin = "portmap"

// ServerURL is the API server's URL from the KUBERNETES_SERVICE_HOST/PORT a pod gets.
func ServerURL(host, port string) string {
	return "https://" + net.JoinHostPort(host, port)
}

// Install writes the plugins, the kubeconfig and the configuration list.
func Install(cfg Config) error {
	if cfg.NodeName == "" {
		return fmt.Errorf("install cni: no node name")
	}
	bin, err := os.ReadFile(cfg.Binary)
	if err != nil {
		return fmt.Errorf("install cni: read %s: %w", cfg.Binary, err)
	}
	if err := writeAtomic(cfg.BinDir, BinaryName, bin, 0o755); err != nil {
		return err
	}
	for _, link := range []string{cni.PluginName, cni.IPAMPluginName} {
		if err := linkAtomic(cfg.BinDir, link, BinaryName); err != nil {
			return err
		}
	}
	if fi, err := os.Stat(filepath.Join(cfg.BinDir, PortMapPlugin)); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		cfg.PortMap = true
	}
	kc, err := Kubeconfig(cfg)
	if err != nil {
		return err
	}
	if err := writeAtomic(cfg.ConfDir, KubeconfigName, kc, 0o600); err != nil {
		return err
	}
	cl, err := ConfList(cfg)
	if err != nil {
		return err
	}
	return writeAtomic(cfg.ConfDir, ConfName, cl, 0o644)
}

// Kubeconfig is the plugins' kubeconfig: the server, its CA inline and the token.
func Kubeconfig(cfg Config) ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubernetes"] = &clientcmdapi.Cluster{Server: cfg.Server, CertificateAuthorityData: cfg.CA}
	kc.AuthInfos["trellis-cni"] = &clientcmdapi.AuthInfo{Token: cfg.Token}
	kc.Contexts["trellis-cni"] = &clientcmdapi.Context{Cluster: "kubernetes", AuthInfo: "trellis-cni"}
	kc.CurrentContext = "trellis-cni"
	b, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, fmt.Errorf("install cni: kubeconfig: %w", err)
	}
	return b, nil
}

// confList is the network configuration list; plugin names the cni.NetConf fields.
type confList struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

// portMap is the portmap plugin's entry: hostPorts from the runtime's portMappings, with
// SNAT so that a connection from the node itself (or to 127.0.0.1) gets its replies back.
type portMap struct {
	Type         string          `json:"type"`
	SNAT         bool            `json:"snat"`
	Capabilities map[string]bool `json:"capabilities"`
}

type plugin struct {
	Type          string     `json:"type"`
	DatastoreType string     `json:"datastore_type"`
	Kubernetes    kubeConf   `json:"kubernetes"`
	NodeName      string     `json:"nodename"`
	PolicyWait    bool       `json:"policy_wait"`
	LogLevel      string     `json:"log_level"`
	IPAM          ipamConfig `json:"ipam"`
}

type kubeConf struct {
	Kubeconfig string `json:"kubeconfig"`
}

type ipamConfig struct {
	Type string `json:"type"`
}

// ConfList is 10-trellis.conflist: the Trellis plugin over the Kubernetes datastore, its
// IPAM plugin, waiting for the agent to program each new pod's policy; with PortMap, the
// portmap plugin after it.
func ConfList(cfg Config) ([]byte, error) {
	level := cfg.LogLevel
	if level == "" {
		level = "info"
	}
	hostDir := cfg.HostConfDir
	if hostDir == "" {
		hostDir = "/etc/cni/net.d"
	}
	l := confList{CNIVersion: "1.0.0", Name: NetworkName, Plugins: []any{plugin{
		Type: cni.PluginName, DatastoreType: "kubernetes",
		Kubernetes: kubeConf{Kubeconfig: filepath.Join(hostDir, KubeconfigName)},
		NodeName:   cfg.NodeName, PolicyWait: true, LogLevel: level,
		IPAM: ipamConfig{Type: cni.IPAMPluginName},
	}}}
	if cfg.PortMap {
		l.Plugins = append(l.Plugins, portMap{Type: PortMapPlugin, SNAT: true, Capabilities: map[string]bool{"portMappings": true}})
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("install cni: configuration: %w", err)
	}
	return append(b, '\n'), nil
}

// writeAtomic writes data as dir/name through a temporary file renamed over it; an equal
// file with the same mode is left alone.
func writeAtomic(dir, name string, data []byte, mode os.FileMode) error {
	path := filepath.Join(dir, name)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm() == mode {
			return nil
		}
	}
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-")
	if err != nil {
		return fmt.Errorf("install cni: write %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("install cni: write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("install cni: chmod %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("install cni: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install cni: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("install cni: rename to %s: %w", path, err)
	}
	ok = true
	return nil
}

// linkAtomic makes dir/name a symbolic link to target (relative), replacing what is there.
func linkAtomic(dir, name, target string) error {
	path := filepath.Join(dir, name)
	if t, err := os.Readlink(path); err == nil && t == target {
		return nil
	}
	tmp := filepath.Join(dir, "."+name+".tmp-link")
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("install cni: link %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("install cni: link %s: %w", path, err)
	}
	return nil
}
