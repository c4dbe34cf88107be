package main

import (
	"net/netip"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/manifests"
)

// newManifestsCmd returns `trellis manifests`: the install manifests on stdout.
func newManifestsCmd() *cobra.Command {
	def := manifests.Defaults()
	var podCIDR, serviceCIDR, dnsIP, flowsIP, pullPolicy string
	var crdsOnly bool
	o := def
	c := &cobra.Command{
		Use:   "manifests [--image IMAGE] [--pod-cidr CIDR] [--routing bgp|vxlan] [--crds-only]",
		Short: "Print the Kubernetes manifests that install Trellis on a cluster",
		Long: "Print everything to apply to install Trellis on a Kubernetes cluster without kube-proxy:\n" +
			"the namespace, the CRDs, RBAC per component, the node agent DaemonSet (which installs\n" +
			"the CNI plugin), the controllers with the admission webhook, the cluster DNS and the\n" +
			"default IPPool. deploy/trellis.yaml is the output with the defaults. Apply the CRDs\n" +
			"first (--crds-only): see docs/install.md.",
		Example: "  trellis manifests --crds-only | kubectl apply --server-side -f -\n" +
			"  trellis manifests --image registry.example/trellis:v1 --api-server 192.0.2.10:6443 | kubectl apply --server-side -f -",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if crdsOnly {
				out, err := manifests.CRDs()
				if err != nil {
					return err
				}
				_, err = c.OutOrStdout().Write(out)
				return err
			}
			var err error
			if o.PodCIDR, err = netip.ParsePrefix(podCIDR); err != nil {
				return ctl.Usagef("invalid --pod-cidr %q: %v", podCIDR, err)
			}
			if o.ServiceCIDR, err = netip.ParsePrefix(serviceCIDR); err != nil {
				return ctl.Usagef("invalid --service-cidr %q: %v", serviceCIDR, err)
			}
			if o.DNSIP, err = netip.ParseAddr(dnsIP); err != nil {
				return ctl.Usagef("invalid --dns-ip %q: %v", dnsIP, err)
			}
			if flowsIP != "" {
				if o.FlowsIP, err = netip.ParseAddr(flowsIP); err != nil {
					return ctl.Usagef("invalid --flows-ip %q: %v", flowsIP, err)
				}
			}
			o.PullPolicy = corev1.PullPolicy(pullPolicy)
			if err := o.Validate(); err != nil {
				return ctl.Usagef("manifests: %v", err)
			}
			out, err := manifests.Render(o)
			if err != nil {
				return err
			}
			_, err = c.OutOrStdout().Write(out)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.Image, "image", def.Image, "the Trellis image of every container")
	f.StringVar(&pullPolicy, "image-pull-policy", string(def.PullPolicy), "imagePullPolicy: Always, IfNotPresent or Never")
	f.StringVar(&podCIDR, "pod-cidr", def.PodCIDR.String(), "CIDR of the default IPPool (default-ipv4-ippool)")
	f.StringVar(&o.Routing, "routing", def.Routing, "pod routing between nodes: bgp (native, node-to-node mesh) or vxlan")
	f.StringVar(&serviceCIDR, "service-cidr", def.ServiceCIDR.String(), "the API server's --service-cluster-ip-range (kubeadm's default)")
	f.StringVar(&dnsIP, "dns-ip", def.DNSIP.String(), "cluster IP of kube-system/kube-dns (the kubelet's clusterDNS)")
	f.StringVar(&flowsIP, "flows-ip", "", "cluster IP of trellis-system/trellis-flows, the flow aggregator the node agents push to (default: the address after --dns-ip)")
	f.StringVar(&o.APIServer, "api-server", "", "HOST:PORT of the API server reachable from every node without kube-proxy (renders the ConfigMap kubernetes-services-endpoint)")
	f.BoolVar(&crdsOnly, "crds-only", false, "print only the CustomResourceDefinitions (to apply, and wait for, first)")
	return c
}
