package dnsserver

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		keys []string // TOML keys the error must name; none: valid
	}{
		{name: "default", mod: func(*Config) {}},
		{name: "domain without dot, any case", mod: func(c *Config) { c.Domain = "Murmur.Example" }},
		{name: "recursors", mod: func(c *Config) { c.Recursors = []string{"8.8.8.8", "127.0.0.1:5353", "[::1]:53", "2001:db8::1"} }},
		{name: "nearest and limits", mod: func(c *Config) {
			c.Order, c.MaxAnswers, c.NodeTTL, c.ServiceTTL, c.NegativeTTL = OrderNearest, 3, time.Minute, 30*time.Second, time.Hour
		}},
		{name: "empty domain", mod: func(c *Config) { c.Domain = "" }, keys: []string{"dns.domain"}},
		{name: "root domain", mod: func(c *Config) { c.Domain = "." }, keys: []string{"dns.domain"}},
		{name: "bad domain", mod: func(c *Config) { c.Domain = "a..b" }, keys: []string{"dns.domain"}},
		{name: "leading dot", mod: func(c *Config) { c.Domain = ".murmur" }, keys: []string{"dns.domain"}},
		{name: "negative ttl", mod: func(c *Config) { c.NodeTTL = -time.Second }, keys: []string{"dns.node_ttl"}},
		{name: "fractional ttl", mod: func(c *Config) { c.ServiceTTL = 1500 * time.Millisecond }, keys: []string{"dns.service_ttl"}},
		{name: "huge ttl", mod: func(c *Config) { c.NegativeTTL = 100 * 365 * 24 * time.Hour }, keys: []string{"dns.negative_ttl"}},
		{name: "negative max_answers", mod: func(c *Config) { c.MaxAnswers = -1 }, keys: []string{"dns.max_answers"}},
		{name: "bad order", mod: func(c *Config) { c.Order = "random" }, keys: []string{"dns.order"}},
		{name: "empty order", mod: func(c *Config) { c.Order = "" }, keys: []string{"dns.order"}},
		{name: "host name recursor", mod: func(c *Config) { c.Recursors = []string{"dns.google"} }, keys: []string{"dns.recursors"}},
		{name: "port 0 recursor", mod: func(c *Config) { c.Recursors = []string{"1.1.1.1:0"} }, keys: []string{"dns.recursors"}},
		{name: "zero recursor timeout", mod: func(c *Config) { c.RecursorTimeout = 0 }, keys: []string{"dns.recursor_timeout"}},
		{name: "every error at once", mod: func(c *Config) { c.Order = "x"; c.MaxAnswers = -5; c.Domain = "" },
			keys: []string{"dns.domain", "dns.max_answers", "dns.order"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if len(tc.keys) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
			}
			var got []string
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "dnsserver: dns.") {
					t.Errorf("error line %q lacks the package and key prefix", line)
				}
				got = append(got, strings.SplitN(strings.TrimPrefix(line, "dnsserver: "), ":", 2)[0])
			}
			if !slices.Equal(got, tc.keys) {
				t.Errorf("error %q names %v, want %v", err, got, tc.keys)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tc.keys[0] {
				t.Errorf("errors.As ConfigError: %v", ce)
			}
		})
	}
}

func TestConfigNormalised(t *testing.T) {
	c := DefaultConfig()
	c.Domain = "Murmur.Example"
	c.Recursors = []string{"8.8.8.8", "[::1]:5353"}
	rc := mustCompile(t, c)
	if rc.domain != "murmur.example." {
		t.Errorf("domain %q", rc.domain)
	}
	if want := []string{"8.8.8.8:53", "[::1]:5353"}; !slices.Equal(rc.recursors, want) {
		t.Errorf("recursors %v, want %v", rc.recursors, want)
	}
	c.Recursors[0] = "changed"
	if rc.Recursors[0] != "8.8.8.8" {
		t.Errorf("compile kept the caller's slice")
	}
	if s := DefaultConfig().String(); !strings.Contains(s, "order=shuffle") {
		t.Errorf("String() = %q", s)
	}
}

func TestConfigTOML(t *testing.T) {
	// Decoding onto DefaultConfig keeps defaults for absent keys, so
	// serve_suspect = true survives a file that does not mention it.
	c := DefaultConfig()
	_, err := toml.Decode(`
domain = "consul"
node_ttl = "10s"
max_answers = 3
order = "nearest"
recursors = ["1.1.1.1"]
`, &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain != "consul" || c.NodeTTL != 10*time.Second || c.MaxAnswers != 3 || c.Order != OrderNearest ||
		!c.ServeSuspect || c.RecursorTimeout != 2*time.Second || len(c.Recursors) != 1 {
		t.Errorf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}
