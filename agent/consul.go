package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/consulapi"
)

// The Consul-compatible API (consulapi) on consul_api.addr. This file is
// all of its wiring: the adapters reuse the native API's
// (httpapi.StoreKV, apiMembership, httpapi.CatalogServices), so both faces
// run the same backend operations; only the catalog's index and the full
// instance list are added, and both come from the catalog's snapshot.

// consulKV is the native KV adapter with the write rule of the HTTP faces.
type consulKV struct{ httpapi.KV }

func (k consulKV) Put(ctx context.Context, key string, value []byte, flags uint64) (client.KVPair, error) {
	if err := httpapi.WriteAllowed(key, false); err != nil {
		return client.KVPair{}, err
	}
	return k.KV.Put(ctx, key, value, flags)
}

func (k consulKV) Delete(ctx context.Context, key string, recurse bool) (int, error) {
	if err := httpapi.WriteAllowed(key, recurse); err != nil {
		return 0, err
	}
	return k.KV.Delete(ctx, key, recurse)
}

// consulBackend is the agent and its catalog as consulapi sees them.
type consulBackend struct {
	apiMembership
	httpapi.Services
}

var (
	_ consulapi.KV      = consulKV{}
	_ consulapi.Catalog = consulBackend{}
	_ consulapi.Agent   = consulBackend{}
)

func (b consulBackend) CatalogIndex() uint64 {
	if c := b.apiMembership.a.Catalog(); c != nil {
		return c.Snapshot().Index()
	}
	return 1
}

func (b consulBackend) WaitCatalog(ctx context.Context, index uint64) (uint64, error) {
	c := b.apiMembership.a.Catalog()
	if c == nil {
		return 0, fmt.Errorf("%w: %w", httpapi.ErrUnavailable, ErrNotRunning)
	}
	s, err := c.Wait(ctx, index)
	return s.Index(), err
}

func (b consulBackend) Instances() []client.ServiceInstance {
	if c := b.apiMembership.a.Catalog(); c != nil {
		return httpapi.Instances(c.Snapshot())
	}
	return nil
}

// consulHandler builds the Consul-compatible API handler; the end of ctx
// releases its blocking queries.
func (a *Agent) consulHandler(ctx context.Context) http.Handler {
	b := consulBackend{apiMembership{a}, httpapi.CatalogServices(a.Catalog)}
	return consulapi.New(consulapi.Options{
		KV:         consulKV{httpapi.StoreKV(a.store)},
		Catalog:    b,
		Agent:      b,
		Datacenter: a.cfg.Datacenter,
		// The native API's security, shared: one set of tokens and rules,
		// one Host policy, one bound on blocking queries for the agent.
		ACL:      a.sec.acl,
		Hosts:    a.sec.hosts,
		Blocking: a.sec.gate,
		Explain: func(err error) (int, string) {
			return httpapi.StatusCode(err), httpapi.Message(err)
		},
		Logger:       a.opts.logger,
		MaxBodyBytes: max(int64(a.cfg.KV.MaxValueBytes), consulapi.DefaultMaxBodyBytes),
		Context:      ctx,
	})
}

// listenConsul binds consul_api.addr when it is set.
func (a *Agent) listenConsul() (net.Listener, error) {
	if a.cfg.ConsulAPI.Addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", a.cfg.ConsulAPI.Addr)
	if err != nil {
		return nil, fmt.Errorf("agent: Consul-compatible API on %s (consul_api.addr): %w", a.cfg.ConsulAPI.Addr, err)
	}
	return ln, nil
}

// startConsul serves the Consul-compatible API on ln until ctx ends.
// Start calls it holding a.mu.
func (a *Agent) startConsul(ctx context.Context, ln net.Listener) {
	if ln == nil {
		return
	}
	a.consulAddr = ln.Addr().String()
	h := a.consulHandler(ctx)
	a.goRun(ctx, func(ctx context.Context) {
		// The native API's connection limits and TLS apply here too.
		if err := httpapi.ServeWith(ctx, ln, h, a.serveConfig()); err != nil {
			a.log.Error("Consul-compatible API stopped", "err", err)
		}
	})
	a.log.Info("Consul-compatible API listening", "addr", a.consulAddr, "datacenter", a.cfg.Datacenter, "tls", a.sec.tls != nil)
}

// ConsulAddr is the address the Consul-compatible API listens on (""
// when disabled or not started).
func (a *Agent) ConsulAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.consulAddr
}
