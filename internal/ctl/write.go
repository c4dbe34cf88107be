package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/refcheck"
	"github.com/trellisnet/trellis/internal/store"
)

// writeMode is what a manifest-driven verb does with each document.
type writeMode int

const (
	modeApply   writeMode = iota // create or update
	modeCreate                   // create; exists is an error
	modeReplace                  // update; absent is an error
	modeDelete                   // delete; absent is an error unless --ignore-not-found
)

var modeVerb = map[writeMode]string{modeApply: "applied", modeCreate: "created", modeReplace: "replaced", modeDelete: "deleted"}

type writeFlags struct {
	opts           *Options
	progress       io.Writer // where a progress line goes (a terminal), or nil
	dryRun         string
	files          []string
	recursive      bool
	namespace      string // -n: for namespaced objects that name none (and delete KIND NAME)
	ignoreNotFound bool
}

// NewApplyCmd returns `trellis apply -f`.
func NewApplyCmd(o *Options) *cobra.Command {
	return newWriteCmd(o, modeApply, "apply", "Create or update resources from files or standard input")
}

// NewCreateCmd returns `trellis create -f`.
func NewCreateCmd(o *Options) *cobra.Command {
	return newWriteCmd(o, modeCreate, "create", "Create resources from files; an existing resource is an error")
}

// NewReplaceCmd returns `trellis replace -f`.
func NewReplaceCmd(o *Options) *cobra.Command {
	return newWriteCmd(o, modeReplace, "replace", "Replace existing resources from files; a missing resource is an error")
}

func newWriteCmd(o *Options, mode writeMode, use, short string) *cobra.Command {
	f := &writeFlags{}
	c := &cobra.Command{
		Use:   use + " -f FILE|DIR|-",
		Short: short,
		Long: short + ".\n\nEvery document of every file is decoded, defaulted and validated before anything\n" +
			"is written: one bad document writes nothing. A datastore error part-way reports\n" +
			"which objects were written.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f.progress = Terminal(c.ErrOrStderr())
			return runWrite(c.Context(), o, mode, f, c.InOrStdin(), c.OutOrStdout())
		},
	}
	addFileFlags(c, f)
	addDryRunFlag(c, f)
	c.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace for namespaced objects that name none (default \"default\"); one that names another is an error")
	return c
}

func addDryRunFlag(c *cobra.Command, f *writeFlags) {
	c.Flags().StringVar(&f.dryRun, "dry-run", dryRunNone, "none, client or server: say what each object would do, write nothing")
	c.Flags().Lookup("dry-run").NoOptDefVal = dryRunClient
}

func addFileFlags(c *cobra.Command, f *writeFlags) {
	c.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "file, directory or - for standard input (repeatable)")
	c.Flags().BoolVarP(&f.recursive, "recursive", "R", false, "read directories recursively")
}

func runWrite(ctx context.Context, o *Options, mode writeMode, f *writeFlags, stdin io.Reader, out io.Writer) error {
	if len(f.files) == 0 {
		return Usagef("at least one -f FILE|DIR|- is required")
	}
	if f.dryRun == "" {
		f.dryRun = dryRunNone
	}
	if err := checkDryRun(f.dryRun); err != nil {
		return err
	}
	f.opts = o
	m, err := loadManifestSet(f.files, stdin, f.recursive, f.namespace)
	docs := m.Documents
	if err != nil {
		return err
	}
	if err := checkWritable(docs); err != nil {
		return err
	}
	if len(docs) == 0 {
		return fmt.Errorf("no resources found in %s", strings.Join(f.files, ", "))
	}
	st, err := o.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := refcheck.Check(ctx, st, refMode(mode), docs); err != nil {
		return err
	}

	var c *cache
	if mode == modeApply {
		if c, err = prefetch(ctx, st, docs); err != nil {
			return err
		}
	}
	if f.dryRun != dryRunNone {
		return dryRunWrite(ctx, st, c, mode, docs, f, out)
	}
	var done []model.Key
	prog := newProgress(f.progress, modeVerb[mode], len(docs))
	defer prog.finish()
	for _, d := range docs {
		key, _ := model.KeyOf(d.Object)
		what, err := writeOne(ctx, st, c, mode, d.Object, f.ignoreNotFound)
		if err != nil {
			prog.finish()
			return partialError(mode, done, docs, key, d.Source, err)
		}
		if what != "" {
			fmt.Fprintf(out, "%s %s\n", objectRef(key), what)
		}
		done = append(done, key)
		prog.step(len(done))
	}
	fmt.Fprintf(out, "Successfully %s %d resource(s)%s\n", modeVerb[mode], len(done), where(o))
	return nil
}

// checkWritable refuses bookkeeping kinds and namespaces on cluster-scoped kinds, before
// anything is written. (LoadManifests has given namespaced objects that name none the
// default namespace.)
func checkWritable(docs []model.Document) error {
	var problems []string
	for _, d := range docs {
		key, ok := model.KeyOf(d.Object)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: document %d: unknown kind", d.Source, d.Index))
			continue
		}
		if key.Kind.Internal {
			problems = append(problems, fmt.Sprintf("%s: document %d (%s): kind %s is managed by Trellis and cannot be written from a manifest", d.Source, d.Index, key, key.Kind.Kind))
			continue
		}
		if !key.Kind.Namespaced && d.Object.GetNamespace() != "" {
			problems = append(problems, fmt.Sprintf("%s: document %d (%s): metadata.namespace: Forbidden: %s is not namespaced", d.Source, d.Index, key, key.Kind.Kind))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// writeOne writes one object as mode says and returns what it did.
func writeOne(ctx context.Context, st store.Store, c *cache, mode writeMode, obj model.Object, ignoreNotFound bool) (string, error) {
	key, _ := model.KeyOf(obj)
	switch mode {
	case modeCreate:
		_, err := st.Create(ctx, obj)
		return outCreated, err
	case modeReplace:
		if hasServerFields(obj) {
			if cur, err := st.Get(ctx, key.Kind, key.Namespace, key.Name); err == nil {
				keepServerFields(cur, obj)
			}
		}
		_, err := st.Update(ctx, obj)
		return outReplaced, err
	case modeDelete:
		_, err := st.Delete(ctx, key.Kind, key.Namespace, key.Name, store.DeleteOptions{ResourceVersion: obj.GetResourceVersion()})
		if ignoreNotFound && errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		return outDeleted, err
	}
	return applyOne(ctx, st, c, obj)
}

// partialError says what was written before the failure, so nobody has to guess.
func partialError(mode writeMode, done []model.Key, docs []model.Document, failed model.Key, source string, err error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %v", source, failed, err)
	if len(done) == 0 {
		fmt.Fprintf(&b, "\nnothing was %s", modeVerb[mode])
	} else {
		fmt.Fprintf(&b, "\n%s %d of %d resource(s) before the failure: %s", modeVerb[mode], len(done), len(docs), summarise(done))
	}
	return errors.New(b.String())
}

// maxListed is how many written objects a failure report names one by one; beyond it, it
// counts them per kind and names the last.
const maxListed = 10

func summarise(keys []model.Key) string {
	if len(keys) <= maxListed {
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.String()
		}
		return strings.Join(names, ", ")
	}
	count := map[string]int{}
	var kinds []string
	for _, k := range keys {
		if count[k.Kind.Kind] == 0 {
			kinds = append(kinds, k.Kind.Kind)
		}
		count[k.Kind.Kind]++
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", count[k], k)
	}
	return fmt.Sprintf("%s; the last was %s", strings.Join(parts, ", "), keys[len(keys)-1])
}

// where names the datastore a write went to, so that several labs or datastores on one
// machine cannot be confused; empty when the caller did not say.
func where(o *Options) string {
	switch {
	case o.Datastore == "":
		return ""
	case o.DatastoreSource == "":
		return " in datastore " + o.Datastore
	}
	return fmt.Sprintf(" in datastore %s (%s)", o.Datastore, o.DatastoreSource)
}

// refMode is the reference checks' view of a write mode.
func refMode(m writeMode) refcheck.Mode {
	switch m {
	case modeDelete:
		return refcheck.Delete
	case modeCreate:
		return refcheck.Create
	}
	return refcheck.Write
}
