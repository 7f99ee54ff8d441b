package watch

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/murmurhq/murmur/agent/client"
)

// KV is the agent's replicated store as watches read it. Methods are
// called concurrently.
type KV interface {
	// Get returns the live pair at key; ok is false when it is absent or
	// deleted.
	Get(key string) (p client.KVPair, ok bool)
	// List returns the live pairs under prefix, sorted by key.
	List(prefix string) []client.KVPair
	// Notify returns a channel that receives after changes under prefix
	// (coalesced: a slow reader sees one signal for many changes; sends
	// never block the store), and a function that stops it. The channel
	// is closed when the store shuts down.
	Notify(prefix string) (<-chan struct{}, func())
}

// Catalog is the cluster's service catalog. Methods are called
// concurrently.
type Catalog interface {
	// Service returns the instances of name (only passing ones on live
	// nodes when passingOnly), sorted; none is an empty list.
	Service(name string, passingOnly bool) []client.ServiceInstance
	// Notify is as KV.Notify, for any change of the catalog.
	Notify() (<-chan struct{}, func())
}

// Members is the cluster membership. Methods are called concurrently.
type Members interface {
	// Members returns every known member sorted by name.
	Members() []client.Member
	// Notify is as KV.Notify, for any membership change.
	Notify() (<-chan struct{}, func())
}

// Backend is what a Manager reads. A nil part makes the watches of its
// types fail at start with an error in the log.
type Backend struct {
	KV      KV
	Catalog Catalog
	Members Members
}

// Manager runs the agent's [[watch]] definitions and swaps them on
// reload. All methods are safe for concurrent use.
type Manager struct {
	b    Backend
	log  *slog.Logger
	base *slog.Logger // for the watches, which add their own attributes

	mu sync.Mutex
	// ctx is Run's context (nil before Run); running maps a definition's
	// identity to its watch; both guarded by mu.
	ctx     context.Context
	defs    []Definition
	running map[string]*running
	wg      sync.WaitGroup
}

type running struct {
	w      *Watch
	cancel context.CancelFunc
	done   chan struct{}
}

// NewManager returns a Manager reading b; logger nil discards.
func NewManager(b Backend, logger *slog.Logger) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{b: b, base: logger, log: logger.With("component", "watch"), running: map[string]*running{}}
}

// identity is what makes two definitions the same watch across a reload.
func identity(d Definition) string {
	b, _ := json.Marshal(d.WithDefaults())
	return string(b)
}

// Set replaces the definitions: watches that are unchanged keep running
// (and do not run their handler again), removed ones stop (a handler
// still running is killed), new ones start. Before Run it only records
// them. It returns ValidateAll's error and changes nothing on one.
func (m *Manager) Set(defs []Definition) error {
	if err := ValidateAll(defs); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.defs = slices.Clone(defs)
	if m.ctx == nil {
		return nil
	}
	m.applyLocked()
	return nil
}

// applyLocked makes running match defs; called with mu held after Run.
func (m *Manager) applyLocked() {
	want := map[string]Definition{}
	for _, d := range m.defs {
		want[identity(d)] = d
	}
	for id, r := range m.running {
		if _, ok := want[id]; !ok {
			r.cancel()
			delete(m.running, id)
			m.log.Info("watch stopped", "watch", r.w.def.Name)
		}
	}
	for id, d := range want {
		if _, ok := m.running[id]; ok {
			continue
		}
		src, err := m.source(d)
		if err != nil {
			m.log.Error("watch not started", "watch", d.WithDefaults().Name, "err", err)
			continue
		}
		ctx, cancel := context.WithCancel(m.ctx)
		r := &running{w: NewWatch(d, src, m.base), cancel: cancel, done: make(chan struct{})}
		m.running[id] = r
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer close(r.done)
			if err := r.w.Run(ctx); err != nil {
				m.log.Error("watch ended", "watch", r.w.def.Name, "err", err)
			}
		}()
		m.log.Info("watch started", "watch", r.w.def.Name, "type", d.Type, "handler", strings.Join(d.Handler, " "))
	}
}

// Run starts the definitions given to Set and runs until ctx ends, then
// stops every watch and waits for them.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ctx != nil {
		m.mu.Unlock()
		return errors.New("watch: Run called twice")
	}
	m.ctx = ctx
	m.applyLocked()
	m.mu.Unlock()
	<-ctx.Done()
	m.wg.Wait()
	return nil
}

// Stats returns the counters of every running watch, sorted by name.
func (m *Manager) Stats() []Stats {
	m.mu.Lock()
	out := make([]Stats, 0, len(m.running))
	for _, r := range m.running {
		out = append(out, r.w.Stats())
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Stats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

var errNoBackend = errors.New("watch: this agent does not serve that type")

func (m *Manager) source(d Definition) (Source, error) {
	switch d.Type {
	case TypeKey:
		if m.b.KV == nil {
			return nil, errNoBackend
		}
		ch, stop := m.b.KV.Notify(d.Key)
		return &notifySource{ch: ch, stop: stop, read: func() any {
			if p, ok := m.b.KV.Get(d.Key); ok {
				return &p
			}
			return (*client.KVPair)(nil) // JSON null: absent or deleted
		}}, nil
	case TypeKeyPrefix:
		if m.b.KV == nil {
			return nil, errNoBackend
		}
		ch, stop := m.b.KV.Notify(d.Prefix)
		return &notifySource{ch: ch, stop: stop, read: func() any {
			return nonNil(m.b.KV.List(d.Prefix))
		}}, nil
	case TypeService:
		if m.b.Catalog == nil {
			return nil, errNoBackend
		}
		ch, stop := m.b.Catalog.Notify()
		return &notifySource{ch: ch, stop: stop, read: func() any {
			return nonNil(m.b.Catalog.Service(d.Service, d.PassingOnly))
		}}, nil
	case TypeMembers:
		if m.b.Members == nil {
			return nil, errNoBackend
		}
		ch, stop := m.b.Members.Notify()
		return &notifySource{ch: ch, stop: stop, read: func() any {
			return nonNil(m.b.Members.Members())
		}}, nil
	}
	return nil, ErrInvalid
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ErrClosed is returned by a local source whose backend shut down.
var ErrClosed = errors.New("watch: source closed")

// notifySource reads the state after each notification.
type notifySource struct {
	ch      <-chan struct{}
	stop    func()
	read    func() any
	started bool
}

func (s *notifySource) Next(ctx context.Context) (any, error) {
	if s.started {
		select {
		case _, ok := <-s.ch:
			if !ok {
				return nil, ErrClosed
			}
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		}
	}
	s.started = true
	return s.read(), nil
}
