package consulapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
	"github.com/murmurhq/murmur/internal/testutil"
)

// These tests drive the handler through a fake backend (the native API's
// httpapitest.Backend plus a catalog index); agent/consul_test.go drives
// the real agent with the official Consul client.

type fake struct {
	*httpapitest.Backend
	mu sync.Mutex
	// idx is the catalog index; bump closes ch. Guarded by mu.
	idx uint64
	ch  chan struct{}
}

func newFake() *fake {
	b := httpapitest.New()
	b.SetSelf(client.Self{Node: "n1", Address: "127.0.0.1", Port: 7946, Version: "test"})
	b.SetMembers(client.Member{Name: "n1", Address: "127.0.0.1", Port: 7946, Status: "alive", Meta: map[string]string{"rack": "r1"}},
		client.Member{Name: "n2", Address: "127.0.0.2", Port: 7946, Status: "failed"})
	return &fake{Backend: b, idx: 1, ch: make(chan struct{})}
}

func (f *fake) CatalogIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.idx
}

func (f *fake) bump() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idx++
	close(f.ch)
	f.ch = make(chan struct{})
}

func (f *fake) WaitCatalog(ctx context.Context, index uint64) (uint64, error) {
	for {
		f.mu.Lock()
		idx, ch := f.idx, f.ch
		f.mu.Unlock()
		if idx > index {
			return idx, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return idx, ctx.Err()
		}
	}
}

func (f *fake) Instances() []client.ServiceInstance {
	var out []client.ServiceInstance
	for _, s := range f.Services() {
		insts, _ := f.Service(s.Name, false)
		out = append(out, insts...)
	}
	return out
}

var (
	_ KV      = (*fake)(nil)
	_ Catalog = (*fake)(nil)
	_ Agent   = (*fake)(nil)
)

func explain(err error) (int, string) { return httpapi.StatusCode(err), httpapi.Message(err) }

func serve(t testing.TB, f *fake, opts Options) *httptest.Server {
	opts.KV, opts.Catalog, opts.Agent, opts.Explain = f, f, f, explain
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func do(t testing.TB, srv *httptest.Server, method, path, body string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func TestErrorsAndRefusals(t *testing.T) {
	f := newFake()
	srv := serve(t, f, Options{Datacenter: "east"})
	f.Put(context.Background(), "k", []byte("v"), 0)
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"other dc", "GET", "/v1/kv/k?dc=dc1", "", 500, `No path to datacenter (this Murmur agent serves datacenter "east" only)`},
		{"namespace", "GET", "/v1/catalog/services?ns=team", "", 400, "?ns=team: Murmur has no namespaces"},
		{"filter", "GET", "/v1/health/service/web?filter=Service.Port==80", "", 501, "?filter expressions are not supported"},
		{"cas put", "PUT", "/v1/kv/k?cas=3", "x", 501, "?cas is not supported: Murmur's store is last-writer-wins gossip"},
		{"cas delete", "DELETE", "/v1/kv/k?cas=3", "", 501, "?cas is not supported"},
		{"acquire", "PUT", "/v1/kv/k?acquire=abc", "x", 501, "?acquire and ?release are not supported: locks need sessions and consensus"},
		{"release", "PUT", "/v1/kv/k?release=abc", "x", 501, "?acquire and ?release are not supported"},
		{"txn", "PUT", "/v1/txn", "[]", 501, "/v1/txn is not supported: transactions need consensus"},
		{"session", "PUT", "/v1/session/create", "{}", 501, "/v1/session is not supported"},
		{"unknown endpoint", "GET", "/v1/acl/tokens", "", 404, "no such endpoint /v1/acl/tokens: this agent serves the subset of Consul's HTTP API listed in docs/consul-compat.md"},
		{"wrong method", "POST", "/v1/catalog/services", "", 405, "method POST not allowed on /v1/catalog/services (allowed: GET, HEAD)"},
		{"bad index", "GET", "/v1/kv/k?index=x", "", 400, `invalid index "x"`},
		{"bad wait", "GET", "/v1/kv/k?index=1&wait=soon", "", 400, `invalid wait "soon"`},
		{"bad flags", "PUT", "/v1/kv/k?flags=-1", "x", 400, `invalid flags "-1"`},
		{"no key", "GET", "/v1/kv/", "", 400, "Missing key name"},
		{"bad node-meta", "GET", "/v1/catalog/nodes?node-meta=rack", "", 400, `invalid node-meta "rack": want KEY:VALUE`},
		{"bad state", "GET", "/v1/health/state/sick", "", 400, `invalid check state "sick"`},
		{"delete all without recurse", "DELETE", "/v1/kv/", "", 400, "missing key in DELETE"},
		{"check of unknown service", "PUT", "/v1/agent/check/pass/service:nope", "", 404, `no service with id "nope"`},
		{"check update bad status", "PUT", "/v1/agent/check/update/service:web", `{"Status":"sick"}`, 400, `Status "sick": want passing, warning or critical`},
		{"unknown agent service", "GET", "/v1/agent/service/nope", "", 404, "unknown service ID: nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, srv, tc.method, tc.path, tc.body)
			if a.code != tc.code || !strings.Contains(a.body, tc.want) {
				t.Fatalf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, a.code, a.body, tc.code, tc.want)
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Fatalf("Content-Type %q, want Consul's plain text errors", ct)
			}
		})
	}
	if p, err := f.Get("k"); err != nil || string(p.Value) != "v" {
		t.Fatalf("k after the refusals = %+v, %v", p, err)
	}
}

func TestRegistrationRefusedByName(t *testing.T) {
	f := newFake()
	srv := serve(t, f, Options{})
	tests := []struct{ name, body, want string }{
		{"empty", ``, "request body is empty"},
		{"not json", `{`, "invalid JSON service registration"},
		{"misspelt field", `{"Name":"web","Prot":80}`, `unknown field "Prot"`},
		{"trailing", `{"Name":"web"} {}`, "trailing data"},
		{"two checks", `{"Name":"web","Check":{"TTL":"10s"},"Checks":[{"TTL":"5s"}]}`, "more than one check is not supported"},
		{"script", `{"Name":"web","Check":{"Args":["/bin/true"],"Interval":"10s"}}`, "Check.ScriptArgs is not supported"},
		{"grpc", `{"Name":"web","Check":{"GRPC":"127.0.0.1:1","Interval":"10s"}}`, "this check type is not supported"},
		{"deregister after", `{"Name":"web","Check":{"TTL":"10s","DeregisterCriticalServiceAfter":"1m"}}`, "DeregisterCriticalServiceAfter is not supported"},
		{"connect", `{"Name":"web","Connect":{"Native":true}}`, "Proxy/Connect is not supported"},
		{"kind", `{"Name":"web","Kind":"connect-proxy"}`, "Kind is not supported"},
		{"bad ttl", `{"Name":"web","Check":{"TTL":"ten"}}`, `Check.TTL "ten": want a duration`},
		{"bad status", `{"Name":"web","Check":{"TTL":"10s","Status":"ok"}}`, `Check.Status "ok"`},
		{"check id", `{"Name":"web","Check":{"CheckID":"mine","TTL":"10s"}}`, `Check.CheckID "mine" is not supported: a Murmur instance's check is named service:web`},
		{"namespace", `{"Name":"web","Namespace":"team"}`, "Namespace/Partition is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, srv, "PUT", "/v1/agent/service/register", tc.body)
			if a.code != 400 || !strings.Contains(a.body, tc.want) {
				t.Fatalf("register %s = %d %q, want 400 containing %q", tc.body, a.code, a.body, tc.want)
			}
			if _, ok := f.Registered("web"); ok {
				t.Fatal("a refused registration was applied")
			}
		})
	}
	big := `{"Name":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`
	if a := do(t, srv, "PUT", "/v1/agent/service/register", big); a.code != 413 || !strings.Contains(a.body, "exceeds the limit of 524288 bytes") {
		t.Fatalf("oversized body = %d %q", a.code, a.body)
	}

	// Accepted: the Go client's shape, with nulls and cosmetic fields.
	a := do(t, srv, "PUT", "/v1/agent/service/register",
		`{"ID":"web1","Name":"web","Tags":["a"],"Port":80,"Address":"10.0.0.1","Meta":{"k":"v"},"Weights":{"Passing":1,"Warning":1},`+
			`"Check":{"CheckID":"service:web1","TTL":"30s","Status":"passing"},"Checks":null}`)
	if a.code != 200 {
		t.Fatalf("register = %d %q", a.code, a.body)
	}
	def, ok := f.Registered("web1")
	if !ok || def.Name != "web" || def.Port != 80 || def.Address != "10.0.0.1" || def.Check == nil || def.Check.TTL.D() != 30*time.Second || def.Meta["k"] != "v" {
		t.Fatalf("registered %+v", def)
	}
	var svc map[string]agentService
	a = do(t, srv, "GET", "/v1/agent/services", "")
	if err := json.Unmarshal([]byte(a.body), &svc); err != nil || svc["web1"].Port != 80 {
		t.Fatalf("agent services = %s", a.body)
	}
	var checks map[string]healthCheck
	a = do(t, srv, "GET", "/v1/agent/checks", "")
	if err := json.Unmarshal([]byte(a.body), &checks); err != nil || checks["service:web1"].Status != "passing" {
		t.Fatalf("agent checks = %s (the initial Status passing applies to a TTL check)", a.body)
	}
	if a := do(t, srv, "PUT", "/v1/agent/check/update/service:web1", `{"Status":"warning","Output":"slow"}`); a.code != 200 {
		t.Fatalf("check update = %d %q", a.code, a.body)
	}
	insts, _ := f.Service("web", false)
	if len(insts) != 1 || insts[0].Health != "warning" || insts[0].Output != "slow" {
		t.Fatalf("after update: %+v", insts)
	}
}

func TestTokens(t *testing.T) {
	f := newFake()
	authz, err := acl.New(acl.Config{Default: acl.DefaultRead, Tokens: []acl.TokenConfig{{
		Name: "app", Secret: "app-secret",
		Rules: []acl.RuleConfig{{Prefix: "app/", Access: "write"}, {Prefix: "app/secret/", Access: "deny"}},
	}}}, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, f, Options{ACL: authz})
	f.Put(context.Background(), "app/secret/k", []byte("hidden"), 0)
	f.Put(context.Background(), "app/k", []byte("seen"), 0)
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		code                     int
		want                     string
	}{
		{"anonymous write", "PUT", "/v1/kv/app/x", "1", nil, 403, `Permission denied: a request without a token lacks kv:write on "app/x"`},
		{"unknown token", "PUT", "/v1/kv/app/x", "1", []string{"X-Consul-Token", "nope"}, 403, "ACL not found"},
		{"unknown token on a read", "GET", "/v1/kv/app/k", "", []string{"X-Consul-Token", "nope"}, 403, "ACL not found"},
		{"rule denies", "GET", "/v1/kv/app/secret/k", "", []string{"X-Consul-Token", "app-secret"}, 403, `Permission denied: token "app" lacks kv:read on "app/secret/k"`},
		{"outside the rules", "PUT", "/v1/kv/other", "1", []string{"X-Consul-Token", "app-secret"}, 403, `lacks kv:write on "other"`},
		{"recursive delete over a denied prefix", "DELETE", "/v1/kv/app/?recurse", "", []string{"X-Consul-Token", "app-secret"}, 403, `lacks kv:write on every name under "app/secret/"`},
		{"register outside the rules", "PUT", "/v1/agent/service/register", `{"Name":"web"}`, []string{"X-Consul-Token", "app-secret"}, 403, `lacks service:write on "web"`},
		{"management by header", "PUT", "/v1/kv/app/x", "1", []string{"X-Consul-Token", "s3cret"}, 200, "true"},
		{"management by bearer", "PUT", "/v1/kv/other", "1", []string{"Authorization", "Bearer s3cret"}, 200, "true"},
		{"management by query", "DELETE", "/v1/kv/other?token=s3cret", "", nil, 200, "true"},
		{"rule allows", "PUT", "/v1/kv/app/y", "2", []string{"X-Consul-Token", "app-secret"}, 200, "true"},
		{"anonymous read", "GET", "/v1/kv/app/k?raw", "", nil, 200, "seen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, srv, tc.method, tc.path, tc.body, tc.hdr...)
			if a.code != tc.code || !strings.Contains(a.body, tc.want) {
				t.Fatalf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, a.code, a.body, tc.code, tc.want)
			}
		})
	}
	if _, err := f.Get("app/x"); err != nil {
		t.Fatalf("the management write is missing: %v", err)
	}
	if _, err := f.Get("other"); err == nil {
		t.Fatal("a refused write or the delete did not hold")
	}
	// A listing leaves out what the token may not read, and says so.
	a := do(t, srv, "GET", "/v1/kv/app/?keys", "", "X-Consul-Token", "app-secret")
	if a.code != 200 || strings.Contains(a.body, "secret") || a.header.Get("X-Consul-Results-Filtered-By-ACLs") != "true" {
		t.Fatalf("filtered keys = %d %q %v", a.code, a.body, a.header)
	}
	if p, _ := f.Get("app/secret/k"); string(p.Value) != "hidden" {
		t.Fatal("the denied key changed")
	}
}

func TestHostAndGate(t *testing.T) {
	f := newFake()
	gate := &oneSlot{}
	srv := serve(t, f, Options{Hosts: hostsFunc(func(h string) bool { return !strings.HasPrefix(h, "evil") }), Blocking: gate})
	if a := do(t, srv, "GET", "/v1/kv/k", "", "Host", "evil.example:8500"); a.code != 403 || !strings.Contains(a.body, "DNS rebinding") {
		t.Fatalf("rebinding Host = %d %q", a.code, a.body)
	}
	gate.taken = true
	a := do(t, srv, "GET", "/v1/kv/k?index=1&wait=1m", "")
	if a.code != 429 || a.header.Get("Retry-After") == "" || !strings.Contains(a.body, "http.max_blocking_queries") {
		t.Fatalf("over the blocking limit = %d %q %v", a.code, a.body, a.header)
	}
	gate.taken = false
	if a := do(t, srv, "GET", "/v1/kv/k?index=1&wait=10ms", ""); a.code != 404 || gate.taken {
		t.Fatalf("within the limit = %d, slot released %v", a.code, !gate.taken)
	}
}

type hostsFunc func(string) bool

func (h hostsFunc) Allowed(host string) bool { return h(host) }

// oneSlot is a Gate of one slot.
type oneSlot struct {
	mu    sync.Mutex
	taken bool
}

func (g *oneSlot) Acquire() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.taken {
		return false
	}
	g.taken = true
	return true
}

func (g *oneSlot) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.taken = false
}

func TestKVAnswers(t *testing.T) {
	f := newFake()
	srv := serve(t, f, Options{})
	if a := do(t, srv, "PUT", "/v1/kv/a/b/c?flags=7", "hello"); a.code != 200 || strings.TrimSpace(a.body) != "true" {
		t.Fatalf("put = %d %q", a.code, a.body)
	}
	a := do(t, srv, "GET", "/v1/kv/a/b/c", "")
	var pairs []kvPair
	if err := json.Unmarshal([]byte(a.body), &pairs); err != nil || len(pairs) != 1 || string(pairs[0].Value) != "hello" || pairs[0].Flags != 7 {
		t.Fatalf("get = %d %s", a.code, a.body)
	}
	if !strings.Contains(a.body, `"Value":"aGVsbG8="`) || a.header.Get("X-Consul-Index") == "" ||
		a.header.Get("X-Consul-KnownLeader") != "true" || a.header.Get("X-Consul-LastContact") != "0" {
		t.Fatalf("get = %s %v", a.body, a.header)
	}
	if a := do(t, srv, "GET", "/v1/kv/a/b/c?raw", ""); a.body != "hello" {
		t.Fatalf("raw = %q", a.body)
	}
	a = do(t, srv, "GET", "/v1/kv/nope", "")
	if a.code != 404 || a.body != "" || a.header.Get("X-Consul-Index") != "1" {
		t.Fatalf("missing = %d %q %v (want 404, no body, index 1 on an empty store)", a.code, a.body, a.header)
	}
	if a := do(t, srv, "GET", "/v1/kv/nope/?recurse", ""); a.code != 404 {
		t.Fatalf("missing prefix = %d", a.code)
	}
	if a := do(t, srv, "GET", "/v1/kv/nope/?keys", ""); a.code != 404 {
		t.Fatalf("no keys under a prefix = %d", a.code)
	}
	if a := do(t, srv, "GET", "/v1/kv/?keys&seperator=/", ""); a.code != 200 || strings.TrimSpace(a.body) != `["a/"]` {
		t.Fatalf("keys at the root, historic spelling = %d %q", a.code, a.body)
	}
	if a := do(t, srv, "GET", "/v1/kv/a/b/c?raw", ""); a.header.Get("X-Content-Type-Options") != "nosniff" || a.header.Get("Content-Security-Policy") != "sandbox" {
		t.Fatalf("raw headers %v", a.header)
	}
}

func TestRollUp(t *testing.T) {
	keys := []string{"a/b", "a/c/d", "a/c/e", "a/f/", "ab"}
	for _, tc := range []struct {
		prefix, sep string
		want        []string
	}{
		{"", "", keys},
		{"", "/", []string{"a/", "ab"}},
		{"a/", "/", []string{"a/b", "a/c/", "a/f/"}},
		{"a/c", "/", []string{"a/c/"}},
	} {
		var in []string
		for _, k := range keys {
			if strings.HasPrefix(k, tc.prefix) {
				in = append(in, k)
			}
		}
		if got := rollUp(in, tc.prefix, tc.sep); !slices.Equal(got, tc.want) {
			t.Errorf("rollUp(%q, %q) = %v, want %v", tc.prefix, tc.sep, got, tc.want)
		}
	}
}

func TestBlocking(t *testing.T) {
	f := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := serve(t, f, Options{Context: ctx})
	// index=0 never blocks, as in Consul.
	if a := do(t, srv, "GET", "/v1/kv/w?index=0&wait=10m", ""); a.code != 404 {
		t.Fatalf("index=0 = %d", a.code)
	}
	// A KV watcher is released by a write under its key.
	res := make(chan answer, 1)
	go func() { res <- do(t, srv, "GET", "/v1/kv/w?index=1&wait=1m", "") }()
	testutil.WaitFor(t, 10*time.Second, "the blocking query to reach the store", func() bool { return len(f.Waits()) > 0 })
	f.Put(context.Background(), "w", []byte("x"), 0)
	select {
	case a := <-res:
		if a.code != 200 || a.header.Get("X-Consul-Index") == "1" {
			t.Fatalf("released = %d %v", a.code, a.header)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("KV watcher not released by a write")
	}
	// A catalog watcher is released by a catalog change.
	cres := make(chan answer, 1)
	go func() { cres <- do(t, srv, "GET", "/v1/health/service/web?index=1", "") }()
	f.bump()
	select {
	case a := <-cres:
		if a.code != 200 || a.header.Get("X-Consul-Index") != "2" || strings.TrimSpace(a.body) != "[]" {
			t.Fatalf("catalog released = %d %q %v", a.code, a.body, a.header)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("catalog watcher not released")
	}
	// A short wait answers the unchanged state.
	if a := do(t, srv, "GET", "/v1/catalog/services?index=2&wait=50ms", ""); a.code != 200 || a.header.Get("X-Consul-Index") != "2" {
		t.Fatalf("timed out wait = %d %v", a.code, a.header)
	}
	// The end of Options.Context releases everything at once.
	go func() { cres <- do(t, srv, "GET", "/v1/catalog/nodes?index=2&wait=10m", "") }()
	cancel() // before or after the query parks: either way it answers at once
	select {
	case a := <-cres:
		if a.code != 200 {
			t.Fatalf("released by the context = %d", a.code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the end of Options.Context did not release a blocking query")
	}
}

func TestCatalogShapes(t *testing.T) {
	f := newFake()
	srv := serve(t, f, Options{})
	f.AddInstances(
		client.ServiceInstance{ID: "w1", Name: "web", Node: "n1", Address: "127.0.0.1", Port: 80, Tags: []string{"v1"}, Health: "passing", NodeStatus: "alive"},
		client.ServiceInstance{ID: "w2", Name: "web", Node: "n2", Address: "127.0.0.2", Port: 80, Health: "passing", NodeStatus: "failed"},
	)
	var nodes []node
	a := do(t, srv, "GET", "/v1/catalog/nodes?node-meta=rack:r1", "")
	if err := json.Unmarshal([]byte(a.body), &nodes); err != nil || len(nodes) != 1 || nodes[0].Node != "n1" || nodes[0].Datacenter != "dc1" {
		t.Fatalf("nodes by meta = %s", a.body)
	}
	var entries []serviceEntry
	a = do(t, srv, "GET", "/v1/health/service/web", "")
	if err := json.Unmarshal([]byte(a.body), &entries); err != nil || len(entries) != 2 {
		t.Fatalf("health = %s", a.body)
	}
	if c := entries[1].Checks[0]; c.CheckID != serfCheckID || c.Status != "critical" {
		t.Fatalf("serfHealth of a failed node = %+v", c)
	}
	var crit []healthCheck
	a = do(t, srv, "GET", "/v1/health/state/critical", "")
	if err := json.Unmarshal([]byte(a.body), &crit); err != nil || len(crit) != 1 || crit[0].Node != "n2" {
		t.Fatalf("critical = %s", a.body)
	}
	var leader string
	if err := json.Unmarshal([]byte(do(t, srv, "GET", "/v1/status/leader", "").body), &leader); err != nil || leader != "127.0.0.1:7946" {
		t.Fatalf("leader = %q, %v", leader, err)
	}
	if a := do(t, srv, "GET", "/v1/catalog/node/ghost", ""); strings.TrimSpace(a.body) != "null" {
		t.Fatalf("unknown node = %q", a.body)
	}
}

// FuzzHandler sends arbitrary requests: every one is answered without a
// panic (which the handler would turn into "internal error").
func FuzzHandler(f *testing.F) {
	for _, s := range [][3]string{
		{"PUT", "/v1/agent/service/register", `{"Name":"web","Check":{"TTL":"10s","Status":"passing"}}`},
		{"PUT", "/v1/agent/service/register", `{"Name":"web","Checks":[null,{"HTTP":"http://x/","Interval":"1s"}]}`},
		{"PUT", "/v1/agent/check/update/service:web", `{"Status":"passing","Output":"ok"}`},
		{"PUT", "/v1/kv/a/b?flags=3", "value"},
		{"GET", "/v1/kv/a/?keys&separator=/&index=1&wait=1ms", ""},
		{"GET", "/v1/health/service/web?passing&tag=a&node-meta=k:v&index=1&wait=1ms", ""},
		{"GET", "/v1/catalog/service/web?dc=dc2", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	fk := newFake()
	h := New(Options{KV: fk, Catalog: fk, Agent: fk, Explain: explain})
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://x"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(ctx))
		if strings.Contains(rec.Body.String(), "internal error") {
			t.Fatalf("%s %s %q: %d %s", method, target, body, rec.Code, rec.Body)
		}
	})
}
