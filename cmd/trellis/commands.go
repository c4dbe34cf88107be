package main

import "github.com/spf13/cobra"

// addCommands registers every subcommand explicitly (no init() registries).
func addCommands(root *cobra.Command) {
}

// runCNI runs the CNI plugin (trellis-cni) or the IPAM plugin (trellis-ipam).
func runCNI(name string) int {
	return 1
}
