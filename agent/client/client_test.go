package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
	"github.com/murmurhq/murmur/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "tok"

// newAgent serves the real API handler over a fake backend and returns a
// client of it.
func newAgent(t testing.TB) (*client.Client, *httpapitest.Backend) {
	t.Helper()
	b := httpapitest.New()
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Membership: b, KV: b, Services: b, Token: token}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.WithToken(token), client.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return c, b
}

// rawServer answers every request with code and body.
func rawServer(t *testing.T, code int, ctype, body string) *client.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// refusedAddr returns a loopback address that refuses connections for the
// whole test.
var refusedAddr = testutil.RefusedAddr

func TestNew(t *testing.T) {
	tests := []struct {
		addr    string
		want    string // Addr(); "" when New must fail
		errText string
	}{
		{"127.0.0.1:7947", "127.0.0.1:7947", ""},
		{" localhost:9000 ", "localhost:9000", ""},
		{"127.0.0.1", "127.0.0.1:7947", ""},
		{"[::1]:80", "[::1]:80", ""},
		{"::1", "[::1]:7947", ""},
		{"http://10.0.0.1:1234", "10.0.0.1:1234", ""},
		{"https://agent.example", "agent.example:7947", ""},
		{"http://h:1/", "h:1", ""},
		{"", "", "empty agent address"},
		{"ftp://h:1", "", `scheme "ftp" is not http or https`},
		{"http://", "", "no host"},
		{"http://h:1/v1", "", "want no path"},
		{"http://h:1?x=1", "", "want no path"},
		{"a/b:1", "", "want HOST:PORT or a URL"},
		{"http://%zz", "", "invalid agent address"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			c, err := client.New(tt.addr)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) || !strings.HasPrefix(err.Error(), "client: ") {
					t.Fatalf("New(%q) = %v, want error containing %q", tt.addr, err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Addr() != tt.want {
				t.Errorf("Addr() = %q, want %q", c.Addr(), tt.want)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	addr := refusedAddr(t)
	c, err := client.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Members(context.Background(), "")
	var ue *client.UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("err = %#v, want *UnreachableError", err)
	}
	want := "client: cannot reach agent at " + addr + ": connection refused"
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err %v does not unwrap to ECONNREFUSED", err)
	}
	if err.Error() != want || ue.Addr != addr || ue.Reason() != "connection refused" {
		t.Errorf("err = %q (reason %q), want %q", err, ue.Reason(), want)
	}

	c, _ = client.New("no-such-host.invalid:1")
	_, err = c.Self(context.Background())
	if !errors.Is(err, client.ErrUnreachable) || !strings.Contains(err.Error(), "no-such-host.invalid") {
		t.Errorf("unknown host: %v", err)
	}
}

func TestContextEnds(t *testing.T) {
	c, _ := newAgent(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Members(ctx, ""); !errors.Is(err, context.Canceled) || errors.Is(err, client.ErrUnreachable) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name   string
		code   int
		ctype  string
		body   string
		is     error
		msg    string
		errStr string
	}{
		{"json 404", 404, "application/json", `{"error":"configsync: key \"k\" not found"}`, client.ErrNotFound, `configsync: key "k" not found`,
			`client: agent answered 404 Not Found: configsync: key "k" not found`},
		{"json 413", 413, "application/json", `{"error":"value too big"}`, client.ErrTooLarge, "value too big", ""},
		{"401", 401, "application/json", `{"error":"httpapi: missing token"}`, client.ErrUnauthorized, "httpapi: missing token", ""},
		{"403", 403, "", `{"error":"no"}`, client.ErrForbidden, "no", ""},
		{"400", 400, "", `{"error":"bad"}`, client.ErrBadRequest, "bad", ""},
		{"503", 503, "", `{"error":"later"}`, client.ErrUnavailable, "later", ""},
		{"409", 409, "", `{"error":"stale"}`, client.ErrConflict, "stale", ""},
		{"plain text", 502, "text/plain", "bad gateway from proxy\n", nil, "bad gateway from proxy", ""},
		{"empty body", 500, "", "", nil, "Internal Server Error", ""},
		{"json without error", 500, "", `{"x":1}`, nil, `{"x":1}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rawServer(t, tt.code, tt.ctype, tt.body)
			_, err := c.Self(context.Background())
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.StatusCode != tt.code || ae.Message != tt.msg {
				t.Fatalf("err = %#v, want APIError %d %q", err, tt.code, tt.msg)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if !errors.Is(err, client.ErrNotFound) && tt.code == 404 || errors.Is(err, client.ErrNotFound) && tt.code != 404 {
				t.Errorf("ErrNotFound match wrong for %d", tt.code)
			}
			if tt.errStr != "" && err.Error() != tt.errStr {
				t.Errorf("Error() = %q, want %q", err, tt.errStr)
			}
		})
	}
}

func TestBadAnswers(t *testing.T) {
	c := rawServer(t, 200, "application/json", `{not json`)
	if _, err := c.Self(context.Background()); err == nil || !strings.Contains(err.Error(), "client: decoding answer of GET /v1/agent/self") {
		t.Errorf("bad JSON: %v", err)
	}
	// A KV list without the index header cannot drive a watch.
	c = rawServer(t, 200, "application/json", `[]`)
	if _, err := c.KVList(context.Background(), "p"); err == nil || !strings.Contains(err.Error(), "X-Murmur-Index") {
		t.Errorf("missing index: %v", err)
	}
}

func TestTokenHeader(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get(client.TokenHeader))
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()
	with, _ := client.New(srv.URL, client.WithToken("abc"), client.WithHTTPClient(srv.Client()))
	without, _ := client.New(srv.URL, client.WithHTTPClient(srv.Client()))
	if err := with.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := without.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[abc ]" {
		t.Errorf("tokens sent %q, want [abc, none]", got)
	}
	// The real API refuses a write with a wrong token.
	c, b := newAgent(t)
	bad, _ := client.New(c.Addr(), client.WithToken("wrong"))
	if _, err := bad.KVPut(context.Background(), "k", []byte("v"), 0); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("wrong token: %v", err)
	}
	if len(b.Keys("")) != 0 {
		t.Error("write with a wrong token landed")
	}
}

func TestMembership(t *testing.T) {
	c, b := newAgent(t)
	ctx := context.Background()
	b.SetMembers(
		client.Member{Name: "b", Address: "10.0.0.2", Port: 7946, Status: "failed"},
		client.Member{Name: "a", Address: "10.0.0.1", Port: 7946, Status: "alive"},
	)
	ms, err := c.Members(ctx, "")
	if err != nil || len(ms) != 2 || ms[0].Name != "a" {
		t.Fatalf("Members = %+v, %v", ms, err)
	}
	ms, err = c.Members(ctx, "failed")
	if err != nil || len(ms) != 1 || ms[0].Name != "b" {
		t.Fatalf("Members(failed) = %+v, %v", ms, err)
	}
	if _, err := c.Members(ctx, "gone"); !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), `unknown status "gone"`) {
		t.Errorf("Members(gone) = %v", err)
	}
	self, err := c.Self(ctx)
	if err != nil || self.Node != "node1" {
		t.Fatalf("Self = %+v, %v", self, err)
	}
	jr, err := c.Join(ctx, []string{"10.0.0.1:7946", "10.0.0.2:7946"})
	if err != nil || jr.Joined != 2 || len(jr.Failed) != 0 || len(b.Joined()) != 2 {
		t.Fatalf("Join = %+v, %v", jr, err)
	}
	if _, err := c.Join(ctx, nil); err == nil {
		t.Error("Join with no address succeeded")
	}
	b.Fail("Join", errors.New("agent: join: 10.0.0.9:7946: connection refused"))
	if _, err := c.Join(ctx, []string{"10.0.0.9:7946"}); err == nil || !strings.Contains(err.Error(), "10.0.0.9:7946: connection refused") {
		t.Errorf("failed join: %v", err)
	}
	if err := c.Leave(ctx); err != nil || !b.Left() {
		t.Fatalf("Leave = %v", err)
	}
	b.SetCoordinates(client.Coordinate{Node: "a", Vec: []float64{0.1, 0.2}, Height: 0.01})
	cs, err := c.Coordinates(ctx)
	if err != nil || len(cs) != 1 || cs[0].Vec[1] != 0.2 {
		t.Fatalf("Coordinates = %+v, %v", cs, err)
	}
	b.SetRTT("node1", "a", 2*time.Millisecond)
	b.SetRTT("a", "b", 3*time.Millisecond)
	r, err := c.RTT(ctx, "", "a")
	if err != nil || r.From != "node1" || r.Duration() != 2*time.Millisecond {
		t.Fatalf("RTT = %+v, %v", r, err)
	}
	r, err = c.RTT(ctx, "a", "b")
	if err != nil || r.From != "a" || r.Duration() != 3*time.Millisecond {
		t.Fatalf("RTT(a, b) = %+v, %v", r, err)
	}
	if _, err := c.RTT(ctx, "", "zz"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("RTT(zz) = %v", err)
	}
}

func TestServices(t *testing.T) {
	c, b := newAgent(t)
	ctx := context.Background()
	def := client.ServiceDefinition{ID: "job/1", Name: "job", Port: 9000, Tags: []string{"batch"},
		Check: &client.CheckDefinition{TTL: client.Duration(30 * time.Second)}}
	if err := c.Register(ctx, def); err != nil {
		t.Fatal(err)
	}
	if got, ok := b.Registered("job/1"); !ok || got.Check.TTL.D() != 30*time.Second {
		t.Fatalf("registered %+v %v", got, ok)
	}
	if err := c.Register(ctx, client.ServiceDefinition{Port: 1}); !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "name is required") {
		t.Errorf("Register without name: %v", err)
	}
	sums, err := c.Services(ctx)
	if err != nil || len(sums) != 1 || sums[0].Name != "job" || sums[0].Passing != 0 {
		t.Fatalf("Services = %+v, %v", sums, err)
	}
	if insts, err := c.Service(ctx, "job", true); err != nil || len(insts) != 0 {
		t.Fatalf("Service(passing) before the TTL update = %+v, %v", insts, err)
	}
	if err := c.UpdateTTL(ctx, "job/1", client.HealthPassing, "all good"); err != nil {
		t.Fatal(err)
	}
	insts, err := c.Service(ctx, "job", true)
	if err != nil || len(insts) != 1 || insts[0].Output != "all good" {
		t.Fatalf("Service(passing) = %+v, %v", insts, err)
	}
	for _, h := range []string{client.HealthWarning, client.HealthCritical} {
		if err := c.UpdateTTL(ctx, "job/1", h, ""); err != nil {
			t.Fatal(err)
		}
		if insts, _ := c.Service(ctx, "job", false); insts[0].Health != h {
			t.Errorf("health %s, want %s", insts[0].Health, h)
		}
	}
	if err := c.UpdateTTL(ctx, "job/1", "fine", ""); err == nil || !strings.Contains(err.Error(), `unknown health "fine"`) {
		t.Errorf("UpdateTTL(fine) = %v", err)
	}
	if err := c.UpdateTTL(ctx, "nope", client.HealthPassing, ""); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("UpdateTTL(nope) = %v", err)
	}
	if _, err := c.Service(ctx, "nope", false); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Service(nope) = %v", err)
	}
	// Names and ids the router would split or clean reach the backend.
	for _, name := range []string{"..", ".", "a/b", "sp ace?"} {
		if _, err := c.Service(ctx, name, false); !errors.Is(err, client.ErrNotFound) || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("Service(%q) = %v", name, err)
		}
		if err := c.Deregister(ctx, name); !errors.Is(err, client.ErrNotFound) || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("Deregister(%q) = %v", name, err)
		}
	}
	if err := c.Deregister(ctx, "job/1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Deregister(ctx, "job/1"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("second Deregister = %v", err)
	}
}
