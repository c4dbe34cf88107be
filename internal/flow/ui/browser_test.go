package ui_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/flow"
	"github.com/trellisnet/trellis/internal/flow/ui"
)

const chromium = "/usr/bin/chromium"

// browserTimeout bounds each browser test; they take a few seconds.
const browserTimeout = 30 * time.Second

// newBrowser starts a headless Chromium with a fresh profile and the flags that keep
// it from calling home, and stops it (and removes the profile) when the test ends,
// failed or not.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("the browser test needs Chromium at %s (apt-get install chromium): %v", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// This machine's network is closed: keep Chromium from calling home.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 800),
		chromedp.Env("TZ=UTC"),
	)
	// Without a user-data-dir flag the allocator makes a fresh temporary profile and
	// removes it when cancelled, after killing what is left of the browser.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	profile := ""
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser to exit and its profile to be removed
		if _, err := os.Stat(profile); profile != "" && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the browser's profile %s is still there: %v", profile, err)
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	profile = profileDir(chromedp.FromContext(ctx).Browser.Process().Pid)
	return ctx
}

// profileDir is the --user-data-dir of process pid, "" when unknown.
func profileDir(pid int) string {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
		if dir, ok := bytes.CutPrefix(arg, []byte("--user-data-dir=")); ok {
			return string(dir)
		}
	}
	return ""
}

// page is one browser tab on a test server.
type page struct {
	t        *testing.T
	tab      context.Context
	deadline time.Time // of every wait and action
	mu       sync.Mutex
	log      []chromedp.ConsoleMessage
}

// ctx bounds an action by the page's deadline.
func (p *page) ctx() (context.Context, context.CancelFunc) {
	return context.WithDeadline(p.tab, p.deadline)
}

// openPage opens a tab on url in browser; the tab closes when the test ends.
func openPage(t *testing.T, browser context.Context, url string) *page {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	p := &page{t: t, tab: tab, deadline: time.Now().Add(browserTimeout)}
	messages := chromedp.Console(tab)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.log = append(p.log, m)
			p.mu.Unlock()
		}
	}()
	p.do("open "+url, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url))
	return p
}

// problems are the page's console errors and uncaught exceptions so far.
func (p *page) problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.log {
		if m.IsException() || m.Type == chromedp.ConsoleError {
			out = append(out, m.String())
		}
	}
	return out
}

func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := p.ctx()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value into T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := p.ctx()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor evaluates expr until it is true. (chromedp.Poll builds its predicate with
// new Function, which the page's Content-Security-Policy rightly forbids.)
func (p *page) waitFor(what, expr string) {
	p.t.Helper()
	ctx, cancel := p.ctx()
	defer cancel()
	var err error
	for {
		var ok bool
		if ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			p.fatalf("wait for %s: %v (last evaluation: %v)", what, ctx.Err(), err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// fatalf ends the test with what the page showed, to tell why.
func (p *page) fatalf(format string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.tab, 2*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		text = "(page text unavailable: " + err.Error() + ")"
	}
	if dir := os.Getenv("TRELLIS_TEST_ARTIFACTS"); dir != "" {
		if buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil && os.MkdirAll(dir, 0o755) == nil {
			path := filepath.Join(dir, "flow-ui-failure.png")
			if os.WriteFile(path, buf, 0o644) == nil {
				p.t.Logf("screenshot of the failure: %s", path)
			}
		}
	}
	p.t.Fatalf(format+"\npage text:\n%s\nconsole problems: %q", append(args, text, p.problems())...)
}

// middleOf is the point halfway along the SVG path sel, in the viewport's coordinates.
func (p *page) middleOf(sel string) (x, y float64) {
	p.t.Helper()
	p.do("scroll to "+sel, chromedp.ScrollIntoView(chromedp.CSS(sel)))
	pt := eval[[]float64](p, fmt.Sprintf(`(() => {
		const path = document.querySelector(%q);
		const mid = path.getPointAtLength(path.getTotalLength() / 2);
		const at = new DOMPoint(mid.x, mid.y).matrixTransform(path.getScreenCTM());
		return [at.x, at.y];
	})()`, sel))
	return pt[0], pt[1]
}

type row struct {
	Src, Dst, Action, Pending string
}

const rowsJS = `[...document.querySelectorAll("#flows tbody tr")].map((tr) => ({
	Src: tr.dataset.src, Dst: tr.dataset.dst, Action: tr.dataset.action, Pending: tr.dataset.pending ?? ""}))`

const countsJS = `Object.fromEntries(["shown", "allow", "deny", "pending"].map(
	(k) => [k, document.getElementById("count-" + k).textContent]))`

func (p *page) checkCounts(shown, allow, deny, pending int) {
	p.t.Helper()
	want := map[string]string{"shown": strconv.Itoa(shown), "allow": strconv.Itoa(allow),
		"deny": strconv.Itoa(deny), "pending": strconv.Itoa(pending)}
	p.waitFor(fmt.Sprintf("the header to count %v", want),
		fmt.Sprintf(`JSON.stringify(%s) === %q`, countsJS, mustJSON(want)))
}

func mustJSON(m map[string]string) string {
	// The keys in the order countsJS builds them.
	var b strings.Builder
	b.WriteString("{")
	for i, k := range []string{"shown", "allow", "deny", "pending"} {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q:%q", k, m[k])
	}
	b.WriteString("}")
	return b.String()
}

// traceShows waits until the trace panel holds every one of texts.
func (p *page) traceShows(texts ...string) {
	p.t.Helper()
	conds := make([]string, len(texts))
	for i, s := range texts {
		conds[i] = fmt.Sprintf(`document.getElementById("trace").textContent.includes(%q)`, s)
	}
	p.waitFor(fmt.Sprintf("#trace to show %q", texts), strings.Join(conds, " && "))
}

func TestBrowserFlowPage(t *testing.T) {
	browser := newBrowser(t)
	tr := &fakeTracer{}
	srv, st := newServer(t, tr)
	st.Add(testFlows()...)
	p := openPage(t, browser, srv.URL)

	if title := eval[string](p, `document.title`); title != "Trellis flows" {
		t.Errorf("title %q, want Trellis flows", title)
	}

	// The table: one row per flow, newest first.
	p.waitFor("five rows", `document.querySelectorAll("#flows tbody tr").length === 5`)
	want := []row{
		{"shop/cart", "db/redis", "allow", "deny"},
		{"203.0.113.7", "shop/frontend", "deny", ""},
		{"shop/frontend", "db/postgres", "deny", ""},
		{"shop/frontend", "shop/cart", "allow", ""},
		{"shop/frontend", "kube-system/coredns", "allow", ""},
	}
	if d := cmp.Diff(want, eval[[]row](p, rowsJS)); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
	p.checkCounts(5, 3, 2, 1)
	if badge := eval[string](p, `document.querySelector('#flows tr[data-pending="deny"] .badge.pending')?.textContent ?? ""`); badge != "pending deny" {
		t.Errorf("the pending badge reads %q, want \"pending deny\"", badge)
	}
	if cell := eval[string](p, `document.querySelector('#flows tr[data-dst="db/postgres"] td:nth-child(7)').textContent`); cell != "security / deny-to-db, rule 1" {
		t.Errorf("the deciding policy of the denied flow reads %q", cell)
	}

	// The graph: six workloads and addresses, two denied edges, one allowed with a
	// pending deny.
	graph := eval[map[string]int](p, `({
		nodes: document.querySelectorAll("#graph .node").length,
		denied: document.querySelectorAll('#graph .edge[data-action="deny"]').length,
		allowed: document.querySelectorAll('#graph .edge[data-action="allow"]').length,
		pending: document.querySelectorAll('#graph .edge[data-action="allow"][data-pending="deny"]').length,
		namespaces: document.querySelectorAll("#graph .group").length,
	})`)
	if d := cmp.Diff(map[string]int{"nodes": 6, "denied": 2, "allowed": 3, "pending": 1, "namespaces": 4}, graph); d != "" {
		t.Errorf("graph (-want +got):\n%s", d)
	}

	// A table row explains its flow: the denial at the end of a tier.
	p.do("click the row of the flow from outside", chromedp.Click(chromedp.CSS(`#flows tbody tr[data-src="203.0.113.7"]`)))
	p.traceShows("denied at the destination: end of tier default (no policy in the tier allowed it)",
		"passed on by tier security: default action")

	// A denied edge explains its flow: the Deny rule.
	x, y := p.middleOf(`#graph .edge[data-action="deny"][data-dst="db/postgres"] .line`)
	p.waitFor("the denied edge on top at its middle", fmt.Sprintf(
		`document.elementFromPoint(%f, %f)?.closest(".edge, .edge-label")?.dataset.key === "shop/frontend|db/postgres|5432"`, x, y))
	p.do("click the middle of the denied edge to db/postgres", chromedp.MouseClickXY(x, y))
	p.traceShows("denied at the destination: rule 1 of GlobalNetworkPolicy deny-to-db in tier security",
		"allowed at the source: rule 0 of NetworkPolicy shop/frontend-egress in tier default",
		"logged by deny-to-db rule 0")
	seen := tr.flows()
	if len(seen) != 2 || seen[1].Destination.IP != "192.0.2.30" || seen[1].Destination.Port != 5432 {
		t.Errorf("the tracer was asked about %+v, want the end-of-tier flow then the flow to 192.0.2.30:5432", seen)
	}

	// The stream: a flow added while the page is open shows up.
	st.Add(tcp(flow.Endpoint{Namespace: "shop", Name: "checkout", IP: "192.0.2.40"},
		dest(flow.Endpoint{Namespace: "payments", Name: "gateway", IP: "198.51.100.40"}, 443), 0,
		flow.ActionDeny, flow.ReporterDestination, hit("security", "", "payments-isolation", "GlobalNetworkPolicy", 0, flow.ActionDeny)))
	p.waitFor("the streamed flow's row", `document.querySelector('#flows tbody tr:first-child[data-dst="payments/gateway"]') !== null`)
	p.checkCounts(6, 3, 3, 1)
	p.waitFor("the streamed flow's edge", `document.querySelector('#graph .edge[data-action="deny"][data-dst="payments/gateway"]') !== null`)

	saveScreenshot(t, p)

	// Only pending denials.
	p.do("tick only pending denials", chromedp.Click(chromedp.CSS(`input[name="pending"]`)))
	p.checkCounts(1, 1, 0, 1)
	if d := cmp.Diff([]row{want[0]}, eval[[]row](p, rowsJS)); d != "" {
		t.Errorf("rows with only pending denials (-want +got):\n%s", d)
	}
	p.do("untick only pending denials", chromedp.Click(chromedp.CSS(`input[name="pending"]`)))
	p.checkCounts(6, 3, 3, 1)

	// A node focuses the table on its flows, and the graph keeps the rest, dimmed.
	p.do("click the node shop/cart", chromedp.Click(chromedp.CSS(`#graph .node[data-key="shop/cart"]`)))
	p.checkCounts(2, 2, 0, 1)
	p.waitFor("the focus note", `!document.getElementById("focus").hidden &&
		document.querySelectorAll("#graph .edge.dim").length === 4`)
	p.do("clear the focus", chromedp.Click(chromedp.CSS(`#focus button`)))
	p.checkCounts(6, 3, 3, 1)

	// A server-side filter restarts the stream with its query.
	p.do("filter on action deny", chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelector('select[name="action"]');
		s.value = "deny";
		s.dispatchEvent(new Event("change", { bubbles: true }));
	})()`))
	p.checkCounts(3, 0, 3, 0)
	if search := eval[string](p, `location.search`); search != "?action=deny" {
		t.Errorf("the address keeps the filters as %q, want ?action=deny", search)
	}

	if problems := p.problems(); len(problems) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(problems, "\n"))
	}
}

// TestBrowserFlowPagePolls: when the stream fails the page polls, and still shows new
// flows.
func TestBrowserFlowPagePolls(t *testing.T) {
	browser := newBrowser(t)
	st := flow.NewStore(100)
	st.Add(testFlows()...)
	h := ui.Handler(st, &fakeTracer{}, clock)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("follow") != "" {
			http.Error(w, "streaming is off", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p := openPage(t, browser, srv.URL)

	p.checkCounts(5, 3, 2, 1)
	p.waitFor("the polling status", `document.getElementById("status").dataset.mode === "polling"`)
	st.Add(tcp(frontend, dest(cart, 9090), 0, flow.ActionAllow, flow.ReporterDestination))
	p.waitFor("the polled flow's row", `document.querySelector('#flows tbody tr[data-port="9090"]') !== null`)
	p.checkCounts(6, 4, 2, 1)
}

// saveScreenshot writes a full-page PNG to $TRELLIS_TEST_ARTIFACTS/flow-ui.png, or to
// the test's temporary directory, and checks it is a real picture of the page.
func saveScreenshot(t *testing.T, p *page) {
	t.Helper()
	ctx, cancel := p.ctx()
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("TRELLIS_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "flow-ui.png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 1280 || b.Dy() < 600 {
		t.Errorf("screenshot %s is %dx%d, want at least 1280x600", path, b.Dx(), b.Dy())
	}
	if n := colours(img); n < 8 {
		t.Errorf("screenshot %s has %d colours: a blank page?", path, n)
	}
}

// colours counts the distinct colours of a grid of points of img.
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}
