package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/trellisnet/trellis/internal/admission"
	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/kube"
)

// webhookFlags configure the admission webhook `trellis controller run` may serve.
type webhookFlags struct {
	listen, cert, key string
	// selfSigned is NAMESPACE/NAME of the Secret of a CA and serving certificate the
	// controller mints itself; dnsName the name served; configs the webhook configurations
	// whose caBundle it sets.
	selfSigned, dnsName, configs string
	// kubeconfig is the global --kubeconfig (empty: in-cluster), for the Secret.
	kubeconfig string
}

func addWebhookFlags(c *cobra.Command, w *webhookFlags) {
	c.Flags().StringVar(&w.listen, "webhook-listen", "", "serve the admission webhook (/validate, /mutate) over TLS on HOST:PORT (default: off)")
	c.Flags().StringVar(&w.cert, "webhook-cert", "", "the webhook's serving certificate (PEM); the API server trusts its CA through the webhook configuration's caBundle")
	c.Flags().StringVar(&w.key, "webhook-key", "", "the key of --webhook-cert")
	c.Flags().StringVar(&w.selfSigned, "webhook-self-signed-secret", "", "instead of --webhook-cert: NAMESPACE/NAME of a Secret holding a CA and serving certificate minted on first start and reused after")
	c.Flags().StringVar(&w.dnsName, "webhook-dns-name", "", "the name the self-signed certificate is for (SERVICE.NAMESPACE.svc)")
	c.Flags().StringVar(&w.configs, "webhook-configurations", "", "names of the Validating/MutatingWebhookConfigurations whose caBundle is set to the self-signed CA (comma-separated)")
}

func (w webhookFlags) check() error {
	if w.listen == "" {
		return nil
	}
	files := w.cert != "" || w.key != ""
	switch {
	case files && w.selfSigned != "":
		return ctl.Usagef("--webhook-cert/--webhook-key and --webhook-self-signed-secret exclude each other")
	case w.selfSigned != "":
		if ns, name, ok := strings.Cut(w.selfSigned, "/"); !ok || ns == "" || name == "" {
			return ctl.Usagef("invalid --webhook-self-signed-secret %q: want NAMESPACE/NAME", w.selfSigned)
		}
		if w.dnsName == "" {
			return ctl.Usagef("--webhook-self-signed-secret needs --webhook-dns-name")
		}
	case w.cert == "" || w.key == "":
		return ctl.Usagef("--webhook-listen needs --webhook-cert and --webhook-key, or --webhook-self-signed-secret")
	}
	return nil
}

// start serves the webhook in the background when configured; the returned channel gives
// its end (nil when it is off). serving is set once it listens; reviews are counted in m.
func (w webhookFlags) start(ctx context.Context, st store.Store, log *slog.Logger, serving *atomic.Bool, m *admission.Metrics) <-chan error {
	if w.listen == "" {
		return nil
	}
	done := make(chan error, 1)
	r := &admission.Reviewer{Store: st, Metrics: m}
	h := r.Handler(log.With("component", "admission"))
	ready := func(net.Addr) { serving.Store(true) }
	go func() {
		if w.selfSigned == "" {
			done <- admission.Serve(ctx, w.listen, w.cert, w.key, h, ready)
			return
		}
		api, err := w.api()
		if err != nil {
			done <- err
			return
		}
		ns, name, _ := strings.Cut(w.selfSigned, "/")
		cert, ca, err := admission.SelfSigned{API: api, Namespace: ns, Name: name, DNSName: w.dnsName}.Certificate(ctx)
		if err != nil {
			done <- err
			return
		}
		log.Info("webhook certificate ready", "secret", w.selfSigned, "dnsName", w.dnsName)
		go w.keepCABundles(ctx, api, ca, log)
		done <- admission.ServeCert(ctx, w.listen, cert, h, ready)
	}()
	return done
}

// ready adds the webhook's state to the controllers' readiness: the API server refuses
// every Calico write while a configured webhook does not answer.
func (w webhookFlags) ready(controllers func() error, serving *atomic.Bool) func() error {
	return func() error {
		if err := controllers(); err != nil {
			return err
		}
		if w.listen != "" && !serving.Load() {
			return errors.New("admission webhook not serving yet")
		}
		return nil
	}
}

func (w webhookFlags) api() (admission.API, error) {
	rc, err := kube.RESTConfig(store.Config{Kubeconfig: w.kubeconfig})
	if err != nil {
		return admission.API{}, fmt.Errorf("admission webhook: %w", err)
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return admission.API{}, fmt.Errorf("admission webhook: %w", err)
	}
	return admission.API{Client: hc, Host: rc.Host}, nil
}

// keepCABundles sets the CA in the webhook configurations: every 5 s until it succeeds
// (they may be applied after the controller starts), then every 5 minutes (a configuration
// replaced by a re-apply gets it back).
func (w webhookFlags) keepCABundles(ctx context.Context, api admission.API, ca []byte, log *slog.Logger) {
	var names []string
	for _, n := range strings.Split(w.configs, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return
	}
	wait, failing := time.Duration(0), false
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		var err error
		for _, n := range names {
			if e := api.SetCABundle(ctx, n, ca); e != nil {
				err = e
			}
		}
		switch {
		case err != nil && !failing:
			log.Warn("webhook ca bundle not set", "configurations", names, "error", err)
		case err == nil && (failing || wait == 0):
			log.Info("webhook ca bundle set", "configurations", names)
		}
		failing, wait = err != nil, 5*time.Minute
		if failing {
			wait = 5 * time.Second
		}
	}
}
