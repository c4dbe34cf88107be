package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trellisnet/trellis/internal/model"
)

// column is one table column read from the object's JSON form by a dotted path, so the
// table code needs no knowledge of each Go type.
type column struct {
	header string
	path   string
	wide   bool // only with -o wide
	// render formats the value (default: cell).
	render func(v any) string
}

// columns per resource (kind.Resource()), after NAMESPACE and NAME, before AGE.
var columns = map[string][]column{
	"networkpolicies":                   {{"TIER", "spec.tier", false, nil}, {"ORDER", "spec.order", false, nil}, {"SELECTOR", "spec.selector", true, nil}, {"TYPES", "spec.types", true, nil}},
	"globalnetworkpolicies":             {{"TIER", "spec.tier", false, nil}, {"ORDER", "spec.order", false, nil}, {"SELECTOR", "spec.selector", true, nil}, {"TYPES", "spec.types", true, nil}},
	"stagednetworkpolicies":             {{"TIER", "spec.tier", false, nil}, {"ORDER", "spec.order", false, nil}, {"ACTION", "spec.stagedAction", false, nil}},
	"stagedglobalnetworkpolicies":       {{"TIER", "spec.tier", false, nil}, {"ORDER", "spec.order", false, nil}, {"ACTION", "spec.stagedAction", false, nil}},
	"tiers":                             {{"ORDER", "spec.order", false, nil}, {"DEFAULT-ACTION", "spec.defaultAction", false, nil}},
	"ippools":                           {{"CIDR", "spec.cidr", false, nil}, {"BLOCKSIZE", "spec.blockSize", true, nil}, {"SELECTOR", "spec.nodeSelector", false, nil}, {"VXLAN", "spec.vxlanMode", true, nil}, {"DISABLED", "spec.disabled", true, nil}},
	"ipreservations":                    {{"CIDRS", "spec.reservedCIDRs", false, nil}},
	"hostendpoints":                     {{"NODE", "spec.node", false, nil}, {"INTERFACE", "spec.interfaceName", false, nil}, {"IPS", "spec.expectedIPs", true, nil}},
	"workloadendpoints":                 {{"WORKLOAD", "spec.pod", false, nil}, {"NODE", "spec.node", false, nil}, {"NETWORKS", "spec.ipNetworks", false, nil}, {"INTERFACE", "spec.interfaceName", false, nil}},
	"networksets":                       {{"NETS", "spec.nets", true, nil}},
	"globalnetworksets":                 {{"NETS", "spec.nets", true, nil}},
	"bgppeers":                          {{"PEERIP", "spec.peerIP", false, nil}, {"NODE", "spec.node", false, nil}, {"ASN", "spec.asNumber", false, nil}, {"SELECTOR", "spec.nodeSelector", true, nil}},
	"bgpconfigurations":                 {{"MESH", "spec.nodeToNodeMeshEnabled", false, nil}, {"ASN", "spec.asNumber", false, nil}},
	"pods":                              {{"STATUS", "status.phase", false, phaseCell}, {"IP", "status.podIP", false, nil}, {"NODE", "spec.nodeName", false, nil}},
	"services":                          {{"TYPE", "spec.type", false, nil}, {"CLUSTER-IP", "spec.clusterIP", false, nil}, {"PORTS", "spec.ports", false, portsCell}},
	"networkpolicies.networking.k8s.io": {{"POD-SELECTOR", "spec.podSelector", false, nil}, {"TYPES", "spec.policyTypes", true, nil}},
	"stagedkubernetesnetworkpolicies":   {{"ACTION", "spec.stagedAction", false, nil}, {"POD-SELECTOR", "spec.podSelector", true, nil}, {"TYPES", "spec.policyTypes", true, nil}},
	"clusternetworkpolicies.policy.networking.k8s.io": {{"TIER", "spec.tier", false, nil}, {"PRIORITY", "spec.priority", false, nil}},
	"clusterinformations":                             {{"CLUSTERGUID", "spec.clusterGUID", false, nil}, {"CLUSTERTYPE", "spec.clusterType", false, nil}, {"CALICOVERSION", "spec.calicoVersion", false, nil}, {"DATASTOREREADY", "spec.datastoreReady", false, nil}},
}

// tableOptions are get's output choices: format (table, wide, yaml, json), a NAMESPACE
// column (all namespaces) and a LABELS column.
type tableOptions struct {
	format string
	allNS  bool
	labels bool
	// kindPrefix names objects kind.group/name (several kinds in one get).
	kindPrefix bool
	// noHeader leaves out the header line (rows printed by get -w after the first).
	noHeader bool
}

func printTable(w io.Writer, kind *model.Kind, objs []model.Object, opts tableOptions) error {
	allNS := opts.allNS
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	var cols []column
	for _, c := range columns[kind.Resource()] {
		if opts.format == "wide" || !c.wide {
			cols = append(cols, c)
		}
	}
	var head []string
	if kind.Namespaced && allNS {
		head = append(head, "NAMESPACE")
	}
	head = append(head, "NAME")
	for _, c := range cols {
		head = append(head, c.header)
	}
	head = append(head, "AGE")
	if opts.labels {
		head = append(head, "LABELS")
	}
	if !opts.noHeader {
		fmt.Fprintln(tw, strings.Join(head, "\t"))
	}
	for _, obj := range objs {
		m, err := toMap(obj)
		if err != nil {
			return err
		}
		var row []string
		if kind.Namespaced && allNS {
			row = append(row, obj.GetNamespace())
		}
		name := obj.GetName()
		if opts.kindPrefix {
			key, _ := model.KeyOf(obj)
			name = objectRef(key)
		}
		row = append(row, name)
		for _, c := range cols {
			render := cell
			if c.render != nil {
				render = c.render
			}
			row = append(row, render(lookupPath(m, c.path)))
		}
		row = append(row, age(obj.GetCreationTimestamp().Time))
		if opts.labels {
			row = append(row, labelList(obj.GetLabels()))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func toMap(obj model.Object) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", obj.GetName(), err)
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}

func lookupPath(m map[string]any, path string) any {
	var v any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// cell renders a JSON value compactly: scalars bare, lists comma-joined, maps as JSON.
func cell(v any) string {
	switch t := v.(type) {
	case nil:
		return "<none>"
	case string:
		if t == "" {
			return "<none>"
		}
		return t
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = cell(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		b, _ := json.Marshal(t)
		return string(b)
	}
	return fmt.Sprint(v)
}

// age formats a duration like kubectl: 45s, 12m, 3h, 5d.
func age(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := time.Since(t)
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// labelList is labels as kubectl's --show-labels prints them: k=v pairs sorted by key,
// comma-separated, or <none>.
func labelList(l map[string]string) string {
	if len(l) == 0 {
		return "<none>"
	}
	parts := make([]string, 0, len(l))
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// phaseCell shows a pod without a phase as Pending, as kubectl does.
func phaseCell(v any) string {
	if s, _ := v.(string); s != "" {
		return s
	}
	return "Pending"
}

// portsCell shows service ports as kubectl does: 80/TCP, 80:30180/TCP for node ports.
func portsCell(v any) string {
	ports, _ := v.([]any)
	if len(ports) == 0 {
		return "<none>"
	}
	var out []string
	for _, p := range ports {
		m, _ := p.(map[string]any)
		s := fmt.Sprint(m["port"])
		if np, ok := m["nodePort"]; ok && fmt.Sprint(np) != "0" {
			s += ":" + fmt.Sprint(np)
		}
		proto, _ := m["protocol"].(string)
		if proto == "" {
			proto = "TCP"
		}
		out = append(out, s+"/"+proto)
	}
	return strings.Join(out, ",")
}
