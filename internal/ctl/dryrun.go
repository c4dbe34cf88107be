package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Dry-run modes of the write verbs, as kubectl spells them.
const (
	dryRunNone   = "none"
	dryRunClient = "client"
	dryRunServer = "server"
)

func checkDryRun(mode string) error {
	switch mode {
	case dryRunNone, dryRunClient, dryRunServer:
		return nil
	}
	return Usagef("invalid --dry-run %q: use none, client or server", mode)
}

// dryRunWrite says what each document would do, reading the datastore and writing
// nothing. Both modes run every check Trellis makes before a write (validation, references);
// the datastore has no admission step of its own yet, so server mode adds nothing.
func dryRunWrite(ctx context.Context, st store.Store, c *cache, mode writeMode, docs []model.Document, f *writeFlags, out io.Writer) error {
	suffix := " (dry run)"
	if f.dryRun == dryRunServer {
		suffix = " (server dry run)"
	}
	for _, d := range docs {
		key, _ := model.KeyOf(d.Object)
		what, err := planOne(ctx, st, c, mode, d.Object, f.ignoreNotFound)
		if err != nil {
			return fmt.Errorf("%s: %s: %w (dry run: nothing was written)", d.Source, key, err)
		}
		if what != "" {
			fmt.Fprintf(out, "%s %s%s\n", objectRef(key), what, suffix)
		}
	}
	fmt.Fprintf(out, "Dry run: %d resource(s) checked, nothing was written%s\n", len(docs), where(f.opts))
	return nil
}

// planOne is writeOne without the write.
func planOne(ctx context.Context, st store.Store, c *cache, mode writeMode, obj model.Object, ignoreNotFound bool) (string, error) {
	key, _ := model.KeyOf(obj)
	if mode == modeApply {
		p, err := planApply(ctx, st, c, obj)
		return p.outcome, err
	}
	_, err := st.Get(ctx, key.Kind, key.Namespace, key.Name)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	switch {
	case mode == modeCreate && exists:
		return "", fmt.Errorf("%s: %w", key, store.ErrAlreadyExists)
	case mode == modeCreate:
		return outCreated, nil
	case exists && mode == modeReplace:
		return outReplaced, nil
	case exists:
		return outDeleted, nil
	case mode == modeDelete && ignoreNotFound:
		return "", nil
	}
	return "", fmt.Errorf("%s: %w", key, store.ErrNotFound)
}
