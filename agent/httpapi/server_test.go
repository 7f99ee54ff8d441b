package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
)

func TestToken(t *testing.T) {
	h, b := newHandler(t, nil)
	tests := []struct {
		name   string
		header map[string]string
		want   want
	}{
		{"missing", map[string]string{client.TokenHeader: ""}, want{401, []string{"missing token"}}},
		{"wrong", map[string]string{client.TokenHeader: "nope"}, want{401, []string{"invalid token"}}},
		{"prefix of the token", map[string]string{client.TokenHeader: "s3"}, want{401, []string{"invalid token"}}},
		{"header", nil, want{200, nil}},
		{"bearer", map[string]string{client.TokenHeader: "", "Authorization": "Bearer " + testToken}, want{200, nil}},
		{"bearer lower case", map[string]string{client.TokenHeader: "", "Authorization": "bearer " + testToken}, want{200, nil}},
		{"wrong bearer", map[string]string{client.TokenHeader: "", "Authorization": "Bearer x"}, want{401, []string{"invalid token"}}},
		{"basic auth", map[string]string{client.TokenHeader: "", "Authorization": "Basic eDp5"}, want{401, []string{"missing token"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, call{method: "PUT", target: "/v1/kv/tok/" + strings.ReplaceAll(tt.name, " ", "-"), body: "v", header: tt.header})
			check(t, w, tt.want)
			if tt.want.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if keys := b.Keys("tok/"); len(keys) != 3 {
		t.Errorf("keys written %v, want the 3 authorised writes only", keys)
	}
	// Every write route needs the token; reads do not.
	for _, c := range []call{
		{method: "PUT", target: "/v1/agent/join", body: `{"addresses":["a:1"]}`},
		{method: "PUT", target: "/v1/agent/leave"},
		{method: "DELETE", target: "/v1/kv/x"},
		{method: "PUT", target: "/v1/agent/service/register", body: `{"name":"web"}`},
		{method: "PUT", target: "/v1/agent/service/deregister/web"},
		{method: "PUT", target: "/v1/agent/check/pass/web"},
		{method: "PUT", target: "/v1/agent/check/warn/web"},
		{method: "PUT", target: "/v1/agent/check/fail/web"},
	} {
		c.header = map[string]string{client.TokenHeader: ""}
		check(t, serve(h, c), want{401, []string{"missing token"}})
	}
	if b.Left() || len(b.Joined()) > 0 {
		t.Error("an unauthorised write reached the backend")
	}
	check(t, serve(h, call{method: "GET", target: "/v1/members"}), want{200, nil})

	open, _ := newHandler(t, func(o *httpapi.Options) { o.Token = "" })
	check(t, serve(open, call{method: "PUT", target: "/v1/kv/k", body: "v", header: map[string]string{client.TokenHeader: ""}}), want{200, nil})
}

func TestRouting(t *testing.T) {
	h, _ := newHandler(t, nil)
	tests := []struct {
		name string
		call call
		want want
	}{
		{"unknown path", call{method: "GET", target: "/v2/nothing"}, want{404, []string{"no such path /v2/nothing"}}},
		{"root", call{method: "GET", target: "/"}, want{404, []string{"no such path"}}},
		{"wrong method", call{method: "POST", target: "/v1/members"}, want{405, []string{"method POST not allowed on /v1/members", "GET"}}},
		{"delete members", call{method: "DELETE", target: "/v1/members"}, want{405, []string{"not allowed"}}},
		{"get join", call{method: "GET", target: "/v1/agent/join"}, want{405, []string{"PUT"}}},
		{"unknown check status", call{method: "PUT", target: "/v1/agent/check/maybe/web"}, want{404, []string{"no such path"}}},
		{"service without name", call{method: "GET", target: "/v1/services/"}, want{404, []string{"no such path"}}},
		{"metrics without handler", call{method: "GET", target: "/metrics"}, want{404, nil}},
		{"head", call{method: "HEAD", target: "/v1/members"}, want{200, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, tt.call)
			if tt.call.method == "HEAD" {
				if w.Code != tt.want.code {
					t.Fatalf("status %d, want %d", w.Code, tt.want.code)
				}
				return
			}
			check(t, w, tt.want)
			if w.Code == 405 && w.Header().Get("Allow") == "" {
				t.Error("405 without Allow header")
			}
		})
	}
	// A path the router cleans is a redirect, not an error.
	if w := serve(h, call{method: "GET", target: "/v1//members"}); w.Code/100 != 3 || w.Header().Get("Location") != "/v1/members" {
		t.Errorf("unclean path: status %d to %q, want a redirect to /v1/members", w.Code, w.Header().Get("Location"))
	}
	// Also when the cleaned path matches no route: the mux's answer is
	// passed through.
	if w := serve(h, call{method: "GET", target: "/nope//x"}); w.Code/100 != 3 || w.Header().Get("Location") != "/nope/x" {
		t.Errorf("unclean unknown path: status %d to %q", w.Code, w.Header().Get("Location"))
	}
}

func TestMissingBackends(t *testing.T) {
	h := httpapi.New(httpapi.Options{Hosts: exampleHost})
	for _, c := range []call{
		{method: "GET", target: "/v1/members"},
		{method: "GET", target: "/v1/agent/self"},
		{method: "PUT", target: "/v1/agent/join", body: `{"addresses":["a:1"]}`},
		{method: "PUT", target: "/v1/agent/leave"},
		{method: "GET", target: "/v1/coordinates"},
		{method: "GET", target: "/v1/rtt?to=x"},
		{method: "GET", target: "/v1/kv/k"},
		{method: "PUT", target: "/v1/kv/k", body: "v"},
		{method: "DELETE", target: "/v1/kv/k"},
		{method: "GET", target: "/v1/services"},
		{method: "GET", target: "/v1/services/web"},
		{method: "PUT", target: "/v1/agent/service/register", body: `{"name":"web"}`},
		{method: "PUT", target: "/v1/agent/service/deregister/web"},
		{method: "PUT", target: "/v1/agent/check/pass/web"},
	} {
		t.Run(c.method+" "+c.target, func(t *testing.T) {
			check(t, serve(h, c), want{501, []string{"not served by this agent"}})
		})
	}
}

func TestMetrics(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "murmur_members 3\n")
	})
	h, _ := newHandler(t, func(o *httpapi.Options) { o.Metrics = metrics })
	w := serve(h, call{method: "GET", target: "/metrics"})
	check(t, w, want{200, []string{"murmur_members 3"}})
}

// panicky panics in Members, as a buggy backend might.
type panicky struct{ *httpapitest.Backend }

func (panicky) Members() []client.Member { panic("boom") }

func TestPanicIsA500(t *testing.T) {
	h := httpapi.New(httpapi.Options{Membership: panicky{httpapitest.New()}, Hosts: exampleHost})
	check(t, serve(h, call{method: "GET", target: "/v1/members"}), want{500, []string{"internal error"}})
}

func TestStatusCodeAndMessage(t *testing.T) {
	base := errors.New("configsync: value is 2097152 bytes, limit kv.max_value_bytes is 524288")
	tests := []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"too large", fmt.Errorf("%w: %w", httpapi.ErrTooLarge, base), 413, base.Error()},
		{"not found", fmt.Errorf("%w: configsync: key %q not found", httpapi.ErrNotFound, "k"), 404, `configsync: key "k" not found`},
		{"bad request", fmt.Errorf("%w: %w", httpapi.ErrBadRequest, base), 400, base.Error()},
		{"forbidden", fmt.Errorf("%w: %w", httpapi.ErrForbidden, base), 403, base.Error()},
		{"conflict", fmt.Errorf("%w: %w", httpapi.ErrConflict, base), 409, base.Error()},
		{"unavailable", fmt.Errorf("%w: agent: shutting down", httpapi.ErrUnavailable), 503, "agent: shutting down"},
		{"wrapped twice", fmt.Errorf("agent: put: %w", fmt.Errorf("%w: %w", httpapi.ErrTooLarge, base)), 413, "agent: put: httpapi: too large: " + base.Error()},
		{"bare sentinel", httpapi.ErrNotFound, 404, "httpapi: not found"},
		{"other", base, 500, base.Error()},
		{"sentinel after the cause", fmt.Errorf("%w (%w)", base, httpapi.ErrTooLarge), 413, base.Error() + " (httpapi: too large)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := httpapi.StatusCode(tt.err); got != tt.code {
				t.Errorf("StatusCode = %d, want %d", got, tt.code)
			}
			h, b := newHandler(t, nil)
			b.Fail("Put", tt.err)
			w := serve(h, call{method: "PUT", target: "/v1/kv/k", body: "v"})
			check(t, w, want{tt.code, nil})
			if got := decode[client.Error](t, w).Error; got != tt.msg {
				t.Errorf("message %q, want %q", got, tt.msg)
			}
		})
	}
}

func TestPretty(t *testing.T) {
	h, _ := newHandler(t, nil)
	w := serve(h, call{method: "GET", target: "/v1/agent/self?pretty"})
	check(t, w, want{200, []string{"{\n  \"node\": \"node1\""}})
}

// eventually polls cond until it holds (true) or a generous deadline
// passes (false).
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(60 * time.Second) // only a hang comes near it
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond) // polling against the deadline above
	}
	return true
}

// waitFor is eventually for the test goroutine: it fails the test on the
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !eventually(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestServe(t *testing.T) {
	h, b := newHandler(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- httpapi.Serve(ctx, ln, h, nil) }()

	c, err := client.New(ln.Addr().String(), client.WithToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVPut(ctx, "k", []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	// A blocking query in flight when shutdown begins answers at once
	// with the current state instead of holding the shutdown up.
	type result struct {
		pairs []client.KVPair
		err   error
	}
	got := make(chan result, 1)
	go func() {
		_, idx, _ := c.KVListIndex(context.Background(), "k")
		pairs, _, err := c.KVListWait(context.Background(), "k", idx, time.Hour)
		got <- result{pairs, err}
	}()
	waitFor(t, "the blocking query", func() bool { return len(b.Waits()) == 1 })
	cancel()
	r := <-got
	if r.err != nil || len(r.pairs) != 1 || string(r.pairs[0].Value) != "v1" {
		t.Fatalf("blocking query at shutdown: %v %v", r.pairs, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v, want nil after ctx ended", err)
	}
	if _, err := c.Self(context.Background()); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("after shutdown: %v, want unreachable", err)
	}
}

func TestServeListenerError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = httpapi.Serve(context.Background(), ln, http.NotFoundHandler(), nil)
	if err == nil || !strings.Contains(err.Error(), "httpapi: serving on") {
		t.Fatalf("Serve on a closed listener = %v", err)
	}
}
