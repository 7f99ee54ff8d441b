package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/dnsserver"
)

// The agent's faces, the HTTP API and DNS, are bound in Start (so a port in
// use fails Start) and served on the agent's goroutines.

type listeners struct {
	http   net.Listener
	consul net.Listener
	dnsUDP net.PacketConn
	dnsTCP net.Listener
}

func (l *listeners) close() {
	if l.http != nil {
		l.http.Close()
	}
	if l.consul != nil {
		l.consul.Close()
	}
	if l.dnsUDP != nil {
		l.dnsUDP.Close()
	}
	if l.dnsTCP != nil {
		l.dnsTCP.Close()
	}
}

// listen binds the HTTP, Consul-compatible and DNS addresses that are configured.
func (a *Agent) listen() (*listeners, error) {
	ls := &listeners{http: a.opts.httpLn}
	var err error
	if ls.http == nil && a.cfg.HTTP.Addr != "" {
		if ls.http, err = net.Listen("tcp", a.cfg.HTTP.Addr); err != nil {
			return nil, fmt.Errorf("agent: HTTP API: %w", err) // names the address
		}
	}
	if ls.consul, err = a.listenConsul(); err != nil {
		ls.close()
		return nil, err
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

// newDNS makes the DNS server when DNS is bound, before the catalog
// exists: the catalog hands it its first snapshot in catalog.New.
func (a *Agent) newDNS(ls *listeners) {
	if ls.dnsUDP == nil {
		return
	}
	srv, err := dnsserver.New(a.cfg.DNS.Config, a.opts.logger.With("node", a.cfg.NodeName))
	if err != nil { // Validate checked the config; serve HTTP anyway
		a.log.Error("DNS server not started", "err", err)
		ls.dnsUDP.Close()
		ls.dnsTCP.Close()
		ls.dnsUDP, ls.dnsTCP = nil, nil
		return
	}
	a.dns = srv
}

// newCatalog makes the service catalog over the store and the member
// table; its snapshots go to DNS.
func (a *Agent) newCatalog() (*catalog.Catalog, error) {
	c, err := catalog.New(catalog.Config{
		Node:      a.cfg.NodeName,
		DataDir:   a.cfg.DataDir,
		Services:  toDefinitions(a.cfg.Services),
		Store:     a.store,
		Members:   catalogMembers{a},
		ReapAfter: a.cfg.ReapAfter.D(),
		Clock:     a.clk,
		Logger:    a.opts.logger.With("node", a.cfg.NodeName),
		OnSnapshot: func(s *catalog.Snapshot) {
			if a.dns != nil {
				a.dns.Update(s)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return c, nil
}

// startFaces serves DNS and HTTP on ls until ctx ends. Start calls it
// holding a.mu.
func (a *Agent) startFaces(ctx context.Context, ls *listeners) {
	a.metrics = newMetrics(a)
	if srv := a.dns; srv != nil {
		a.dnsAddr = ls.dnsUDP.LocalAddr().String()
		a.goRun(ctx, func(ctx context.Context) {
			if err := srv.Run(ctx, ls.dnsUDP, ls.dnsTCP); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("DNS server stopped", "err", err)
			}
		})
	}
	if ls.http != nil {
		a.httpAddr = ls.http.Addr().String()
		h := a.httpHandler(a.metrics.Handler())
		a.goRun(ctx, func(ctx context.Context) {
			if err := httpapi.ServeWith(ctx, ls.http, h, a.serveConfig()); err != nil {
				a.log.Error("HTTP API stopped", "err", err)
			}
		})
		a.log.Info("HTTP API listening", "addr", ls.http.Addr().String(), "tls", a.sec.tls != nil, "acl_default", a.sec.acl.Get().Default())
	}
	a.startConsul(ctx, ls.consul)
}

// DNSAddr is the address the DNS server listens on ("" when disabled or
// not started).
func (a *Agent) DNSAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dnsAddr
}
