package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/internal/clock"
	"github.com/murmurhq/murmur/internal/cowmap"
)

// Store is the replicated key/value store the catalog keeps its records
// in; *configsync.Store implements it. Every method may be called
// concurrently; writes return once durable.
type Store interface {
	// Entries returns the entries under prefix, tombstones included,
	// sorted by key.
	Entries(prefix string) []configsync.Record
	// Lookup returns the entry of key, a tombstone included; ok is false
	// when there is none.
	Lookup(key string) (configsync.Record, bool)
	// SubscribeKeys notifies of changes under prefix and says which keys
	// changed (configsync.Store.SubscribeKeys).
	SubscribeKeys(prefix string) *configsync.Subscription
	// Put writes key.
	Put(ctx context.Context, key string, value []byte, flags uint64) (configsync.Record, error)
	// Delete deletes a live key (an error wrapping configsync.ErrNotFound
	// otherwise).
	Delete(ctx context.Context, key string) (configsync.Record, error)
	// DeletePrefix deletes every live key under prefix in one write and
	// returns how many.
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// Members is the cluster membership the catalog reads.
type Members interface {
	// Members returns a copy of every member known, failed and left ones
	// included until reaped, with their coordinates, in any order. It is
	// called from the catalog's goroutine and must not block. The caller
	// of the catalog says that membership changed with MembersChanged.
	Members() []Node
}

// Floorer is optionally implemented by a Store that keeps a floor under
// the versions of collected tombstones (configsync's Summary().Floor): the
// serial never drops below it, so it stays monotonic after a restart even
// when the newest change was a delete that has since been collected.
type Floorer interface {
	Summary() configsync.Summary
}

// Config configures a Catalog. New copies it.
type Config struct {
	// Node is this agent's node name. Required.
	Node string
	// DataDir keeps the API-registered services (ServicesFile); "" keeps
	// them in memory only.
	DataDir string
	// Services are registered at New (the config file's [[service]]
	// tables); they are not saved to the services file.
	Services []Definition
	// Store and Members are required.
	Store   Store
	Members Members
	// OnSnapshot, when set, is called with each new snapshot from the
	// catalog's goroutine (from New for the first), before Snapshot
	// returns it: the DNS server compiles its zone here, off the query
	// path. It must not call back into the catalog and should be quick:
	// the next rebuild waits for it.
	OnSnapshot func(*Snapshot)
	// ReapAfter is the agent's reap_after: the services of a node that is
	// gone from membership, and silent in the catalog for this long, are
	// deleted once by one agent (reap.go). 0 never deletes them.
	ReapAfter time.Duration
	// Refresh is how often members are re-read for their coordinates;
	// default 5s.
	Refresh time.Duration
	// Clock; nil is the real clock.
	Clock clock.Clock
	// Logger; nil discards. The catalog adds component=catalog.
	Logger *slog.Logger
}

// Catalog owns this agent's service registry, its health checks, and the
// incrementally maintained view of the whole cluster's services. All
// methods are safe for concurrent use.
type Catalog struct {
	cfg  Config
	log  *slog.Logger
	clk  clock.Clock
	kv   Store
	reg  *registry
	sub  *configsync.Subscription
	snap atomic.Pointer[Snapshot]
	kick chan struct{}
	stat counters

	started atomic.Bool   // Run was called
	running atomic.Bool   // Run's loop applies changes
	ready   chan struct{} // closed once running is set (Ready)

	// applied is the store index the published snapshot covers; readers
	// of the API wait on it (waitApplied) so a registration is visible in
	// the catalog when it returns. appliedMu/appliedCh wake them.
	applied   atomic.Uint64
	appliedMu sync.Mutex
	appliedCh chan struct{} // closed and replaced on each advance

	// changedMu guards changedCh, which is closed and replaced whenever
	// a snapshot with a greater Index is published (Wait).
	changedMu sync.Mutex
	changedCh chan struct{}

	// The view: touched only by the catalog's goroutine (and New).
	recs     map[string]Instance            // decoded live records by key
	bySvc    map[string]map[string]struct{} // service -> keys
	nodeWall map[string]int64               // newest version (ms) per node namespace
	maxWall  int64                          // newest version (ms) in the namespace
	skipped  int                            // malformed records, for the log
}

// New checks cfg, registers cfg.Services and the saved API services, and
// builds the first snapshot. It starts no goroutine: call Run.
func New(cfg Config) (*Catalog, error) {
	if cfg.Node == "" || cfg.Store == nil || cfg.Members == nil {
		return nil, errors.New("catalog: Config needs Node, Store and Members")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Second
	}
	cfg.Services = slices.Clone(cfg.Services)
	c := &Catalog{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "catalog"),
		clk:      cfg.Clock,
		kv:       cfg.Store,
		kick:     make(chan struct{}, 1),
		recs:     map[string]Instance{},
		bySvc:    map[string]map[string]struct{}{},
		nodeWall: map[string]int64{},

		appliedCh: make(chan struct{}),
		changedCh: make(chan struct{}),
		ready:     make(chan struct{}),
	}
	c.reg = &registry{node: cfg.Node, kv: cfg.Store, clk: cfg.Clock, log: c.log, services: map[string]*local{}, visible: c.waitApplied}
	if cfg.DataDir != "" {
		c.reg.file = &servicesFile{path: filepath.Join(cfg.DataDir, ServicesFile), state: c.reg.state}
	}
	for _, def := range cfg.Services {
		def, err := Normalize(def)
		if err != nil {
			return nil, fmt.Errorf("catalog: [[service]] %q: %w", def.Name, err)
		}
		c.reg.install(def, true)
	}
	if c.reg.file != nil {
		saved, err := c.reg.file.load()
		if err != nil {
			c.log.Warn("cannot read registered services", "err", err)
		}
		for _, def := range saved {
			if def, err = Normalize(def); err != nil {
				c.log.Warn("dropping a saved service", "id", def.ID, "err", err)
				continue
			}
			c.reg.install(def, false)
		}
		c.reg.file.saved = c.reg.gen // what was loaded is on disk
	}
	// Subscribe before reading, so no change falls in between.
	c.sub = cfg.Store.SubscribeKeys(Prefix)
	c.load()
	c.applied.Store(c.sub.Index())
	return c, nil
}

// Snapshot returns the current view; never nil.
func (c *Catalog) Snapshot() *Snapshot { return c.snap.Load() }

// MembersChanged tells the catalog that membership changed. It never
// blocks; calls coalesce.
func (c *Catalog) MembersChanged() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Register adds or replaces a local service instance and returns once it
// is in effect: replicated through the store and saved to the services
// file. On error nothing changed. Invalid definitions wrap
// ErrInvalidService and name the field.
func (c *Catalog) Register(def Definition) error { return c.reg.register(def, false) }

// Deregister removes a local instance (ErrUnknownService for an unknown
// id).
func (c *Catalog) Deregister(id string) error { return c.reg.deregister(id) }

// UpdateTTL sets the health of instance id's TTL check and restarts its
// TTL (ErrUnknownService, ErrNotTTL).
func (c *Catalog) UpdateTTL(id string, h Health, note string) error {
	return c.reg.updateTTL(id, h, note)
}

// Local returns the definition of local instance id.
func (c *Catalog) Local(id string) (Definition, bool) {
	c.reg.mu.Lock()
	defer c.reg.mu.Unlock()
	if l, ok := c.reg.services[id]; ok {
		return l.def, true
	}
	return Definition{}, false
}

// ReloadConfig replaces the instances registered from the config file
// (SIGHUP); unchanged ones keep their check state.
func (c *Catalog) ReloadConfig(defs []Definition) error { return c.reg.reloadConfig(defs) }

// Ready is closed once Run applies the store's changes. From then on a
// registration returns only when the catalog shows it; one made before
// (Run started in a goroutine that has not run yet) would return at
// once, as it does without Run. Whoever starts Run in a goroutine and
// then registers waits for Ready first.
func (c *Catalog) Ready() <-chan struct{} { return c.ready }

// Run runs the catalog until ctx ends: it applies changed records as they
// arrive, re-reads members when told or every Refresh, re-asserts this
// node's records, runs the health checks and reaps. It returns after all
// of its goroutines have stopped. Run may be called once.
func (c *Catalog) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("catalog: Run called twice")
	}
	c.running.Store(true)
	close(c.ready)
	defer c.sub.Close()
	var wg sync.WaitGroup
	c.reg.mu.Lock()
	c.reg.run = func(f func(context.Context)) context.CancelFunc {
		cctx, cancel := context.WithCancel(ctx)
		wg.Go(func() { f(cctx) })
		return cancel
	}
	for _, l := range c.reg.services {
		if l.check != nil {
			l.stop = c.reg.run(l.check.run)
		}
	}
	c.reg.mu.Unlock()
	wg.Go(func() { c.reg.watchOwn(ctx) })
	c.loop(ctx)
	// Nothing applies writes any more: release registrations waiting to
	// see theirs.
	c.running.Store(false)
	c.appliedMu.Lock()
	close(c.appliedCh)
	c.appliedCh = make(chan struct{})
	c.appliedMu.Unlock()
	wg.Wait()
	return nil
}

func (c *Catalog) loop(ctx context.Context) {
	refresh := c.clk.NewTicker(c.cfg.Refresh)
	defer refresh.Stop()
	var reap <-chan time.Time
	if c.cfg.ReapAfter > 0 {
		t := c.clk.NewTicker(reapEvery(c.cfg.ReapAfter))
		defer t.Stop()
		reap = t.C()
	}
	for {
		select {
		case <-c.sub.C():
			keys, index := c.sub.Next()
			c.update(keys, false)
			c.advance(index)
		case <-c.kick:
			c.update(nil, true)
		case <-refresh.C():
			c.update(nil, true)
		case <-reap:
			c.reapOnce(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// advance records that the published snapshot covers the store up to
// index and wakes waitApplied.
func (c *Catalog) advance(index uint64) {
	if index <= c.applied.Load() {
		return
	}
	c.applied.Store(index)
	c.appliedMu.Lock()
	close(c.appliedCh)
	c.appliedCh = make(chan struct{})
	c.appliedMu.Unlock()
}

// waitApplied waits until the catalog's snapshot includes the store write
// at index (bounded by ctx). Without Run nothing applies writes, and it
// returns at once.
func (c *Catalog) waitApplied(ctx context.Context, index uint64) {
	for c.running.Load() && c.applied.Load() < index {
		c.appliedMu.Lock()
		ch := c.appliedCh
		c.appliedMu.Unlock()
		if c.applied.Load() >= index {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// load reads the whole namespace (New).
func (c *Catalog) load() {
	start := time.Now()
	for _, e := range c.kv.Entries(Prefix) {
		c.applyEntry(e.Key, e, true)
	}
	s := &Snapshot{self: c.cfg.Node, changes: Changes{Full: true}}
	s.setNodes(c.cfg.Members.Members())
	w := cowmap.NewWriter[[]Instance](nil)
	for name := range c.bySvc {
		list := c.instances(name)
		setService(w, name, list)
		s.count += len(list)
	}
	s.services = w.Done()
	s.names = s.services.Keys()
	c.publish(s, start)
}

// update applies the changed keys and, when nodes is set, re-reads the
// members, then publishes a snapshot if anything changed.
func (c *Catalog) update(keys []string, nodes bool) {
	start := time.Now()
	prev := c.snap.Load()
	ch := Changes{From: prev.seq}
	changed := map[string]bool{}
	for _, k := range keys {
		e, ok := c.kv.Lookup(k)
		for _, svc := range c.applyEntry(k, e, ok) {
			changed[svc] = true
		}
	}
	s := &Snapshot{self: prev.self, nodes: prev.nodes, nodeIdx: prev.nodeIdx,
		services: prev.services, names: prev.names, count: prev.count}
	if nodes {
		ms := c.cfg.Members.Members()
		ch.Nodes, ch.Coords = diffNodes(prev.nodes, ms)
		if ch.Nodes || ch.Coords {
			s.setNodes(ms)
		}
	}
	if len(changed) > 0 {
		w := cowmap.NewWriter(prev.services)
		added := false
		for name := range changed {
			old, had := prev.services.Get(name)
			list := c.instances(name)
			s.count += len(list) - len(old)
			setService(w, name, list)
			added = added || had != (list != nil)
		}
		s.services = w.Done()
		if added {
			s.names = s.services.Keys()
		}
		ch.Services = sortedKeys(changed)
	}
	if !ch.Nodes && !ch.Coords && len(ch.Services) == 0 && c.serial() == prev.serial {
		return
	}
	s.changes = ch
	c.publish(s, start)
}

// applyEntry updates the view with key's entry (ok false: gone) and
// returns the services whose instances changed.
func (c *Catalog) applyEntry(key string, e configsync.Record, ok bool) []string {
	node, _, valid := splitKey(key)
	if !valid {
		return nil
	}
	if ok {
		c.maxWall = max(c.maxWall, e.Version.Wall)
		c.nodeWall[node] = max(c.nodeWall[node], e.Version.Wall)
	}
	old, had := c.recs[key]
	var in Instance
	live := ok && !e.Deleted
	if live {
		var err error
		in, err = decodeRecord(key, e.Value)
		c.stat.decodes.Add(1)
		if err != nil {
			c.stat.malformed.Add(1)
			c.log.Debug("ignoring malformed service record", "err", err)
			live = false
		}
	}
	switch {
	case !live && !had:
		return nil
	case !live:
		c.unindex(key, old)
		return []string{old.Service}
	case had && equalInstance(old, in):
		return nil
	}
	if had {
		c.unindex(key, old)
	}
	c.recs[key] = in
	set := c.bySvc[in.Service]
	if set == nil {
		set = map[string]struct{}{}
		c.bySvc[in.Service] = set
	}
	set[key] = struct{}{}
	if had && old.Service != in.Service {
		return []string{old.Service, in.Service}
	}
	return []string{in.Service}
}

func (c *Catalog) unindex(key string, old Instance) {
	delete(c.recs, key)
	if set := c.bySvc[old.Service]; set != nil {
		delete(set, key)
		if len(set) == 0 {
			delete(c.bySvc, old.Service)
		}
	}
}

// instances builds the sorted instance list of one service (nil: none).
func (c *Catalog) instances(name string) []Instance {
	set := c.bySvc[name]
	if len(set) == 0 {
		return nil
	}
	out := make([]Instance, 0, len(set))
	for k := range set {
		out = append(out, c.recs[k])
	}
	sortInstances(out)
	return out
}

// serial is the Snapshot.Serial the current view gives.
func (c *Catalog) serial() uint32 {
	wall := c.maxWall
	if f, ok := c.kv.(Floorer); ok {
		wall = max(wall, f.Summary().Floor.Wall)
	}
	return uint32(max(wall, 0) / 1000)
}

// publish stamps and stores s, then hands it to OnSnapshot.
func (c *Catalog) publish(s *Snapshot, start time.Time) {
	prev := c.snap.Load()
	s.seq, s.index = 1, 1
	if prev != nil {
		s.seq = prev.seq + 1
		s.serial = prev.serial
		s.index = prev.index
		if ch := s.changes; ch.Full || ch.Nodes || len(ch.Services) > 0 {
			s.index++
		}
	}
	s.serial = max(s.serial, c.serial())
	s.built = c.clk.Now()
	if n := c.stat.malformed.Load(); int(n) != c.skipped {
		c.skipped = int(n)
		c.log.Warn("malformed service records ignored", "total", n)
	}
	if c.cfg.OnSnapshot != nil {
		c.cfg.OnSnapshot(s)
	}
	c.snap.Store(s)
	c.stat.rebuilt(time.Since(start), s.Len())
	if prev != nil && s.index > prev.index {
		c.changedMu.Lock()
		close(c.changedCh)
		c.changedCh = make(chan struct{})
		c.changedMu.Unlock()
	}
}

// Wait blocks until the snapshot's Index exceeds index or ctx ends, and
// returns the snapshot then (with ctx's error when ctx ended the wait).
// Every waiter sleeps on one channel that the next change closes, so
// waiting costs nothing per change and per waiter.
func (c *Catalog) Wait(ctx context.Context, index uint64) (*Snapshot, error) {
	for {
		c.changedMu.Lock()
		ch := c.changedCh
		c.changedMu.Unlock()
		if s := c.snap.Load(); s.index > index {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return c.snap.Load(), ctx.Err()
		}
	}
}

// diffNodes compares two member lists: nodes is true when a member came,
// went or changed anything but its coordinate; coords when a coordinate
// changed.
func diffNodes(old []Node, now []Node) (nodes, coords bool) {
	if len(old) != len(now) {
		return true, true
	}
	byName := make(map[string]*Node, len(old))
	for i := range old {
		byName[old[i].Name] = &old[i]
	}
	for _, n := range now {
		o := byName[n.Name]
		if o == nil {
			return true, true
		}
		if o.Addr != n.Addr || o.Port != n.Port || o.Status != n.Status || o.Protocol != n.Protocol || !maps.Equal(o.Meta, n.Meta) {
			nodes = true
		}
		if !equalCoord(o, &n) {
			coords = true
		}
	}
	return nodes, coords
}

func equalCoord(a, b *Node) bool {
	x, y := a.Coord, b.Coord
	if x == nil || y == nil {
		return x == y
	}
	return slices.Equal(x.Vec, y.Vec) && x.Error == y.Error && x.Adjustment == y.Adjustment && x.Height == y.Height
}

func equalInstance(a, b Instance) bool {
	return a.ID == b.ID && a.Service == b.Service && a.Node == b.Node && a.Addr == b.Addr && a.Port == b.Port &&
		a.Health == b.Health && a.Output == b.Output && slices.Equal(a.Tags, b.Tags) && maps.Equal(a.Meta, b.Meta)
}
