package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/flow"
	"github.com/trellisnet/trellis/internal/flow/ui"
	"github.com/trellisnet/trellis/internal/store"
)

// FlowTracer explains a flow with the calculation over the datastore's objects as they
// are now: the trace of the flow's first packet between its addresses.
type FlowTracer struct {
	Open func(ctx context.Context) (store.Store, error)
}

// Trace implements ui.Tracer.
func (t FlowTracer) Trace(ctx context.Context, f flow.Flow) (connectivity.TraceReport, error) {
	if t.Open == nil {
		return connectivity.TraceReport{}, errors.New("trace flow: no datastore configured")
	}
	spec := f.Protocol
	if f.Destination.Port != 0 {
		spec += "/" + strconv.Itoa(f.Destination.Port)
	}
	port, err := connectivity.ParsePort(spec)
	if err != nil {
		return connectivity.TraceReport{}, fmt.Errorf("trace flow: %w", err)
	}
	st, err := t.Open(ctx)
	if err != nil {
		return connectivity.TraceReport{}, err
	}
	defer st.Close()
	objs, err := connectivity.Objects(ctx, st)
	if err != nil {
		return connectivity.TraceReport{}, fmt.Errorf("trace flow: %w", err)
	}
	sc, err := connectivity.Build(objs, false)
	if err != nil {
		return connectivity.TraceReport{}, fmt.Errorf("trace flow: %w", err)
	}
	res, err := sc.Trace(f.Source.IP, f.Destination.IP, port)
	if err != nil {
		return connectivity.TraceReport{}, fmt.Errorf("trace flow: %w", err)
	}
	return connectivity.NewTraceReport(flowEnd(f.Source), flowEnd(f.Destination), port, res), nil
}

func flowEnd(e flow.Endpoint) string {
	if e.Name != "" {
		return e.Namespace + "/" + e.Name
	}
	return e.IP
}

// ServeFlowUI serves the flow UI and API on listen until ctx ends. Flows come from
// following every source (agents or an aggregator), and from pushes to its API (agents'
// --flow-aggregator: it is then the cluster's aggregator). It prints its address to out.
func ServeFlowUI(ctx context.Context, out io.Writer, listen string, size int, sources map[string]*flow.Client, tr ui.Tracer) error {
	st := flow.NewStore(size)
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("flow UI: listen on %s: %w", listen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/", ui.Handler(st, tr, time.Now))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		go mirror(ctx, out, name, sources[name], st)
	}
	fmt.Fprintf(out, "flow UI on http://%s/ (flows from %d sources; API %s)\n", l.Addr(), len(sources), flow.Path)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return fmt.Errorf("flow UI: %w", err)
	}
}

// mirror follows a source into st until ctx ends, reconnecting after a failure (an
// agent restarting), from the last flow it saw.
func mirror(ctx context.Context, out io.Writer, name string, c *flow.Client, st *flow.Store) {
	var since time.Time
	for backoff := time.Second; ctx.Err() == nil; {
		err := c.Follow(ctx, flow.Filter{Since: since}, 0, func(f flow.Flow) error {
			if !f.End.Before(since) {
				since = f.End.Add(time.Nanosecond) // a reconnect starts after it
			}
			st.Add(f)
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(out, "flows of %s: %v; again in %s\n", name, err, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
