package image

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ComposeSpec says what Compose builds: images that share one root filesystem (a tarball,
// for example mmdebstrap's output) and a layer of added files, and differ only in name and
// in what they run. The conformance harness builds the upstream test images with it.
type ComposeSpec struct {
	// RootFS is an uncompressed tarball of a root filesystem; device nodes and FIFOs in it
	// are left out (the runtime provides /dev).
	RootFS string `json:"rootfs"`
	// Files are added in a second layer.
	Files []ComposeFile `json:"files"`
	// Images are the names to write, each with its configuration.
	Images []ComposeImage `json:"images"`
}

// ComposeFile is one file added on top of the root filesystem.
type ComposeFile struct {
	Source string `json:"source"` // a file on this machine
	Path   string `json:"path"`   // its absolute path in the images
	Mode   int64  `json:"mode"`   // default 0755
}

// ComposeImage is one image name with what it runs.
type ComposeImage struct {
	Ref        string   `json:"ref"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
}

// ReadComposeSpec decodes a JSON ComposeSpec, refusing unknown fields.
func ReadComposeSpec(r io.Reader) (ComposeSpec, error) {
	var s ComposeSpec
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		return ComposeSpec{}, fmt.Errorf("decode compose spec: %w", err)
	}
	return s, s.validate()
}

func (s ComposeSpec) validate() error {
	var errs []error
	if s.RootFS == "" {
		errs = append(errs, errors.New("rootfs: required"))
	}
	for i, f := range s.Files {
		if f.Source == "" || !path.IsAbs(f.Path) {
			errs = append(errs, fmt.Errorf("files[%d]: want a source and an absolute path, got %q, %q", i, f.Source, f.Path))
		}
	}
	if len(s.Images) == 0 {
		errs = append(errs, errors.New("images: at least one is required"))
	}
	for i, im := range s.Images {
		if _, err := name.NewTag(im.Ref, name.StrictValidation); err != nil {
			errs = append(errs, fmt.Errorf("images[%d].ref: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Compose builds the images of spec and writes them as one docker-archive tarball to out.
// The layers are shared, so the archive holds them once. It returns the names written.
func Compose(spec ComposeSpec, out string) ([]string, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	root, err := rootFSLayer(spec.RootFS)
	if err != nil {
		return nil, err
	}
	var es []entry
	for _, f := range spec.Files {
		data, err := os.ReadFile(f.Source)
		if err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o755
		}
		es = append(es, entry{path: f.Path, mode: mode, data: data})
	}
	files, err := layerOf(es)
	if err != nil {
		return nil, err
	}
	imgs := map[name.Reference]v1.Image{}
	var refs []string
	for _, im := range spec.Images {
		img, err := withConfig([]v1.Layer{root, files}, im.Entrypoint)
		if err != nil {
			return nil, err
		}
		if img, err = withCmd(img, im.Cmd); err != nil {
			return nil, err
		}
		t, err := name.NewTag(im.Ref, name.StrictValidation)
		if err != nil {
			return nil, err
		}
		imgs[t] = img
		refs = append(refs, t.String())
	}
	if err := tarball.MultiRefWriteToFile(out, imgs); err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	slices.Sort(refs)
	return refs, nil
}

func withCmd(img v1.Image, cmd []string) (v1.Image, error) {
	if len(cmd) == 0 {
		return img, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Config.Cmd = cmd
	return mutate.ConfigFile(img, cf)
}

// rootFSLayer is the root filesystem tarball as a layer, without device nodes and FIFOs
// (which the runtime could not, or need not, create) and with "./" prefixes dropped.
func rootFSLayer(p string) (v1.Layer, error) {
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("compose: root filesystem: %w", err)
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		pr, pw := io.Pipe()
		go func() {
			err := filterTar(f, pw)
			f.Close()
			pw.CloseWithError(err)
		}()
		return pr, nil
	})
}

// filterTar copies a tar stream, leaving out device nodes and FIFOs.
func filterTar(r io.Reader, w io.Writer) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("read root filesystem: %w", err)
		}
		switch h.Typeflag {
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			continue
		}
		h.Name = strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeLink {
			h.Linkname = strings.TrimPrefix(h.Linkname, "./")
		}
		if h.Name == "" || h.Name == "." {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
