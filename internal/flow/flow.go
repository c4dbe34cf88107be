// Package flow holds Trellis's flow records: what the node agents saw of each connection
// (its verdict at the source and at the destination, and the policy rules that decided
// it), aggregated per interval and key as Calico's flow logs are, kept in a bounded
// store, filtered, served and followed over HTTP, and written to rotated JSON-lines
// files. It reads no kernel state itself: the agent's collector turns NFLOG and
// conntrack into Records (package flow/collect).
package flow

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Actions and reporters of a flow.
const (
	ActionAllow = "allow"
	ActionDeny  = "deny"

	ReporterSource      = "src" // the source's egress policy decided
	ReporterDestination = "dst" // the destination's ingress policy decided
)

// Endpoint is one end of a flow: a workload (namespace and name) or an address outside
// the cluster (name empty). Port and Service are set on the destination.
type Endpoint struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	IP        string `json:"ip"`
	Port      int    `json:"port,omitempty"`
	Service   string `json:"service,omitempty"`
}

// PolicyHit is a policy rule that took part in a verdict. Rule is the rule's index in
// its policy's direction, -1 for the end of a tier (attributed to the tier's last
// policy that selected the endpoint, as Calico does) and for a profile's or the
// chain's final verdict. Action is what the rule did: allow, deny or pass.
type PolicyHit struct {
	Tier      string `json:"tier,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Rule      int    `json:"rule"`
	RuleName  string `json:"ruleName,omitempty"`
	Action    string `json:"action"`
}

// String is the hit's canonical text, as in Calico's flow logs: tier|kind|namespace/name|action|rule.
func (h PolicyHit) String() string {
	name := h.Name
	if h.Namespace != "" {
		name = h.Namespace + "/" + h.Name
	}
	return fmt.Sprintf("%s|%s|%s|%s|%d", h.Tier, h.Kind, name, h.Action, h.Rule)
}

// Flow is the aggregate of the connections of one key in one interval [Start, End).
// Pending lists what staged policies would have done to the same connections.
type Flow struct {
	Start       time.Time   `json:"start"`
	End         time.Time   `json:"end"`
	Source      Endpoint    `json:"source"`
	Destination Endpoint    `json:"destination"`
	Protocol    string      `json:"protocol"`
	Action      string      `json:"action"`
	Reporter    string      `json:"reporter"`
	Node        string      `json:"node,omitempty"`
	Policies    []PolicyHit `json:"policies"`
	Pending     []PolicyHit `json:"pending,omitempty"`
	// Connections counts the connections (for a denial: the packets the verdict rule
	// saw) aggregated; Packets and Bytes are conntrack's, both directions.
	Connections uint64 `json:"connections"`
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
}

// Key is the aggregation key: everything but the interval and the counters.
func (f *Flow) Key() string {
	b := make([]byte, 0, 160)
	for _, part := range []string{f.Source.Namespace, f.Source.Name, f.Source.IP, f.Destination.Namespace,
		f.Destination.Name, f.Destination.IP} {
		b = append(append(b, part...), '|')
	}
	b = strconv.AppendInt(b, int64(f.Destination.Port), 10)
	for _, part := range []string{f.Destination.Service, f.Protocol, f.Action, f.Reporter, f.Node} {
		b = append(append(b, '|'), part...)
	}
	for _, hits := range [][]PolicyHit{f.Policies, f.Pending} {
		b = append(b, '#')
		for _, h := range hits {
			b = append(append(append(append(append(append(b, '|'), h.Tier...), '|'), h.Kind...), '|'), h.Namespace...)
			b = append(append(append(append(append(b, '/'), h.Name...), '|'), h.Action...), '|')
			b = append(strconv.AppendInt(b, int64(h.Rule), 10), h.RuleName...)
		}
	}
	return string(b)
}

// Filter selects flows; the zero Filter selects every flow.
type Filter struct {
	// Namespace matches either end's namespace; Pod either end's name ("ns/name" also
	// matches the namespace).
	Namespace string
	Pod       string
	Action    string
	Port      int
	// Since keeps flows whose interval ends at or after it.
	Since time.Time
}

// Match reports whether f selects fl.
func (f Filter) Match(fl *Flow) bool {
	if f.Namespace != "" && fl.Source.Namespace != f.Namespace && fl.Destination.Namespace != f.Namespace {
		return false
	}
	if f.Pod != "" && !matchPod(f.Pod, fl.Source) && !matchPod(f.Pod, fl.Destination) {
		return false
	}
	if f.Action != "" && fl.Action != f.Action {
		return false
	}
	if f.Port != 0 && fl.Destination.Port != f.Port {
		return false
	}
	return f.Since.IsZero() || !fl.End.Before(f.Since)
}

func matchPod(pod string, e Endpoint) bool {
	if ns, name, ok := strings.Cut(pod, "/"); ok {
		return e.Namespace == ns && e.Name == name
	}
	return e.Name == pod
}

// Validate checks a filter's values.
func (f Filter) Validate() error {
	switch f.Action {
	case "", ActionAllow, ActionDeny:
	default:
		return fmt.Errorf("action %q: want allow or deny", f.Action)
	}
	if f.Port < 0 || f.Port > 65535 {
		return fmt.Errorf("port %d: want 1-65535", f.Port)
	}
	return nil
}

// Sort orders flows by end, start and key: the order of every listing.
func Sort(flows []Flow) {
	slices.SortStableFunc(flows, func(a, b Flow) int {
		if c := a.End.Compare(b.End); c != 0 {
			return c
		}
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Key(), b.Key())
	})
}
