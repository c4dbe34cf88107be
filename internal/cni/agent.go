package cni

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/model"
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

// agentLongPoll bounds one question of waitForAgent (the client's own timeout is 10s).
const agentLongPoll = 5 * time.Second

// waitForAgent is the policy wait of the kubernetes datastore, where no EndpointStatus is
// stored per pod: it asks the node agent over its status socket (agentapi.EndpointPath,
// long-polling) until the endpoint with the written UID (the pod's) is programmed, or the
// timeout passes. An agent that does not answer yet (starting) is asked again.
func waitForAgent(ctx context.Context, socket string, wep *model.WorkloadEndpoint, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := agentapi.NewClient(socket)
	var last error
	for {
		wait := agentLongPoll
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		ok, err := c.EndpointProgrammed(ctx, wep.Namespace, wep.Name, string(wep.UID), wait)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("policy wait for %s/%s: the node agent did not report its policy programmed within %s (last error: %w)", wep.Namespace, wep.Name, timeout, last)
			}
			return fmt.Errorf("policy wait for %s/%s: the node agent did not report its policy programmed within %s", wep.Namespace, wep.Name, timeout)
		case <-time.After(policyPoll):
		}
	}
}
