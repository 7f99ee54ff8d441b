package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/internal/testutil"
)

func TestSecurityConfigFromTOML(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
[gossip]
allow_plaintext = true

[http]
token = "root"
allowed_hosts = ["agent.internal"]
tls_cert_file = "/etc/murmur/cert.pem"
tls_key_file = "/etc/murmur/key.pem"
tls_client_ca_file = "/etc/murmur/ca.pem"
max_conns = 100
max_conns_per_client = 10
max_blocking_queries = 50

[acl]
default = "deny"

[[acl.token]]
name = "ci"
secret = "ci-secret"
rules = [
  { prefix = "app/", access = "write" },
  { kind = "service", prefix = "web", access = "write" },
  { kind = "keyring", access = "read" },
]
`), DevConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.Gossip.AllowPlaintext || cfg.HTTP.MaxConns != 100 || cfg.HTTP.TLSClientCAFile == "" || len(cfg.ACL.Tokens[0].Rules) != 3 {
		t.Fatalf("parsed %+v %+v", cfg.HTTP, cfg.ACL)
	}
	// clone copies the ACL deeply.
	c2 := cfg.clone()
	c2.ACL.Tokens[0].Rules[0].Access = "deny"
	c2.HTTP.AllowedHosts[0] = "x"
	if cfg.ACL.Tokens[0].Rules[0].Access != "write" || cfg.HTTP.AllowedHosts[0] != "agent.internal" {
		t.Fatal("clone shares ACL or hosts with the original")
	}

	for _, tc := range []struct{ body, key string }{
		{"[http]\ntls_cert_file = \"c.pem\"\n", "http.tls_cert_file"},
		{"[http]\ntls_client_ca_file = \"ca.pem\"\n", "http.tls_client_ca_file"},
		{"[http]\nmax_conns = -1\n", "http.max_conns"},
		{"[http]\nallowed_hosts = [\"http://x\"]\n", "http.allowed_hosts[0]"},
		{"[acl]\ndefault = \"open\"\n", "acl.default"},
		{"[[acl.token]]\nname = \"a\"\nsecret = \"s\"\nrules = [{ prefix = \"x\", access = \"rw\" }]\n", "acl.token[0].rules[0].access"},
		{"[[acl.token]]\nname = \"a\"\nsecret = \"s\"\nrules = [{ prefx = \"x\", access = \"read\" }]\n", "prefx"},
	} {
		p := writeFile(t, tc.body)
		cfg, data, err := LoadFile(p, DevConfig())
		if err == nil {
			err = ValidateWithSource(&cfg, p, data)
		}
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: %v, want it to name %s", tc.body, err, tc.key)
		}
	}
}

func TestACLDefaultFollowsAddress(t *testing.T) {
	for _, tc := range []struct {
		addr, token, want string
	}{
		{"127.0.0.1:7947", "", "allow"},
		{"127.0.0.1:7947", "t", "read"},
		{"[::1]:7947", "", "allow"},
		{"10.0.0.5:7947", "", "deny"},
		{"0.0.0.0:7947", "t", "deny"},
	} {
		c := DefaultConfig()
		c.HTTP.Addr, c.HTTP.Token = tc.addr, tc.token
		if got := c.aclDefault(); got != tc.want {
			t.Errorf("%s token %q: %s, want %s", tc.addr, tc.token, got, tc.want)
		}
	}
}

// httpAgent starts an agent serving its API on a loopback port of its
// own; it returns the agent and the API's address.
func httpAgent(t *testing.T, cfg Config) (*Agent, string) {
	t.Helper()
	cfg.HTTP.Addr = "127.0.0.1:0"
	a := startAgent(t, cfg)
	return a, a.HTTPAddr()
}

func TestHTTPSAndReload(t *testing.T) {
	files := testutil.NewTLSFiles(t, "agent.internal")
	cfg := testConfig("tls")
	cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile, cfg.HTTP.TLSClientCAFile = files.ServerCert, files.ServerKey, files.CACert
	cfg.HTTP.Token = "t1"
	a, addr := httpAgent(t, cfg)
	ctx := context.Background()

	tc, err := client.TLSConfig(files.CACert, files.ClientCert, files.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := client.New("https://"+addr, client.WithTLS(tc), client.WithToken("t1"))
	if _, err := c.KVPut(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatalf("put over mTLS: %v", err)
	}
	// The certificate's names are allowed hosts.
	if !a.HostPolicy().Allowed("agent.internal:7947") {
		t.Error("the certificate's DNS name is not an allowed host")
	}
	// Without a client certificate the handshake fails.
	noCert, _ := client.TLSConfig(files.CACert, "", "")
	c2, _ := client.New("https://"+addr, client.WithTLS(noCert))
	if _, err := c2.Self(ctx); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("without a client certificate: %v", err)
	}
	// Plain HTTP on the TLS port is refused.
	c3, _ := client.New("http://" + addr)
	if _, err := c3.Self(ctx); err == nil {
		t.Fatal("plain HTTP answered on the HTTPS port")
	}

	// Reload: a new token, and a renewed certificate at the same path.
	renewed := testutil.NewTLSFiles(t)
	for _, p := range [][2]string{{renewed.ServerCert, files.ServerCert}, {renewed.ServerKey, files.ServerKey}, {renewed.CACert, files.CACert}} {
		b, _ := os.ReadFile(p[0])
		os.WriteFile(p[1], b, 0o600)
	}
	next := a.Config()
	next.HTTP.Token = "t2"
	res := a.Reload(next)
	if !slices.Contains(res.Reloaded, "http.token") {
		t.Fatalf("reload: %+v", res)
	}
	tc2, _ := client.TLSConfig(renewed.CACert, renewed.ClientCert, renewed.ClientKey)
	c4, _ := client.New("https://"+addr, client.WithTLS(tc2), client.WithToken("t2"))
	if _, err := c4.KVPut(ctx, "k", []byte("v2"), 0); err != nil {
		t.Fatalf("put with the new token and certificate: %v", err)
	}
	c5, _ := client.New("https://"+addr, client.WithTLS(tc2), client.WithToken("t1"))
	if _, err := c5.KVPut(ctx, "k", []byte("v3"), 0); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("old token after reload: %v", err)
	}
	// The old CA's client is refused now.
	c6, _ := client.New("https://"+addr, client.WithTLS(tc), client.WithToken("t2"))
	if _, err := c6.Self(ctx); err == nil {
		t.Fatal("the replaced CA still works")
	}

	// A broken certificate on reload keeps the running one.
	os.WriteFile(files.ServerCert, []byte("garbage"), 0o600)
	if res := a.Reload(next); !slices.Contains(res.NotReloaded, "http.tls_cert_file") {
		t.Fatalf("reload with a broken certificate: %+v", res)
	}
	if _, err := c4.Self(ctx); err != nil {
		t.Fatalf("after a failed certificate reload: %v", err)
	}
}

func TestACLReloadAndFaces(t *testing.T) {
	cfg := testConfig("acl")
	cfg.ACL = acl.Config{Default: "deny", Tokens: []acl.TokenConfig{{Name: "app", Secret: "app-secret",
		Rules: []acl.RuleConfig{{Prefix: "app/", Access: "write"}}}}}
	a, addr := httpAgent(t, cfg)
	ctx := context.Background()
	app, _ := client.New(addr, client.WithToken("app-secret"))
	if _, err := app.KVPut(ctx, "app/x", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := app.KVPut(ctx, "other", []byte("v"), 0); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("write outside the token's prefix: %v", err)
	}
	anon, _ := client.New(addr)
	if _, err := anon.KVGet(ctx, "app/x"); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("anonymous read with default deny: %v", err)
	}
	// The resolver the agent hands to other faces is the same one.
	id, err := a.ACL().Resolve("app-secret")
	if err != nil || !id.Can(acl.KindKV, "app/y", acl.Write) {
		t.Fatalf("Agent.ACL: %v %v", id, err)
	}
	next := a.Config()
	next.ACL.Tokens[0].Rules = []acl.RuleConfig{{Prefix: "", Access: "write"}}
	if res := a.Reload(next); !slices.Contains(res.Reloaded, "acl.token") {
		t.Fatalf("reload: %+v", res)
	}
	if _, err := app.KVPut(ctx, "other", []byte("v"), 0); err != nil {
		t.Fatalf("after widening the rule: %v", err)
	}
	// An invalid ACL on reload keeps the running one.
	bad := a.Config()
	bad.ACL.Tokens = append(bad.ACL.Tokens, acl.TokenConfig{Name: "app", Secret: "x"})
	if res := a.Reload(bad); !slices.Contains(res.NotReloaded, "acl.token") {
		t.Fatalf("invalid reload: %+v", res)
	}
	if _, err := app.KVPut(ctx, "app/z", []byte("v"), 0); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

func TestRebindingHostRefused(t *testing.T) {
	_, addr := httpAgent(t, testConfig("host"))
	for _, method := range []string{"GET", "PUT"} {
		req, _ := http.NewRequest(method, "http://"+addr+"/v1/kv/k", strings.NewReader("v"))
		req.Host = "attacker.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("%s with a rebinding Host: %d", method, resp.StatusCode)
		}
	}
}

// lineCounter is a slog handler counting records at warn and above.
type lineCounter struct {
	mu    sync.Mutex
	lines []string
}

func (c *lineCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *lineCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		c.mu.Lock()
		c.lines = append(c.lines, r.Message)
		c.mu.Unlock()
	}
	return nil
}
func (c *lineCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *lineCounter) WithGroup(string) slog.Handler      { return c }
func (c *lineCounter) count(sub string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

func TestGarbageGossipLogsBounded(t *testing.T) {
	lc := &lineCounter{}
	cfg := keyedConfig(t, "target", testKey1)
	a := startAgent(t, cfg, WithLogger(slog.New(lc)))
	u, err := net.Dial("udp", addr(a))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	const packets = 3000
	for i := range packets {
		u.Write(bytes.Repeat([]byte{byte(i)}, 60))
	}
	waitFor(t, 10*time.Second, "the garbage to be read", func() bool {
		return a.sec.remote.counts()["memberlist"] >= packets/2
	})
	if n := lc.count("Decrypt packet failed"); n > 10 {
		t.Fatalf("%d log lines for %d garbage packets from one source", n, packets)
	}
	a.sec.remote.flush(a.log, time.Now())
	if lc.count("suppressed repeated log lines") != 1 {
		t.Fatalf("no summary line: %v", lc.lines)
	}
}
