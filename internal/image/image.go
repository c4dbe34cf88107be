package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Default image names.
const (
	Repository      = "localhost/trellis"
	PauseRepository = "localhost/trellis-pause"
	BinaryPath      = "/usr/local/bin/trellis"
)

// Config says what goes into the images.
type Config struct {
	Binary  string // the trellis binary to ship
	NFT     string // the nft program (default: found on PATH)
	Version string // the versioned tag beside "latest" (default: none)
}

// epoch is every file's modification time, so that equal inputs give equal layers.
var epoch = time.Unix(0, 0).UTC()

// Build returns the images by tag: Trellis's and the pause image.
func Build(cfg Config) (map[name.Reference]v1.Image, error) {
	if cfg.NFT == "" {
		p, err := exec.LookPath("nft")
		if err != nil {
			return nil, fmt.Errorf("build image: nft is required: apt-get install nftables")
		}
		cfg.NFT = p
	}
	base, err := baseLayer()
	if err != nil {
		return nil, err
	}
	nft, err := programLayer(cfg.NFT)
	if err != nil {
		return nil, err
	}
	bin, err := binaryLayer(cfg.Binary)
	if err != nil {
		return nil, err
	}
	trellis, err := withConfig([]v1.Layer{base, nft, bin}, []string{BinaryPath})
	if err != nil {
		return nil, err
	}
	pause, err := withConfig([]v1.Layer{base, bin}, []string{BinaryPath, "pause"})
	if err != nil {
		return nil, err
	}
	return tagged(cfg.Version, trellis, pause)
}

// Write builds the images and writes them as one docker-archive tarball to path.
func Write(cfg Config, path string) ([]string, error) {
	imgs, err := Build(cfg)
	if err != nil {
		return nil, err
	}
	if err := tarball.MultiRefWriteToFile(path, imgs); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	var tags []string
	for ref := range imgs {
		tags = append(tags, ref.String())
	}
	slices.Sort(tags)
	return tags, nil
}

func tagged(version string, trellis, pause v1.Image) (map[name.Reference]v1.Image, error) {
	out := map[name.Reference]v1.Image{}
	add := func(ref string, img v1.Image) error {
		t, err := name.NewTag(ref)
		if err != nil {
			return fmt.Errorf("tag %s: %w", ref, err)
		}
		out[t] = img
		return nil
	}
	refs := map[string]v1.Image{Repository + ":latest": trellis, PauseRepository + ":latest": pause}
	if version != "" {
		refs[Repository+":"+tagSafe(version)] = trellis
	}
	for ref, img := range refs {
		if err := add(ref, img); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var tagChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// tagSafe turns a version into a valid tag (at most 128 characters of [A-Za-z0-9_.-]).
func tagSafe(v string) string {
	v = tagChars.ReplaceAllString(v, "-")
	if len(v) > 128 {
		v = v[:128]
	}
	return v
}

func withConfig(layers []v1.Layer, entrypoint []string) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, fmt.Errorf("build image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = "amd64", "linux", v1.Time{Time: epoch}
	cf.Config.Entrypoint = entrypoint
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cf)
}

// entry is one file, directory or link of a layer.
type entry struct {
	path  string // absolute, in the image
	mode  int64
	data  []byte
	link  string // symlink target
	isDir bool
}

func layerOf(entries []entry) (v1.Layer, error) {
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.path, b.path) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: strings.TrimPrefix(e.path, "/"), Mode: e.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case e.isDir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// baseLayer is the minimal filesystem: the usual directories, root's passwd and group
// entries, and a resolv.conf placeholder the runtime replaces.
func baseLayer() (v1.Layer, error) {
	var es []entry
	for _, d := range []string{"/bin", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/tmp",
		"/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/sbin", "/var", "/var/run"} {
		mode := int64(0o755)
		if d == "/tmp" {
			mode = 0o1777
		}
		es = append(es, entry{path: d, mode: mode, isDir: true})
	}
	es = append(es,
		entry{path: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\n")},
		entry{path: "/etc/group", mode: 0o644, data: []byte("root:x:0:\n")},
		entry{path: "/etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
	)
	return layerOf(es)
}

// binaryLayer holds the trellis binary, its CNI links and the libraries it loads.
func binaryLayer(path string) (v1.Layer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("build image: read the trellis binary: %w", err)
	}
	es := []entry{
		{path: BinaryPath, mode: 0o755, data: data},
		{path: "/usr/local/bin/trellis-cni", mode: 0o777, link: "trellis"},
		{path: "/usr/local/bin/trellis-ipam", mode: 0o777, link: "trellis"},
	}
	// A binary built with cgo (go build's default here) loads libc: ship what it loads, so
	// that the pause image, which has no nft layer, runs too. A static one loads nothing.
	if libs, err := sharedLibraries(path); err == nil {
		seen := map[string]bool{}
		for _, l := range libs {
			more, err := fileWithLinks(l, seen)
			if err != nil {
				return nil, err
			}
			es = append(es, more...)
		}
	}
	return layerOf(es)
}

// programLayer holds a dynamically linked program at its own path with every library the
// dynamic loader resolves for it (and the loader), at the paths it found them.
func programLayer(program string) (v1.Layer, error) {
	libs, err := sharedLibraries(program)
	if err != nil {
		return nil, err
	}
	var es []entry
	seen := map[string]bool{}
	for _, p := range append([]string{program}, libs...) {
		more, err := fileWithLinks(p, seen)
		if err != nil {
			return nil, err
		}
		es = append(es, more...)
	}
	return layerOf(es)
}

// fileWithLinks returns p's content at p, plus, when p is a symbolic link, the link and
// its target (resolved the same way).
func fileWithLinks(p string, seen map[string]bool) ([]entry, error) {
	var out []entry
	for !seen[p] {
		seen[p] = true
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("build image: %w", err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("build image: %w", err)
			}
			return append(out, entry{path: p, mode: int64(fi.Mode().Perm()), data: data}), nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return nil, fmt.Errorf("build image: %w", err)
		}
		out = append(out, entry{path: p, mode: 0o777, link: target})
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = target
	}
	return out, nil
}

// ldLine matches an ldd line: "libx.so.1 => /lib/.../libx.so.1 (0x...)" or
// "/lib64/ld-linux-x86-64.so.2 (0x...)".
var ldLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// sharedLibraries asks the dynamic loader (ldd) which libraries program loads.
func sharedLibraries(program string) ([]string, error) {
	out, err := exec.Command("ldd", program).Output()
	if err != nil {
		return nil, fmt.Errorf("build image: ldd %s: %w", program, err)
	}
	var libs []string
	for _, l := range strings.Split(string(out), "\n") {
		if m := ldLine.FindStringSubmatch(l); m != nil {
			libs = append(libs, m[1])
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("build image: ldd %s named no library", program)
	}
	return libs, nil
}
