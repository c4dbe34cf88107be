package main

import (
	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/cni"
	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/store/kube"
)

// addCommands registers every subcommand explicitly (no init() registries).
func addCommands(root *cobra.Command, o *ctl.Options) {
	root.AddCommand(
		ctl.NewApplyCmd(o),
		ctl.NewCreateCmd(o),
		ctl.NewReplaceCmd(o),
		ctl.NewDeleteCmd(o),
		ctl.NewGetCmd(o),
		ctl.NewLabelCmd(o),
		ctl.NewDiffCmd(o),
		ctl.NewDescribeCmd(o),
	)
	root.AddCommand(ctl.NewSelectorCmd())
	root.AddCommand(ctl.NewPolicyCmd(o))
	root.AddCommand(ctl.NewValidateCmd(), newConfigCmd(o), ctl.NewAPIResourcesCmd(), ctl.NewExplainCmd())
	root.AddCommand(newImageCmd(), newPauseCmd(), newManifestsCmd())
	root.AddCommand(newDatastoreCmd(o))
	root.AddCommand(newNodeCmd(o), newCNICmd(o))
	root.AddCommand(ctl.NewIPAMCmd(o))
	root.AddCommand(newLabCmd(o), newDemoCmd(o))
	root.AddCommand(newDNSCmd(o), newControllerCmd(o))
	root.AddCommand(newFlowsCmd(), newUICmd(o))
}

// runCNI runs the CNI plugin (trellis-cni) or the IPAM plugin (trellis-ipam).
func runCNI(name string) int {
	return cni.Main(name, cni.Backends{
		Etcd:       func(cfg store.Config) (store.Store, error) { return etcd.New(cfg) },
		Kubernetes: func(cfg store.Config) (store.Store, error) { return kube.New(cfg) },
	})
}
