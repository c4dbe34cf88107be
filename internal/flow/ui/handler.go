package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/flow"
)

// Tracer explains the first packet of a flow (its source, destination address,
// protocol and port) as the policy calculation decides it.
type Tracer interface {
	Trace(ctx context.Context, f flow.Flow) (connectivity.TraceReport, error)
}

// TracePath is the path the page POSTs a flow to for its explanation.
const TracePath = "/api/v1/trace"

//go:embed assets
var assets embed.FS

// contentTypes are the types of the embedded files by extension, set here rather than
// taken from the system's MIME tables, which differ between machines (a module script
// must be served as JavaScript).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// etags are the embedded files' entity tags (a hash of the content), so that a browser
// revalidating with If-None-Match gets 304 Not Modified.
var etags = sync.OnceValue(func() map[string]string {
	tags := map[string]string{}
	_ = fs.WalkDir(assets, "assets", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			body, _ := assets.ReadFile(name)
			sum := sha256.Sum256(body)
			tags[name] = `"` + hex.EncodeToString(sum[:12]) + `"`
		}
		return err
	})
	return tags
})

// csp keeps the page to its own origin: no script, style, image or connection
// elsewhere, and no inline script.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// Handler serves the flow page at /, its scripts and styles under /assets/, the flow
// API (flow.Handler over st, with now its clock) at flow.Path and the trace of a
// flow through tr at TracePath (501 Not Implemented when tr is nil). The page uses
// relative paths only, so it can also be mounted under a prefix with
// http.StripPrefix("/flows", ...) at "/flows/".
func Handler(st *flow.Store, tr Tracer, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", http.HandlerFunc(servePage))
	mux.Handle("GET /assets/", http.HandlerFunc(serveAsset))
	mux.Handle(flow.Path, flow.Handler(st, now))
	mux.Handle("POST "+TracePath, traceHandler(tr))
	return mux
}

func servePage(w http.ResponseWriter, r *http.Request) {
	serveFile(w, r, "assets/index.html")
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "assets/index.html" {
		// The page has one address, /.
		http.NotFound(w, r)
		return
	}
	serveFile(w, r, name)
}

// serveFile serves one embedded file, never a directory listing.
func serveFile(w http.ResponseWriter, r *http.Request, name string) {
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	body, err := assets.ReadFile(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etags()[name])
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}
