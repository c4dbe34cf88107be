package image

import (
	"archive/tar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// writeRootFS writes a small root filesystem tarball as mmdebstrap does: "./" prefixes,
// a device node, a hard link.
func writeRootFS(t *testing.T, p string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	hs := []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/sh", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2},
		{Name: "./bin/dash", Typeflag: tar.TypeLink, Linkname: "./bin/sh"},
		{Name: "./dev/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
	}
	for _, h := range hs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte("sh")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCompose(t *testing.T) {
	dir := t.TempDir()
	rootfs, agnhost, out := filepath.Join(dir, "rootfs.tar"), filepath.Join(dir, "agnhost"), filepath.Join(dir, "images.tar")
	writeRootFS(t, rootfs)
	if err := os.WriteFile(agnhost, []byte("agnhost"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := ComposeSpec{
		RootFS: rootfs,
		Files:  []ComposeFile{{Source: agnhost, Path: "/agnhost"}},
		Images: []ComposeImage{
			{Ref: "registry.k8s.io/e2e-test-images/agnhost:2.66.1", Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}},
			{Ref: "registry.k8s.io/pause:3.10.2", Entrypoint: []string{"/agnhost", "pause"}},
		},
	}
	refs, err := Compose(spec, out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"registry.k8s.io/e2e-test-images/agnhost:2.66.1", "registry.k8s.io/pause:3.10.2"}; !cmp.Equal(refs, want) {
		t.Fatalf("refs %v, want %v", refs, want)
	}
	tag, _ := name.NewTag("registry.k8s.io/e2e-test-images/agnhost:2.66.1")
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(cf.Config.Entrypoint, []string{"/agnhost"}) || !cmp.Equal(cf.Config.Cmd, []string{"pause"}) {
		t.Errorf("entrypoint %v cmd %v, want [/agnhost] [pause]", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name+" "+string(h.Typeflag)+" "+h.Linkname)
	}
	slices.Sort(names)
	want := []string{"agnhost 0 ", "bin 5 ", "bin/dash 1 bin/sh", "bin/sh 0 ", "dev 5 "}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestReadComposeSpecErrors(t *testing.T) {
	_, err := ReadComposeSpec(strings.NewReader(`{"files": [{"source": "a", "path": "rel"}], "images": [{"ref": "Bad:ref:x"}]}`))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, w := range []string{"rootfs: required", "files[0]", "images[0].ref"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
}
