package agentapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Client talks to a running agent's health server, over its unix socket or TCP.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client for target: a unix socket path, or host:port / http://host:port.
func NewClient(target string) *Client {
	base, tr := Transport(target)
	return &Client{base: base, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// Transport returns the base URL and the transport that reach target: a unix socket path
// (or unix://path), or host:port / http://host:port.
func Transport(target string) (base string, tr *http.Transport) {
	tr = &http.Transport{}
	base = target
	switch {
	case strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://"):
	case strings.HasPrefix(target, "/") || strings.HasPrefix(target, "unix://"):
		path := strings.TrimPrefix(target, "unix://")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://agent"
	default:
		base = "http://" + target
	}
	return base, tr
}

// Status fetches /status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	body, code, err := c.Get(ctx, "/status")
	if err != nil {
		return s, err
	}
	if code != http.StatusOK {
		return s, fmt.Errorf("get agent status: http %d: %s", code, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, fmt.Errorf("decode agent status: %w", err)
	}
	return s, nil
}

// Get fetches one path and returns the body and the HTTP status code.
func (c *Client) Get(ctx context.Context, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("get agent %s: %w", path, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("get agent %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("read agent %s: %w", path, err)
	}
	return body, resp.StatusCode, nil
}
