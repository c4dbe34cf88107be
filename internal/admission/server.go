package admission

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// maxReviewBytes bounds one AdmissionReview request body (objects are at most 1.5 MiB).
const maxReviewBytes = 4 << 20

// Handler serves /validate and /mutate (AdmissionReview v1) and /healthz.
func (r *Reviewer) Handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/validate", r.serve(log, "validate", r.Validate))
	mux.HandleFunc("/mutate", r.serve(log, "mutate", r.Mutate))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

type decide func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse

func (r *Reviewer) serve(log *slog.Logger, webhook string, f decide) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		var review admissionv1.AdmissionReview
		body, err := io.ReadAll(io.LimitReader(req.Body, maxReviewBytes))
		if err == nil {
			err = json.Unmarshal(body, &review)
		}
		if err != nil || review.Request == nil {
			http.Error(w, "want an AdmissionReview v1 with a request", http.StatusBadRequest)
			return
		}
		start := time.Now()
		resp := f(req.Context(), review.Request)
		r.Metrics.observe(webhook, review.Request, resp, start)
		if !resp.Allowed {
			log.Info("admission refused", "kind", review.Request.Kind.Kind, "namespace", review.Request.Namespace,
				"name", review.Request.Name, "reason", resp.Result.Message)
		}
		review.Response, review.Request = resp, nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	}
}

// Serve serves h over TLS on addr (certFile and keyFile: the serving certificate the API
// server's webhook configuration trusts through its caBundle) until ctx ends. ready, when
// set, receives the bound address.
func Serve(ctx context.Context, addr, certFile, keyFile string, h http.Handler, ready func(net.Addr)) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("admission webhook: serving certificate: %w", err)
	}
	return ServeCert(ctx, addr, cert, h, ready)
}

// ServeCert is Serve with the certificate in memory (SelfSigned's).
func ServeCert(ctx context.Context, addr string, cert tls.Certificate, h http.Handler, ready func(net.Addr)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admission webhook: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	if ready != nil {
		ready(l.Addr())
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(l, "", "") }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("admission webhook: %w", err)
	}
}
