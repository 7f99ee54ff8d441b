package agent

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/dnsserver"
	"github.com/murmurhq/murmur/membership"
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
		if ls.dnsUDP, ls.dnsTCP, err = dnsserver.Listen(a.cfg.DNS.Addr); err != nil {
			ls.close()
			return nil, fmt.Errorf("agent: %w", err) // dnsserver: listen udp ADDR: ...
		}
	}
	return ls, nil
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
		Services:  httpapi.ToDefinitions(a.cfg.Services),
		Store:     a.store,
		Members:   membership.WithCoords{Self: a.cfg.NodeName, Table: a.members, Coords: a.coords},
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
