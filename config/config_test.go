package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// FuzzParse: any TOML is parsed into a config or refused with an error
// wrapping ErrConfig; a parsed one validates without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"node_name = \"a\"\n[gossip]\nkey = \"MTIzNDU2Nzg5MDEyMzQ1Ng==\"\n",
		"[http]\nallowed_hosts = [\"x\"]\nmax_conns = 3\n[acl]\ndefault = \"deny\"\n[[acl.token]]\nname = \"a\"\nsecret = \"s\"\nrules = [{ kind = \"kv\", prefix = \"a/\", access = \"read\" }]\n",
		"[[service]]\nname = \"web\"\nport = 80\n[service.check]\nttl = \"10s\"\n",
		"[dns]\nrecursors = [\"1.1.1.1:53\"]\nnode_ttl = \"5s\"\n",
		"bind_addr = 7\n",
		"[gossip\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Parse(b, Dev())
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error does not wrap ErrConfig: %v", err)
			}
			return
		}
		_ = cfg.Validate()
		_ = ValidateWithSource(&cfg, "fuzz.toml", b)
	})
}

// The helpers the agent calls on a config: defaults, clone and the
// security defaults (the agent's tests drive files, flags and Start).
func TestCloneAndDefaults(t *testing.T) {
	c := Dev()
	c.Join = []string{"127.0.0.1:1"}
	c.Meta = map[string]string{"a": "b"}
	d := c.Clone()
	d.Join[0], d.Meta["a"] = "x", "y"
	if c.Join[0] != "127.0.0.1:1" || c.Meta["a"] != "b" {
		t.Fatal("Clone shares slices or maps with the original")
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("dev config invalid: %v", err)
	}
	if c.Reconnect() <= 0 || c.KV.ClockSkew() <= 0 || OrDefault(0, 7) != 7 || OrDefault(3, 7) != 3 {
		t.Fatal("defaults")
	}
	c.BindAddr = "10.0.0.1:7946"
	if err := c.CheckPlaintext(false); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "gossip.key") {
		t.Fatalf("plaintext off loopback: %v", err)
	}
	if err := c.CheckPlaintext(true); err != nil {
		t.Fatal(err)
	}
	if !SecurityKey("acl.default") || SecurityKey("dns.addr") {
		t.Fatal("SecurityKey")
	}
}

func TestChanged(t *testing.T) {
	a := Dev()
	b := a.Clone()
	b.Log.Level = "debug"
	b.BindAddr = "127.0.0.1:1"
	got := Changed(a, b)
	if strings.Join(got, ",") != "bind_addr,log.level" {
		t.Fatalf("Changed = %v", got)
	}
}

// Summary names no secret, only whether it is set.
func TestSummaryHidesSecrets(t *testing.T) {
	c := Dev()
	c.HTTP.Token = "s3cret-token"
	c.Gossip.Key = "MTIzNDU2Nzg5MDEyMzQ1Ng=="
	s := c.Summary(true, "read")
	text := fmt.Sprint(s)
	if strings.Contains(text, "s3cret-token") || strings.Contains(text, c.Gossip.Key) {
		t.Fatalf("summary shows a secret: %s", text)
	}
	h := s["http"].(map[string]any)
	if h["token_set"] != true || h["acl_default"] != "read" || s["gossip"].(map[string]any)["encrypted"] != true {
		t.Fatalf("summary %v", s)
	}
}

// ApplySecurity keeps the running ACLs or TLS files when their reload
// failed, and takes the rest.
func TestApplySecurity(t *testing.T) {
	running := Dev()
	running.HTTP.Token = "old"
	next := running.Clone()
	next.HTTP.Token = "new"
	next.HTTP.AllowedHosts = []string{"example.org"}
	next.HTTP.TLSCertFile = "cert.pem"
	running.ApplySecurity(next, []string{"acl"})
	if running.HTTP.Token != "old" || running.HTTP.TLSCertFile != "cert.pem" || running.HTTP.AllowedHosts[0] != "example.org" {
		t.Fatalf("applied %+v", running.HTTP)
	}
}
