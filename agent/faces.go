package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/dnsserver"
)

// The agent's faces, the HTTP API and DNS, are bound in Start (so a port in
// use fails Start) and served on the agent's goroutines.

type listeners struct {
	http   net.Listener
	dnsUDP net.PacketConn
	dnsTCP net.Listener
}

func (l *listeners) close() {
	if l.http != nil {
		l.http.Close()
	}
	if l.dnsUDP != nil {
		l.dnsUDP.Close()
	}
	if l.dnsTCP != nil {
		l.dnsTCP.Close()
	}
}

// listen binds the HTTP and DNS addresses that are configured.
func (a *Agent) listen() (*listeners, error) {
	ls := &listeners{http: a.opts.httpLn}
	var err error
	if ls.http == nil && a.cfg.HTTP.Addr != "" {
		if ls.http, err = net.Listen("tcp", a.cfg.HTTP.Addr); err != nil {
			return nil, fmt.Errorf("agent: HTTP API: %w", err) // names the address
		}
	}
	if a.cfg.DNS.Addr != "" {
		if ls.dnsUDP, ls.dnsTCP, err = listenDNS(a.cfg.DNS.Addr, listenTCP); err != nil {
			ls.close()
			return nil, err
		}
	}
	return ls, nil
}

func listenTCP(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// dnsBindTries bounds listenDNS's attempts with port 0.
const dnsBindTries = 50

// listenDNS binds UDP and TCP on the same address. With port 0 the kernel
// picks a free UDP port, which TCP may find taken (UDP and TCP ports are
// separate spaces; memberlist's own sockets and other processes use
// both): then both are released and a new port is tried. A fixed port is
// tried once.
func listenDNS(addr string, listenTCP func(string) (net.Listener, error)) (net.PacketConn, net.Listener, error) {
	tries := 1
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		tries = dnsBindTries
	}
	for i := 1; ; i++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("agent: DNS: %w", err)
		}
		ln, err := listenTCP(pc.LocalAddr().String()) // the port UDP got
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if i >= tries || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("agent: DNS: %w", err)
		}
	}
}

// startFaces serves DNS and HTTP on ls until ctx ends. Start calls it
// holding a.mu. DNS goes first: /metrics reads a.dns.
func (a *Agent) startFaces(ctx context.Context, ls *listeners) {
	a.metrics = newMetrics(a)
	var srv *dnsserver.Server
	if ls.dnsUDP != nil {
		var err error
		srv, err = dnsserver.New(a.cfg.DNS.Config, a, a.opts.logger.With("node", a.cfg.NodeName))
		if err != nil { // Validate checked the config; serve HTTP anyway
			a.log.Error("DNS server not started", "err", err)
			ls.dnsUDP.Close()
			ls.dnsTCP.Close()
			srv = nil
		}
	}
	if srv != nil {
		a.dns = srv
		a.dnsAddr = ls.dnsUDP.LocalAddr().String()
		a.goRun(ctx, func(ctx context.Context) {
			if err := srv.Run(ctx, ls.dnsUDP, ls.dnsTCP); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("DNS server stopped", "err", err)
			}
		})
	}
	if ls.http != nil {
		a.httpAddr = ls.http.Addr().String()
		h := a.httpHandler(a.metrics.handler())
		a.goRun(ctx, func(ctx context.Context) {
			if err := httpapi.ServeWith(ctx, ls.http, h, a.serveConfig()); err != nil {
				a.log.Error("HTTP API stopped", "err", err)
			}
		})
		a.log.Info("HTTP API listening", "addr", ls.http.Addr().String(), "tls", a.sec.tls != nil, "acl_default", a.sec.acl.Get().Default())
	}
}

// DNSAddr is the address the DNS server listens on ("" when disabled or
// not started).
func (a *Agent) DNSAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dnsAddr
}
