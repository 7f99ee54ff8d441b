package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/murmurhq/murmur/internal/testutil"
)

// Environment of the browser test.
const (
	// screenshotsEnv names a directory to save the screenshots in
	// (default: the test's temp dir, removed after the test).
	screenshotsEnv = "MURMUR_SCREENSHOTS"
	// updateDocsEnv=1 also writes the two reference screenshots under
	// docs/ (go test ./test -run TestUIInChromium with it set).
	updateDocsEnv = "MURMUR_UPDATE_SCREENSHOTS"
)

// browser starts headless Debian Chromium (flags as this machine needs
// them: no sandbox as root, no background networking) and returns a tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := testutil.NeedTool(t, "chromium", "apt-get install -y chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills the browser
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// waitJS polls a JavaScript predicate in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.getElementById('status').innerText + '\\n' + document.querySelector('main').innerText"))
		t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, page)
	}
}

// shoot saves a screenshot of the viewport, or of the whole page when
// full.
func shoot(t *testing.T, ctx context.Context, dir, name string, full bool) string {
	t.Helper()
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100) // 100: PNG
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// TestUIInChromium drives the dashboard of a 3-agent cluster in headless
// Chromium: the members show and a killed one turns failed without a
// reload; a service and its health show; a value edited in the UI is read
// back with agentctl on another agent; the propagation view lists all
// three agents.
func TestUIInChromium(t *testing.T) {
	ctx := browser(t)
	shots := os.Getenv(screenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ps := cluster(t, 3, agentOpts{config: fastGossip + "\n[meta]\nrack = \"r1\"\n"})
	if out, errOut, code := ps[1].agentctl("service", "register", "-name", "web", "-id", "web-1", "-port", "8080", "-tag", "v1", "-check-ttl", "5m"); code != 0 {
		t.Fatalf("register: %s %s", out, errOut)
	}
	ps[1].agentctl("check", "pass", "web-1", "-note", "HTTP 200 OK")
	ps[2].agentctl("service", "register", "-name", "api", "-id", "api-1", "-port", "9090", "-tag", "v2", "-check-ttl", "5m")
	ps[2].agentctl("check", "warn", "api-1", "-note", "slow: p99 820ms")
	ps[0].put(t, "app/config", `{"color":"blue","replicas":3}`)
	ps[0].put(t, "app/feature/dark-mode", "on")
	ps[2].put(t, "db/url", "postgres://db.internal:5432/app")
	base := "http://" + ps[0].httpAddr

	// Members: all three alive.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "3 alive members", `document.querySelectorAll('#members-table tr[data-status="alive"]').length === 3`)
	waitJS(t, ctx, "the status ages", `[...document.querySelectorAll('#members-table td.age')].every(td => /\d+s|\d+m/.test(td.textContent))`)

	// Accessibility basics: every form control has a label, the page has
	// one h1 and a main landmark.
	unlabelled := eval[[]string](t, ctx,
		`[...document.querySelectorAll('input,select,textarea')].filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id || e.outerHTML)`)
	if n := eval[int](t, ctx, `document.querySelectorAll('h1').length + document.querySelectorAll('main').length`); n != 2 {
		t.Errorf("want one h1 and one main, got %d together", n)
	}
	if len(unlabelled) > 0 {
		t.Errorf("form controls without a label: %v", unlabelled)
	}

	// Services: both with their health and check output.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/#/services")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "web passing on node2", `!!document.querySelector('#services-table tr[data-service="web"][data-node="node2"][data-health="passing"]')`)
	waitJS(t, ctx, "api warning with its output", `(document.querySelector('#services-table tr[data-service="api"][data-health="warning"]')||{textContent:''}).textContent.includes('slow: p99 820ms')`)
	// The health filter.
	eval[bool](t, ctx, `(f => (f.value = 'warning', f.dispatchEvent(new Event('input')), true))(document.getElementById('f-health'))`)
	waitJS(t, ctx, "the filter to keep api only", `document.querySelectorAll('#services-table tr[data-service]').length === 1 && !!document.querySelector('tr[data-service="api"]')`)

	// Phone width: the services view still reads (no horizontal page
	// scroll beyond the table's own scroller).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "no page-wide horizontal scroll at 390px", `document.documentElement.scrollWidth <= 392`)
	shoot(t, ctx, shots, "services-phone.png", false)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	eval[bool](t, ctx, `(f => (f.value = '', f.dispatchEvent(new Event('input')), true))(document.getElementById('f-health'))`)

	// KV: open a key, edit it in the UI, save.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/#/kv/app/mode")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the key tree", `document.querySelectorAll('#kv-tree a').length >= 3`)
	waitJS(t, ctx, "the editor of app/mode", `document.getElementById('kv-key').textContent === 'app/mode' && !document.getElementById('kv-entry').hidden`)
	eval[bool](t, ctx, `(document.getElementById('kv-value').value = '', true)`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#kv-value"), "green-from-the-ui"),
		chromedp.Click(chromedp.CSS("#kv-save")),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the save", `document.getElementById('status').textContent.startsWith('Saved app/mode')`)
	var got string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last agentctl kv get on node3: %s", got)
		}
	})
	eventually(t, 30*time.Second, "agentctl on node3 to read the UI's write", func() bool {
		out, errOut, code := ps[2].agentctl("kv", "get", "app/mode")
		got = fmt.Sprintf("%q %q %d", out, errOut, code)
		return code == 0 && out == "green-from-the-ui"
	})

	// The propagation view lists all three agents, each holding the write.
	waitJS(t, ctx, "the propagation view", `document.querySelectorAll('#prop-table tr[data-node][data-current="yes"]').length === 3`)
	nodes := eval[[]string](t, ctx, `[...document.querySelectorAll('#prop-table tr[data-node]')].map(r => r.dataset.node)`)
	if strings.Join(nodes, ",") != "node1,node2,node3" {
		t.Fatalf("propagation rows %v, want node1..3", nodes)
	}
	// The history shows the change.
	waitJS(t, ctx, "the history row", `[...document.querySelectorAll('#history-table td')].some(td => td.textContent === 'app/mode')`)
	kvShot := shoot(t, ctx, shots, "kv.png", true)

	// Members again: kill node3; it turns failed on screen, no reload.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/#/members")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "3 alive members", `document.querySelectorAll('#members-table tr[data-status="alive"]').length === 3`)
	eval[bool](t, ctx, `window.__noReload = true`)
	ps[2].kill9()
	waitJS(t, ctx, "node3 failed on screen", `!!document.querySelector('#members-table tr[data-member="node3"][data-status="failed"]')`)
	waitJS(t, ctx, "the same page (no reload)", `window.__noReload === true`)
	membersShot := shoot(t, ctx, shots, "members.png", false)

	// An agent with a write token: a save without the token shows why it
	// failed; with the token typed into the page it succeeds, and the token
	// never appears in a URL.
	locked := startAgentd(t, "locked", agentOpts{config: fastGossip + "\n[http]\ntoken = \"t0ps3cret\"\n"})
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+locked.httpAddr+"/ui/#/kv/app/locked")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the editor", `document.getElementById('kv-key').textContent === 'app/locked'`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#kv-value"), "v1"), chromedp.Click(chromedp.CSS("#kv-save"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the 401 explained", `document.getElementById('kv-error').textContent.includes('API token')`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), "t0ps3cret\n"), chromedp.Click(chromedp.CSS("#kv-save"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the save with the token", `document.getElementById('status').textContent.startsWith('Saved app/locked')`)
	if v, code := locked.kvGetRaw("app/locked"); code != 200 || string(v) != "v1" {
		t.Fatalf("locked agent holds %q (%d)", v, code)
	}
	if loc := eval[string](t, ctx, `location.href + ' ' + sessionStorage.getItem('murmur.token')`); strings.Count(loc, "t0ps3cret") != 1 || !strings.HasSuffix(loc, " t0ps3cret") {
		t.Fatalf("token placement: %q (want it in sessionStorage only)", loc)
	}

	// A 403 shows the agent's reason (with ACLs, the missing permission).
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+locked.httpAddr+"/ui/#/kv/_murmur/forbidden")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the editor", `document.getElementById('kv-key').textContent === '_murmur/forbidden'`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#kv-value"), "x"), chromedp.Click(chromedp.CSS("#kv-save"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the 403 explained", `(e => e.startsWith('Forbidden: ') && e.includes('_murmur/'))(document.getElementById('kv-error').textContent)`)

	if os.Getenv(updateDocsEnv) == "1" {
		for src, dst := range map[string]string{membersShot: "../docs/ui-members.png", kvShot: "../docs/ui-kv.png"} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Log("updated docs/ui-members.png and docs/ui-kv.png")
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}
