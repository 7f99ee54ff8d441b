package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/murmurhq/murmur/acl"
)

// Security settings: gossip refused off loopback without a key, the HTTP
// API's ACLs, Host check, TLS files and limits (docs/security.md).

// OrDefault is v, or d when v is 0 (the HTTP limits).
func OrDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// IsLoopback reports whether addr (IP:port) is on a loopback address.
func IsLoopback(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// CheckPlaintext refuses gossip reachable beyond this machine without a
// key (encrypted false), unless gossip.allow_plaintext says so.
func (c *Config) CheckPlaintext(encrypted bool) error {
	if encrypted || c.Gossip.AllowPlaintext {
		return nil
	}
	for _, addr := range []string{c.BindAddr, c.AdvertiseAddr} {
		if addr != "" && !IsLoopback(addr) {
			return fmt.Errorf(`%w: gossip on %s is reachable beyond this machine and has no key, so anyone who can reach it could join and write: set gossip.key (make one with "agentctl keygen"), or bind to 127.0.0.1, or set gossip.allow_plaintext = true on a network you trust`,
				ErrConfig, addr)
		}
	}
	return nil
}

// ACLDefault is acl.default, or when unset: "allow" when the API listens
// on loopback and no token is configured, "read" on loopback with tokens
// (writes need one), "deny" elsewhere.
func (c *Config) ACLDefault() string {
	if c.ACL.Default != "" {
		return c.ACL.Default
	}
	switch {
	case c.HTTP.Addr != "" && !IsLoopback(c.HTTP.Addr),
		c.ConsulAPI.Addr != "" && !IsLoopback(c.ConsulAPI.Addr):
		return acl.DefaultDeny
	case c.HTTP.Token != "" || len(c.ACL.Tokens) > 0:
		return acl.DefaultRead
	}
	return acl.DefaultAllow
}

// Authorizer builds the ACLs of c.
func (c *Config) Authorizer() (*acl.Authorizer, error) {
	ac := c.ACL
	ac.Default = c.ACLDefault()
	return acl.New(ac, c.HTTP.Token)
}

// validateSecurity checks http.* security keys and acl.*; Validate calls
// it.
func (c *Config) validateSecurity() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	h := &c.HTTP
	if (h.TLSCertFile == "") != (h.TLSKeyFile == "") {
		bad("http.tls_cert_file", "http.tls_cert_file and http.tls_key_file go together")
	}
	if h.TLSClientCAFile != "" && h.TLSCertFile == "" {
		bad("http.tls_client_ca_file", "needs http.tls_cert_file and http.tls_key_file (mutual TLS is TLS)")
	}
	for key, v := range map[string]int{"http.max_conns": h.MaxConns, "http.max_conns_per_client": h.MaxConnsPerClient,
		"http.max_blocking_queries": h.MaxBlockingQueries} {
		if v < 0 {
			bad(key, "%d: must not be negative (0 takes the default)", v)
		}
	}
	for i, name := range h.AllowedHosts {
		if name == "" || strings.ContainsAny(name, ":/ @[]") {
			bad(fmt.Sprintf("http.allowed_hosts[%d]", i), "%q: want a host name without port or scheme", name)
		}
	}
	if _, err := c.Authorizer(); err != nil {
		errs = append(errs, unjoin(err)...)
	}
	return errs
}

// SecurityKey reports whether key is one the agent applies on reload
// with the security settings (ACLs, token, allowed hosts, TLS files).
func SecurityKey(key string) bool {
	return strings.HasPrefix(key, "acl.") || key == "http.token" || key == "http.allowed_hosts" ||
		strings.HasPrefix(key, "http.tls_")
}

// ApplySecurity copies into c the security settings of next that a reload
// applied: all but the groups in failed ("acl" for the ACLs and token,
// "http.tls" for the TLS files). c then holds what runs.
func (c *Config) ApplySecurity(next Config, failed []string) {
	n := next.Clone()
	if !slices.Contains(failed, "acl") {
		c.ACL = n.ACL
		c.HTTP.Token = n.HTTP.Token
	}
	c.HTTP.AllowedHosts = n.HTTP.AllowedHosts
	if !slices.Contains(failed, "http.tls") {
		c.HTTP.TLSCertFile = n.HTTP.TLSCertFile
		c.HTTP.TLSKeyFile = n.HTTP.TLSKeyFile
		c.HTTP.TLSClientCAFile = n.HTTP.TLSClientCAFile
	}
}
