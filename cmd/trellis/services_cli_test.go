package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

func TestServiceCommandsUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  func() *cobra.Command
		args []string
	}{
		{"controller bad cidr", func() *cobra.Command { return newControllerCmd(&ctl.Options{}) }, []string{"run", "--service-cidr", "10.96.0.0/33"}},
		{"controller two v4 cidrs", func() *cobra.Command { return newControllerCmd(&ctl.Options{}) }, []string{"run", "--service-cidr", "10.96.0.0/16,10.97.0.0/16"}},
		{"controller bad port range", func() *cobra.Command { return newControllerCmd(&ctl.Options{}) }, []string{"run", "--node-port-range", "32767-30000"}},
		{"controller bad reserved", func() *cobra.Command { return newControllerCmd(&ctl.Options{}) }, []string{"run", "--reserved", "ten"}},
		{"dns bad listen", func() *cobra.Command { return newDNSCmd(&ctl.Options{}) }, []string{"serve", "--listen", "53"}},
		{"dns lookup bad type", func() *cobra.Command { return newDNSCmd(&ctl.Options{}) }, []string{"lookup", "--type", "MX", "x"}},
		{"dns lookup bad server", func() *cobra.Command { return newDNSCmd(&ctl.Options{}) }, []string{"lookup", "--server", "10.96.0.10", "x"}},
		{"yaobank bad role", func() *cobra.Command { return newDemoCmd(&ctl.Options{}) }, []string{"yaobank", "teller"}},
		{"yaobank bad port", func() *cobra.Command { return newDemoCmd(&ctl.Options{}) }, []string{"yaobank", "customer", "--port", "70000"}},
		{"shim without file", func() *cobra.Command { return newLabCmd(&ctl.Options{}) }, []string{"shim", "--", "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, tc.cmd(), tc.args...)
			var u ctl.UsageError
			if !errors.As(err, &u) {
				t.Fatalf("%v: err %v (%T), want a usage error\n%s", tc.args, err, err, out)
			}
		})
	}
}

func TestControllerRunAllocates(t *testing.T) {
	st := memory.New(0)
	defer st.Close()
	open := func(context.Context) (store.Store, error) { return nopClose{st}, nil }
	o := &ctl.Options{OpenStore: open, OpenStoreWait: open}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		c := newControllerCmd(o)
		c.SetArgs([]string{"run", "--service-cidr", "198.51.100.0/24", "--reserved", "198.51.100.10"})
		done <- c.ExecuteContext(ctx)
	}()
	svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	model.SetDefaults(svc)
	if _, err := st.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	k := model.KindService
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := st.Get(ctx, k, "default", "web")
		if err != nil {
			t.Fatal(err)
		}
		ip := o.(*corev1.Service).Spec.ClusterIP
		if ip != "" {
			if len(ip) < 11 || ip[:11] != "198.51.100." {
				t.Errorf("clusterIP %s, want one of 198.51.100.0/24", ip)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no clusterIP after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("controller run: %v", err)
	}
}

// nopClose keeps the shared memory store open across commands.
type nopClose struct{ store.Store }

func (nopClose) Close() error { return nil }

// TestControllerRunEmptiesDeletedNamespace: `controller run` also runs the namespace
// controller.
func TestControllerRunEmptiesDeletedNamespace(t *testing.T) {
	st := memory.New(0)
	defer st.Close()
	open := func(context.Context) (store.Store, error) { return nopClose{st}, nil }
	o := &ctl.Options{OpenStore: open, OpenStoreWait: open}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	pol := &model.NetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deny"}}
	for _, obj := range []model.Object{ns, pol} {
		model.SetDefaults(obj)
		if _, err := st.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		c := newControllerCmd(o)
		c.SetArgs([]string{"run"})
		done <- c.ExecuteContext(ctx)
	}()
	time.Sleep(200 * time.Millisecond) // the controller has listed the namespace
	if _, err := st.Delete(ctx, model.KindNamespace, "", "shop", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := st.Get(ctx, model.KindNetworkPolicy, "shop", "deny"); errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the policy of the deleted namespace is still there after 10s")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("controller run: %v", err)
	}
}
