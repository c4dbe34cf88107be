package install

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/trellisnet/trellis/internal/cni"
	"github.com/trellisnet/trellis/internal/kube/kubetest"
)

func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	bin := filepath.Join(dir, "trellis-build")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho trellis\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{BinDir: filepath.Join(dir, "bin"), ConfDir: filepath.Join(dir, "net.d"), Binary: bin,
		NodeName: "node-1", Server: ServerURL("192.0.2.1", "6443"), CA: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		Token: "token-of-trellis-cni"}
	for _, d := range []string{cfg.BinDir, cfg.ConfDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func TestInstall(t *testing.T) {
	cfg := testConfig(t)
	if err := Install(cfg); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{
		filepath.Join(cfg.BinDir, BinaryName):      0o755,
		filepath.Join(cfg.ConfDir, KubeconfigName): 0o600,
		filepath.Join(cfg.ConfDir, ConfName):       0o644,
	} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
	for _, link := range []string{cni.PluginName, cni.IPAMPluginName} {
		if target, err := os.Readlink(filepath.Join(cfg.BinDir, link)); err != nil || target != BinaryName {
			t.Errorf("%s -> %q, %v; want -> %s", link, target, err, BinaryName)
		}
		if b, err := os.ReadFile(filepath.Join(cfg.BinDir, link)); err != nil || string(b) != "#!/bin/sh\necho trellis\n" {
			t.Errorf("%s is not the binary: %q, %v", link, b, err)
		}
	}

	raw, err := os.ReadFile(filepath.Join(cfg.ConfDir, ConfName))
	if err != nil {
		t.Fatal(err)
	}
	list, err := libcni.ConfListFromBytes(raw)
	if err != nil {
		t.Fatalf("libcni: %v\n%s", err, raw)
	}
	if list.Name != NetworkName || len(list.Plugins) != 1 || list.Plugins[0].Network.Type != cni.PluginName {
		t.Fatalf("conflist %s: %+v", raw, list)
	}
	// The plugin's own NetConf reads the fields it knows by the names written.
	var nc cni.NetConf
	if err := json.Unmarshal(list.Plugins[0].Bytes, &nc); err != nil {
		t.Fatal(err)
	}
	if nc.NodeName != "node-1" || !nc.PolicyWait || nc.IPAM.Type != cni.IPAMPluginName || nc.LogLevel != "info" {
		t.Errorf("NetConf from the conflist: %+v", nc)
	}
	var extra struct {
		DatastoreType string `json:"datastore_type"`
		Kubernetes    struct {
			Kubeconfig string `json:"kubeconfig"`
		} `json:"kubernetes"`
	}
	if err := json.Unmarshal(list.Plugins[0].Bytes, &extra); err != nil {
		t.Fatal(err)
	}
	if extra.DatastoreType != "kubernetes" || extra.Kubernetes.Kubeconfig != "/etc/cni/net.d/"+KubeconfigName {
		t.Errorf("datastore: %+v", extra)
	}

	kc, err := clientcmd.LoadFromFile(filepath.Join(cfg.ConfDir, KubeconfigName))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != "https://192.0.2.1:6443" || rc.BearerToken != cfg.Token || string(rc.CAData) != string(cfg.CA) {
		t.Errorf("kubeconfig: host %s token %q ca %q", rc.Host, rc.BearerToken, rc.CAData)
	}
}

// Running again rewrites nothing that is right, and replaces what changed.
func TestInstallIdempotent(t *testing.T) {
	cfg := testConfig(t)
	if err := Install(cfg); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(cfg.ConfDir, ConfName)
	old := time.Now().Add(-time.Hour)
	for _, f := range []string{conf, filepath.Join(cfg.BinDir, BinaryName)} {
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := Install(cfg); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(conf); !st.ModTime().Equal(old) {
		t.Error("an unchanged configuration was rewritten")
	}
	cfg.NodeName = "node-2"
	if err := Install(cfg); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(conf); !json.Valid(b) || !contains(b, `"nodename": "node-2"`) {
		t.Errorf("changed node name not written: %s", b)
	}
	entries, _ := os.ReadDir(cfg.ConfDir)
	entriesBin, _ := os.ReadDir(cfg.BinDir)
	if len(entries) != 2 || len(entriesBin) != 3 {
		t.Errorf("left-over files: %v %v", entries, entriesBin)
	}
}

func TestInstallNeedsNodeName(t *testing.T) {
	cfg := testConfig(t)
	cfg.NodeName = ""
	if err := Install(cfg); err == nil {
		t.Error("installed without a node name")
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

// RequestToken gets a token of another service account from a real API server.
func TestRequestToken(t *testing.T) {
	c := kubetest.Start(t)
	if out, err := c.Kubectl("", "create", "serviceaccount", "-n", "default", "trellis-cni"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	tok, exp, err := RequestToken(context.Background(), rc, "default", "trellis-cni", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if tok == "" || time.Until(exp) < time.Hour {
		t.Errorf("token %d bytes, expires %v", len(tok), exp)
	}
	out, err := c.Kubectl("", "auth", "whoami", "--token="+tok, "-o", "jsonpath={.status.userInfo.username}")
	if err != nil || out != "system:serviceaccount:default:trellis-cni" {
		t.Errorf("the token is %q (%v), want the service account's", out, err)
	}
	if _, _, err := RequestToken(context.Background(), rc, "default", "missing", time.Hour); err == nil {
		t.Error("a token of a missing service account")
	}
}

// TestInstallChainsPortMap: with portmap in the host's CNI bin directory the list chains
// it (hostPorts), as Calico's does; without it, nothing is chained (a missing plugin would
// fail every ADD).
func TestInstallChainsPortMap(t *testing.T) {
	cfg := testConfig(t)
	if err := os.WriteFile(filepath.Join(cfg.BinDir, PortMapPlugin), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Install(cfg); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(cfg.ConfDir, ConfName))
	if err != nil {
		t.Fatal(err)
	}
	list, err := libcni.ConfListFromBytes(raw)
	if err != nil {
		t.Fatalf("libcni: %v\n%s", err, raw)
	}
	if len(list.Plugins) != 2 || list.Plugins[0].Network.Type != cni.PluginName || list.Plugins[1].Network.Type != PortMapPlugin ||
		!list.Plugins[1].Network.Capabilities["portMappings"] {
		t.Fatalf("conflist with portmap: %s", raw)
	}
	var pm struct {
		SNAT bool `json:"snat"`
	}
	if err := json.Unmarshal(list.Plugins[1].Bytes, &pm); err != nil || !pm.SNAT {
		t.Errorf("portmap snat: %v, %v", pm.SNAT, err)
	}
}
