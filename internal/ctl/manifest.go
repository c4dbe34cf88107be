package ctl

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// DefaultNamespace is given to namespaced objects that name none, as kubectl and calicoctl do.
const DefaultNamespace = "default"

// Manifests is the result of loading manifest files: every object, defaulted and valid.
type Manifests struct {
	Documents []model.Document
	Files     int // number of files (stdin counts as one) read
}

// Warnings lists the non-fatal notes of every document (FelixConfiguration fields Trellis
// ignores), in input order.
func (m Manifests) Warnings() []model.Problem {
	var out []model.Problem
	for _, d := range m.Documents {
		out = append(out, d.Warnings...)
	}
	return out
}

// LoadManifests reads -f arguments (a file, a directory's *.yaml, *.yml and *.json files in
// name order, recursively with recursive, or "-" for stdin), decodes every document strictly,
// fills in a missing namespace ("default") for namespaced kinds, applies model.SetDefaults and
// validates every object. It returns either every document, or an error (model.Problems)
// listing every problem of every file: nothing is returned half-valid, so a caller that
// writes only on success writes nothing when anything is bad.
func LoadManifests(paths []string, stdin io.Reader, recursive bool) ([]model.Document, error) {
	m, err := LoadManifestSet(paths, stdin, recursive)
	return m.Documents, err
}

// LoadManifestSet is LoadManifests that also reports how many files were read.
func LoadManifestSet(paths []string, stdin io.Reader, recursive bool) (Manifests, error) {
	return loadManifestSet(paths, stdin, recursive, "")
}

// loadManifestSet is LoadManifestSet with the namespace of `-n`: namespaced objects that name
// none get it, and one that names another is a problem (as with kubectl). Empty: "default".
func loadManifestSet(paths []string, stdin io.Reader, recursive bool, namespace string) (Manifests, error) {
	if len(paths) == 0 {
		return Manifests{}, Usagef("no manifests given: use -f FILE|DIR|-")
	}
	files, problems := expandPaths(paths, recursive)
	seen := firstDocs{}
	var docs []model.Document
	readStdin := false
	for _, f := range files {
		var data []byte
		var err error
		if f == "-" {
			if readStdin {
				problems = append(problems, model.Problem{Source: "-", Message: "standard input given more than once"})
				continue
			}
			readStdin = true
			if stdin == nil {
				stdin = strings.NewReader("")
			}
			data, err = readCapped(stdin)
		} else {
			data, err = readFileCapped(f)
		}
		if err != nil {
			problems = append(problems, model.Problem{Source: f, Message: "cannot read: " + unwrapPathError(err)})
			continue
		}
		ds, err := model.Decode(data, f)
		var fileProblems model.Problems
		if !errors.As(err, &fileProblems) && err != nil {
			fileProblems = model.Problems{{Source: f, Message: err.Error()}}
		}
		for _, d := range ds {
			if k, ok := model.KeyOf(d.Object); ok && k.Kind.Internal {
				fileProblems = append(fileProblems, model.Problem{Source: d.Source, Index: d.Index, Item: d.Item, Line: d.Line,
					Ref: d.Ref(), Message: fmt.Sprintf("kind %s (%s) is managed by Trellis itself and cannot be given in a manifest",
						k.Kind.Kind, k.Kind.APIVersion())})
				continue
			}
			if p, bad := namespaceProblem(d, namespace); bad {
				fileProblems = append(fileProblems, p)
				continue
			}
			prepare(d.Object, namespace)
			fileProblems = append(fileProblems, d.Problems(model.Validate(d.Object))...)
			if p, bad := sizeProblem(d); bad {
				fileProblems = append(fileProblems, p)
			}
			if p, dup := seen.duplicate(d); dup {
				fileProblems = append(fileProblems, p)
			}
		}
		// Report in file order: by document, then line.
		sort.SliceStable(fileProblems, func(i, j int) bool {
			a, b := fileProblems[i], fileProblems[j]
			if a.Index != b.Index {
				return a.Index < b.Index
			}
			if a.Item != b.Item {
				return a.Item < b.Item
			}
			return a.Line < b.Line
		})
		problems = append(problems, fileProblems...)
		docs = append(docs, ds...)
	}
	if len(problems) > 0 {
		return Manifests{Files: len(files)}, problems
	}
	if len(docs) == 0 {
		return Manifests{Files: len(files)}, fmt.Errorf("no objects found in %s", strings.Join(paths, ", "))
	}
	return Manifests{Documents: docs, Files: len(files)}, nil
}

// namespaceProblem reports a namespaced document whose namespace differs from `-n`.
func namespaceProblem(d model.Document, namespace string) (model.Problem, bool) {
	k, ok := model.KeyOf(d.Object)
	if namespace == "" || !ok || !k.Kind.Namespaced || d.Object.GetNamespace() == "" || d.Object.GetNamespace() == namespace {
		return model.Problem{}, false
	}
	return model.Problem{Source: d.Source, Index: d.Index, Item: d.Item, Line: d.Line, Ref: d.Ref(),
		Message: fmt.Sprintf("metadata.namespace: Invalid value: %q: does not match the namespace %q given with -n",
			d.Object.GetNamespace(), namespace)}, true
}

// prepare gives namespaced objects that name none the namespace (empty: "default"), drops a
// namespace from cluster-scoped ones (kubectl ignores it too) and applies the model's defaults.
func prepare(obj model.Object, namespace string) {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	if k, ok := model.KeyOf(obj); ok {
		switch {
		case k.Kind.Namespaced && obj.GetNamespace() == "":
			obj.SetNamespace(namespace)
		case !k.Kind.Namespaced && obj.GetNamespace() != "":
			obj.SetNamespace("")
		}
	}
	model.SetDefaults(obj)
}

func unwrapPathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func isManifestFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// expandPaths turns -f arguments into files, in argument order; directories contribute their
// manifest files sorted by name.
func expandPaths(paths []string, recursive bool) ([]string, model.Problems) {
	var files []string
	var problems model.Problems
	for _, p := range paths {
		if p == "-" {
			files = append(files, p)
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			problems = append(problems, model.Problem{Source: p, Message: "cannot read: " + unwrapPathError(err)})
			continue
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		if recursive {
			err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && isManifestFile(d.Name()) {
					found = append(found, path)
				}
				return nil
			})
		} else {
			var entries []os.DirEntry
			entries, err = os.ReadDir(p)
			for _, e := range entries {
				if !e.IsDir() && isManifestFile(e.Name()) {
					found = append(found, filepath.Join(p, e.Name()))
				}
			}
		}
		if err != nil {
			problems = append(problems, model.Problem{Source: p, Message: "cannot read directory: " + unwrapPathError(err)})
			continue
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, problems
}

// MaxManifestBytes caps what one manifest file (or standard input) may hold, so that
// `-f /dev/zero` or a runaway generator fails with a clear error instead of eating memory.
const MaxManifestBytes = 64 << 20

var errTooBig = fmt.Errorf("larger than %d MiB (split it into several files)", MaxManifestBytes>>20)

func readCapped(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxManifestBytes+1))
	if err == nil && len(data) > MaxManifestBytes {
		return nil, errTooBig
	}
	return data, err
}

func readFileCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readCapped(f)
}

// sizeProblem reports an object whose stored form exceeds what the datastore accepts.
func sizeProblem(d model.Document) (model.Problem, bool) {
	_, err := store.Encode(d.Object)
	if !errors.Is(err, store.ErrTooLarge) {
		return model.Problem{}, false
	}
	return model.Problem{Source: d.Source, Index: d.Index, Item: d.Item, Line: d.Line, Ref: d.Ref(),
		Message: fmt.Sprintf("too large for the datastore: %v", err)}, true
}

// firstDocs remembers where each object was first given.
type firstDocs map[model.Key]model.Document

// duplicate reports a document naming an object an earlier document of the set names.
func (f firstDocs) duplicate(d model.Document) (model.Problem, bool) {
	key, ok := model.KeyOf(d.Object)
	if !ok {
		return model.Problem{}, false
	}
	first, dup := f[key]
	if !dup {
		f[key] = d
		return model.Problem{}, false
	}
	return model.Problem{Source: d.Source, Index: d.Index, Item: d.Item, Line: d.Line, Ref: d.Ref(),
		Message: fmt.Sprintf("duplicate: %s document %d already gives this object", first.Source, first.Index)}, true
}
