package agent

import (
	"context"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/watch"
)

// Wiring of the [[watch]] handlers (package watch): adapters from the
// agent's store, catalog and membership to watch's interfaces.

type watchState struct {
	mgr *watch.Manager
}

// initWatches prepares the configured watches; New calls it. Nothing
// runs until startWatches.
func (a *Agent) initWatches() {
	a.watches.mgr = watch.NewManager(watch.Backend{
		KV:      watchKV{a},
		Catalog: watchCatalog{a},
		Members: watchMembers{a},
	}, a.opts.logger.With("node", a.cfg.NodeName))
	if err := a.watches.mgr.Set(a.cfg.Watches); err != nil { // checked by Validate
		a.log.Error("watches", "err", err)
	}
}

// startWatches runs the watches until ctx ends; Start calls it once the
// store and the catalog exist.
func (a *Agent) startWatches(ctx context.Context) {
	a.goRun(ctx, func(ctx context.Context) { _ = a.watches.mgr.Run(ctx) })
}

// WatchStats returns the counters of the running watches.
func (a *Agent) WatchStats() []watch.Stats { return a.watches.mgr.Stats() }

// watchKV reads the store, which exists once the agent started (watches
// run only then), through the HTTP API's adapter: the same JSON.
type watchKV struct{ a *Agent }

var _ watch.KV = watchKV{}

func (k watchKV) Get(key string) (client.KVPair, bool) {
	p, err := httpapi.StoreKV(k.a.store).Get(key)
	return p, err == nil
}

func (k watchKV) List(prefix string) []client.KVPair { return httpapi.StoreKV(k.a.store).List(prefix) }

func (k watchKV) Notify(prefix string) (<-chan struct{}, func()) {
	sub := k.a.store.Subscribe(prefix)
	return sub.C(), sub.Close
}

type watchCatalog struct{ a *Agent }

var _ watch.Catalog = watchCatalog{}

func (c watchCatalog) Service(name string, passingOnly bool) []client.ServiceInstance {
	out, _ := httpapi.CatalogServices(c.a.Catalog).Service(name, passingOnly) // unknown: none
	return out
}

// Notify signals each change of the catalog's index (Catalog.Wait: members
// and instances, not coordinates); the channel is closed when stop is
// called.
func (c watchCatalog) Notify() (<-chan struct{}, func()) {
	ctx, stop := context.WithCancel(context.Background())
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		cat := c.a.Catalog()
		if cat == nil {
			return
		}
		index := cat.Snapshot().Index()
		for {
			snap, err := cat.Wait(ctx, index)
			if err != nil {
				return
			}
			index = snap.Index()
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out, stop
}

type watchMembers struct{ a *Agent }

var _ watch.Members = watchMembers{}

// Members leaves out RTT estimates, which move all the time: a members
// watch runs on membership changes only.
func (m watchMembers) Members() []client.Member {
	ms := m.a.Members()
	out := make([]client.Member, len(ms))
	for i, x := range ms {
		out[i] = toClientMember(x)
	}
	return out
}

// Notify turns membership events into coalesced signals; the channel is
// closed when the agent shuts down or stop is called.
func (m watchMembers) Notify() (<-chan struct{}, func()) {
	sub := m.a.Subscribe(16) // a drop is harmless: the watch re-reads the list
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		for range sub.C() {
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out, sub.Close
}
