package agentapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// EndpointPath is the agent's policy-programmed question about one local
// WorkloadEndpoint: GET EndpointPath?namespace=NS&name=WEP&uid=UID[&wait=DURATION]. It
// answers 200 once the endpoint of that uid has its policy programmed, waiting up to wait
// (a Go duration, at most MaxEndpointWait; default: answer at once), else 503; 400 for a
// malformed question. The CNI plugin asks it in the kubernetes datastore, where no
// EndpointStatus object is stored per pod.
const EndpointPath = "/endpoint"

// MaxEndpointWait bounds one long-poll of EndpointPath.
const MaxEndpointWait = 30 * time.Second

// EndpointProgrammed asks whether the agent has programmed the policy of endpoint
// namespace/name with uid, waiting up to wait for it. false, nil: not within wait.
func (c *Client) EndpointProgrammed(ctx context.Context, namespace, name, uid string, wait time.Duration) (bool, error) {
	q := url.Values{"namespace": {namespace}, "name": {name}, "uid": {uid}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	body, code, err := c.Get(ctx, EndpointPath+"?"+q.Encode())
	switch {
	case err != nil:
		return false, err
	case code == http.StatusOK:
		return true, nil
	case code == http.StatusServiceUnavailable:
		return false, nil
	}
	return false, fmt.Errorf("ask agent about endpoint %s/%s: http %d: %s", namespace, name, code, strings.TrimSpace(string(body)))
}
