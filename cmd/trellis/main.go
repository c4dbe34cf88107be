// Command trellis is the single Trellis binary: CLI, datastore, node agent, CNI plugin and lab.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/store"
)

// Set by the linker: -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func main() {
	os.Exit(run(os.Args))
}

// run dispatches on the name the binary was invoked by (trellis, trellis-cni, trellis-ipam)
// and returns the process exit code: 0 success, 1 failure, 2 usage error.
func run(args []string) int {
	switch filepath.Base(args[0]) {
	case "trellis-cni", "trellis-ipam":
		return runCNI(filepath.Base(args[0]))
	}
	root := newRootCmd()
	root.SetArgs(args[1:])
	if err := root.Execute(); err != nil {
		var ec ctl.ExitCodeError
		if errors.As(err, &ec) {
			return ec.Code // the command run by `lab exec` has spoken for itself
		}
		var de ctl.DiffExitError
		if errors.As(err, &de) {
			return de.Code // the diff is the message
		}
		fmt.Fprintln(os.Stderr, "Error:", err)
		if errors.Is(err, store.ErrUnavailable) {
			fmt.Fprintln(os.Stderr, "Hint: is the datastore running? Start one with 'trellis datastore run', or point --datastore-endpoints at yours.")
		}
		return exitCode(err)
	}
	return 0
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "trellis",
		Short:         "Kubernetes pod networking and network policy in the model of Project Calico",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return ctl.UsageError{Err: err} })
	g := &globalFlags{}
	o := &ctl.Options{}
	addGlobalFlags(root, g)
	root.PersistentPreRunE = g.options(o)
	root.AddCommand(newVersionCmd())
	addCommands(root, o)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		Run: func(c *cobra.Command, _ []string) {
			v, cm, gov := buildInfo()
			fmt.Fprintf(c.OutOrStdout(), "version: %s\ncommit:  %s\ngo:      %s\n", v, cm, gov)
		},
	}
}

func buildInfo() (v, cm, gov string) {
	v, cm, gov = version, commit, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		gov = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && cm == "" {
				cm = s.Value
			}
		}
	}
	if cm == "" {
		cm = "unknown"
	}
	return v, cm, gov
}
