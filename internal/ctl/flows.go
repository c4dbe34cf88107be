package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/flow"
)

// FlowFlags are the filter and output flags of `trellis flows` and `trellis lab flows`.
type FlowFlags struct {
	Follow    bool
	Namespace string
	Pod       string
	Action    string
	Port      int
	Since     time.Duration
	Limit     int
	Output    string
}

// Add adds the flags to c.
func (f *FlowFlags) Add(c *cobra.Command) {
	fl := c.Flags()
	fl.BoolVarP(&f.Follow, "follow", "f", false, "keep printing flows as they are aggregated")
	fl.StringVarP(&f.Namespace, "namespace", "n", "", "only flows from or to this namespace")
	fl.StringVar(&f.Pod, "pod", "", "only flows from or to this pod (NAME or NAMESPACE/NAME)")
	fl.StringVar(&f.Action, "action", "", "only flows with this action: allow or deny")
	fl.IntVar(&f.Port, "port", 0, "only flows to this destination port")
	fl.DurationVar(&f.Since, "since", 0, "only flows of the last DURATION (e.g. 15m; 0: all kept)")
	fl.IntVar(&f.Limit, "limit", 0, "at most this many of the most recent flows per source (0: all)")
	fl.StringVarP(&f.Output, "output", "o", "table", "output format: table or json (json lines with --follow)")
}

// Filter checks the flags and returns the filter they ask for.
func (f *FlowFlags) Filter(now time.Time) (flow.Filter, error) {
	if f.Output != "table" && f.Output != "json" {
		return flow.Filter{}, Usagef("invalid output format %q: want table or json", f.Output)
	}
	if f.Since < 0 || f.Limit < 0 {
		return flow.Filter{}, Usagef("--since and --limit must not be negative")
	}
	fl := flow.Filter{Namespace: f.Namespace, Pod: f.Pod, Action: f.Action, Port: f.Port}
	if f.Since > 0 {
		fl.Since = now.Add(-f.Since)
	}
	if err := fl.Validate(); err != nil {
		return fl, Usagef("invalid filter: %v", err)
	}
	return fl, nil
}

// RunFlows lists (or follows) the flows of every source and writes them to w: listed
// flows merged and sorted, followed ones as they come.
func RunFlows(ctx context.Context, w io.Writer, f *FlowFlags, sources map[string]*flow.Client) error {
	filter, err := f.Filter(time.Now())
	if err != nil {
		return err
	}
	if !f.Follow {
		var all []flow.Flow
		for name, c := range sources {
			fs, err := c.List(ctx, filter, f.Limit)
			if err != nil {
				return fmt.Errorf("flows of %s: %w", name, err)
			}
			all = append(all, fs...)
		}
		flow.Sort(all)
		if f.Output == "json" {
			return flow.WriteJSON(w, all)
		}
		return writeFlowTable(w, all, true)
	}
	var mu sync.Mutex
	header := true
	print := func(fl flow.Flow) error {
		mu.Lock()
		defer mu.Unlock()
		if f.Output == "json" {
			return json.NewEncoder(w).Encode(fl)
		}
		err := writeFlowTable(w, []flow.Flow{fl}, header)
		header = false
		return err
	}
	errs := make(chan error, len(sources))
	for name, c := range sources {
		go func() {
			if err := c.Follow(ctx, filter, f.Limit, print); err != nil {
				errs <- fmt.Errorf("follow flows of %s: %w", name, err)
				return
			}
			errs <- nil
		}()
	}
	var first error
	for range sources {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// writeFlowTable writes flows as a table, one line each.
func writeFlowTable(w io.Writer, flows []flow.Flow, header bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "END\tSOURCE\tDESTINATION\tPROTO\tACTION\tREPORTER\tPOLICY\tCONNS\tPACKETS\tBYTES")
	}
	for _, fl := range flows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", fl.End.Local().Format("15:04:05"),
			endpointText(fl.Source, false), endpointText(fl.Destination, true), fl.Protocol, fl.Action, fl.Reporter,
			policiesText(fl), fl.Connections, fl.Packets, fl.Bytes)
	}
	return tw.Flush()
}

func endpointText(e flow.Endpoint, port bool) string {
	s := e.IP
	if e.Name != "" {
		s = e.Namespace + "/" + e.Name
	}
	if port && e.Port != 0 {
		s = fmt.Sprintf("%s:%d", s, e.Port)
	}
	return s
}

// policiesText names what decided, and a staged policy's pending denial.
func policiesText(fl flow.Flow) string {
	var parts []string
	for _, h := range fl.Policies {
		parts = append(parts, hitText(h))
	}
	for _, h := range fl.Pending {
		if h.Action == flow.ActionDeny {
			parts = append(parts, "pending deny: "+hitText(h))
		}
	}
	return strings.Join(parts, ", ")
}

func hitText(h flow.PolicyHit) string {
	name := h.Name
	if h.Namespace != "" {
		name = h.Namespace + "/" + name
	}
	if h.Tier != "" {
		name = h.Tier + "/" + name
	}
	switch {
	case h.RuleName != "":
		return fmt.Sprintf("%s rule %s", name, h.RuleName)
	case h.Rule >= 0:
		return fmt.Sprintf("%s rule %d", name, h.Rule)
	case h.Kind == "Default" || h.Kind == "Profile" || h.Kind == "Merged":
		return name
	default:
		return name + " (end of tier)"
	}
}
