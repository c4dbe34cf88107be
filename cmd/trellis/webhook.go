package main

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/admission"
	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/store"
)

// webhookFlags configure the admission webhook `trellis controller run` may serve.
type webhookFlags struct {
	listen, cert, key string
}

func addWebhookFlags(c *cobra.Command, w *webhookFlags) {
	c.Flags().StringVar(&w.listen, "webhook-listen", "", "serve the admission webhook (/validate, /mutate) over TLS on HOST:PORT (default: off)")
	c.Flags().StringVar(&w.cert, "webhook-cert", "", "the webhook's serving certificate (PEM); the API server trusts its CA through the webhook configuration's caBundle")
	c.Flags().StringVar(&w.key, "webhook-key", "", "the key of --webhook-cert")
}

func (w webhookFlags) check() error {
	if w.listen != "" && (w.cert == "" || w.key == "") {
		return ctl.Usagef("--webhook-listen needs --webhook-cert and --webhook-key")
	}
	return nil
}

// start serves the webhook in the background when configured; the returned channel gives
// its end (nil when it is off).
func (w webhookFlags) start(ctx context.Context, st store.Store, log *slog.Logger) <-chan error {
	if w.listen == "" {
		return nil
	}
	done := make(chan error, 1)
	r := &admission.Reviewer{Store: st}
	go func() {
		done <- admission.Serve(ctx, w.listen, w.cert, w.key, r.Handler(log.With("component", "admission")), nil)
	}()
	return done
}
