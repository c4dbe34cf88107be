package install

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/rest"
)

// RequestToken asks the API server (as the pod's own service account, rc) for a token of
// the service account namespace/name, valid for ttl (the API server may shorten it). A
// plain REST call: the typed clientset would add its start-up cost to every plugin run of
// the same binary.
func RequestToken(ctx context.Context, rc *rest.Config, namespace, name string, ttl time.Duration) (string, time.Time, error) {
	fail := func(err error) (string, time.Time, error) {
		return "", time.Time{}, fmt.Errorf("token of service account %s/%s: %w", namespace, name, err)
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return fail(err)
	}
	secs := int64(ttl / time.Second)
	body, err := json.Marshal(&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}})
	if err != nil {
		return fail(err)
	}
	url := strings.TrimSuffix(rc.Host, "/") + "/api/v1/namespaces/" + namespace + "/serviceaccounts/" + name + "/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(raw)))
	}
	var tr authv1.TokenRequest
	if err := json.Unmarshal(raw, &tr); err != nil {
		return fail(err)
	}
	return tr.Status.Token, tr.Status.ExpirationTimestamp.Time, nil
}
