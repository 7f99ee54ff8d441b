package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/config"
	"github.com/murmurhq/murmur/internal/logthrottle"
	"github.com/murmurhq/murmur/keyring"
)

// The agent's security state (docs/security.md): gossip refused off
// loopback without a key, the keyring (package keyring), and for the HTTP API
// the ACLs, the Host check, TLS and the connection and blocking-query
// limits. What SIGHUP may change is held behind atomic pointers.

type security struct {
	acl   *acl.Live
	hosts *httpapi.HostPolicy
	// tls is nil when the API serves plain HTTP.
	tls    *httpapi.Certs
	gate   *httpapi.Gate
	conns  *httpapi.ConnLimits
	remote *logthrottle.Remote
	keys   *keyring.Keyring
}

func newSecurity(a *Agent) (*security, error) {
	c := &a.cfg
	authz, err := c.Authorizer()
	if err != nil {
		return nil, err
	}
	s := &security{
		acl:    acl.NewLive(authz),
		hosts:  httpapi.NewHostPolicy(c.HTTP.AllowedHosts...),
		gate:   httpapi.NewGate(config.OrDefault(c.HTTP.MaxBlockingQueries, DefaultMaxBlockingQueries)),
		conns:  httpapi.NewConnLimits(config.OrDefault(c.HTTP.MaxConns, DefaultMaxConns), config.OrDefault(c.HTTP.MaxConnsPerClient, DefaultMaxConnsPerClient)),
		remote: logthrottle.NewRemote(a.log),
		keys: keyring.New(keyring.Config{Node: c.NodeName, DataDir: c.DataDir, Key: c.Gossip.Key, Cluster: a.queries,
			Logger: a.opts.logger.With("node", c.NodeName)}),
	}
	if c.HTTP.TLSCertFile != "" {
		s.tls = &httpapi.Certs{}
	}
	return s, nil
}

// ACL is the agent's live authorizer, for faces beside the native HTTP
// API (a Consul-compatible API, the UI): resolve a request's token with
// it and check the permission before acting. It follows SIGHUP reloads.
func (a *Agent) ACL() acl.Resolver { return a.sec.acl }

// HostPolicy is the Host-header check every HTTP face applies.
func (a *Agent) HostPolicy() *httpapi.HostPolicy { return a.sec.hosts }

// BlockingGate bounds the blocking queries of all HTTP faces together.
func (a *Agent) BlockingGate() *httpapi.Gate { return a.sec.gate }

// loadTLS reads the certificate, key and client CAs of h; it returns the
// config and the DNS names of the certificate. Errors name the keys (agentd
// prints them without the "agent: ").
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

// startTLS loads the certificate before the API listens.
func (a *Agent) startTLS() error {
	if a.sec.tls == nil {
		return nil
	}
	cfg, names, err := loadTLS(&a.cfg.HTTP)
	if err != nil {
		return err
	}
	a.sec.tls.Set(cfg, names)
	a.sec.hosts.Set(append(slices.Clone(a.cfg.HTTP.AllowedHosts), names...)...)
	return nil
}

// serveConfig is how the agent serves its HTTP faces.
func (a *Agent) serveConfig() httpapi.ServeConfig {
	sc := httpapi.ServeConfig{
		Logger:   a.opts.logger,
		ErrorLog: a.sec.remote.Writer(a.opts.logger.With("node", a.cfg.NodeName), "httpapi"),
		Conns:    a.sec.conns,
	}
	if a.sec.tls != nil {
		sc.TLS = a.sec.tls.ServerConfig()
	}
	return sc
}

// logRemote logs, rate-limited per source, a problem caused by bytes
// from the network; source is the sender's address or node ("" unknown).
func (a *Agent) logRemote(component, source, msg string, args ...any) {
	a.sec.remote.Log(component, source, msg, args...)
}

// reloadSecurity applies cfg's ACLs, allowed hosts and TLS files. TLS
// files are re-read on every reload (a renewed certificate keeps its
// path); serving HTTPS or plain HTTP cannot change without a restart. It
// returns the keys it could not apply.
func (a *Agent) reloadSecurity(cfg Config) (failed []string) {
	authz, err := cfg.Authorizer()
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
		a.sec.tls.Set(tc, certNames)
		a.log.Info("reloaded TLS certificate", "file", cfg.HTTP.TLSCertFile)
	}
	a.sec.hosts.Set(append(slices.Clone(cfg.HTTP.AllowedHosts), a.sec.tls.Names()...)...)
	return failed
}
