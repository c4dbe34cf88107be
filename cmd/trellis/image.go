package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/image"
)

// newImageCmd returns `trellis image build`: Trellis's container images without Docker.
func newImageCmd() *cobra.Command {
	c := &cobra.Command{Use: "image", Short: "Build Trellis's container images (no Docker, no registry)", Args: cobra.NoArgs}
	var out, bin, nft string
	build := &cobra.Command{
		Use:   "build --output FILE",
		Short: "Write localhost/trellis:latest (and :VERSION) and localhost/trellis-pause:latest as a docker-archive",
		Long: "Build the images from this binary (or --binary), nft and the libraries it loads, and a\n" +
			"minimal filesystem, and write them as one docker-archive tarball, which containerd\n" +
			"imports with `ctr -n k8s.io images import FILE`.",
		Example: "  trellis image build --output /tmp/trellis-images.tar",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return ctl.Usagef("--output is required")
			}
			if bin == "" {
				self, err := os.Executable()
				if err != nil {
					return fmt.Errorf("image build: find the trellis binary: %w", err)
				}
				bin = self
			}
			v, _, _ := buildInfo()
			tags, err := image.Write(image.Config{Binary: bin, NFT: nft, Version: v}, out)
			if err != nil {
				return err
			}
			for _, t := range tags {
				fmt.Fprintf(c.OutOrStdout(), "%s\n", t)
			}
			fmt.Fprintf(c.OutOrStdout(), "written to %s\n", out)
			return nil
		},
	}
	build.Flags().StringVarP(&out, "output", "o", "", "the docker-archive file to write")
	build.Flags().StringVar(&bin, "binary", "", "the trellis binary to ship (default: this one)")
	build.Flags().StringVar(&nft, "nft", "", "the nft program to ship with its libraries (default: nft on PATH)")
	c.AddCommand(build, newImageComposeCmd())
	return c
}

// newImageComposeCmd returns `trellis image compose`: images from a root filesystem
// tarball and added files, under names of the caller's choosing (the conformance images).
func newImageComposeCmd() *cobra.Command {
	var spec, out string
	c := &cobra.Command{
		Use:   "compose --spec FILE --output FILE",
		Short: "Write images made of a root filesystem tarball and added files as a docker-archive",
		Long: "Read a JSON spec {\"rootfs\": TAR, \"files\": [{\"source\", \"path\", \"mode\"}],\n" +
			"\"images\": [{\"ref\", \"entrypoint\", \"cmd\"}]} and write every image, all sharing the\n" +
			"two layers, to one docker-archive. scripts/conformance.sh builds the upstream test\n" +
			"images with it from a Debian root filesystem and agnhost.",
		Example: "  trellis image compose --spec images.json --output /tmp/test-images.tar",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if spec == "" || out == "" {
				return ctl.Usagef("--spec and --output are required")
			}
			f, err := os.Open(spec)
			if err != nil {
				return fmt.Errorf("image compose: %w", err)
			}
			defer f.Close()
			s, err := image.ReadComposeSpec(f)
			if err != nil {
				return fmt.Errorf("image compose: %s: %w", spec, err)
			}
			refs, err := image.Compose(s, out)
			if err != nil {
				return err
			}
			for _, r := range refs {
				fmt.Fprintf(c.OutOrStdout(), "%s\n", r)
			}
			fmt.Fprintf(c.OutOrStdout(), "written to %s\n", out)
			return nil
		},
	}
	c.Flags().StringVar(&spec, "spec", "", "the JSON spec of the images")
	c.Flags().StringVarP(&out, "output", "o", "", "the docker-archive file to write")
	return c
}

// newPauseCmd returns `trellis pause`: a pod sandbox's process. It waits for SIGTERM or
// SIGINT and reaps the children it inherits as PID 1 of the pod's PID namespace.
func newPauseCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "pause",
		Short:  "Hold a pod sandbox: wait for a signal, reap children (the pause image's process)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			children := make(chan os.Signal, 1)
			signal.Notify(children, syscall.SIGCHLD)
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-children:
					for {
						pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
						if pid <= 0 || err != nil {
							break
						}
					}
				}
			}
		},
	}
}
