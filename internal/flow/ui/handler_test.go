package ui_test

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/flow"
	"github.com/trellisnet/trellis/internal/flow/ui"
)

func newServer(t *testing.T, tr ui.Tracer) (*httptest.Server, *flow.Store) {
	t.Helper()
	st := flow.NewStore(100)
	srv := httptest.NewServer(ui.Handler(st, tr, clock))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv, st
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestAssetsServedWithTheirTypes(t *testing.T) {
	srv, _ := newServer(t, &fakeTracer{})
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", "<title>Trellis flows</title>"},
		{"/assets/app.js", "text/javascript; charset=utf-8", "watchFlows"},
		{"/assets/graph.js", "text/javascript; charset=utf-8", "class FlowGraph"},
		{"/assets/style.css", "text/css; charset=utf-8", ".badge"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, srv.URL+tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("Content-Security-Policy %q does not keep the page to its origin", csp)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body does not contain %q", tc.contains)
			}
		})
	}
}

func TestAssetsRevalidate(t *testing.T) {
	srv, _ := newServer(t, &fakeTracer{})
	resp, _ := get(t, srv.URL+"/assets/app.js")
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/assets/app.js", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("If-None-Match", etag)
	again, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating with the ETag: %s, want 304", again.Status)
	}
}

func TestUnknownPathsNotFound(t *testing.T) {
	srv, _ := newServer(t, &fakeTracer{})
	for _, path := range []string{"/nope", "/assets/", "/assets/nope.js", "/assets/index.html", "/assets/../handler.go", "/index.html"} {
		if resp, _ := get(t, srv.URL+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

// assetNames lists the files under assets/, the directory the package embeds.
func assetNames(t *testing.T) []string {
	t.Helper()
	var names []string
	err := fs.WalkDir(os.DirFS("assets"), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestAssetsNameNoOtherOrigin keeps the page self-contained: nothing it serves may load
// from elsewhere (a CDN, a font service), which a closed network or a strict
// Content-Security-Policy would break.
func TestAssetsNameNoOtherOrigin(t *testing.T) {
	srv, _ := newServer(t, &fakeTracer{})
	names := assetNames(t)
	if len(names) < 5 {
		t.Fatalf("assets: %v, want the page, its modules and its styles", names)
	}
	for _, name := range names {
		path := "/assets/" + name
		if name == "index.html" {
			path = "/"
		}
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s: every embedded file must be served", path, resp.Status)
			continue
		}
		for _, bad := range []string{"http://", "https://", "//cdn"} {
			if i := strings.Index(strings.ToLower(body), bad); i >= 0 {
				t.Errorf("%s names another origin at offset %d: %q", name, i, body[max(i-20, 0):min(i+40, len(body))])
			}
		}
	}
}

var (
	htmlRef   = regexp.MustCompile(`(?:src|href)="([^"]*)"`)
	importRef = regexp.MustCompile(`(?m)^(?:import|export)\b[^;]*?from\s+"([^"]+)"`)
)

// TestPageReferencesRelativePaths: the page and its modules reference their files by
// relative paths (so the page also works mounted under a prefix) and every one is served.
func TestPageReferencesRelativePaths(t *testing.T) {
	srv, _ := newServer(t, &fakeTracer{})
	_, page := get(t, srv.URL+"/")
	refs := map[string]string{} // URL path -> where it was found
	for _, m := range htmlRef.FindAllStringSubmatch(page, -1) {
		ref := m[1]
		if ref == "data:," {
			continue // the empty favicon, so that the browser asks for none
		}
		if !strings.HasPrefix(ref, "assets/") {
			t.Errorf("page references %q: want a relative path under assets/", ref)
			continue
		}
		refs["/"+ref] = "index.html"
	}
	for _, name := range assetNames(t) {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		_, body := get(t, srv.URL+"/assets/"+name)
		for _, m := range importRef.FindAllStringSubmatch(body, -1) {
			ref, ok := strings.CutPrefix(m[1], "./")
			if !ok || strings.Contains(ref, "/") {
				t.Errorf("%s imports %q: want ./NAME.js", name, m[1])
				continue
			}
			refs["/assets/"+ref] = name
		}
	}
	if len(refs) < 5 {
		t.Fatalf("found %d references (%v): the patterns no longer match the page", len(refs), refs)
	}
	for path, from := range refs {
		if resp, _ := get(t, srv.URL+path); resp.StatusCode != http.StatusOK {
			t.Errorf("%s references %s: %s", from, path, resp.Status)
		}
	}
}

// TestServedUnderAPrefix: with relative paths only, the page works mounted elsewhere.
func TestServedUnderAPrefix(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/flows/", http.StripPrefix("/flows", ui.Handler(flow.NewStore(10), &fakeTracer{}, clock)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, path := range []string{"/flows/", "/flows/assets/app.js", "/flows" + flow.Path} {
		if resp, body := get(t, srv.URL+path); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s: %s", path, resp.Status, body)
		}
	}
}

func TestFlowAPIMounted(t *testing.T) {
	srv, st := newServer(t, &fakeTracer{})
	st.Add(testFlows()...)
	resp, body := get(t, srv.URL+flow.Path+"?action=deny")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	var got struct{ Flows []flow.Flow }
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Flows) != 2 {
		t.Errorf("got %d denied flows, want 2", len(got.Flows))
	}
}

func post(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func flowJSON(t *testing.T, f flow.Flow) string {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTrace(t *testing.T) {
	tr := &fakeTracer{}
	srv, _ := newServer(t, tr)
	denied := testFlows()[2]
	resp, body := post(t, srv.URL+ui.TracePath, flowJSON(t, denied))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got connectivity.TraceReport
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(reports["192.0.2.30:5432"], got); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]flow.Flow{denied}, tr.flows()); d != "" {
		t.Errorf("the tracer was asked about (-want +got):\n%s", d)
	}
}

func TestTraceRefusesBadBodies(t *testing.T) {
	good := testFlows()[2]
	with := func(change func(*flow.Flow)) string {
		f := good
		change(&f)
		return flowJSON(t, f)
	}
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"empty", "", http.StatusBadRequest, "empty body"},
		{"not JSON", "deny everything", http.StatusBadRequest, "decode"},
		{"wrong shape", `{"source": "shop/frontend"}`, http.StatusBadRequest, "decode"},
		{"two flows", flowJSON(t, good) + flowJSON(t, good), http.StatusBadRequest, "more than one"},
		{"no source address", with(func(f *flow.Flow) { f.Source.IP = "" }), http.StatusBadRequest, "source.ip"},
		{"bad destination address", with(func(f *flow.Flow) { f.Destination.IP = "db" }), http.StatusBadRequest, `destination.ip "db"`},
		{"no protocol", with(func(f *flow.Flow) { f.Protocol = "" }), http.StatusBadRequest, "protocol"},
		{"tcp without a port", with(func(f *flow.Flow) { f.Destination.Port = 0 }), http.StatusBadRequest, "destination.port: required for tcp"},
		{"port out of range", with(func(f *flow.Flow) { f.Destination.Port = 70000 }), http.StatusBadRequest, "destination.port 70000"},
		{"too large", `{"source":{"name":"` + strings.Repeat("x", 2<<20) + `"}}`, http.StatusRequestEntityTooLarge, "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &fakeTracer{}
			srv, _ := newServer(t, tr)
			resp, body := post(t, srv.URL+ui.TracePath, tc.body)
			if resp.StatusCode != tc.code {
				t.Errorf("status %s, want %d", resp.Status, tc.code)
			}
			if !strings.HasPrefix(body, "bad flow: ") || !strings.Contains(body, tc.want) {
				t.Errorf("body %q, want \"bad flow: ...%s...\"", strings.TrimSpace(body), tc.want)
			}
			if n := len(tr.flows()); n != 0 {
				t.Errorf("the tracer was asked %d times about a bad body", n)
			}
		})
	}
}

func TestTraceICMPNeedsNoPort(t *testing.T) {
	srv, _ := newServer(t, &fakeTracer{err: errors.New("not traced")})
	f := testFlows()[2]
	f.Protocol, f.Destination.Port = "icmp", 0
	// The body is accepted: the fake tracer's failure, not a 400, answers.
	if resp, body := post(t, srv.URL+ui.TracePath, flowJSON(t, f)); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %s (%s), want 502", resp.Status, body)
	}
}

func TestTraceTracerFailure(t *testing.T) {
	srv, _ := newServer(t, &fakeTracer{err: errors.New("datastore unreachable: connection refused")})
	resp, body := post(t, srv.URL+ui.TracePath, flowJSON(t, testFlows()[2]))
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %s, want 502", resp.Status)
	}
	want := "trace 192.0.2.10 -> 192.0.2.30 tcp/5432: datastore unreachable: connection refused"
	if got := strings.TrimSpace(body); got != want {
		t.Errorf("body %q, want %q", got, want)
	}
}

func TestTraceWithoutTracer(t *testing.T) {
	srv, _ := newServer(t, nil)
	resp, body := post(t, srv.URL+ui.TracePath, flowJSON(t, testFlows()[2]))
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(body, "no policy tracer") {
		t.Errorf("status %s, body %q: want 501 and why", resp.Status, body)
	}
}

func TestTraceOnlyPost(t *testing.T) {
	srv, _ := newServer(t, &fakeTracer{})
	resp, _ := get(t, srv.URL+ui.TracePath)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: %s, want 405", ui.TracePath, resp.Status)
	}
	if allow := resp.Header.Get("Allow"); allow != "POST" {
		t.Errorf("Allow %q, want POST", allow)
	}
}
