package agent

import (
	"context"

	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/watch"
)

// Wiring of the [[watch]] handlers (package watch): httpapi's views of the
// agent's store, catalog and membership satisfy watch's interfaces.

type watchState struct {
	mgr *watch.Manager
}

// initWatches prepares the configured watches; New calls it. Nothing
// runs until startWatches.
func (a *Agent) initWatches() {
	a.watches.mgr = watch.NewManager(watch.Backend{
		KV:      httpapi.StoreView{Store: a.Store},
		Catalog: httpapi.CatalogView{Get: a.Catalog},
		Members: httpapi.MembersWatch{MemberView: a.view()},
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
