package flow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Path is the flow API's path: GET lists (or with follow=true streams) flows, POST adds
// flows (an agent pushing to the aggregator).
const Path = "/api/v1/flows"

// maxPush bounds a POST's body.
const maxPush = 32 << 20

// Handler serves the flow API over st. now is the clock that since=DURATION counts back
// from.
func Handler(st *Store, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			serveGet(w, r, st, now)
		case http.MethodPost:
			servePost(w, r, st)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// ParseQuery reads a filter, a limit and follow from URL query values: namespace, pod,
// action, port, since (a duration back from now or an RFC 3339 time), limit, follow.
func ParseQuery(q url.Values, now time.Time) (f Filter, limit int, follow bool, err error) {
	f.Namespace, f.Pod, f.Action = q.Get("namespace"), q.Get("pod"), q.Get("action")
	ints := map[string]*int{"port": &f.Port, "limit": &limit}
	for name, p := range ints {
		if v := q.Get(name); v != "" {
			if *p, err = strconv.Atoi(v); err != nil || *p < 0 {
				return f, 0, false, fmt.Errorf("%s %q: want a non-negative number", name, v)
			}
		}
	}
	if v := q.Get("since"); v != "" {
		if d, derr := time.ParseDuration(v); derr == nil && d >= 0 {
			f.Since = now.Add(-d)
		} else if f.Since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return f, 0, false, fmt.Errorf("since %q: want a duration (15m) or an RFC 3339 time", v)
		}
	}
	if v := q.Get("follow"); v != "" {
		if follow, err = strconv.ParseBool(v); err != nil {
			return f, 0, false, fmt.Errorf("follow %q: want true or false", v)
		}
	}
	return f, limit, follow, f.Validate()
}

// Query is the inverse of ParseQuery.
func Query(f Filter, limit int, follow bool) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("namespace", f.Namespace)
	set("pod", f.Pod)
	set("action", f.Action)
	if f.Port != 0 {
		q.Set("port", strconv.Itoa(f.Port))
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if follow {
		q.Set("follow", "true")
	}
	return q
}

func serveGet(w http.ResponseWriter, r *http.Request, st *Store, now func() time.Time) {
	f, limit, follow, err := ParseQuery(r.URL.Query(), now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !follow {
		w.Header().Set("Content-Type", "application/json")
		_ = WriteJSON(w, st.List(f, limit))
		return
	}
	// Following: newline-delimited JSON, the stored flows first, then each new one.
	past, ch, cancel := st.Subscribe(f, limit, 4096)
	defer cancel()
	w.Header().Set("Content-Type", "application/x-ndjson")
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	for _, fl := range past {
		if enc.Encode(fl) != nil {
			return
		}
	}
	if flusher != nil {
		flusher.Flush()
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case fl, ok := <-ch:
			if !ok || enc.Encode(fl) != nil {
				return
			}
			// Write what else is queued before flushing: one chunk per burst, not per flow.
			for more := true; more; {
				select {
				case fl, ok := <-ch:
					if !ok || enc.Encode(fl) != nil {
						return
					}
				default:
					more = false
				}
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

func servePost(w http.ResponseWriter, r *http.Request, st *Store) {
	flows, err := ReadJSONLines(http.MaxBytesReader(w, r.Body, maxPush))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st.Add(flows...)
	w.WriteHeader(http.StatusNoContent)
}

// WriteJSON writes {"flows": [...]} (an empty list, never null).
func WriteJSON(w io.Writer, flows []Flow) error {
	if flows == nil {
		flows = []Flow{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string][]Flow{"flows": flows})
}

// ReadJSONLines reads newline-delimited flows, naming the line of a bad one.
func ReadJSONLines(r io.Reader) ([]Flow, error) {
	var out []Flow
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var f Flow
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return nil, fmt.Errorf("flow line %d: %w", line, err)
		}
		out = append(out, f)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read flows: %w", err)
	}
	return out, nil
}

// Client talks to a flow API (an agent's or the aggregator's) at Base, e.g.
// http://127.0.0.1:9099.
type Client struct {
	Base string
	HTTP *http.Client // nil: http.DefaultClient
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) get(ctx context.Context, q url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.Base, "/")+Path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("get flows from %s: %w", c.Base, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("get flows from %s: %s: %s", c.Base, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

// List returns the flows f selects, at most the limit most recent ones (0: all).
func (c *Client) List(ctx context.Context, f Filter, limit int) ([]Flow, error) {
	resp, err := c.get(ctx, Query(f, limit, false))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct{ Flows []Flow }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("get flows from %s: %w", c.Base, err)
	}
	return out.Flows, nil
}

// Follow calls fn with the stored flows f selects (at most limit) and then each new one
// until ctx ends (nil) or fn or the stream fails.
func (c *Client) Follow(ctx context.Context, f Filter, limit int, fn func(Flow) error) error {
	resp, err := c.get(ctx, Query(f, limit, true))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var fl Flow
		if err := dec.Decode(&fl); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("follow flows from %s: the server ended the stream", c.Base)
			}
			return fmt.Errorf("follow flows from %s: %w", c.Base, err)
		}
		if err := fn(fl); err != nil {
			return err
		}
	}
}

// Push sends flows to the API (the aggregator's ingest).
func (c *Client) Push(ctx context.Context, flows []Flow) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, f := range flows {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Base, "/")+Path, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("push %d flows to %s: %w", len(flows), c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("push %d flows to %s: %s: %s", len(flows), c.Base, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
