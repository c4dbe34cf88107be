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
}

// columns per resource (kind.Resource()), after NAMESPACE and NAME, before AGE.
var columns = map[string][]column{
	"networkpolicies":                   {{"TIER", "spec.tier", false}, {"ORDER", "spec.order", false}, {"SELECTOR", "spec.selector", true}, {"TYPES", "spec.types", true}},
	"globalnetworkpolicies":             {{"TIER", "spec.tier", false}, {"ORDER", "spec.order", false}, {"SELECTOR", "spec.selector", true}, {"TYPES", "spec.types", true}},
	"stagednetworkpolicies":             {{"TIER", "spec.tier", false}, {"ORDER", "spec.order", false}, {"ACTION", "spec.stagedAction", false}},
	"stagedglobalnetworkpolicies":       {{"TIER", "spec.tier", false}, {"ORDER", "spec.order", false}, {"ACTION", "spec.stagedAction", false}},
	"tiers":                             {{"ORDER", "spec.order", false}, {"DEFAULT-ACTION", "spec.defaultAction", false}},
	"ippools":                           {{"CIDR", "spec.cidr", false}, {"BLOCKSIZE", "spec.blockSize", true}, {"SELECTOR", "spec.nodeSelector", false}, {"VXLAN", "spec.vxlanMode", true}, {"DISABLED", "spec.disabled", true}},
	"ipreservations":                    {{"CIDRS", "spec.reservedCIDRs", false}},
	"hostendpoints":                     {{"NODE", "spec.node", false}, {"INTERFACE", "spec.interfaceName", false}, {"IPS", "spec.expectedIPs", true}},
	"workloadendpoints":                 {{"WORKLOAD", "spec.pod", false}, {"NODE", "spec.node", false}, {"NETWORKS", "spec.ipNetworks", false}, {"INTERFACE", "spec.interfaceName", false}},
	"networksets":                       {{"NETS", "spec.nets", true}},
	"globalnetworksets":                 {{"NETS", "spec.nets", true}},
	"bgppeers":                          {{"PEERIP", "spec.peerIP", false}, {"NODE", "spec.node", false}, {"ASN", "spec.asNumber", false}, {"SELECTOR", "spec.nodeSelector", true}},
	"bgpconfigurations":                 {{"MESH", "spec.nodeToNodeMeshEnabled", false}, {"ASN", "spec.asNumber", false}},
	"pods":                              {{"STATUS", "status.phase", false}, {"IP", "status.podIP", false}, {"NODE", "spec.nodeName", false}},
	"services":                          {{"TYPE", "spec.type", false}, {"CLUSTER-IP", "spec.clusterIP", false}, {"PORTS", "spec.ports", true}},
	"networkpolicies.networking.k8s.io": {{"POD-SELECTOR", "spec.podSelector", false}, {"TYPES", "spec.policyTypes", true}},
	"stagedkubernetesnetworkpolicies":   {{"ACTION", "spec.stagedAction", false}, {"POD-SELECTOR", "spec.podSelector", true}, {"TYPES", "spec.policyTypes", true}},
	"clusterinformations":               {{"CLUSTERGUID", "spec.clusterGUID", false}, {"CLUSTERTYPE", "spec.clusterType", false}, {"CALICOVERSION", "spec.calicoVersion", false}, {"DATASTOREREADY", "spec.datastoreReady", false}},
}

// tableOptions are get's output choices: format (table, wide, yaml, json), a NAMESPACE
// column (all namespaces) and a LABELS column.
type tableOptions struct {
	format string
	allNS  bool
	labels bool
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
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, obj := range objs {
		m, err := toMap(obj)
		if err != nil {
			return err
		}
		var row []string
		if kind.Namespaced && allNS {
			row = append(row, obj.GetNamespace())
		}
		row = append(row, obj.GetName())
		for _, c := range cols {
			row = append(row, cell(lookupPath(m, c.path)))
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
