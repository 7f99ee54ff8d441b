package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/internal/clock"
)

// registry is the set of this agent's own instances: their definitions,
// their checks, and their replicated records.
type registry struct {
	node string
	kv   Store
	clk  clock.Clock
	log  *slog.Logger
	file *servicesFile // nil without a data dir

	mu sync.Mutex
	// services by id; guarded by mu.
	services map[string]*local
	// checks counts the checks' runs and health changes.
	checks checkCounters
	// gen counts changes to the API-registered services (what the file
	// holds); guarded by mu.
	gen uint64
	// run starts a check goroutine once Run has begun (nil before);
	// guarded by mu.
	run func(func(context.Context)) context.CancelFunc
	// visible waits until the catalog's view includes the store write at
	// an index, so a registration shows in listings when it returns.
	visible func(ctx context.Context, index uint64)
}

// local is one instance registered on this agent.
type local struct {
	def        Definition
	fromConfig bool
	check      *checkRunner // nil: no check, always passing
	stop       context.CancelFunc
}

func (l *local) value() []byte {
	h, out := HealthPassing, ""
	if l.check != nil {
		h, out = l.check.status()
	}
	return encodeRecord(l.def, h, out)
}

// writeTimeout bounds one store write of the registry.
const writeTimeout = 10 * time.Second

func writeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), writeTimeout)
}

// state is what the services file holds: the API-registered definitions.
func (r *registry) state() (uint64, []Definition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var defs []Definition
	for _, l := range r.services {
		if !l.fromConfig {
			defs = append(defs, l.def)
		}
	}
	slices.SortFunc(defs, func(a, b Definition) int { return strings.Compare(a.ID, b.ID) })
	return r.gen, defs
}

// install makes def (normalized) the local instance of its id and returns
// what it replaced (nil when new). Unchanged, it keeps the running check
// and health (a SIGHUP with the same [[service]] must not restart it
// critical) and reports changed false.
func (r *registry) install(def Definition, fromConfig bool) (l, old *local, changed bool) {
	l = &local{def: def, fromConfig: fromConfig}
	id := def.ID
	if def.Check != nil {
		l.check = newCheckRunner(*def.Check, r.clk, func(h Health, output string) {
			r.log.Info("service health changed", "service", def.Name, "id", id, "health", h, "output", output)
			_ = r.publish(id) // logged; reconcile retries on the next change
		})
		l.check.counts = &r.checks
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old = r.services[id]
	if old != nil && old.fromConfig == fromConfig && reflect.DeepEqual(old.def, def) {
		return old, old, false
	}
	r.replaceLocked(id, l, old)
	return l, old, true
}

// replaceLocked puts l (nil: nothing) in place of old, stopping old's
// check and starting l's. Called with r.mu held.
func (r *registry) replaceLocked(id string, l, old *local) {
	if old != nil && old.stop != nil {
		old.stop()
	}
	if l == nil {
		delete(r.services, id)
	} else {
		r.services[id] = l
		if l.check != nil && r.run != nil {
			l.stop = r.run(l.check.run)
		}
	}
	if (l != nil && !l.fromConfig) || (old != nil && !old.fromConfig) {
		r.gen++
	}
}

// register adds or replaces a local instance and returns once it is in
// effect: published to the store and, for an API registration, saved. On
// failure nothing changed: the previous instance (if any) is back.
func (r *registry) register(def Definition, fromConfig bool) error {
	def, err := Normalize(def)
	if err != nil {
		return err
	}
	l, old, changed := r.install(def, fromConfig)
	if changed {
		if err := r.publish(def.ID); err != nil {
			r.rollback(def.ID, l, old)
			return err
		}
	}
	if err := r.save(); err != nil {
		if changed {
			r.rollback(def.ID, l, old)
		}
		return err
	}
	return nil
}

// rollback undoes the installation of l over old, if nothing replaced l
// since, and re-asserts the store and the file.
func (r *registry) rollback(id string, l, old *local) {
	r.mu.Lock()
	if r.services[id] != l {
		r.mu.Unlock()
		return
	}
	if old != nil {
		old = &local{def: old.def, fromConfig: old.fromConfig, check: old.check}
	}
	r.replaceLocked(id, old, l)
	r.mu.Unlock()
	if old != nil {
		_ = r.publish(id)
	} else {
		_ = r.remove(id)
	}
	_ = r.save()
}

// deregister removes a local instance; on failure it is back.
func (r *registry) deregister(id string) error {
	r.mu.Lock()
	l := r.services[id]
	if l == nil {
		r.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownService, id)
	}
	r.replaceLocked(id, nil, l)
	r.mu.Unlock()
	err := r.remove(id)
	if err == nil {
		err = r.save()
	}
	if err != nil {
		r.mu.Lock()
		if r.services[id] == nil {
			r.replaceLocked(id, &local{def: l.def, fromConfig: l.fromConfig, check: l.check}, nil)
		}
		r.mu.Unlock()
		_ = r.publish(id)
		_ = r.save()
	}
	return err
}

// updateTTL sets a TTL check's health; it returns once published.
func (r *registry) updateTTL(id string, h Health, note string) error {
	switch h {
	case HealthPassing, HealthWarning, HealthCritical:
	default:
		return fmt.Errorf("%w: health %q: want passing, warning or critical", ErrInvalidService, h)
	}
	r.mu.Lock()
	l := r.services[id]
	r.mu.Unlock()
	if l == nil {
		return fmt.Errorf("%w: %q", ErrUnknownService, id)
	}
	if l.check == nil {
		return fmt.Errorf("%w: service %q has no check", ErrNotTTL, id)
	}
	if len(note) > maxCheckOutput {
		note = note[:maxCheckOutput]
	}
	return l.check.updateTTL(h, note)
}

// save waits until the services file holds the current registrations.
func (r *registry) save() error {
	if r.file == nil {
		return nil
	}
	r.mu.Lock()
	gen := r.gen
	r.mu.Unlock()
	return r.file.sync(gen)
}

// publish writes instance id's record to the store. A failure is logged
// and returned; reconcile retries on the next change in the namespace.
func (r *registry) publish(id string) error {
	r.mu.Lock()
	l := r.services[id]
	r.mu.Unlock()
	if l == nil {
		return nil
	}
	ctx, cancel := writeCtx()
	defer cancel()
	rec, err := r.kv.Put(ctx, Key(r.node, id), l.value(), 0)
	if err != nil {
		r.log.Error("cannot publish service", "id", id, "err", err)
		return fmt.Errorf("catalog: publish service %q: %w", id, err)
	}
	if r.visible != nil {
		r.visible(ctx, rec.Index)
	}
	return nil
}

// remove deletes instance id's record; already gone is fine.
func (r *registry) remove(id string) error {
	ctx, cancel := writeCtx()
	defer cancel()
	rec, err := r.kv.Delete(ctx, Key(r.node, id))
	if err != nil && !errors.Is(err, configsync.ErrNotFound) {
		return fmt.Errorf("catalog: remove service %q: %w", id, err)
	}
	if err == nil && r.visible != nil {
		r.visible(ctx, rec.Index)
	}
	return nil
}

// reconcile makes the given keys of this node's namespace (all of them
// when keys is nil) match the registry: each local instance whose record
// is missing, deleted, stale or written by another node is re-published;
// any other live key is deleted.
func (r *registry) reconcile(keys []string) {
	prefix := nodePrefix(r.node)
	var entries []configsync.Record
	if keys == nil {
		entries = r.kv.Entries(prefix)
		r.mu.Lock()
		for id := range r.services {
			if _, ok := slices.BinarySearchFunc(entries, Key(r.node, id), func(e configsync.Record, k string) int {
				return strings.Compare(e.Key, k)
			}); !ok {
				entries = append(entries, configsync.Record{Entry: configsync.Entry{Key: Key(r.node, id), Deleted: true}})
			}
		}
		r.mu.Unlock()
	} else {
		for _, k := range keys {
			e, ok := r.kv.Lookup(k)
			if !ok {
				e = configsync.Record{Entry: configsync.Entry{Key: k, Deleted: true}}
			}
			entries = append(entries, e)
		}
	}
	for _, e := range entries {
		id := strings.TrimPrefix(e.Key, prefix)
		r.mu.Lock()
		l := r.services[id]
		r.mu.Unlock()
		switch {
		case l == nil && !e.Deleted:
			if err := r.remove(id); err != nil {
				r.log.Error("cannot remove stale service", "key", e.Key, "err", err)
			}
		case l != nil && (e.Deleted || e.Version.Node != r.node || !bytes.Equal(e.Value, l.value())):
			_ = r.publish(id) // logged; retried on the next change
		}
	}
}

// watchOwn re-asserts this node's namespace whenever it changes: after a
// restart, after a reap deleted it while this node was away, or when a
// write from elsewhere lands in it.
func (r *registry) watchOwn(ctx context.Context) {
	sub := r.kv.SubscribeKeys(nodePrefix(r.node))
	defer sub.Close()
	r.reconcile(nil)
	for {
		select {
		case <-sub.C():
			if keys := sub.Keys(); len(keys) > 0 {
				r.reconcile(keys)
			}
		case <-ctx.Done():
			return
		}
	}
}

// reloadConfig replaces the services that came from the config file
// (SIGHUP); API-registered ones stay.
func (r *registry) reloadConfig(defs []Definition) error {
	keep := map[string]bool{}
	for _, def := range defs {
		def, err := Normalize(def)
		if err != nil {
			return err
		}
		keep[def.ID] = true
		if err := r.register(def, true); err != nil {
			return err
		}
	}
	r.mu.Lock()
	var gone []string
	for id, l := range r.services {
		if l.fromConfig && !keep[id] {
			gone = append(gone, id)
		}
	}
	r.mu.Unlock()
	for _, id := range gone {
		if err := r.deregister(id); err != nil {
			return err
		}
	}
	return nil
}
