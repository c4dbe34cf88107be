// Package ctl holds the CLI verbs of the trellis binary and their output formats.
//
// Each area provides a constructor returning a *cobra.Command; cmd/trellis wires them
// explicitly. Commands write results to the command's OutOrStdout and errors are returned,
// never printed and returned both. A returned UsageError exits 2, any other error 1.
package ctl
