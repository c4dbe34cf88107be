package lab

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/controller"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// YAOBankNamespace is where the sample application runs.
const YAOBankNamespace = "yaobank"

//go:embed yaobank.yaml
var yaobankManifest []byte

//go:embed yaobank-k8s.yaml
var yaobankKubeManifest []byte

// YAOBankManifest is examples/yaobank.yaml, as `lab up --with-yaobank` applies it.
func YAOBankManifest() []byte { return slices.Clone(yaobankManifest) }

// DeployYAOBank creates YAOBank's objects in the lab (objects that exist are kept) and
// waits until its pods run and are ready.
func DeployYAOBank(ctx context.Context, name string, out io.Writer, timeout time.Duration) error {
	if st, err := LoadState(name); err == nil && st.Kube != nil {
		return deployKubeYAOBank(ctx, name, st.Kube, out, timeout)
	}
	docs, err := model.Decode(yaobankManifest, "yaobank.yaml")
	if err != nil {
		return fmt.Errorf("deploy yaobank: %w", err)
	}
	st, err := OpenStore(name)
	if err != nil {
		return err
	}
	defer st.Close()
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var pods []string
	for _, d := range docs {
		o := d.Object
		model.SetDefaults(o)
		if errs := model.Validate(o); len(errs) > 0 {
			return fmt.Errorf("deploy yaobank: %s: %w", d.Ref(), errs.ToAggregate())
		}
		if _, err := st.Create(ctx, o); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("deploy yaobank: create %s: %w", d.Ref(), err)
		}
		if _, ok := o.(*corev1.Pod); ok {
			pods = append(pods, o.GetName())
		}
	}
	fmt.Fprintf(out, "yaobank: %d objects applied; waiting for pods %s\n", len(docs), strings.Join(pods, ", "))
	if err := waitPodsReady(ctx, st, YAOBankNamespace, pods); err != nil {
		return fmt.Errorf("deploy yaobank: %w", err)
	}
	fmt.Fprintf(out, "yaobank is up: customer at http://<node address>:30180/ (NodePort) and http://customer.yaobank/ in the cluster\n")
	return nil
}

// waitPodsReady polls until every named pod of ns runs with Ready true.
func waitPodsReady(ctx context.Context, st store.Store, ns string, names []string) error {
	for {
		res, err := st.List(ctx, podKind(), store.ListOptions{Namespace: ns})
		var waiting []string
		if err == nil {
			ready := map[string]bool{}
			for _, o := range res.Items {
				if p, ok := o.(*corev1.Pod); ok && p.Status.Phase == corev1.PodRunning && controller.PodReady(p) {
					ready[p.Name] = true
				}
			}
			for _, n := range names {
				if !ready[n] {
					waiting = append(waiting, n)
				}
			}
			if len(waiting) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pods of namespace %s not ready (%s): %w", ns, strings.Join(waiting, ", "), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// deployKubeYAOBank applies examples/yaobank-k8s.yaml (the deck's Deployments) with kubectl
// and waits for every Deployment to be available.
func deployKubeYAOBank(ctx context.Context, name string, k *KubeState, out io.Writer, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := kubectl(ctx, name, k, string(yaobankKubeManifest), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("deploy yaobank: %w", err)
	}
	fmt.Fprintln(out, "yaobank: applied examples/yaobank-k8s.yaml; waiting for its Deployments")
	for _, d := range []string{"database", "summary", "customer"} {
		if _, err := kubectl(ctx, name, k, "", "rollout", "status", "-n", YAOBankNamespace, "deployment/"+d, "--timeout="+timeout.String()); err != nil {
			return fmt.Errorf("deploy yaobank: %w", err)
		}
	}
	fmt.Fprintf(out, "yaobank is up: customer at http://<node address>:30180/ (NodePort) and http://customer.yaobank/ in the cluster\n")
	return nil
}
