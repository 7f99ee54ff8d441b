package httpapi

import (
	"context"
	"fmt"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/configsync"
)

// Views of the parts for the other consumers of the wire types: the
// Consul face's catalog index and instance list, and the [[watch]]
// handlers (package watch declares the interfaces; these satisfy them).
// Each converts at this one boundary, as StoreKV and CatalogServices do.

// ErrNotStarted: a part the view reads does not exist yet.
var ErrNotStarted = fmt.Errorf("%w: the agent is not running", ErrUnavailable)

// CatalogView reads the catalog that Get returns (nil before the agent
// started). Safe for concurrent use.
type CatalogView struct {
	Get func() *catalog.Catalog
}

// CatalogIndex is the catalog's modification index (1 before it exists).
func (v CatalogView) CatalogIndex() uint64 {
	if c := v.Get(); c != nil {
		return c.Snapshot().Index()
	}
	return 1
}

// WaitCatalog blocks until the index exceeds index or ctx ends.
func (v CatalogView) WaitCatalog(ctx context.Context, index uint64) (uint64, error) {
	c := v.Get()
	if c == nil {
		return 0, ErrNotStarted
	}
	s, err := c.Wait(ctx, index)
	return s.Index(), err
}

// Instances returns every instance in the catalog.
func (v CatalogView) Instances() []client.ServiceInstance {
	if c := v.Get(); c != nil {
		return Instances(c.Snapshot())
	}
	return nil
}

// Service returns the instances of name (only passing ones on live nodes
// when passingOnly); an unknown service has none.
func (v CatalogView) Service(name string, passingOnly bool) []client.ServiceInstance {
	out, _ := CatalogServices(v.Get).Service(name, passingOnly)
	return out
}

// Notify signals each change of the catalog's index (members and
// instances, not coordinates), coalesced; the channel is closed when stop
// is called.
func (v CatalogView) Notify() (<-chan struct{}, func()) {
	ctx, stop := context.WithCancel(context.Background())
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		cat := v.Get()
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

// StoreView reads the store that Store returns (the watches run only once
// it exists) with the native API's JSON.
type StoreView struct {
	Store func() *configsync.Store
}

// Get returns the live pair at key; false when absent or deleted.
func (v StoreView) Get(key string) (client.KVPair, bool) {
	p, err := StoreKV(v.Store()).Get(key)
	return p, err == nil
}

// List returns the live pairs under prefix, sorted by key.
func (v StoreView) List(prefix string) []client.KVPair { return StoreKV(v.Store()).List(prefix) }

// Notify signals changes under prefix (configsync.Subscription).
func (v StoreView) Notify(prefix string) (<-chan struct{}, func()) {
	sub := v.Store().Subscribe(prefix)
	return sub.C(), sub.Close
}

// MembersWatch is the member list for watches: without the RTT and clock
// estimates, which move all the time (a members watch runs on membership
// changes only).
type MembersWatch struct{ MemberView }

// Members returns every known member.
func (w MembersWatch) Members() []client.Member {
	ms := w.Table.List()
	out := make([]client.Member, len(ms))
	for i, m := range ms {
		out[i] = ClientMember(m)
	}
	return out
}

// Notify turns membership events into coalesced signals; the channel is
// closed when the agent shuts down or stop is called.
func (w MembersWatch) Notify() (<-chan struct{}, func()) {
	sub := w.Events.Subscribe(16) // a drop is harmless: the watch re-reads the list
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
