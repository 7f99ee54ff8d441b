package acl

import (
	"errors"
	"strings"
	"testing"
)

func mustNew(t *testing.T, cfg Config, mgmt string) *Authorizer {
	t.Helper()
	a, err := New(cfg, mgmt)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLongestPrefixWins(t *testing.T) {
	a := mustNew(t, Config{Default: "deny", Tokens: []TokenConfig{{
		Name: "app", Secret: "s-app",
		Rules: []RuleConfig{
			{Prefix: "app/", Access: "write"},
			{Prefix: "app/secret/", Access: "deny"},
			{Prefix: "app/secret/public", Access: "read"},
			{Prefix: "", Access: "read"},
			{Kind: "service", Prefix: "web", Access: "write"},
			{Kind: "agent", Access: "read"},
			{Kind: "keyring", Access: "read"},
		},
	}}}, "")
	id, err := a.Resolve("s-app")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind Kind
		name string
		want Access
	}{
		{KindKV, "app/x", Write},
		{KindKV, "app/", Write},
		{KindKV, "app", Read}, // "" rule: app is not under app/
		{KindKV, "app/secret/k", Deny},
		{KindKV, "app/secret/public/k", Read},
		{KindKV, "other", Read},
		{KindService, "web", Write},
		{KindService, "web-2", Write},
		{KindService, "db", Deny},
		{KindAgent, "node1", Read},
		{KindKeyring, "", Read},
	} {
		if got := id.Access(tc.kind, tc.name); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.kind, tc.name, got, tc.want)
		}
	}
	if err := id.Allow(KindKeyring, "", Write); err == nil || !errors.Is(err, ErrDenied) {
		t.Errorf("keyring write allowed: %v", err)
	}
	if err := id.AllowPrefix(KindKV, "app/", Write); err == nil || !strings.Contains(err.Error(), `"app/secret/"`) {
		t.Errorf("recursive write over a denied sub-prefix: %v", err)
	}
	if err := id.AllowPrefix(KindKV, "app/x/", Write); err != nil {
		t.Errorf("recursive write under app/x/: %v", err)
	}
	if !id.CanSomeUnder(KindKV, "app/secret/", Read) || id.CanSomeUnder(KindService, "d", Read) {
		t.Error("CanSomeUnder")
	}
}

func TestDefaultsAndManagement(t *testing.T) {
	for _, tc := range []struct {
		dflt        string
		read, write bool
	}{
		{"", true, true},
		{"allow", true, true},
		{"read", true, false},
		{"deny", false, false},
	} {
		a := mustNew(t, Config{Default: tc.dflt}, "root")
		anon, err := a.Resolve("")
		if err != nil || !anon.Anonymous() {
			t.Fatalf("anonymous: %v %v", anon, err)
		}
		for _, k := range []Kind{KindKV, KindService, KindAgent, KindKeyring} {
			if anon.Can(k, "x", Read) != tc.read || anon.Can(k, "x", Write) != tc.write {
				t.Errorf("default %q kind %s: read %v write %v", tc.dflt, k, anon.Can(k, "x", Read), anon.Can(k, "x", Write))
			}
		}
		m, err := a.Resolve("root")
		if err != nil || m.Name() != ManagementName || !m.Can(KindKeyring, "", Write) {
			t.Errorf("management: %v %v", m, err)
		}
		if _, err := a.Resolve("roo"); !errors.Is(err, ErrUnknownToken) {
			t.Errorf("wrong secret: %v", err)
		}
	}
}

func TestDeniedMessageNamesPermissionNotSecret(t *testing.T) {
	a := mustNew(t, Config{Default: "read", Tokens: []TokenConfig{{Name: "ci", Secret: "hunter2hunter2", Rules: []RuleConfig{{Prefix: "ci/", Access: "write"}}}}}, "")
	id, _ := a.Resolve("hunter2hunter2")
	err := id.Allow(KindKV, "prod/db", Write)
	msg := err.Error()
	for _, want := range []string{`token "ci"`, "kv:write", `"prod/db"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("message leaks the secret: %q", msg)
	}
	anon, _ := a.Resolve("")
	if msg := anon.Allow(KindKeyring, "", Write).Error(); !strings.Contains(msg, "keyring:write") || !strings.Contains(msg, `acl.default is "read"`) {
		t.Errorf("anonymous denial: %q", msg)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		mgmt string
		want string
	}{
		{"default", Config{Default: "open"}, "", "acl.default"},
		{"no name", Config{Tokens: []TokenConfig{{Secret: "a"}}}, "", "acl.token[0].name: required"},
		{"reserved", Config{Tokens: []TokenConfig{{Name: "anonymous", Secret: "a"}}}, "", "reserved"},
		{"dup name", Config{Tokens: []TokenConfig{{Name: "a", Secret: "1"}, {Name: "a", Secret: "2"}}}, "", "acl.token[1].name"},
		{"no secret", Config{Tokens: []TokenConfig{{Name: "a"}}}, "", "acl.token[0].secret: required"},
		{"dup secret", Config{Tokens: []TokenConfig{{Name: "a", Secret: "1"}, {Name: "b", Secret: "1"}}}, "", "acl.token[1].secret"},
		{"mgmt secret", Config{Tokens: []TokenConfig{{Name: "a", Secret: "root"}}}, "root", "http.token"},
		{"kind", Config{Tokens: []TokenConfig{{Name: "a", Secret: "1", Rules: []RuleConfig{{Kind: "node", Access: "read"}}}}}, "", "acl.token[0].rules[0].kind"},
		{"access", Config{Tokens: []TokenConfig{{Name: "a", Secret: "1", Rules: []RuleConfig{{Access: "rw"}}}}}, "", "acl.token[0].rules[0].access"},
		{"keyring prefix", Config{Tokens: []TokenConfig{{Name: "a", Secret: "1", Rules: []RuleConfig{{Kind: "keyring", Prefix: "x", Access: "read"}}}}}, "", "rules[0].prefix"},
		{"dup prefix", Config{Tokens: []TokenConfig{{Name: "a", Secret: "1", Rules: []RuleConfig{{Prefix: "x", Access: "read"}, {Prefix: "x", Access: "write"}}}}}, "", "rules[1].prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.mgmt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to name %q", err, tc.want)
			}
		})
	}
}

func TestLiveSwaps(t *testing.T) {
	var l Live
	id, err := l.Resolve("anything")
	if err != nil || !id.Can(KindKeyring, "", Write) {
		t.Fatalf("zero Live: %v %v", id, err)
	}
	l.Set(mustNew(t, Config{Default: "deny"}, "t1"))
	if _, err := l.Resolve("t2"); !errors.Is(err, ErrUnknownToken) {
		t.Fatal("t2 accepted before reload")
	}
	l.Set(mustNew(t, Config{Default: "deny"}, "t2"))
	if id, err := l.Resolve("t2"); err != nil || id.Name() != ManagementName {
		t.Fatalf("t2 after reload: %v", err)
	}
}

func BenchmarkResolve(b *testing.B) {
	cfg := Config{Default: "deny"}
	for i := range 20 {
		cfg.Tokens = append(cfg.Tokens, TokenConfig{Name: "t" + string(rune('a'+i)), Secret: "secret-" + string(rune('a'+i)),
			Rules: []RuleConfig{{Prefix: "app/", Access: "write"}}})
	}
	a, _ := New(cfg, "root")
	b.ReportAllocs()
	for b.Loop() {
		id, _ := a.Resolve("secret-k")
		_ = id.Allow(KindKV, "app/x", Write)
	}
}
