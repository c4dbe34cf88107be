package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
)

// Config is what `lab up` builds.
type Config struct {
	Name    string
	Nodes   int
	Routing string
	// Binary is the trellis executable the lab re-executes (os.Executable()).
	Binary string
	// Timeout bounds the wait for the datastore and every agent to be ready; 60s when zero.
	Timeout time.Duration
	// LogLevel is passed to the lab's processes; info when empty.
	LogLevel string
	// IPv6 makes the lab dual-stack: IPv6 underlay addresses, an IPv6 pool, BGP over IPv6.
	IPv6 bool
	// Kubernetes makes the lab a real Kubernetes cluster (kubelet and containerd per node)
	// with Trellis installed from its manifests; ServiceCIDR is then its service range
	// (DefaultServiceCIDR when empty).
	Kubernetes  bool
	ServiceCIDR string
	// ImageArchives are docker-archive or OCI tarballs imported into every node's
	// containerd beside Trellis's images (Kubernetes mode only), also into nodes added
	// later; the conformance harness passes the upstream test images this way.
	ImageArchives []string
}

func (c Config) validate() error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	if c.Nodes < 1 || c.Nodes > 200 {
		return fmt.Errorf("invalid node count %d: use 1-200", c.Nodes)
	}
	if c.Routing != RoutingBGP && c.Routing != RoutingVXLAN {
		return fmt.Errorf("invalid routing %q: use bgp or vxlan", c.Routing)
	}
	if c.IPv6 && c.Routing != RoutingBGP {
		return errors.New("an IPv6 lab needs --routing bgp (the VXLAN overlay is IPv4 only)")
	}
	if c.Binary == "" {
		return errors.New("lab up: no trellis binary given")
	}
	if len(c.ImageArchives) > 0 && !c.Kubernetes {
		return errors.New("--image-archive needs --kubernetes")
	}
	for _, a := range c.ImageArchives {
		if !filepath.IsAbs(a) {
			return fmt.Errorf("image archive %s: want an absolute path", a)
		}
		if _, err := os.Stat(a); err != nil {
			return fmt.Errorf("image archive: %w", err)
		}
	}
	if c.Kubernetes && c.IPv6 {
		return errors.New("a Kubernetes-mode lab is IPv4 only for now: drop --ipv6")
	}
	return nil
}

func checkRoot(op string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s: the lab needs root (network namespaces): run it with sudo", op)
	}
	return nil
}

// Up builds the lab and returns when every agent is ready. Progress lines go to out. An
// already running, healthy lab is left as it is; a broken one is taken down and rebuilt.
func Up(ctx context.Context, cfg Config, out io.Writer) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := checkRoot("lab up"); err != nil {
		return err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	if cfg.Kubernetes {
		if cfg.ServiceCIDR == "" {
			cfg.ServiceCIDR = DefaultServiceCIDR
		}
		if cfg.Timeout < 5*time.Minute {
			cfg.Timeout = 5 * time.Minute
		}
		return upKube(ctx, cfg, out)
	}
	if st, err := LoadState(cfg.Name); err == nil {
		rep := status(ctx, st, false)
		if rep.healthy() {
			fmt.Fprintf(out, "lab %s is already up (%d nodes)\n", cfg.Name, len(st.Nodes))
			return writeCurrent(cfg.Name)
		}
		if rep.Datastore.Alive {
			return repair(ctx, cfg, st, rep, out)
		}
		fmt.Fprintf(out, "lab %s exists but its datastore is gone: taking it down first\n", cfg.Name)
	}
	if err := Down(cfg.Name, io.Discard); err != nil {
		return err
	}
	start := time.Now()
	st := &State{Name: cfg.Name, Routing: cfg.Routing, Binary: cfg.Binary, IPv6: cfg.IPv6, LogLevel: cfg.LogLevel}
	defer func() {
		if err != nil {
			fmt.Fprintf(out, "lab up failed; run 'trellis lab down --name %s' to clean up (state and logs in %s)\n", cfg.Name, Dir(cfg.Name))
		}
	}()
	if err := prepareDir(cfg); err != nil {
		return err
	}
	fmt.Fprintf(out, "creating fabric %s\n", FabricNS(cfg.Name))
	if err := createFabric(cfg.Name); err != nil {
		return err
	}
	for i := 1; i <= cfg.Nodes; i++ {
		node := NodeName(i)
		addr := underlayAddr(i)
		if err := createNode(cfg.Name, i, node, addr); err != nil {
			return err
		}
		st.Nodes = append(st.Nodes, NodeState{Name: node, Namespace: NodeNS(cfg.Name, node), Address: addr.String(), Socket: agentSocket(cfg.Name, node)})
		fmt.Fprintf(out, "node %s: namespace %s, underlay %s\n", node, NodeNS(cfg.Name, node), addr)
	}
	if err := saveState(st); err != nil {
		return err
	}
	if err := writeConflists(cfg, st); err != nil {
		return err
	}
	ds, err := startDatastore(cfg, st, out)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := seed(ctx, cfg, st, ds); err != nil {
		return err
	}
	all := func(NodeState) bool { return true }
	if err := startProcesses(ctx, cfg, st, out, all, true); err != nil {
		return err
	}
	if cfg.Routing == RoutingBGP && len(st.Nodes) > 1 {
		waitAllSessions(ctx, st, out)
	}
	if err := writeCurrent(cfg.Name); err != nil {
		return err
	}
	fmt.Fprintf(out, "lab %s is up: %d nodes, %s routing, in %s\n", cfg.Name, len(st.Nodes), cfg.Routing, time.Since(start).Round(time.Millisecond))
	return nil
}

// startDatastore starts the lab's datastore and records it in the state.
func startDatastore(cfg Config, st *State, out io.Writer) (*proc, error) {
	ds, err := startProcess("", datastoreArgv(cfg), nil, filepath.Join(logDir(cfg.Name), "datastore.log"))
	if err != nil {
		return nil, err
	}
	st.DatastorePID = ds.pid()
	if err := saveState(st); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "datastore: pid %d, %s\n", ds.pid(), Endpoint(cfg.Name))
	return ds, nil
}

// startProcesses starts the agents of the nodes need selects and, with ctrl, the
// controller; then the supervisor unless it runs; then it waits for every agent to be
// ready.
func startProcesses(ctx context.Context, cfg Config, st *State, out io.Writer, need func(NodeState) bool, ctrl bool) error {
	agents := map[string]*proc{}
	for i, n := range st.Nodes {
		if !need(n) {
			continue
		}
		p, err := startProcess(n.Namespace, append(append(cfg.base(), "node", "run", "--node-name", n.Name, "--health-addr", agentapi.Disabled,
			"--status-socket", n.Socket), agentFlowArgs(cfg.Name, n.Name)...), nil, agentLog(cfg.Name, n.Name))
		if err != nil {
			return err
		}
		st.Nodes[i].AgentPID = p.pid()
		agents[n.Name] = p
		fmt.Fprintf(out, "agent %s: pid %d\n", n.Name, p.pid())
	}
	if ctrl {
		p, err := startProcess("", controllerArgv(cfg), nil, filepath.Join(logDir(cfg.Name), "controller.log"))
		if err != nil {
			return err
		}
		st.ControllerPID = p.pid()
		fmt.Fprintf(out, "controller: pid %d\n", p.pid())
	}
	if err := startSupervisor(cfg, st, func(f string, a ...any) { fmt.Fprintf(out, f, a...) }); err != nil {
		return err
	}
	if err := saveState(st); err != nil {
		return err
	}
	for _, n := range st.Nodes {
		if err := waitAgent(ctx, cfg.Name, n, agents[n.Name]); err != nil {
			return err
		}
		fmt.Fprintf(out, "agent %s: ready\n", n.Name)
	}
	return nil
}

// repair restarts the agents and the controller of a lab whose datastore and namespaces
// are intact; pods and their addresses are kept (the new controller takes them over).
func repair(ctx context.Context, cfg Config, st *State, rep Report, out io.Writer) error {
	for _, n := range st.Nodes {
		if !netns.Exists(n.Namespace) {
			return fmt.Errorf("lab %s: namespace %s is gone", cfg.Name, n.Namespace)
		}
	}
	dead := map[string]bool{}
	for _, n := range rep.Nodes {
		dead[n.Name] = !n.AgentAlive
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	fmt.Fprintf(out, "lab %s: restarting its stopped processes\n", cfg.Name)
	need := func(n NodeState) bool { return dead[n.Name] }
	// A running supervisor restarts the controller itself.
	ctrl := !rep.Controller.Alive && !rep.Supervisor.Alive
	if err := startProcesses(ctx, cfg, st, out, need, ctrl); err != nil {
		return err
	}
	fmt.Fprintf(out, "lab %s is up again: %d nodes\n", cfg.Name, len(st.Nodes))
	return writeCurrent(cfg.Name)
}

// base is the start of every lab process's command line; the endpoint argument also marks
// the process as the lab's (isLabProcess).
func (c Config) base() []string {
	return []string{c.Binary, "--datastore-endpoints", Endpoint(c.Name), "--log-level", c.LogLevel}
}

func agentLog(name, node string) string { return filepath.Join(logDir(name), "agent-"+node+".log") }

// FlowLogFile is where a lab node's agent appends its flows (JSON lines).
func FlowLogFile(name, node string) string {
	return filepath.Join(logDir(name), "flows-"+node+".jsonl")
}

// agentFlowArgs are the flow-log flags of a lab node's agent.
func agentFlowArgs(name, node string) []string {
	return []string{"--flow-log-group", FlowLogGroup, "--flow-interval", FlowInterval, "--flow-log-file", FlowLogFile(name, node)}
}

func prepareDir(cfg Config) error {
	for _, d := range []string{Dir(cfg.Name), logDir(cfg.Name), cniBinDir(cfg.Name), cniConfDir(cfg.Name), cniCacheDir(cfg.Name)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create lab directory %s: %w", d, err)
		}
	}
	for _, plugin := range []string{"trellis-cni", "trellis-ipam"} {
		link := filepath.Join(cniBinDir(cfg.Name), plugin)
		_ = os.Remove(link)
		if err := os.Symlink(cfg.Binary, link); err != nil {
			return fmt.Errorf("link CNI plugin %s: %w", link, err)
		}
	}
	return nil
}

func writeCurrent(name string) error {
	if err := os.WriteFile(currentPath(), []byte(name+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", currentPath(), err)
	}
	return nil
}

// seed seeds the datastore (seedStore), and for IPv6 too (seedIPv6).
func seed(ctx context.Context, cfg Config, st *State, ds *proc) error {
	if err := seedStore(ctx, cfg, st, ds); err != nil {
		return err
	}
	if cfg.IPv6 {
		return seedIPv6(ctx, cfg.Name, st.Nodes)
	}
	return nil
}

// seedStore waits for the datastore and writes the nodes, the default pool and namespace.
func seedStore(ctx context.Context, cfg Config, st *State, ds *proc) error {
	s, err := waitStore(ctx, cfg.Name, ds)
	if err != nil {
		return err
	}
	defer s.Close()
	mode := model.EncapNever
	if cfg.Routing == RoutingVXLAN {
		mode = model.EncapAlways
	}
	objs := []model.Object{
		&model.IPPool{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"},
			ObjectMeta: metav1.ObjectMeta{Name: "default-ipv4-ippool"},
			Spec:       model.IPPoolSpec{CIDR: PoolCIDR, BlockSize: PoolBlock, VXLANMode: mode, IPIPMode: model.EncapNever, NodeSelector: "all()"}},
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{"kubernetes.io/metadata.name": "default"}}},
	}
	for _, n := range st.Nodes {
		addr := strings.SplitN(n.Address, "/", 2)[0]
		labels := map[string]string{"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux"}
		// With BGP routing the node speaks BGP from its underlay address; with VXLAN it has
		// no BGP address (the agent's routing then runs the overlay only) and the agent
		// records its tunnel address and MAC itself.
		spec := model.NodeSpec{Addresses: []model.NodeAddress{{Address: addr, Type: "InternalIP"}}}
		if cfg.Routing == RoutingBGP {
			spec.BGP = &model.NodeBGPSpec{IPv4Address: n.Address}
		}
		objs = append(objs,
			&model.Node{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "Node"},
				ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels}, Spec: spec},
			&corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
				ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels},
				Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: addr}, {Type: corev1.NodeHostName, Address: n.Name}}}})
	}
	objs = append(objs, dnsObjects(cfg.Name)...)
	for _, o := range objs {
		model.SetDefaults(o)
		if errs := model.Validate(o); len(errs) > 0 {
			return fmt.Errorf("seed lab datastore: %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), errs.ToAggregate())
		}
		if _, err := s.Create(ctx, o); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("seed lab datastore: create %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
	return nil
}

func waitStore(ctx context.Context, name string, ds *proc) (store.Store, error) {
	k := model.KindIPPool
	for {
		if ds.exited() {
			return nil, fmt.Errorf("lab %s: the datastore exited: %s", name, logTail(filepath.Join(logDir(name), "datastore.log")))
		}
		if s, err := OpenStore(name); err == nil {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, lerr := s.List(rctx, k, store.ListOptions{})
			cancel()
			if lerr == nil {
				return s, nil
			}
			s.Close()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lab %s: the datastore is not answering: %w; %s", name, ctx.Err(), logTail(filepath.Join(logDir(name), "datastore.log")))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func agentReady(ctx context.Context, sock string) bool {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, code, err := agentapi.NewClient(sock).Get(rctx, "/readyz")
	return err == nil && code == http.StatusOK
}

func waitAgent(ctx context.Context, name string, n NodeState, p *proc) error {
	for {
		if agentReady(ctx, n.Socket) {
			return nil
		}
		if (p != nil && p.exited()) || (p == nil && !alive(n.AgentPID)) {
			return fmt.Errorf("lab %s: agent %s exited: %s", name, n.Name, logTail(agentLog(name, n.Name)))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab %s: agent %s not ready: %w; %s", name, n.Name, ctx.Err(), logTail(agentLog(name, n.Name)))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail returns the last lines of a log file for an error message.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "no log at " + path
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "last lines of " + path + ":\n" + strings.Join(lines, "\n")
}

// Down removes the lab: its processes, its namespaces and its state directory. It is
// idempotent and works without state.json.
func Down(name string, out io.Writer) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := checkRoot("lab down"); err != nil {
		return err
	}
	var recorded []int
	if st, err := LoadState(name); err == nil {
		// The supervisor first, so that it restarts nothing; then the controller, so
		// that it restarts no container meanwhile.
		if isLabProcess(name, st.SupervisorPID) {
			killPIDs([]int{st.SupervisorPID}, 3*time.Second)
		}
		if isLabProcess(name, st.ControllerPID) {
			killPIDs([]int{st.ControllerPID}, 3*time.Second)
		}
		recorded = append(recorded, st.DatastorePID)
		for _, n := range st.Nodes {
			recorded = append(recorded, n.AgentPID, n.RuntimePID)
		}
		if k := st.Kube; k != nil {
			recorded = append(recorded, k.ForwarderPID)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(out, "warning: %v; finding the lab by name\n", err)
	}
	for round := 0; round < 3; round++ {
		pids := labPIDs(name, recorded)
		if len(pids) == 0 {
			break
		}
		fmt.Fprintf(out, "stopping %d processes\n", len(pids))
		killPIDs(pids, 3*time.Second)
	}
	// Pods' processes live in network namespaces of their own, in the lab's cgroups.
	errs := []error{downKube(name)}
	nss := labNamespaces(name)
	for _, ns := range nss {
		if err := netnsDelete(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if len(nss) > 0 {
		fmt.Fprintf(out, "deleted %d namespaces\n", len(nss))
	}
	if err := os.RemoveAll(Dir(name)); err != nil {
		errs = append(errs, fmt.Errorf("remove lab directory %s: %w", Dir(name), err))
	}
	if cur, err := os.ReadFile(currentPath()); err == nil && strings.TrimSpace(string(cur)) == name {
		_ = os.Remove(currentPath())
	}
	if err := errors.Join(errs...); err != nil { // errs holds downKube's nil when all went well
		return err
	}
	fmt.Fprintf(out, "lab %s is down\n", name)
	return nil
}
