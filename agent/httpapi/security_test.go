package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
)

func TestHostCheck(t *testing.T) {
	h, _ := newHandler(t, func(o *httpapi.Options) { o.Hosts = httpapi.NewHostPolicy("agent.internal") })
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:7947", true},
		{"127.0.0.1", true},
		{"[::1]:7947", true},
		{"10.1.2.3:7947", true},
		{"localhost:7947", true},
		{"LOCALHOST", true},
		{"app.localhost:7947", true},
		{"agent.internal:7947", true},
		{"Agent.Internal.", true},
		{"evil.example:7947", false},
		{"evil.example", false},
		{"127.0.0.1.evil.example", false},
		{"localhost.evil.example", false},
		{"agent.internal.evil", false},
	} {
		for _, method := range []string{"GET", "PUT"} {
			t.Run(method+" "+tc.host, func(t *testing.T) {
				w := serve(h, call{method: method, target: "/v1/kv/k", body: "v", header: map[string]string{"Host": tc.host}})
				if tc.ok && w.Code == http.StatusForbidden {
					t.Fatalf("allowed host refused: %s", w.Body)
				}
				if !tc.ok {
					check(t, w, want{403, []string{"DNS rebinding", "http.allowed_hosts"}})
				}
			})
		}
	}
}

// aclHandler serves the fake backend with ACLs: default deny, http.token
// "root", and one token per rule kind.
func aclHandler(t *testing.T, dflt string) (http.Handler, *fakeKeyring) {
	t.Helper()
	a, err := acl.New(acl.Config{Default: dflt, Tokens: []acl.TokenConfig{
		{Name: "kv", Secret: "t-kv", Rules: []acl.RuleConfig{
			{Prefix: "app/", Access: "write"}, {Prefix: "app/secret/", Access: "deny"}, {Prefix: "ro/", Access: "read"}}},
		{Name: "svc", Secret: "t-svc", Rules: []acl.RuleConfig{{Kind: "service", Prefix: "web", Access: "write"}, {Kind: "service", Prefix: "db", Access: "read"}}},
		{Name: "agent", Secret: "t-agent", Rules: []acl.RuleConfig{{Kind: "agent", Prefix: "node", Access: "write"}}},
		{Name: "agent-ro", Secret: "t-agent-ro", Rules: []acl.RuleConfig{{Kind: "agent", Access: "read"}}},
		{Name: "keyring", Secret: "t-keyring", Rules: []acl.RuleConfig{{Kind: "keyring", Access: "write"}}},
		{Name: "keyring-ro", Secret: "t-keyring-ro", Rules: []acl.RuleConfig{{Kind: "keyring", Access: "read"}}},
	}}, "root")
	if err != nil {
		t.Fatal(err)
	}
	kr := &fakeKeyring{}
	h, b := newHandler(t, func(o *httpapi.Options) { o.ACL = a; o.Keyring = kr })
	b.SetSelf(client.Self{Node: "node1"})
	b.SetMembers(client.Member{Name: "node1", Status: "alive"}, client.Member{Name: "other", Status: "alive"})
	for _, k := range []string{"app/a", "app/secret/b", "ro/c", "zz"} {
		b.Put(context.Background(), k, []byte("v"), 0)
	}
	if err := b.Register(client.ServiceDefinition{Name: "web", ID: "web-1"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(client.ServiceDefinition{Name: "db", ID: "db-1", Check: &client.CheckDefinition{TTL: client.Duration(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	return h, kr
}

func TestACLRuleKinds(t *testing.T) {
	h, kr := aclHandler(t, "deny")
	tests := []struct {
		token  string
		method string
		target string
		body   string
		want   want
	}{
		// kv
		{"t-kv", "PUT", "/v1/kv/app/x", "v", want{200, nil}},
		{"t-kv", "GET", "/v1/kv/app/a", "", want{200, nil}},
		{"t-kv", "PUT", "/v1/kv/app/secret/x", "v", want{403, []string{`token "kv" lacks kv:write on "app/secret/x"`}}},
		{"t-kv", "GET", "/v1/kv/app/secret/b", "", want{403, []string{"kv:read"}}},
		{"t-kv", "GET", "/v1/kv/ro/c", "", want{200, nil}},
		{"t-kv", "PUT", "/v1/kv/ro/c", "v", want{403, []string{"kv:write"}}},
		{"t-kv", "DELETE", "/v1/kv/ro/c", "", want{403, []string{"kv:write"}}},
		{"t-kv", "DELETE", "/v1/kv/app/?recurse", "", want{403, []string{`every name under "app/secret/"`}}},
		{"t-kv", "GET", "/v1/kv/zz", "", want{403, []string{"kv:read"}}},
		{"t-kv", "GET", "/v1/kv/?keys", "", want{200, []string{"app/a", "ro/c"}}},
		{"t-kv", "PUT", "/v1/agent/join", `{"addresses":["a:1"]}`, want{403, []string{"agent:write"}}},
		// service
		{"t-svc", "PUT", "/v1/agent/service/register", `{"name":"web","id":"web-2"}`, want{200, nil}},
		{"t-svc", "PUT", "/v1/agent/service/register", `{"name":"db","id":"db-2"}`, want{403, []string{`service:write on "db"`}}},
		{"t-svc", "PUT", "/v1/agent/service/register", `{"name":"cache"}`, want{403, []string{`service:write on "cache"`}}},
		{"t-svc", "PUT", "/v1/agent/check/pass/db-1", "", want{403, []string{`service:write on "db"`}}},
		{"t-svc", "PUT", "/v1/agent/service/deregister/db-1", "", want{403, []string{`service:write on "db"`}}},
		{"t-svc", "GET", "/v1/services/db", "", want{200, nil}},
		{"t-svc", "GET", "/v1/services", "", want{200, []string{`"web"`, `"db"`}}},
		{"t-kv", "GET", "/v1/services/db", "", want{403, []string{"service:read"}}},
		{"t-kv", "PUT", "/v1/agent/service/register", `{"name":"web"}`, want{403, []string{"service:write"}}},
		// agent
		{"t-agent", "GET", "/v1/agent/self", "", want{200, nil}},
		{"t-agent", "PUT", "/v1/agent/join", `{"addresses":["a:1"]}`, want{200, nil}},
		{"t-agent", "GET", "/v1/members", "", want{200, []string{"node1"}}},
		{"t-agent-ro", "PUT", "/v1/agent/join", `{"addresses":["a:1"]}`, want{403, []string{`agent:write on "node1"`}}},
		{"t-agent-ro", "GET", "/v1/members", "", want{200, []string{"node1", "other"}}},
		{"t-kv", "GET", "/v1/agent/self", "", want{403, []string{"agent:read"}}},
		// keyring
		{"t-keyring", "GET", "/v1/keyring", "", want{200, nil}},
		{"t-keyring", "PUT", "/v1/keyring/install", `{"key":"k"}`, want{200, nil}},
		{"t-keyring-ro", "GET", "/v1/keyring", "", want{200, nil}},
		{"t-keyring-ro", "PUT", "/v1/keyring/use", `{"key":"k"}`, want{403, []string{"keyring:write"}}},
		{"t-kv", "GET", "/v1/keyring", "", want{403, []string{"keyring:read"}}},
		// management and anonymous
		{"root", "PUT", "/v1/keyring/remove", `{"key":"k"}`, want{200, nil}},
		{"root", "DELETE", "/v1/kv/app/?recurse", "", want{200, nil}},
		{"", "GET", "/v1/kv/zz", "", want{401, []string{"missing token", "kv:read", `acl.default is "deny"`}}},
		{"", "GET", "/v1/members", "", want{401, []string{"agent:read"}}},
		{"t-kv", "GET", "/v1/members", "", want{403, []string{`token "kv" lacks agent:read`}}},
		{"t-kv", "GET", "/v1/services", "", want{403, []string{"service:read"}}},
		{"nope", "GET", "/v1/members", "", want{401, []string{"invalid token"}}},
	}
	for _, tt := range tests {
		t.Run(tt.token+" "+tt.method+" "+tt.target, func(t *testing.T) {
			w := serve(h, call{method: tt.method, target: tt.target, body: tt.body, header: map[string]string{client.TokenHeader: tt.token}})
			check(t, w, tt.want)
			for _, secret := range []string{"t-kv", "t-svc", "t-agent", "t-keyring", "root"} {
				if strings.Contains(w.Body.String(), secret) && w.Code >= 400 {
					t.Errorf("error answer names a secret: %s", w.Body)
				}
			}
		})
	}
	// Listings drop what the token may not read.
	w := serve(h, call{method: "GET", target: "/v1/kv/?recurse", header: map[string]string{client.TokenHeader: "t-kv"}})
	if strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), `"zz"`) {
		t.Errorf("recurse leaks unreadable keys: %s", w.Body)
	}
	// A token reading some nodes sees only those.
	a2, _ := acl.New(acl.Config{Default: "deny", Tokens: []acl.TokenConfig{{Name: "n", Secret: "n",
		Rules: []acl.RuleConfig{{Kind: "agent", Prefix: "node", Access: "read"}}}}}, "")
	h2, b2 := newHandler(t, func(o *httpapi.Options) { o.ACL = a2 })
	b2.SetMembers(client.Member{Name: "node1", Status: "alive"}, client.Member{Name: "other", Status: "alive"})
	w = serve(h2, call{method: "GET", target: "/v1/members", header: map[string]string{client.TokenHeader: "n"}})
	if !strings.Contains(w.Body.String(), "node1") || strings.Contains(w.Body.String(), "other") {
		t.Errorf("members filtered by agent prefix: %s", w.Body)
	}
	if got := kr.ops; strings.Join(got, ",") != "install,remove" {
		t.Errorf("keyring ops reaching the backend: %v", got)
	}
}

func TestACLDefaultRead(t *testing.T) {
	h, _ := aclHandler(t, "read")
	check(t, serve(h, call{method: "GET", target: "/v1/kv/zz", header: map[string]string{client.TokenHeader: ""}}), want{200, nil})
	check(t, serve(h, call{method: "PUT", target: "/v1/kv/zz", body: "v", header: map[string]string{client.TokenHeader: ""}}),
		want{401, []string{"missing token", "kv:write"}})
	// A token falls back to the default where it has no rule.
	check(t, serve(h, call{method: "GET", target: "/v1/kv/zz", header: map[string]string{client.TokenHeader: "t-svc"}}), want{200, nil})
}

type fakeKeyring struct{ ops []string }

func (k *fakeKeyring) List(context.Context) (client.KeyringResponse, error) {
	return client.KeyringResponse{Op: "list", Members: 1, Acked: 1, Keys: []client.KeyringKey{{Key: "k", Installed: 1, Primary: 1}}}, nil
}

func (k *fakeKeyring) Change(_ context.Context, op httpapi.KeyringOp, key string) (client.KeyringResponse, error) {
	k.ops = append(k.ops, string(op))
	if key == "bad" {
		return client.KeyringResponse{}, fmt.Errorf("%w: gossip key: not valid base64", httpapi.ErrBadRequest)
	}
	r := client.KeyringResponse{Op: string(op), Members: 3, Acked: 3}
	if key == "partial" {
		r.Acked = 2
		r.Failed = map[string]string{"n3": "no answer within 5s"}
	}
	return r, nil
}

func TestKeyringAnswers(t *testing.T) {
	h, _ := newHandler(t, func(o *httpapi.Options) { o.Keyring = &fakeKeyring{} })
	check(t, serve(h, call{method: "PUT", target: "/v1/keyring/install", body: `{"key":"good"}`}), want{200, []string{`"acked":3`}})
	check(t, serve(h, call{method: "PUT", target: "/v1/keyring/install", body: `{"key":"bad"}`}), want{400, []string{"base64"}})
	check(t, serve(h, call{method: "PUT", target: "/v1/keyring/install", body: `{}`}), want{400, []string{"key is empty"}})
	check(t, serve(h, call{method: "PUT", target: "/v1/keyring/install", body: `{"key":"k","x":1}`}), want{400, []string{`unknown field "x"`}})
	w := serve(h, call{method: "PUT", target: "/v1/keyring/use", body: `{"key":"partial"}`})
	check(t, w, want{500, []string{"acknowledged by 2 of 3 members", "n3: no answer within 5s"}})
	var r client.KeyringResponse
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Failed["n3"] == "" || r.Acked != 2 {
		t.Fatalf("500 body is not the report: %s", w.Body)
	}
	h2, _ := newHandler(t, nil)
	check(t, serve(h2, call{method: "GET", target: "/v1/keyring"}), want{501, []string{"keyring"}})
}

func TestBlockingQueryLimit(t *testing.T) {
	gate := httpapi.NewGate(1)
	h, b := newHandler(t, func(o *httpapi.Options) { o.Blocking = gate })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		r, _ := http.NewRequestWithContext(ctx, "GET", "/v1/kv/k?index=0&wait=1m", nil)
		r.Host = "example.com"
		w := newRecorder()
		h.ServeHTTP(w, r)
		done <- w.code
	}()
	waitFor(t, "the first blocking query", func() bool { return len(b.Waits()) == 1 })
	w := serve(h, call{method: "GET", target: "/v1/kv/k?index=0&wait=1m"})
	check(t, w, want{429, []string{"http.max_blocking_queries is 1"}})
	if w.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// A plain read still answers.
	check(t, serve(h, call{method: "GET", target: "/v1/kv/k?keys"}), want{200, nil})
	cancel()
	<-done
	if gate.InUse() != 0 || gate.Refused() != 1 {
		t.Fatalf("gate in use %d refused %d", gate.InUse(), gate.Refused())
	}
}

// recorder is a minimal ResponseWriter safe to read after the handler
// returned on another goroutine.
type recorder struct {
	h    http.Header
	code int
}

func newRecorder() *recorder                    { return &recorder{h: http.Header{}} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(c int)           { r.code = c }

// clientFrom is an HTTP client whose connections come from the local IP
// src, one connection per client.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxConnsPerHost: 1}}
}

func TestConnLimits(t *testing.T) {
	h, _ := newHandler(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limits := httpapi.NewConnLimits(2, 1)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- httpapi.ServeWith(ctx, ln, h, httpapi.ServeConfig{Conns: limits}) }()
	defer func() { cancel(); <-served }()
	url := "http://" + ln.Addr().String() + "/v1/members"
	get := func(c *http.Client) (int, string, string) {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
	}
	// a holds an idle keep-alive connection from 127.0.0.1.
	a := clientFrom("127.0.0.1")
	if code, _, body := get(a); code != 200 {
		t.Fatalf("first connection: %d %s", code, body)
	}
	// A second connection from the same IP is over the per-client limit.
	code, retry, body := get(clientFrom("127.0.0.1"))
	if code != 429 || retry == "" || !strings.Contains(body, "http.max_conns_per_client is 1") {
		t.Fatalf("second connection from one IP: %d retry %q %s", code, retry, body)
	}
	// Another client IP is served once the refused connection is closed
	// (asynchronously); with it the total limit is reached.
	waitFor(t, "the refused connection to close", func() bool { return limits.Stats().Open == 1 })
	b := clientFrom("127.0.0.2")
	if code, _, body := get(b); code != 200 {
		t.Fatalf("other client: %d %s", code, body)
	}
	code, retry, body = get(clientFrom("127.0.0.3"))
	if code != 429 || retry == "" || !strings.Contains(body, "http.max_conns is 2") {
		t.Fatalf("third connection: %d %q %s", code, retry, body)
	}
	// The connections already open keep being served.
	if code, _, _ := get(a); code != 200 {
		t.Fatalf("open connection after the limit: %d", code)
	}
	// Closing them frees the slots.
	a.CloseIdleConnections()
	b.CloseIdleConnections()
	waitFor(t, "the connections to close", func() bool { return limits.Stats().Open == 0 })
	if code, _, body := get(clientFrom("127.0.0.3")); code != 200 {
		t.Fatalf("after closing: %d %s", code, body)
	}
	if st := limits.Stats(); st.Refused != 2 {
		t.Errorf("stats %+v, want 2 refused", st)
	}
}
