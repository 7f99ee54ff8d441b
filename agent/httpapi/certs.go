package httpapi

import (
	"crypto/tls"
	"sync/atomic"
)

// Certs serves the current TLS certificate to every handshake of the
// HTTP faces; Set replaces it, so a reload (SIGHUP re-reads the files)
// takes effect without restarting the listeners. Safe for concurrent use.
type Certs struct {
	cur atomic.Pointer[tls.Config]
	// names are the DNS names of the current certificate.
	names atomic.Pointer[[]string]
}

// Set makes cfg, whose certificate names names, the config of new
// handshakes.
func (c *Certs) Set(cfg *tls.Config, names []string) {
	c.cur.Store(cfg)
	c.names.Store(&names)
}

// Names returns the DNS names of the current certificate (none on a nil
// Certs: the faces serve plain HTTP).
func (c *Certs) Names() []string {
	if c == nil {
		return nil
	}
	if p := c.names.Load(); p != nil {
		return *p
	}
	return nil
}

// ServerConfig is ServeConfig.TLS: it hands every handshake the current
// config.
func (c *Certs) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return c.cur.Load(), nil
		},
	}
}
