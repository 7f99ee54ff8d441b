package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/internal/testutil"
)

// Keys of the security tests: base64 of 32 bytes each.
const (
	e2eKey1 = "ZTJlLWtleS1vbmUtMzItYnl0ZXMtbG9uZy4uLi4uLi4="
	e2eKey2 = "ZTJlLWtleS10d28tMzItYnl0ZXMtbG9uZy4uLi4uLi4="
)

// keyed is fastGossip with a gossip key (the last table is [gossip]).
func keyed(key string) string { return fastGossip + "key = \"" + key + "\"\n" }

// TestPlaintextBindRefused: off loopback without a key agentd refuses to
// start, with one line that says how to fix it.
func TestPlaintextBindRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-bind", "0.0.0.0:0"},
		{"-bind", "127.0.0.1:0", "-advertise", "192.0.2.10:7946"},
	} {
		cmd := exec.Command(filepath.Join(binaries(t), "agentd"), append([]string{"-node", "x", "-data-dir", t.TempDir(),
			"-http-addr", "127.0.0.1:0", "-dns-addr", "127.0.0.1:0"}, args...)...)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Fatalf("%v: exit %v, want 1\n%s", args, err, out)
		}
		line := strings.TrimSpace(string(out))
		if strings.Count(line, "\n") != 0 {
			t.Errorf("%v: want one line, got:\n%s", args, out)
		}
		for _, want := range []string{"no key", "agentctl keygen", "gossip.key", "gossip.allow_plaintext = true"} {
			if !strings.Contains(line, want) {
				t.Errorf("%v: %q lacks %q", args, line, want)
			}
		}
	}
}

// forgedPut is a memberlist user message carrying a configsync update
// that writes key, as a process that never joined can send it in one
// unauthenticated UDP packet.
func forgedPut(key, value string) []byte {
	upd := &configsync.Update{From: "intruder", Entries: []configsync.Entry{{
		Key: key, Value: []byte(value),
		Version: configsync.Version{Wall: time.Now().UnixMilli(), Node: "intruder"},
	}}}
	const memberlistUserMsg, msgConfigSync = 8, 1
	return append([]byte{memberlistUserMsg, msgConfigSync}, configsync.Encode(upd)...)
}

func sendUDP(t *testing.T, addr string, b []byte, n int) {
	t.Helper()
	u, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for range n {
		u.Write(b)
	}
}

// TestForgedMessageChangesNothing: a forged user message writes a key on
// an unkeyed (loopback) agent — the attack — and changes nothing on a
// keyed cluster.
func TestForgedMessageChangesNothing(t *testing.T) {
	plain := startAgentd(t, "plain", agentOpts{})
	sendUDP(t, plain.gossip, forgedPut("forged/plain", "pwned"), 3)
	eventually(t, patience, "the forged write on the unkeyed agent (control)", func() bool {
		_, code := plain.kvGetRaw("forged/plain")
		return code == 200
	})

	ps := cluster(t, 3, agentOpts{config: keyed(e2eKey1)})
	for _, p := range ps {
		sendUDP(t, p.gossip, forgedPut("forged/keyed", "pwned"), 20)
	}
	// A marker written through the API after the forged packets has
	// spread once the cluster processed everything sent before it.
	if code, body := ps[0].kvPut("marker", []byte("x")); code != 200 {
		t.Fatalf("put marker: %d %s", code, body)
	}
	for _, p := range ps {
		eventually(t, patience, "the marker on "+p.name, func() bool {
			_, code := p.kvGetRaw("marker")
			return code == 200
		})
		if _, code := p.kvGetRaw("forged/keyed"); code != 404 {
			t.Errorf("%s: forged key present (%d)", p.name, code)
		}
		if st := ps[0].memberStatus("intruder"); st != "" {
			t.Errorf("intruder is a member (%s)", st)
		}
	}
	// The garbage was counted, and logged a bounded number of times.
	var metrics string
	eventually(t, patience, "the decrypt failures in /metrics", func() bool {
		metrics = ps[0].get(t, "/metrics")
		return strings.Contains(metrics, `murmur_remote_errors_total{component="memberlist"}`)
	})
	if n := strings.Count(ps[0].log(), "Decrypt packet failed"); n > 10 {
		t.Errorf("%d log lines for 20 forged packets from one source", n)
	}
}

// get GETs path with p's token and returns the body; non-2xx fails t.
func (p *proc) get(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.url(path), nil)
	resp, err := p.do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	return string(b)
}

// TestRebindingHost: a request whose Host is a name the agent does not
// know is 403, reads and writes alike, and writes nothing.
func TestRebindingHost(t *testing.T) {
	p := startAgentd(t, "host", agentOpts{config: fastGossip + "\n[http]\nallowed_hosts = [\"murmur.internal\"]\n"})
	for _, tc := range []struct {
		host string
		code int
	}{
		{"attacker.example", 403},
		{"attacker.example:" + strings.Split(p.httpAddr, ":")[1], 403},
		{"localhost", 200},
		{"murmur.internal", 200},
		{p.httpAddr, 200},
	} {
		for _, method := range []string{"PUT", "GET"} {
			req, _ := http.NewRequest(method, p.url("/v1/kv/rebind"), strings.NewReader("x"))
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Errorf("%s with Host %s: %d %s, want %d", method, tc.host, resp.StatusCode, b, tc.code)
			}
			if tc.code == 403 && !strings.Contains(string(b), "DNS rebinding") {
				t.Errorf("403 does not say why: %s", b)
			}
		}
	}
}

// aclConfig is an agent config with ACLs: deny by default, the
// management token "root", and one token per rule kind.
func aclConfig(mgmt string) string {
	return keyed(e2eKey1) + `
[http]
token = "` + mgmt + `"

[acl]
default = "deny"

[[acl.token]]
name = "app"
secret = "app-secret"
rules = [{ prefix = "app/", access = "write" }, { prefix = "app/private/", access = "deny" }]

[[acl.token]]
name = "deploy"
secret = "deploy-secret"
rules = [{ kind = "service", prefix = "web", access = "write" }]

[[acl.token]]
name = "ops"
secret = "ops-secret"
rules = [{ kind = "agent", access = "write" }]

[[acl.token]]
name = "monitor"
secret = "monitor-secret"
rules = [{ kind = "agent", access = "read" }, { kind = "keyring", access = "read" }, { kind = "service", access = "read" }]

[[acl.token]]
name = "security"
secret = "security-secret"
rules = [{ kind = "keyring", access = "write" }]
`
}

// TestACLRuleKinds: each rule kind allows what it says and denies the
// rest, through agentctl against a real agent; SIGHUP reloads tokens.
func TestACLRuleKinds(t *testing.T) {
	cfg := aclConfig("root")
	p := startAgentd(t, "acl", agentOpts{config: cfg})
	other := startAgentd(t, "acl2", agentOpts{config: keyed(e2eKey1)})
	ok := func(args ...string) string {
		t.Helper()
		out, errOut, code := p.agentctl(args...)
		if code != 0 {
			t.Fatalf("agentctl %v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	denied := func(want string, args ...string) {
		t.Helper()
		_, errOut, code := p.agentctl(args...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("agentctl %v: exit %d %q, want a denial naming %q", args, code, errOut, want)
		}
		for _, secret := range []string{"app-secret", "deploy-secret", "ops-secret", "monitor-secret", "security-secret", "root"} {
			if strings.Contains(errOut, secret) && !strings.Contains(strings.Join(args, " "), secret) {
				t.Fatalf("denial names a secret: %q", errOut)
			}
		}
	}
	// kv
	ok("-token", "app-secret", "kv", "put", "app/x", "1")
	if out := ok("-token", "app-secret", "kv", "get", "app/x"); out != "1" {
		t.Fatalf("kv get: %q", out)
	}
	denied(`token "app" lacks kv:write on "app/private/k"`, "-token", "app-secret", "kv", "put", "app/private/k", "1")
	denied(`lacks kv:write on "other"`, "-token", "app-secret", "kv", "put", "other", "1")
	denied(`lacks kv:read on "other"`, "-token", "app-secret", "kv", "get", "other")
	denied("the agent requires a token for this: pass -token TOKEN or set MURMUR_TOKEN", "kv", "get", "app/x")
	denied("the agent refused the token given by -token", "-token", "nope", "kv", "get", "app/x")
	// services and checks
	ok("-token", "deploy-secret", "service", "register", "-name", "web", "-id", "web-ttl", "-check-ttl", "1m")
	ok("-token", "deploy-secret", "check", "pass", "web-ttl")
	denied(`lacks service:write on "db"`, "-token", "deploy-secret", "service", "register", "-name", "db")
	denied(`lacks service:write on "web"`, "-token", "app-secret", "check", "pass", "web-ttl")
	if out := ok("-token", "monitor-secret", "services"); !strings.Contains(out, "web") {
		t.Fatalf("services with service:read: %q", out)
	}
	// agent: join (and members)
	denied("lacks agent:write", "-token", "monitor-secret", "join", other.gossip)
	ok("-token", "ops-secret", "join", other.gossip)
	if out := ok("-token", "monitor-secret", "members"); !strings.Contains(out, "acl2") {
		t.Fatalf("members with agent:read: %q", out)
	}
	denied(`token "app" lacks agent:read`, "-token", "app-secret", "members")
	// keyring
	if out := ok("-token", "monitor-secret", "keyring", "list"); !strings.Contains(out, e2eKey1) {
		t.Fatalf("keyring list: %q", out)
	}
	denied("lacks keyring:write", "-token", "monitor-secret", "keyring", "install", e2eKey2)
	denied("lacks keyring:read", "-token", "app-secret", "keyring", "list")
	ok("-token", "security-secret", "keyring", "install", e2eKey2)
	// management token
	ok("-token", "root", "kv", "put", "anything", "1")
	ok("-token", "root", "keyring", "remove", e2eKey2)

	// SIGHUP: a new management token replaces the old one.
	cf := p.args[slicesIndex(p.args, "-config")+1]
	writeFile(t, cf, aclConfig("root2"))
	p.signal(syscall.SIGHUP)
	eventually(t, patience, "the new management token", func() bool {
		_, _, code := p.agentctl("-token", "root2", "kv", "put", "after/hup", "1")
		return code == 0
	})
	denied("the agent refused the token given by -token", "-token", "root", "kv", "get", "anything")
}

func slicesIndex(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// TestHTTPSWithCLIAndMTLS: agentd serves HTTPS with client certificates
// required; agentctl talks to it with -ca-file/-client-cert/-client-key
// or their environment variables, and fails clearly without them.
func TestHTTPSWithCLIAndMTLS(t *testing.T) {
	files := testutil.NewTLSFiles(t)
	p := startAgentdTLS(t, "tls", files, fastGossip)
	addr := "https://" + p.httpAddr
	ctl := func(env []string, args ...string) (string, string, int) {
		cmd := exec.Command(filepath.Join(binaries(t), "agentctl"), append([]string{"-http-addr", addr}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		return runCmd(t, cmd)
	}
	flags := []string{"-ca-file", files.CACert, "-client-cert", files.ClientCert, "-client-key", files.ClientKey}
	if _, errOut, code := ctl(nil, append(flags, "kv", "put", "tls/k", "v")...); code != 0 {
		t.Fatalf("kv put over mTLS: %s", errOut)
	}
	env := []string{"MURMUR_CACERT=" + files.CACert, "MURMUR_CLIENT_CERT=" + files.ClientCert, "MURMUR_CLIENT_KEY=" + files.ClientKey}
	if out, errOut, code := ctl(env, "kv", "get", "tls/k"); code != 0 || out != "v" {
		t.Fatalf("kv get with env: %q %s", out, errOut)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"members"}, "certificate signed by unknown authority"},
		{nil, []string{"-ca-file", files.CACert, "members"}, "cannot reach agent"},
		{nil, []string{"-ca-file", files.OtherCA, "-client-cert", files.ClientCert, "-client-key", files.ClientKey, "members"}, "unknown authority"},
	} {
		_, errOut, code := ctl(tc.env, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("agentctl %v: exit %d %q, want one line with %q", tc.args, code, errOut, tc.want)
		}
	}
	// Plain HTTP to the HTTPS port gets nothing useful.
	if resp, err := http.Get("http://" + p.httpAddr + "/v1/kv/tls/k?raw"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("plain HTTP answered on the HTTPS port: %s", b)
		}
	}
}

// startAgentdTLS starts agentd serving HTTPS with mutual TLS; the harness
// client carries the client certificate.
func startAgentdTLS(t *testing.T, name string, files *testutil.TLSFiles, config string) *proc {
	t.Helper()
	tc, err := client.TLSConfig(files.CACert, files.ClientCert, files.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config + fmt.Sprintf("\n[http]\ntls_cert_file = %q\ntls_key_file = %q\ntls_client_ca_file = %q\n",
		files.ServerCert, files.ServerKey, files.CACert)
	return startAgentdWith(t, name, agentOpts{config: cfg}, func(p *proc) {
		p.scheme = "https"
		p.client = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	})
}

// TestLimits: beyond http.max_blocking_queries, http.max_conns_per_client
// and http.max_conns the agent answers 429 with Retry-After, keeps serving
// the connections it has, and once they close serves everyone again.
// Clients come from distinct loopback addresses (127.0.0.x).
func TestLimits(t *testing.T) {
	p := startAgentd(t, "limits", agentOpts{config: fastGossip +
		"\n[http]\nmax_conns = 7\nmax_conns_per_client = 2\nmax_blocking_queries = 2\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// keep holds its connection open between requests; once closes it.
	keep := func(src string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxConnsPerHost: 1}}
	}
	once := func(src string) *http.Client {
		c := keep(src)
		c.Transport.(*http.Transport).DisableKeepAlives = true
		return c
	}
	get := func(c *http.Client, path string) (int, string, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url(path), nil)
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
	}
	want429 := func(what string, c *http.Client, path, limit string) {
		t.Helper()
		code, retry, body := get(c, path)
		if code != 429 || retry == "" || !strings.Contains(body, limit) {
			t.Fatalf("%s: %d retry-after %q %s, want 429 naming %s", what, code, retry, body, limit)
		}
	}
	// One connection, held throughout, reads the metrics.
	mc := keep("127.0.0.9")
	metrics := func() string {
		_, _, body := get(mc, "/metrics")
		return body
	}
	// settle waits until exactly n connections besides the metrics one
	// are open (the server releases closed ones asynchronously).
	settle := func(n int) {
		t.Helper()
		eventually(t, patience, fmt.Sprintf("%d open connections", n), func() bool {
			return strings.Contains(metrics(), fmt.Sprintf("murmur_http_connections %d\n", n+1))
		})
	}

	// Two blocking queries fill max_blocking_queries; a third is refused.
	var held []*http.Client
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		c := keep(src)
		held = append(held, c)
		go get(c, "/v1/kv/limits?index=0&wait=5m")
	}
	eventually(t, patience, "two blocking queries waiting", func() bool {
		return strings.Contains(metrics(), "murmur_http_blocking_queries 2\n")
	})
	want429("third blocking query", once("127.0.0.4"), "/v1/kv/limits?index=0&wait=5m", "http.max_blocking_queries is 2")

	// One client holds two connections; its third is refused.
	for _, c := range []*http.Client{keep("127.0.0.5"), keep("127.0.0.5")} {
		held = append(held, c)
		if code, _, body := get(c, "/v1/members"); code != 200 {
			t.Fatalf("connection from 127.0.0.5: %d %s", code, body)
		}
	}
	want429("third connection of one client", once("127.0.0.5"), "/v1/members", "http.max_conns_per_client is 2")

	// Seven connections open: an eighth, from anyone, is refused.
	settle(4)
	for _, src := range []string{"127.0.0.6", "127.0.0.7"} {
		c := keep(src)
		held = append(held, c)
		if code, _, body := get(c, "/v1/members"); code != 200 {
			t.Fatalf("connection from %s: %d %s", src, code, body)
		}
	}
	want429("eighth connection", once("127.0.0.8"), "/v1/members", "http.max_conns is 7")

	// The agent keeps serving the connections it has; DNS is untouched.
	if code, _, body := get(held[2], "/v1/agent/self"); code != 200 {
		t.Fatalf("open connection while over the limit: %d %s", code, body)
	}
	if _, err := lookPath("dig"); err == nil {
		if r := p.dig("limits.node.murmur", "A"); r.status != "NOERROR" {
			t.Fatalf("DNS while over the HTTP limit: %s", r.raw)
		}
	}
	// Once the connections close, everyone is served again.
	cancel()
	for _, c := range held {
		c.CloseIdleConnections()
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	settle(0)
	if code, _, body := get(once("127.0.0.8"), "/v1/members"); code != 200 {
		t.Fatalf("after the connections closed: %d %s", code, body)
	}
	m := metrics()
	for _, want := range []string{`murmur_http_connections_refused_total{outcome="429"}`, "murmur_http_blocking_queries_refused_total 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
