package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// buildBinary builds the trellis binary for the image.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "trellis")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/trellisnet/trellis/cmd/trellis")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build trellis: %v\n%s", err, out)
	}
	return bin
}

// extract writes an image's flattened filesystem into dir (regular files, directories and
// symbolic links, which is all the images hold).
func extract(t *testing.T, archive, ref, dir string) []string {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatalf("read %s from the archive: %v", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode)); err == nil {
				_, err = io.Copy(f, tr)
				f.Close()
			}
		}
		if err != nil {
			t.Fatalf("extract %s: %v", h.Name, err)
		}
	}
	return cf.Config.Entrypoint
}

// The archive holds both images under their tags; Trellis's image runs its binary and nft
// with nothing from the host (checked in a chroot), and the pause image runs `trellis pause`.
func TestImagesRunInAChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	bin := buildBinary(t)
	archive := filepath.Join(t.TempDir(), "images.tar")
	tags, err := Write(Config{Binary: bin, Version: "v0.0.0-test+1"}, archive)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tags, " "); got != "localhost/trellis-pause:latest localhost/trellis:latest localhost/trellis:v0.0.0-test-1" {
		t.Errorf("tags %q", got)
	}
	root := t.TempDir()
	if ep := extract(t, archive, Repository+":latest", root); strings.Join(ep, " ") != BinaryPath {
		t.Errorf("entrypoint %q", ep)
	}
	for _, argv := range [][]string{{BinaryPath, "version"}, {"/usr/sbin/nft", "--version"}, {"/usr/local/bin/trellis-cni", "VERSION"}} {
		out, err := exec.Command("chroot", append([]string{root}, argv...)...).CombinedOutput()
		if err != nil {
			t.Errorf("%v in the image: %v\n%s", argv, err, out)
		}
	}
	pause := t.TempDir()
	if ep := extract(t, archive, PauseRepository+":latest", pause); strings.Join(ep, " ") != BinaryPath+" pause" {
		t.Errorf("pause entrypoint %q", ep)
	}
	// The pause image has no nft layer: the binary must run from its own layer alone.
	if out, err := exec.Command("chroot", pause, BinaryPath, "version").CombinedOutput(); err != nil {
		t.Errorf("the trellis binary in the pause image: %v\n%s", err, out)
	}
}

// Equal inputs give equal layers (so containerd stores one copy, and rebuilding changes
// nothing).
func TestReproducible(t *testing.T) {
	bin := buildBinary(t)
	digest := func() string {
		imgs, err := Build(Config{Binary: bin})
		if err != nil {
			t.Fatal(err)
		}
		tag, _ := name.NewTag(Repository + ":latest")
		d, err := imgs[tag].Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	if a, b := digest(), digest(); a != b {
		t.Errorf("two builds differ: %s, %s", a, b)
	}
}
