package ctl

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/trellisnet/trellis/internal/store"
)

// Options is what cmd/trellis resolves (flags > TRELLIS_* environment > defaults) and hands
// to every command constructor. Nothing in ctl reads flags of the root or the environment.
type Options struct {
	// OpenStore connects to the configured datastore. Commands that need no store (validate,
	// selector, offline trace) never call it.
	OpenStore func(ctx context.Context) (store.Store, error)
	// OpenStoreWait connects like OpenStore but without first checking that the datastore
	// answers: long-running components start while it is down and catch up when it comes.
	OpenStoreWait func(ctx context.Context) (store.Store, error)
	// Logger is the process logger; commands add their component.
	Logger *slog.Logger
	// Datastore names the endpoints OpenStore connects to, and DatastoreSource where they
	// came from (a flag, the environment, the current lab, the default).
	Datastore, DatastoreSource string
}

// UsageError marks a command-line mistake; cmd/trellis exits 2 for it.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCodeError carries the exit code of a command run by `lab exec`; cmd/trellis exits
// with Code.
type ExitCodeError struct{ Code int }

func (e ExitCodeError) Error() string { return fmt.Sprintf("command exited with code %d", e.Code) }

// ExitCode is the process exit code to use.
func (e ExitCodeError) ExitCode() int { return e.Code }
