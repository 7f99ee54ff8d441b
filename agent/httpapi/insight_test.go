package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
)

// fakeInsight is a MemberWatch and an Insight.
type fakeInsight struct {
	mu      sync.Mutex
	index   uint64
	changed chan struct{}
	asked   []string // Propagation calls: key version origin timeout
}

func newFakeInsight() *fakeInsight { return &fakeInsight{index: 3, changed: make(chan struct{})} }

func (f *fakeInsight) bump() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeInsight) MembersIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index
}

func (f *fakeInsight) WaitMembers(ctx context.Context, index uint64) (uint64, error) {
	for {
		f.mu.Lock()
		cur, ch := f.index, f.changed
		f.mu.Unlock()
		if cur > index {
			return cur, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cur, ctx.Err()
		}
	}
}

func (f *fakeInsight) History(prefix string, limit int) []client.KVChange {
	var out []client.KVChange
	for i := range min(limit, 3) {
		out = append(out, client.KVChange{Key: fmt.Sprintf("%sk%d", prefix, i), Path: "gossip"})
	}
	return out
}

func (f *fakeInsight) Propagation(ctx context.Context, key, version, origin string, timeout time.Duration) (client.Propagation, error) {
	f.mu.Lock()
	f.asked = append(f.asked, fmt.Sprintf("%s %s %s %v", key, version, origin, timeout))
	f.mu.Unlock()
	if version == "bad" {
		return client.Propagation{}, fmt.Errorf("%w: invalid version %q", httpapi.ErrBadRequest, version)
	}
	return client.Propagation{Key: key, Version: version, Nodes: []client.NodeVersion{{Node: "node1", Version: version, Current: true}}}, nil
}

func TestMembersBlockingQuery(t *testing.T) {
	f := newFakeInsight()
	h, _ := newHandler(t, func(o *httpapi.Options) { o.MemberWatch = f })
	w := serve(h, call{method: "GET", target: "/v1/members"})
	check(t, w, want{code: 200, has: []string{`"node1"`}})
	if got := w.Header().Get(client.IndexHeader); got != "3" {
		t.Fatalf("X-Murmur-Index %q, want 3", got)
	}
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- serve(h, call{method: "GET", target: "/v1/members?index=3&wait=1m"}) }()
	select {
	case w := <-done:
		t.Fatalf("blocking query answered before a change: %d %s", w.Code, w.Body)
	case <-time.After(50 * time.Millisecond): // a check that it blocks, not a wait for an event
	}
	f.bump()
	w = <-done
	check(t, w, want{code: 200})
	if got := w.Header().Get(client.IndexHeader); got != "4" {
		t.Fatalf("X-Murmur-Index %q after a change, want 4", got)
	}
	// An elapsed wait answers the current state.
	w = serve(h, call{method: "GET", target: "/v1/members?index=4&wait=10ms"})
	check(t, w, want{code: 200, has: []string{`"node1"`}})
	check(t, serve(h, call{method: "GET", target: "/v1/members?index=x"}), want{code: 400, has: []string{"index parameter"}})
}

func TestMembersBlockingWithoutBackend(t *testing.T) {
	h, _ := newHandler(t, nil)
	check(t, serve(h, call{method: "GET", target: "/v1/members?index=1"}), want{code: 501, has: []string{"blocking queries on members"}})
	check(t, serve(h, call{method: "GET", target: "/v1/members"}), want{code: 200})
	check(t, serve(h, call{method: "GET", target: "/v1/agent/history"}), want{code: 501, has: []string{"KV history"}})
	check(t, serve(h, call{method: "GET", target: "/v1/agent/propagation/k"}), want{code: 501})
	check(t, serve(h, call{method: "GET", target: "/ui/"}), want{code: 404})
}

func TestHistory(t *testing.T) {
	h, _ := newHandler(t, func(o *httpapi.Options) { o.Insight = newFakeInsight() })
	got := decode[[]client.KVChange](t, serve(h, call{method: "GET", target: "/v1/agent/history?prefix=app/&limit=2"}))
	if len(got) != 2 || got[0].Key != "app/k0" {
		t.Fatalf("history %+v", got)
	}
	for _, bad := range []string{"0", "-1", "x"} {
		check(t, serve(h, call{method: "GET", target: "/v1/agent/history?limit=" + bad}), want{code: 400, has: []string{"limit parameter"}})
	}
}

func TestPropagation(t *testing.T) {
	f := newFakeInsight()
	h, _ := newHandler(t, func(o *httpapi.Options) { o.Insight = f })
	p := decode[client.Propagation](t, serve(h, call{method: "GET", target: "/v1/agent/propagation/app/mode?version=17.2&origin=node2&timeout=1m"}))
	if p.Key != "app/mode" || len(p.Nodes) != 1 || !p.Nodes[0].Current {
		t.Fatalf("propagation %+v", p)
	}
	serve(h, call{method: "GET", target: "/v1/agent/propagation/app/mode"})
	want0 := fmt.Sprintf("app/mode 17.2 node2 %v", httpapi.MaxPropagationTimeout)
	want1 := fmt.Sprintf("app/mode   %v", httpapi.DefaultPropagationTimeout)
	if len(f.asked) != 2 || f.asked[0] != want0 || f.asked[1] != want1 {
		t.Fatalf("backend asked %q, want %q then %q (timeout clamped, then default)", f.asked, want0, want1)
	}
	check(t, serve(h, call{method: "GET", target: "/v1/agent/propagation/k?version=bad"}), want{code: 400, has: []string{`invalid version "bad"`}})
	check(t, serve(h, call{method: "GET", target: "/v1/agent/propagation/k?timeout=-1s"}), want{code: 400, has: []string{"timeout parameter"}})
	check(t, serve(h, call{method: "GET", target: "/v1/agent/propagation/"}), want{code: 400, has: []string{"missing key"}})
}

func TestUIIsMounted(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ui:"+r.URL.Path) })
	h, _ := newHandler(t, func(o *httpapi.Options) { o.UI = ui })
	w := serve(h, call{method: "GET", target: "/ui/app.js"})
	check(t, w, want{code: 200, has: []string{"ui:/ui/app.js"}})
	for _, path := range []string{"/", "/ui"} {
		w := serve(h, call{method: "GET", target: path})
		if w.Code != http.StatusFound || w.Header().Get("Location") != "/ui/" {
			t.Errorf("GET %s: %d to %q, want a redirect to /ui/", path, w.Code, w.Header().Get("Location"))
		}
	}
	check(t, serve(h, call{method: "GET", target: "/nope"}), want{code: 404, has: []string{"no such path"}})
	check(t, serve(h, call{method: "PUT", target: "/ui/app.js"}), want{code: 405})
}

func TestInsightACL(t *testing.T) {
	a, err := acl.New(acl.Config{Default: "deny", Tokens: []acl.TokenConfig{
		{Name: "app", Secret: "t-app", Rules: []acl.RuleConfig{{Prefix: "app/", Access: "read"}}},
		{Name: "svc", Secret: "t-svc", Rules: []acl.RuleConfig{{Kind: "service", Access: "read"}}},
	}}, "root")
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeInsight()
	h, _ := newHandler(t, func(o *httpapi.Options) { o.ACL = a; o.Insight = f; o.MemberWatch = f })
	with := func(token, target string) *httptest.ResponseRecorder {
		return serve(h, call{method: "GET", target: target, header: map[string]string{client.TokenHeader: token}})
	}
	// The fake's history is PREFIX+k0.. for the prefix asked.
	got := decode[[]client.KVChange](t, with("t-app", "/v1/agent/history?prefix=app/"))
	if len(got) != 3 {
		t.Fatalf("app token sees %d changes under app/, want 3", len(got))
	}
	if got := decode[[]client.KVChange](t, with("t-app", "/v1/agent/history?prefix=db/")); len(got) != 0 {
		t.Fatalf("app token sees changes under db/: %+v", got)
	}
	check(t, with("t-svc", "/v1/agent/history"), want{code: 403, has: []string{"kv:read"}})
	check(t, with("", "/v1/agent/history"), want{code: 401})
	check(t, with("t-app", "/v1/agent/propagation/app/mode"), want{code: 200})
	check(t, with("t-app", "/v1/agent/propagation/db/url"), want{code: 403, has: []string{`lacks kv:read on "db/url"`}})
	check(t, with("t-svc", "/v1/members?index=1&wait=1ms"), want{code: 403, has: []string{"agent:read"}})
	// The dashboard's files need no permission.
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "page") })
	h, _ = newHandler(t, func(o *httpapi.Options) { o.ACL = a; o.UI = ui })
	check(t, serve(h, call{method: "GET", target: "/ui/"}), want{code: 200, has: []string{"page"}})
}
