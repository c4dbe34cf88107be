package cni

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// agentTimeout bounds the STATUS readiness question to the node agent.
const agentTimeout = 2 * time.Second

// agentReady asks the node agent, over its unix status socket, whether it is ready (its
// /readyz answers 200: in sync with the datastore and the last dataplane apply succeeded).
// Asking the live process, not a file it left behind, means a crashed agent is noticed.
func agentReady(ctx context.Context, socket string) error {
	ctx, cancel := context.WithTimeout(ctx, agentTimeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("ask node agent at %s: %w", socket, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("node agent at %s: /readyz answered %s", socket, resp.Status)
	}
	return nil
}
