package httpapi

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
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

// LoadTLS reads a certificate and its key, and with clientCAFile the CAs
// that must have signed every client's certificate (mutual TLS). It
// returns the config and the DNS names of the certificate; errors name
// the configuration key of the file at fault (http.tls_*).
func LoadTLS(certFile, keyFile, clientCAFile string) (*tls.Config, []string, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("httpapi: http.tls_cert_file %s, http.tls_key_file %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("httpapi: http.tls_client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("httpapi: http.tls_client_ca_file %s: no PEM certificate in it", clientCAFile)
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
