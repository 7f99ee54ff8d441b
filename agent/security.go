package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/httpapi"
)

// The agent's security state (docs/security.md): gossip refused off
// loopback without a key, the keyring (keyring.go), and for the HTTP API
// the ACLs, the Host check, TLS and the connection and blocking-query
// limits. What SIGHUP may change is held behind atomic pointers.

type security struct {
	acl   *acl.Live
	hosts *httpapi.HostPolicy
	// tls is nil when the API serves plain HTTP.
	tls    *tlsSource
	gate   *httpapi.Gate
	conns  *httpapi.ConnLimits
	remote *remoteLog
	keys   *keyring
}

func newSecurity(a *Agent) (*security, error) {
	c := &a.cfg
	authz, err := c.authorizer()
	if err != nil {
		return nil, err
	}
	s := &security{
		acl:    acl.NewLive(authz),
		hosts:  httpapi.NewHostPolicy(c.HTTP.AllowedHosts...),
		gate:   httpapi.NewGate(orDefault(c.HTTP.MaxBlockingQueries, DefaultMaxBlockingQueries)),
		conns:  httpapi.NewConnLimits(orDefault(c.HTTP.MaxConns, DefaultMaxConns), orDefault(c.HTTP.MaxConnsPerClient, DefaultMaxConnsPerClient)),
		remote: newRemoteLog(),
		keys:   newKeyring(a),
	}
	if c.HTTP.TLSCertFile != "" {
		s.tls = &tlsSource{}
	}
	return s, nil
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// ACL is the agent's live authorizer, for faces beside the native HTTP
// API (a Consul-compatible API, the UI): resolve a request's token with
// it and check the permission before acting. It follows SIGHUP reloads.
func (a *Agent) ACL() acl.Resolver { return a.sec.acl }

// HostPolicy is the Host-header check every HTTP face applies.
func (a *Agent) HostPolicy() *httpapi.HostPolicy { return a.sec.hosts }

// BlockingGate bounds the blocking queries of all HTTP faces together.
func (a *Agent) BlockingGate() *httpapi.Gate { return a.sec.gate }

// GossipEncrypted reports whether gossip is encrypted (after Start).
func (a *Agent) GossipEncrypted() bool { return a.sec.keys.ring != nil }

// isLoopback reports whether addr (IP:port) is on a loopback address.
func isLoopback(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// checkPlaintext refuses gossip reachable beyond this machine without a
// key, unless gossip.allow_plaintext says so.
func (c *Config) checkPlaintext(encrypted bool) error {
	if encrypted || c.Gossip.AllowPlaintext {
		return nil
	}
	for _, addr := range []string{c.BindAddr, c.AdvertiseAddr} {
		if addr != "" && !isLoopback(addr) {
			return fmt.Errorf(`%w: gossip on %s is reachable beyond this machine and has no key, so anyone who can reach it could join and write: set gossip.key (make one with "agentctl keygen"), or bind to 127.0.0.1, or set gossip.allow_plaintext = true on a network you trust`,
				ErrConfig, addr)
		}
	}
	return nil
}

// aclDefault is acl.default, or when unset: "allow" when the API listens
// on loopback and no token is configured, "read" on loopback with tokens
// (writes need one), "deny" elsewhere.
func (c *Config) aclDefault() string {
	if c.ACL.Default != "" {
		return c.ACL.Default
	}
	switch {
	case c.HTTP.Addr != "" && !isLoopback(c.HTTP.Addr),
		c.ConsulAPI.Addr != "" && !isLoopback(c.ConsulAPI.Addr):
		return acl.DefaultDeny
	case c.HTTP.Token != "" || len(c.ACL.Tokens) > 0:
		return acl.DefaultRead
	}
	return acl.DefaultAllow
}

// authorizer builds the ACLs of c.
func (c *Config) authorizer() (*acl.Authorizer, error) {
	ac := c.ACL
	ac.Default = c.aclDefault()
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
	if _, err := c.authorizer(); err != nil {
		errs = append(errs, unjoin(err)...)
	}
	return errs
}

// tlsSource serves the current certificate; SIGHUP re-reads the files.
type tlsSource struct {
	cur atomic.Pointer[tls.Config]
	// names are the DNS names of the current certificate.
	names atomic.Pointer[[]string]
}

func (t *tlsSource) set(cfg *tls.Config, names []string) {
	t.cur.Store(cfg)
	t.names.Store(&names)
}

// certNames returns the DNS names of the current certificate (none when
// the API serves plain HTTP).
func (t *tlsSource) certNames() []string {
	if t == nil {
		return nil
	}
	if p := t.names.Load(); p != nil {
		return *p
	}
	return nil
}

// load reads the certificate, key and client CAs of h; it returns the
// config and the DNS names of the certificate.
func loadTLS(h *HTTPConfig) (*tls.Config, []string, error) {
	cert, err := tls.LoadX509KeyPair(h.TLSCertFile, h.TLSKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: http.tls_cert_file %s, http.tls_key_file %s: %w", h.TLSCertFile, h.TLSKeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if h.TLSClientCAFile != "" {
		pem, err := os.ReadFile(h.TLSClientCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("agent: http.tls_client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("agent: http.tls_client_ca_file %s: no PEM certificate in it", h.TLSClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	var names []string
	if cert.Leaf != nil {
		names = cert.Leaf.DNSNames
	}
	return cfg, names, nil
}

// serverConfig hands every handshake the current config.
func (t *tlsSource) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load(), nil
		},
	}
}

// startTLS loads the certificate before the API listens.
func (a *Agent) startTLS() error {
	if a.sec.tls == nil {
		return nil
	}
	cfg, names, err := loadTLS(&a.cfg.HTTP)
	if err != nil {
		return err
	}
	a.sec.tls.set(cfg, names)
	a.sec.hosts.Set(append(slices.Clone(a.cfg.HTTP.AllowedHosts), names...)...)
	return nil
}

// serveConfig is how the agent serves its HTTP faces.
func (a *Agent) serveConfig() httpapi.ServeConfig {
	sc := httpapi.ServeConfig{
		Logger:   a.opts.logger,
		ErrorLog: a.sec.remote.writer(a.opts.logger.With("node", a.cfg.NodeName), "httpapi"),
		Conns:    a.sec.conns,
	}
	if a.sec.tls != nil {
		sc.TLS = a.sec.tls.serverConfig()
	}
	return sc
}

// logRemote logs, rate-limited per source, a problem caused by bytes
// from the network; source is the sender's address or node ("" unknown).
func (a *Agent) logRemote(component, source, msg string, args ...any) {
	ok, held := a.sec.remote.allow(component, source, msg)
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "suppressed_before", held)
	}
	a.log.Warn(msg, append([]any{"part", component, "source", source}, args...)...)
}

// remoteLogLoop logs every 10 s what the log throttle held back.
func (a *Agent) remoteLogLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a.sec.remote.flush(a.log, now)
		}
	}
}

// securityKey reports whether key is one reloadSecurity applies.
func securityKey(key string) bool {
	return strings.HasPrefix(key, "acl.") || key == "http.token" || key == "http.allowed_hosts" ||
		strings.HasPrefix(key, "http.tls_")
}

// reloadSecurity applies cfg's ACLs, allowed hosts and TLS files. TLS
// files are re-read on every reload (a renewed certificate keeps its
// path); serving HTTPS or plain HTTP cannot change without a restart. It
// returns the keys it could not apply.
func (a *Agent) reloadSecurity(cfg Config) (failed []string) {
	authz, err := cfg.authorizer()
	if err != nil {
		a.log.Error("reload acl, keeping the running ACLs", "err", err)
		failed = append(failed, "acl", "http.token")
	} else {
		a.sec.acl.Set(authz)
	}
	switch {
	case (cfg.HTTP.TLSCertFile != "") != (a.sec.tls != nil):
		a.log.Warn("switching the HTTP API between HTTP and HTTPS needs a restart")
		failed = append(failed, "http.tls")
	case a.sec.tls != nil:
		tc, certNames, err := loadTLS(&cfg.HTTP)
		if err != nil {
			a.log.Error("reload TLS, keeping the running certificate", "err", err)
			failed = append(failed, "http.tls")
			break
		}
		a.sec.tls.set(tc, certNames)
		a.log.Info("reloaded TLS certificate", "file", cfg.HTTP.TLSCertFile)
	}
	a.sec.hosts.Set(append(slices.Clone(cfg.HTTP.AllowedHosts), a.sec.tls.certNames()...)...)
	return failed
}

// appliedSecurity records in a.applied what reloadSecurity applied.
// Called with reloadMu held.
func (a *Agent) appliedSecurity(cfg Config, failed []string) {
	c := cfg.clone()
	if !slices.Contains(failed, "acl") {
		a.applied.ACL = c.ACL
		a.applied.HTTP.Token = c.HTTP.Token
	}
	a.applied.HTTP.AllowedHosts = c.HTTP.AllowedHosts
	if !slices.Contains(failed, "http.tls") {
		a.applied.HTTP.TLSCertFile = c.HTTP.TLSCertFile
		a.applied.HTTP.TLSKeyFile = c.HTTP.TLSKeyFile
		a.applied.HTTP.TLSClientCAFile = c.HTTP.TLSClientCAFile
	}
}

// httpSummary describes the HTTP API's settings without secrets.
func (a *Agent) httpSummary() map[string]any {
	h := &a.cfg.HTTP
	m := map[string]any{
		"addr":                 h.Addr,
		"token_set":            h.Token != "",
		"tls":                  h.TLSCertFile != "",
		"mutual_tls":           h.TLSClientCAFile != "",
		"allowed_hosts":        h.AllowedHosts,
		"max_conns":            orDefault(h.MaxConns, DefaultMaxConns),
		"max_conns_per_client": orDefault(h.MaxConnsPerClient, DefaultMaxConnsPerClient),
		"max_blocking_queries": orDefault(h.MaxBlockingQueries, DefaultMaxBlockingQueries),
	}
	if authz := a.sec.acl.Get(); authz != nil {
		m["acl_default"] = authz.Default()
	}
	m["acl_tokens"] = len(a.cfg.ACL.Tokens)
	return m
}
