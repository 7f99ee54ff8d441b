package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileValid(t *testing.T) {
	p := writeFile(t, `
node_name = "web-1"
bind_addr = "10.0.0.5:7946"
join = ["10.0.0.1:7946", "10.0.0.2:7946"]
data_dir = "/var/lib/murmur"
leave_timeout = "3s"

[meta]
rack = "r1"

[gossip]
profile = "wan"
key = "MTIzNDU2Nzg5MDEyMzQ1Ng=="
probe_interval = "2s"
gossip_nodes = 4

[http]
addr = "127.0.0.1:9000"
token = "s3cret"

[kv]
max_value_bytes = 1024

[log]
level = "debug"
json = true
`)
	cfg, data, err := LoadFile(p, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateWithSource(&cfg, p, data); err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "web-1" || cfg.BindAddr != "10.0.0.5:7946" || len(cfg.Join) != 2 {
		t.Errorf("top-level keys not read: %+v", cfg)
	}
	if cfg.LeaveTimeout.D() != 3*time.Second || cfg.Meta["rack"] != "r1" {
		t.Errorf("leave_timeout/meta: %v %v", cfg.LeaveTimeout, cfg.Meta)
	}
	if cfg.Gossip.Profile != "wan" || cfg.Gossip.ProbeInterval.D() != 2*time.Second || *cfg.Gossip.GossipNodes != 4 {
		t.Errorf("gossip: %+v", cfg.Gossip)
	}
	if cfg.HTTP.Token != "s3cret" || cfg.KV.MaxValueBytes != 1024 || cfg.KV.MaxKeyBytes != 512 {
		t.Errorf("http/kv: %+v %+v", cfg.HTTP, cfg.KV)
	}
	if !cfg.Log.JSON || cfg.Log.Level != "debug" {
		t.Errorf("log: %+v", cfg.Log)
	}
	mc := memberlistConfig(&cfg)
	if mc.ProbeInterval != 2*time.Second || mc.GossipNodes != 4 || mc.GossipInterval != 500*time.Millisecond {
		t.Errorf("memberlist config: probe %v nodes %d gossip %v (wan default 500ms kept)", mc.ProbeInterval, mc.GossipNodes, mc.GossipInterval)
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string // substrings of the error
	}{
		{"unknown top-level key", "node_name = \"a\"\nbind_adr = \"1.2.3.4:1\"\n", []string{"line 2", `unknown key "bind_adr"`}},
		{"unknown key in table", "[gossip]\nprofile = \"lan\"\nprobe_intervall = \"1s\"\n", []string{"line 3", `"gossip.probe_intervall"`}},
		{"wrong type", "[gossip]\ngossip_nodes = \"three\"\n", []string{"gossip_nodes"}},
		{"bad duration", "leave_timeout = \"soon\"\n", []string{"leave_timeout", "soon"}},
		{"syntax error", "node_name = \n", []string{"line 1"}},
		{"unknown service key", "[[service]]\nname = \"web\"\nportt = 80\n", []string{"line 3", "service.portt", `did you mean "service.port"`}},
		{"unknown table", "data_dir = \"/x\"\n[htpp]\naddr = \"127.0.0.1:1\"\n", []string{"line 2: unknown table [htpp]", `did you mean "http"`}},
		{"unknown nested table", "[gossip.tuning]\nx = 1\n", []string{"line 1: unknown table [gossip.tuning]"}},
		{"unknown array table", "[[servce]]\nname = \"web\"\n", []string{"line 1: unknown table [[servce]]", `did you mean "service"`}},
		{"misspelt key", "[gossip]\nprobe_intervall = \"1s\"\n", []string{"line 2", `did you mean "gossip.probe_interval"`}},
		{"nothing close", "[kv]\nzzzzzz = 1\n", []string{`line 2: unknown key "kv.zzzzzz"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := LoadFile(writeFile(t, tc.body), DefaultConfig())
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error does not wrap ErrConfig: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "agent: invalid configuration: ") || !strings.Contains(line, "agent.toml: ") {
					t.Errorf("error line %q does not name the file", line)
				}
			}
			if strings.Contains(err.Error(), "htpp.addr") || strings.Contains(err.Error(), "servce.name") {
				t.Errorf("keys of an unknown table reported again: %q", err)
			}
		})
	}
}

func TestValidateWithSourceNamesKeyAndLine(t *testing.T) {
	p := writeFile(t, "node_name = \"a\"\ndata_dir = \"/tmp/x\"\n\n[gossip]\nkey = \"dG9vc2hvcnQ=\"\n")
	cfg, data, err := LoadFile(p, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	err = ValidateWithSource(&cfg, p, data)
	if err == nil || !strings.Contains(err.Error(), "line 5: gossip.key: decodes to 8 bytes") {
		t.Fatalf("got %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"empty node name", func(c *Config) { c.NodeName = "" }, "node_name: must not be empty"},
		{"bad node name", func(c *Config) { c.NodeName = "a b" }, "node_name:"},
		{"long node name", func(c *Config) { c.NodeName = strings.Repeat("a", 129) }, "node_name: 129 bytes"},
		{"bind without port", func(c *Config) { c.BindAddr = "127.0.0.1" }, "bind_addr:"},
		{"bind hostname", func(c *Config) { c.BindAddr = "localhost:7946" }, "not an IP address"},
		{"advertise unspecified", func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7946" }, "advertise_addr:"},
		{"advertise port 0", func(c *Config) { c.AdvertiseAddr = "10.0.0.1:0" }, "port 0"},
		{"join without port", func(c *Config) { c.Join = []string{"10.0.0.1"} }, "join[0]"},
		{"no data dir", func(c *Config) { c.Dev = false; c.DataDir = "" }, "data_dir: required"},
		{"profile", func(c *Config) { c.Gossip.Profile = "mars" }, "gossip.profile"},
		{"key base64", func(c *Config) { c.Gossip.Key = "!!" }, "gossip.key: not valid base64"},
		{"key length", func(c *Config) { c.Gossip.Key = "AAAA" }, "gossip.key: decodes to 3 bytes"},
		{"gossip nodes", func(c *Config) { n := 0; c.Gossip.GossipNodes = &n }, "gossip.gossip_nodes: 0"},
		{"http addr", func(c *Config) { c.HTTP.Addr = "nope" }, "http.addr"},
		{"dns addr", func(c *Config) { c.DNS.Addr = "1.2.3.4:99999" }, "dns.addr"},
		{"consul api addr", func(c *Config) { c.ConsulAPI.Addr = "localhost" }, "consul_api.addr"},
		{"datacenter empty", func(c *Config) { c.Datacenter = "" }, "datacenter: must not be empty"},
		{"datacenter chars", func(c *Config) { c.Datacenter = "dc 1" }, `datacenter: "dc 1"`},
		{"kv value limit", func(c *Config) { c.KV.MaxValueBytes = 0 }, "kv.max_value_bytes"},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"meta reserved", func(c *Config) { c.Meta = map[string]string{"murmur.x": "1"} }, "meta: key \"murmur.x\""},
		{"meta too big", func(c *Config) { c.Meta = map[string]string{"k": strings.Repeat("v", 600)} }, "node metadata limit is 512"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DevConfig()
			c.NodeName = "n1"
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	c := DevConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DevConfig invalid: %v", err)
	}
	d := DefaultConfig()
	d.DataDir = "/var/lib/murmur"
	if err := d.Validate(); err != nil {
		t.Fatalf("DefaultConfig + data_dir invalid: %v", err)
	}
}

func TestNewDoesNotTouchCallerConfig(t *testing.T) {
	c := testConfig("x")
	c.Join = []string{"127.0.0.1:1"}
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Join[0] = "changed:1"
	if a.Config().Join[0] != "127.0.0.1:1" {
		t.Fatal("agent shares the caller's slice")
	}
	_ = a.Shutdown()
}
