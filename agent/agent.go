package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/memberlist"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/dnsserver"
	"github.com/murmurhq/murmur/insight"
	"github.com/murmurhq/murmur/internal/broadcast"
	"github.com/murmurhq/murmur/internal/buildinfo"
	"github.com/murmurhq/murmur/internal/clock"
	"github.com/murmurhq/murmur/internal/logthrottle"
	"github.com/murmurhq/murmur/internal/udptransport"
	"github.com/murmurhq/murmur/membership"
	"github.com/murmurhq/murmur/metrics"
	"github.com/murmurhq/murmur/query"
)

// Version is the agent's version (internal/buildinfo: set at link time,
// else the module version, else "dev"), as /v1/agent/self reports it.
var Version = buildinfo.Read().Version

// Lifecycle errors.
var (
	// ErrNotRunning: the agent was not started, or has left or shut down.
	ErrNotRunning = errors.New("agent: not running")
	// ErrShutdown: the agent was shut down; it cannot be started again.
	ErrShutdown = errors.New("agent: shut down")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("agent: already started")
)

// Option sets one of the agent's seams.
type Option func(*options)

type options struct {
	transport memberlist.NodeAwareTransport
	httpLn    net.Listener
	clock     clock.Clock
	logger    *slog.Logger
	seed      *uint64
}

// WithTransport runs memberlist over t instead of UDP/TCP sockets on
// bind_addr (tests use internal/memnet). The agent shuts t down. Start
// does not refuse a keyless agent on such a transport: securing it is the
// embedder's part.
func WithTransport(t memberlist.NodeAwareTransport) Option {
	return func(o *options) { o.transport = t }
}

// WithHTTPListener serves the HTTP API on ln instead of binding
// http.addr. The agent closes ln.
func WithHTTPListener(ln net.Listener) Option { return func(o *options) { o.httpLn = ln } }

// WithClock sets the clock the agent's own timers and versions read
// (memberlist itself always reads the real clock).
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger sets the logger; the agent adds component attributes.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithSeed makes the agent's own random choices (reconnect targets,
// forwarding peers, backoff jitter) reproducible.
func WithSeed(seed uint64) Option { return func(o *options) { o.seed = &seed } }

type lifecycle uint8

const (
	stateNew lifecycle = iota
	stateRunning
	stateLeft
	stateShutdown
)

// Agent is one Murmur agent: membership over memberlist plus the parts
// that ride on it. Create it with New, then Start; Shutdown releases
// everything. All methods are safe for concurrent use.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	clk     clock.Clock
	opts    options
	members *membership.Table
	events  membership.Broker
	coords  *membership.Coords
	offsets *membership.Offsets
	del     *delegate
	meta    []byte // encoded node metadata; fixed at New
	peers   *membership.Peers
	intents membership.Intents
	// cat is set by Start, once; atomic because membership events (which
	// memberlist delivers during Create already) read it.
	cat atomic.Pointer[catalog.Catalog]
	// queries asks and answers cluster queries (the keyring, propagation).
	queries *query.Queries
	watches watchState

	// sec is the security state (security.go; the keyring is package keyring).
	sec *security

	// store, insight, dns and metrics are set by Start and read-only
	// afterwards.
	store   *configsync.Store
	insight *insight.Insight
	dns     *dnsserver.Server
	metrics *metrics.Exporter

	// handlers and states are filled by New and Start, before memberlist
	// exists, and read-only afterwards.
	handlers map[MsgType]Handler
	states   map[MsgType]StateHandler

	rndMu sync.Mutex
	// rnd is the agent's random source; guarded by rndMu.
	rnd *rand.Rand

	// ml is set once Start has created memberlist.
	ml atomic.Pointer[memberlist.Memberlist]
	// left is set by Leave. It is atomic because memberlist's callbacks,
	// which run under memberlist's node lock, read it: they must never
	// take a.mu (Start holds a.mu while it takes other locks).
	left atomic.Bool

	// leaveMu serialises Leave with itself and with Shutdown, so that
	// memberlist's Leave never runs after its Shutdown (which panics).
	leaveMu sync.Mutex
	// stopped is set when Shutdown begins; read lock-free on send paths.
	stopped atomic.Bool

	reloadMu sync.Mutex
	// applied is the configuration Reload compares against; guarded by
	// reloadMu, nil until the first Reload.
	applied *Config

	mu sync.Mutex
	// state, started, cancel and the faces' addresses are guarded by mu.
	state      lifecycle
	started    time.Time
	cancel     context.CancelFunc
	httpAddr   string
	consulAddr string
	dnsAddr    string

	wg   sync.WaitGroup
	done chan struct{}
}

// New checks cfg and prepares an agent without starting anything: no
// sockets, no goroutines. cfg is copied.
func New(cfg Config, opts ...Option) (*Agent, error) {
	cfg = cfg.Clone()
	if cfg.Gossip.Profile == "" {
		cfg.Gossip.Profile = "lan"
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.clock == nil {
		o.clock = clock.Real{}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	seed := rand.Uint64()
	if o.seed != nil {
		seed = *o.seed
	}
	meta, err := membership.EncodeMeta(cfg.Meta)
	if err != nil {
		return nil, fmt.Errorf("%w: meta: %w", ErrConfig, err)
	}
	a := &Agent{
		cfg:      cfg,
		opts:     o,
		clk:      o.clock,
		log:      o.logger.With("component", "agent", "node", cfg.NodeName),
		coords:   membership.NewCoords(),
		offsets:  membership.NewOffsets(o.clock.Now),
		handlers: map[MsgType]Handler{},
		states:   map[MsgType]StateHandler{},
		rnd:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		done:     make(chan struct{}),
		meta:     meta,
	}
	numNodes := func() int {
		if ml := a.ml.Load(); ml != nil {
			return ml.NumMembers()
		}
		return 1
	}
	mult := memberlistConfig(&cfg).RetransmitMult
	// The delegate and its queues exist before memberlist does: memberlist
	// answers pings (and so asks for broadcasts) already inside Create.
	a.del = &delegate{a: a, q: broadcast.New(numNodes, mult)}
	a.members = membership.NewTable(a.clk.Now, a.onEvent)
	a.handlers[msgAgent] = clockState{a}
	a.states[msgAgent] = clockState{a}
	a.states[msgWallClock] = wallClockState{a}
	a.queries = query.New(query.Config{Node: cfg.NodeName, Cluster: queryCluster{a}, Clock: a.clk,
		Logger: o.logger.With("node", cfg.NodeName), Remote: func(source, msg string, args ...any) { a.logRemote("query", source, msg, args...) }})
	a.handlers[msgQuery] = HandlerFunc(a.queries.HandleMessage)
	if a.sec, err = newSecurity(a); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	a.initWatches()
	if cfg.DataDir != "" {
		a.peers = membership.NewPeers(cfg.DataDir)
	}
	return a, nil
}

// Handle registers h for user messages of type t. Call it before Start.
func (a *Agent) Handle(t MsgType, h Handler) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state != stateNew {
		panic("agent: Handle after Start")
	}
	a.handlers[t] = h
	if s, ok := h.(StateHandler); ok {
		a.states[t] = s
	}
}

// Config returns a copy of the agent's configuration.
func (a *Agent) Config() Config { return a.cfg.Clone() }

// Name is this agent's node name.
func (a *Agent) Name() string { return a.cfg.NodeName }

// Logger is the agent's logger, for parts embedded in it.
func (a *Agent) Logger() *slog.Logger { return a.log }

// Start creates memberlist (binding the gossip port unless a transport was
// given) and starts the agent's background work: joining, rejoining known
// peers, reconnecting to failed members and reaping. It returns once the
// agent is a cluster of one; joining happens in the background (Join
// blocks instead).
func (a *Agent) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch a.state {
	case stateRunning, stateLeft:
		return ErrStarted
	case stateShutdown:
		return ErrShutdown
	}
	if a.cfg.DataDir != "" {
		if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("agent: data_dir: %w", err)
		}
	}
	ring, err := a.sec.keys.Open()
	if err != nil {
		return err
	}
	if a.opts.transport == nil { // an injected transport is the embedder's to secure
		if err := a.cfg.CheckPlaintext(ring != nil); err != nil {
			return err
		}
	}
	if err := a.startTLS(); err != nil {
		return err
	}
	ls, err := a.listen()
	if err != nil {
		return err
	}
	store, err := a.openStore()
	if err != nil {
		ls.close()
		return err
	}
	a.store = store
	a.handlers[MsgConfigSync] = store
	a.states[MsgConfigSync] = store
	a.insight = insight.New(store, a.queries) // registers its query before memberlist exists
	a.newDNS(ls)
	cat, err := a.newCatalog()
	if err != nil {
		ls.close()
		store.Close()
		return err
	}
	a.cat.Store(cat)
	mc := memberlistConfig(&a.cfg)
	mc.Name = a.cfg.NodeName
	host, port, _ := net.SplitHostPort(a.cfg.BindAddr)
	mc.BindAddr = host
	mc.BindPort, _ = strconv.Atoi(port)
	mc.AdvertisePort = mc.BindPort
	if a.cfg.AdvertiseAddr != "" {
		h, p, _ := net.SplitHostPort(a.cfg.AdvertiseAddr)
		mc.AdvertiseAddr = h
		mc.AdvertisePort, _ = strconv.Atoi(p)
	}
	if ring != nil {
		mc.Keyring = ring
	}
	mc.MetricLabels = append(mc.MetricLabels, gometrics.Label{Name: "node", Value: a.cfg.NodeName})
	mc.Logger = logthrottle.LevelLogger(a.opts.logger.With("node", a.cfg.NodeName), "memberlist", a.sec.remote)
	var own *udptransport.Transport // ours to shut down if Create fails
	if a.opts.transport != nil {
		mc.Transport = a.opts.transport
	} else {
		// memberlist's NetTransport allocates 64 KiB per packet read.
		own, err = udptransport.New(udptransport.Config{BindAddr: mc.BindAddr, BindPort: mc.BindPort, Logger: mc.Logger, MetricLabels: mc.MetricLabels})
		if err != nil {
			ls.close()
			store.Close()
			return fmt.Errorf("agent: start gossip on %s: %w", a.cfg.BindAddr, err)
		}
		if mc.BindPort == 0 { // as memberlist.Create does with its own transport
			mc.BindPort = own.GetAutoBindPort()
			mc.AdvertisePort = mc.BindPort
		}
		mc.Transport = own
	}
	mc.Delegate = a.del
	mc.Events = a.del
	mc.Ping = a.del
	ml, err := memberlist.Create(mc)
	if err != nil {
		if own != nil {
			own.Shutdown()
		}
		ls.close()
		store.Close()
		return fmt.Errorf("agent: start gossip on %s: %w", a.cfg.BindAddr, err)
	}
	a.ml.Store(ml)
	a.state = stateRunning
	a.started = a.clk.Now()
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	self, _ := a.LocalMember() // memberlist reported our own join during Create
	a.log.Info("agent started", "addr", self.AddrPort().String(),
		"profile", a.cfg.Gossip.Profile, "encrypted", ring != nil)
	a.goRun(ctx, a.newRejoiner().Run)
	a.goRun(ctx, a.newSuspector().Run)
	a.goRun(ctx, func(ctx context.Context) {
		if err := store.Run(ctx); err != nil {
			a.log.Error("store stopped", "err", err)
		}
	})
	a.goRun(ctx, a.sec.remote.Run)
	a.goRun(ctx, func(ctx context.Context) { _ = a.queries.Run(ctx) })
	a.goRun(ctx, func(ctx context.Context) { _ = cat.Run(ctx) })
	<-cat.Ready() // a registration right after Start waits until the catalog shows it
	a.startFaces(ctx, ls)
	a.startWatches(ctx)
	return nil
}

// HTTPAddr is the address the HTTP API listens on ("" when disabled or
// not started).
func (a *Agent) HTTPAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.httpAddr
}

// goRun runs f in a goroutine that Shutdown waits for.
func (a *Agent) goRun(ctx context.Context, f func(context.Context)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f(ctx)
	}()
}

// leaving reports whether Leave has been called. It takes no lock.
func (a *Agent) leaving() bool { return a.left.Load() }

// memberlist returns the memberlist of a running (or leaving) agent, or
// nil. It takes no lock: it is on every send path, some of which run
// while Start holds a.mu or under other subsystems' locks.
func (a *Agent) memberlist() *memberlist.Memberlist {
	if a.stopped.Load() {
		return nil
	}
	return a.ml.Load()
}

// Join contacts the given HOST:PORT addresses and merges with their
// cluster. It returns how many answered and, when some did not, an error
// listing each of them and why (errors.Unwrap-able one per address) —
// also when n > 0, so that a partly failed join can be reported.
func (a *Agent) Join(ctx context.Context, addrs []string) (int, error) {
	a.mu.Lock()
	if a.state != stateRunning {
		a.mu.Unlock()
		return 0, ErrNotRunning
	}
	ml := a.ml.Load()
	a.wg.Add(1) // under a.mu: Shutdown cannot be waiting on wg yet
	a.mu.Unlock()
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() { // memberlist.Join is not cancellable; it is bounded by tcp_timeout per address
		defer a.wg.Done()
		n, err := membership.JoinEach(addrs, ml.Join)
		ch <- result{n, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			r.err = fmt.Errorf("agent: join: %w", membership.JoinError(r.err, a.GossipEncrypted()))
		}
		if r.n > 0 {
			a.log.Info("joined cluster", "contacted", r.n, "members", ml.NumMembers())
			a.announce(membership.IntentJoin) // after push/pull: the clock is the cluster's
			if r.err != nil {
				a.log.Warn("join: some addresses did not answer", "err", r.err)
			}
			return r.n, r.err
		}
		return 0, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Leave announces a graceful departure, waits for it to spread (bounded by
// leave_timeout and ctx), and stops taking part in the cluster. Call
// Shutdown afterwards.
func (a *Agent) Leave(ctx context.Context) error {
	a.leaveMu.Lock()
	defer a.leaveMu.Unlock()
	a.mu.Lock()
	if a.state != stateRunning {
		st := a.state
		a.mu.Unlock()
		if st == stateLeft {
			return nil
		}
		if st == stateShutdown {
			return ErrShutdown
		}
		return ErrNotRunning
	}
	a.state = stateLeft
	a.left.Store(true)
	ml := a.ml.Load()
	a.mu.Unlock()

	timeout := a.cfg.LeaveTimeout.D()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	start := time.Now()
	alone := ml.NumMembers() <= 1 // nobody to tell: leave at once
	a.log.Info("leaving cluster", "timeout", timeout, "alone", alone)
	a.announce(membership.IntentLeave)
	if err := ml.Leave(timeout); err != nil {
		a.log.Warn("leave broadcast not confirmed", "err", err)
	}
	if !alone {
		// Once more, after memberlist's dead message. On a loaded machine a
		// peer may see this node dead (a suspicion that timed out), alive
		// (a refutation gossiped late, which makes it forget the first
		// intent) and dead again (the leave): failed. A newer intent turns
		// failed into left.
		a.announce(membership.IntentLeave)
	}
	// memberlist returns once one peer has the leave message; keep
	// gossiping a few rounds so it reaches the others first. This waits
	// on memberlist's (real) clock, not the agent's.
	propagate := 5 * memberlistConfig(&a.cfg).GossipInterval
	if rest := timeout - time.Since(start); rest < propagate {
		propagate = max(rest, 0)
	}
	if alone {
		propagate = 0
	}
	t := time.NewTimer(propagate)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// Shutdown stops everything the agent started and waits for its
// goroutines. It does not announce a leave (call Leave first for that).
// It is idempotent and safe in any state.
func (a *Agent) Shutdown() error {
	a.mu.Lock()
	if a.state == stateShutdown {
		a.mu.Unlock()
		<-a.done
		return nil
	}
	wasStarted := a.state != stateNew
	a.state = stateShutdown
	a.stopped.Store(true)
	cancel := a.cancel
	a.mu.Unlock()

	var err error
	if wasStarted {
		cancel()
		a.leaveMu.Lock() // a Leave in flight finishes first
		err = a.ml.Load().Shutdown()
		a.leaveMu.Unlock()
		a.wg.Wait()
		err = errors.Join(err, a.store.Close())
		metrics.Forget(a.cfg.NodeName)
		a.log.Info("agent stopped")
	} else if a.opts.transport != nil {
		// Never started, or Start failed: the transport is still ours.
		err = a.opts.transport.Shutdown()
	}
	a.events.Close()
	close(a.done)
	return err
}

// Done is closed once Shutdown has finished.
func (a *Agent) Done() <-chan struct{} { return a.done }

// Uptime is how long the agent has been running.
func (a *Agent) Uptime() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started.IsZero() {
		return 0
	}
	return a.clk.Now().Sub(a.started)
}

// intn returns a random int in [0, n) from the agent's source.
func (a *Agent) intn(n int) int {
	a.rndMu.Lock()
	defer a.rndMu.Unlock()
	return a.rnd.IntN(n)
}

// shuffle shuffles with the agent's source.
func (a *Agent) shuffle(n int, swap func(i, j int)) {
	a.rndMu.Lock()
	defer a.rndMu.Unlock()
	a.rnd.Shuffle(n, swap)
}
