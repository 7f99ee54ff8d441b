package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/consulapi"
)

// The Consul-compatible API (consulapi) on consul_api.addr. This file is
// all of its wiring: the adapters reuse the native API's (apiKV,
// apiMembership, apiServices), so both faces run the same backend
// operations; only the catalog's index and the full instance list are
// added, and both come from the Catalog.

// consulKV is apiKV with the write rule of the HTTP faces.
type consulKV struct{ apiKV }

func (k consulKV) Put(ctx context.Context, key string, value []byte, flags uint64) (client.KVPair, error) {
	if err := httpapi.WriteAllowed(key, false); err != nil {
		return client.KVPair{}, err
	}
	return k.apiKV.Put(ctx, key, value, flags)
}

func (k consulKV) Delete(ctx context.Context, key string, recurse bool) (int, error) {
	if err := httpapi.WriteAllowed(key, recurse); err != nil {
		return 0, err
	}
	return k.apiKV.Delete(ctx, key, recurse)
}

// consulBackend is the agent and its catalog as consulapi sees them.
type consulBackend struct {
	apiMembership
	apiServices
}

var (
	_ consulapi.KV      = consulKV{}
	_ consulapi.Catalog = consulBackend{}
	_ consulapi.Agent   = consulBackend{}
)

func (b consulBackend) CatalogIndex() uint64 {
	if c := b.apiMembership.a.Catalog(); c != nil {
		return c.Index
	}
	return 1
}

func (b consulBackend) WaitCatalog(ctx context.Context, index uint64) (uint64, error) {
	c, err := b.apiMembership.a.WaitCatalog(ctx, index)
	if c == nil {
		return 0, fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
	}
	return c.Index, err
}

func (b consulBackend) Instances() []client.ServiceInstance {
	if c := b.apiMembership.a.Catalog(); c != nil {
		return c.AllInstances()
	}
	return nil
}

// authorizeConsul maps a Consul token onto Murmur's: today the one
// management token http.token, required for every write when set; reads
// are open, as on the native API. This is the one place that changes when
// prefix ACLs arrive.
func (a *Agent) authorizeConsul(token string, acc consulapi.Access) error {
	if !acc.Write || a.cfg.HTTP.Token == "" {
		return nil
	}
	if token == "" {
		return errors.New("this agent requires a token for writes (http.token); send it in X-Consul-Token")
	}
	want, got := sha256.Sum256([]byte(a.cfg.HTTP.Token)), sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return errors.New("ACL not found (the token is not this agent's http.token)")
	}
	return nil
}

// consulHandler builds the Consul-compatible API handler; the end of ctx
// releases its blocking queries.
func (a *Agent) consulHandler(ctx context.Context) http.Handler {
	b := consulBackend{apiMembership{a}, apiServices{a}}
	return consulapi.New(consulapi.Options{
		KV:         consulKV{apiKV{a.store}},
		Catalog:    b,
		Agent:      b,
		Datacenter: a.cfg.Datacenter,
		Authorize:  a.authorizeConsul,
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
		if err := httpapi.Serve(ctx, ln, h, a.opts.logger); err != nil {
			a.log.Error("Consul-compatible API stopped", "err", err)
		}
	})
	a.log.Info("Consul-compatible API listening", "addr", a.consulAddr, "datacenter", a.cfg.Datacenter)
}

// ConsulAddr is the address the Consul-compatible API listens on (""
// when disabled or not started).
func (a *Agent) ConsulAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.consulAddr
}
