package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
	"github.com/murmurhq/murmur/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testToken = "tok"

// agent is an httptest server running the real API over a fake backend.
type agent struct {
	b    *httpapitest.Backend
	addr string // HOST:PORT
}

func newAgent(t *testing.T) *agent {
	t.Helper()
	b := httpapitest.New()
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Membership: b, KV: b, Services: b, Token: testToken}))
	t.Cleanup(srv.Close)
	return &agent{b: b, addr: srv.Listener.Addr().String()}
}

// syncBuffer is testutil.SyncBuffer.
type syncBuffer = testutil.SyncBuffer

// result is one agentctl run.
type result struct {
	code           int
	stdout, stderr string
}

// inv is an invocation: the environment beyond the agent's address and
// token, which come from MURMUR_HTTP_ADDR and MURMUR_TOKEN unless set.
type inv struct {
	ctx    context.Context
	stdin  string
	env    map[string]string
	stdout *syncBuffer
	// stderr, when set, receives standard error as it is written; a run
	// that logs warnings and exits 0 is then not an error.
	stderr *syncBuffer
}

func (a *agent) run(t *testing.T, args ...string) result {
	t.Helper()
	return a.runWith(t, inv{}, args...)
}

func (a *agent) runWith(t *testing.T, in inv, args ...string) result {
	t.Helper()
	environ := map[string]string{envAddr: a.addr, envToken: testToken}
	for k, v := range in.env {
		environ[k] = v
	}
	if in.ctx == nil {
		in.ctx = context.Background()
	}
	if in.stdout == nil {
		in.stdout = &syncBuffer{}
	}
	var stderr bytes.Buffer
	var errw io.Writer = &stderr
	if in.stderr != nil {
		errw = io.MultiWriter(&stderr, in.stderr)
	}
	code := run(in.ctx, args, env{
		stdin:  strings.NewReader(in.stdin),
		stdout: in.stdout,
		stderr: errw,
		getenv: func(k string) string { return environ[k] },
		rand:   bytes.NewReader(bytes.Repeat([]byte{7}, 64)),
	})
	r := result{code: code, stdout: in.stdout.String(), stderr: stderr.String()}
	if code != 0 && strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d with stderr %q: want exactly one line", code, r.stderr)
	}
	if code == 0 && r.stderr != "" && in.stderr == nil {
		t.Errorf("exit 0 with stderr %q", r.stderr)
	}
	return r
}

// ok asserts a successful run and returns its stdout.
func (r result) ok(t *testing.T) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	return r.stdout
}

// fails asserts exit 1 with stderr "agentctl: " + want.
func (r result) fails(t *testing.T, want string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit %d (stdout %q), want 1", r.code, r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "agentctl: ") || !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr %q, want agentctl: ...%s...", r.stderr, want)
	}
}

// refusedAddr returns a loopback address that refuses connections for the
// whole test.
var refusedAddr = testutil.RefusedAddr

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // only a hang comes near it
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling against the deadline above
	}
}

func TestNormalizeArgs(t *testing.T) {
	root := (&app{env: env{}}).rootCmd()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"bool flag", "members -json", "members --json"},
		{"double dash kept", "members --json", "members --json"},
		{"value flag and its value", "members -status alive", "members --status alive"},
		{"value that looks like a flag", "check pass x -note -json", "check pass x --note -json"},
		{"equals", "-http-addr=127.0.0.1:1 members", "--http-addr=127.0.0.1:1 members"},
		{"global flag after the command", "kv get k -token t -json", "kv get k --token t --json"},
		{"stdin dash", "kv put k -", "kv put k -"},
		{"short help", "kv -h", "kv -h"},
		{"long help", "kv -help", "kv --help"},
		{"negative number", "kv put k -5", "kv put k -5"},
		{"unknown flag untouched", "members -bogus", "members -bogus"},
		{"after --", "kv put -- k -json", "kv put -- k -json"},
		{"repeated tags", "service register -name w -tag a -tag b", "service register --name w --tag a --tag b"},
		{"flag value at the end", "members -status", "members --status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(normalizeArgs(root, strings.Fields(tt.in)), " ")
			if got != tt.want {
				t.Errorf("normalizeArgs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	addr := refusedAddr(t)
	a := &agent{b: httpapitest.New(), addr: addr}
	want := "agentctl: cannot reach agent at " + addr + ": connection refused\n"
	for _, args := range [][]string{
		{"members"}, {"join", "10.0.0.1:7946"}, {"leave"},
		{"kv", "get", "k"}, {"kv", "put", "k", "v"}, {"kv", "delete", "k"}, {"kv", "list"}, {"kv", "watch"},
		{"services"}, {"service", "web"}, {"service", "register", "-name", "web"}, {"service", "deregister", "web"},
		{"check", "pass", "web"}, {"rtt", "n2"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := a.run(t, args...)
			if r.code != 1 || r.stderr != want {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
			}
		})
	}
}

func TestAddressAndToken(t *testing.T) {
	a := newAgent(t)
	other := refusedAddr(t)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // "" for success, else the stderr text
	}{
		{"env", nil, nil, ""},
		{"flag beats env", map[string]string{envAddr: other}, []string{"-http-addr", a.addr}, ""},
		{"double-dash flag", map[string]string{envAddr: other}, []string{"--http-addr=" + a.addr}, ""},
		{"url", map[string]string{envAddr: "http://" + a.addr}, nil, ""},
		{"env names the failing address", map[string]string{envAddr: other}, nil, "cannot reach agent at " + other},
		{"flag names the failing address", nil, []string{"-http-addr", other}, "cannot reach agent at " + other},
		{"bad address", nil, []string{"-http-addr", "ftp://x"}, `-http-addr: client: invalid agent address "ftp://x"`},
		{"no token", map[string]string{envToken: ""}, nil, "agentctl: the agent requires a token for this: pass -token TOKEN or set MURMUR_TOKEN\n"},
		{"wrong token flag beats env", nil, []string{"-token", "nope"}, "agentctl: the agent refused the token given by -token\n"},
		{"wrong token in env", map[string]string{envToken: "nope"}, nil, "agentctl: the agent refused the token given by MURMUR_TOKEN\n"},
		{"empty token flag", map[string]string{envToken: ""}, []string{"-token", ""}, "pass -token TOKEN or set MURMUR_TOKEN\n"},
		{"token flag", map[string]string{envToken: ""}, []string{"-token", testToken}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "kv", "put", "k", "v")
			r := a.runWith(t, inv{env: tt.env}, args...)
			if tt.want == "" {
				r.ok(t)
				return
			}
			r.fails(t, tt.want)
		})
	}
}

func TestUsageErrors(t *testing.T) {
	a := newAgent(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus" (see 'agentctl --help')`},
		{[]string{"kv", "bogus"}, `unknown command "bogus" (usage: agentctl kv [flags])`},
		{[]string{"check", "maybe", "x"}, `unknown command "maybe"`},
		{[]string{"kv", "get"}, "missing argument (usage: agentctl kv get KEY [flags])"},
		{[]string{"kv", "get", "a", "b"}, `unexpected argument "b"`},
		{[]string{"kv", "put", "k"}, "missing argument"},
		{[]string{"members", "extra"}, `unexpected argument "extra"`},
		{[]string{"members", "-bogus"}, "unknown shorthand flag: 'b' in -bogus (usage: agentctl members [flags])"},
		{[]string{"members", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"kv", "put", "k", "v", "-flags", "x"}, `invalid argument "x" for "--flags"`},
		{[]string{"join"}, "missing argument (usage: agentctl join ADDR... [flags])"},
		{[]string{"rtt"}, "missing argument"},
		{[]string{"rtt", "a", "b", "c"}, `unexpected argument "c"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			a.run(t, tt.args...).fails(t, tt.want)
		})
	}
}

func TestHelp(t *testing.T) {
	a := newAgent(t)
	for _, args := range [][]string{{}, {"-help"}, {"--help"}, {"-h"}, {"kv"}, {"kv", "-help"}, {"help", "kv"}, {"check"}} {
		out := a.run(t, args...).ok(t)
		if !strings.Contains(out, "Usage:") {
			t.Errorf("%v: no usage in %q", args, out)
		}
	}
	out := a.run(t, "kv", "put", "-help").ok(t)
	if !strings.Contains(out, "@PATH") || !strings.Contains(out, "--flags") {
		t.Errorf("kv put help %q", out)
	}
}

func TestErrorLine(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&client.APIError{StatusCode: 413, Message: "configsync: value is 2097152 bytes, limit kv.max_value_bytes is 524288"},
			"configsync: value is 2097152 bytes, limit kv.max_value_bytes is 524288"},
		{&client.APIError{StatusCode: 500, Message: "join failed:\n  a:1: refused\n  b:1: timeout\n"}, "join failed: a:1: refused; b:1: timeout"},
		{errors.New("unknown command \"x\"\n\nDid you mean this?\n\tkv\n"), `unknown command "x"`},
		{context.Canceled, "interrupted"},
		{&client.UnreachableError{Addr: "h:1", Err: errors.New("EOF")}, "cannot reach agent at h:1: EOF"},
	}
	for _, tt := range tests {
		if got := errorLine(tt.err); got != tt.want {
			t.Errorf("errorLine(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
