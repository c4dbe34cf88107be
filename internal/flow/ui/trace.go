package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"

	"github.com/trellisnet/trellis/internal/flow"
)

// maxTraceBody bounds the flow a trace request carries: one flow is a few hundred bytes,
// a few kilobytes with many policy hits.
const maxTraceBody = 1 << 20

// traceHandler answers a POSTed flow with tr's report of it: 400 when the body is no
// traceable flow, 502 with the tracer's error when it fails, 501 when tr is nil.
func traceHandler(tr Tracer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tr == nil {
			http.Error(w, "this server traces no flows: it has no policy tracer", http.StatusNotImplemented)
			return
		}
		f, err := decodeFlow(http.MaxBytesReader(w, r.Body, maxTraceBody))
		if err != nil {
			code := http.StatusBadRequest
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				code = http.StatusRequestEntityTooLarge
			}
			http.Error(w, "bad flow: "+err.Error(), code)
			return
		}
		rep, err := tr.Trace(r.Context(), f)
		if err != nil {
			http.Error(w, fmt.Sprintf("trace %s: %v", describe(f), err), http.StatusBadGateway)
			return
		}
		body, err := json.Marshal(rep)
		if err != nil {
			http.Error(w, "encode trace: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(body, '\n'))
	})
}

// decodeFlow reads exactly one JSON flow and checks it names what a trace needs.
func decodeFlow(r io.Reader) (flow.Flow, error) {
	var f flow.Flow
	dec := json.NewDecoder(r)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return f, errors.New("empty body: want one flow as JSON")
		}
		return f, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return f, errors.New("more than one JSON value: want one flow")
	}
	return f, checkTraceable(f)
}

// checkTraceable checks the fields a trace of the flow's first packet reads.
func checkTraceable(f flow.Flow) error {
	for _, e := range []struct {
		field string
		ip    string
	}{{"source.ip", f.Source.IP}, {"destination.ip", f.Destination.IP}} {
		if _, err := netip.ParseAddr(e.ip); err != nil {
			return fmt.Errorf("%s %q: want an IP address", e.field, e.ip)
		}
	}
	if f.Protocol == "" {
		return errors.New("protocol: required (tcp, udp, sctp, icmp)")
	}
	p := f.Destination.Port
	if p < 0 || p > 65535 {
		return fmt.Errorf("destination.port %d: want 1-65535", p)
	}
	switch f.Protocol {
	case "tcp", "udp", "sctp", "udplite":
		if p == 0 {
			return fmt.Errorf("destination.port: required for %s", f.Protocol)
		}
	}
	return nil
}

// describe names a flow's first packet in errors: 192.0.2.1 -> 192.0.2.2 tcp/80.
func describe(f flow.Flow) string {
	s := fmt.Sprintf("%s -> %s %s", f.Source.IP, f.Destination.IP, f.Protocol)
	if f.Destination.Port != 0 {
		s += fmt.Sprintf("/%d", f.Destination.Port)
	}
	return s
}
