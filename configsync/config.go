package configsync

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/murmurhq/murmur/internal/clock"
)

// DBFile is the name of the database file in Config.DataDir.
const DBFile = "configsync.db"

// AnnounceOverhead bounds an encoded Announce beyond its key (header,
// node table with two names, sender and origin, version and size): the
// longest key a store may accept is GossipBudget - AnnounceOverhead.
const AnnounceOverhead = 2*MaxNodeBytes + 32

// Config configures a Store. Open copies it; zero fields take the
// defaults of DefaultConfig, except where noted.
type Config struct {
	// Node is this agent's node name (its memberlist name). Required.
	Node string
	// DataDir holds the bbolt database (DBFile). "" keeps everything in
	// memory (agentd -dev): nothing survives a restart.
	DataDir string
	// Limits for local writes (kv.max_key_bytes, kv.max_value_bytes).
	Limits Limits
	// TombstoneTTL (kv.tombstone_ttl) is how long deletes are remembered;
	// default 24h. A partition longer than this can lose writes (see
	// docs/consistency.md).
	TombstoneTTL time.Duration
	// GCInterval is how often tombstones are collected; default 1m.
	GCInterval time.Duration
	// CommitDelay bounds how long a change learned from a peer (or a
	// tombstone collection) waits before it is written down with others;
	// default 100ms. Local writes are durable before Put returns, whatever
	// this is. Such changes were never acknowledged to a client here, and
	// one lost in a crash is fetched again from peers. With the journal
	// (SyncDelay), the write is an append to JournalFile, not synced: a
	// crash of the process loses none of it. Without (SyncDelay negative)
	// it is a bbolt commit, two fdatasyncs, and with GOMAXPROCS=1 each
	// holds the process's only P until the runtime's sysmon hands it to
	// another thread (200–300 µs measured): at ten changes a second on a
	// one-CPU agent serving DNS, that moved the DNS p99 by about 0.1 ms
	// (BENCHMARKS.md §11; docs/consistency.md, "Durability").
	CommitDelay time.Duration
	// SyncDelay bounds how long a change written to the journal waits for
	// a checkpoint: a bbolt commit, fsynced, of everything journaled since
	// the last one; default 1s, or CommitDelay if longer. A machine crash
	// (power loss, kernel panic) can lose the journal's unsynced records,
	// so the changes learned from peers in the last SyncDelay (plus
	// CommitDelay). Negative: no journal, every background commit is a
	// checkpoint.
	SyncDelay time.Duration
	// CommitKeys: a commit starts at once, without waiting out
	// CommitDelay, when this many keys are pending (a sync or a full
	// transfer); default 4096.
	CommitKeys int
	// BatchDelay is bbolt's MaxBatchDelay for group commit of concurrent
	// local writes; default 1ms. A local write with no other in progress
	// does not wait for it once writes have been alone for 10 batch delays.
	BatchDelay time.Duration
	// Clock; nil means clock.Real.
	Clock clock.Clock
	// Logger; nil discards. The Store adds component=configsync.
	Logger *slog.Logger
	// Transport to the cluster; nil means a single node (nothing is sent).
	Transport Transport
	// Rand seeds sync sessions; nil means a random seed.
	Rand rand.Source
	// GossipBudget is the largest encoded message queued for gossip, in
	// bytes; default 1200 (memberlist leaves ~1.36 KB of a UDP packet for
	// a user message). Entries that do not fit are announced and fetched
	// over reliable messages, never dropped. Must be at least
	// Limits.MaxKeyBytes + 544 so an announcement fits.
	GossipBudget int
	// ForwardFanout: a local write, and the first acceptance of a version
	// from gossip, is sent at once to this many random peers as well as
	// queued for gossip; default 3, negative disables.
	ForwardFanout int
	// InboxMessages and InboxBytes bound the queue between HandleMessage
	// and processing; defaults 4096 and 64 MiB. A message that does not
	// fit is dropped (counted in Stats); anti-entropy repairs the loss.
	InboxMessages int
	InboxBytes    int
	// OutboxMessages and OutboxBytes bound reliable messages waiting for
	// Transport.Send; defaults 1024 and 64 MiB. Overflow is dropped the
	// same way.
	OutboxMessages int
	OutboxBytes    int
	// SendWorkers is how many Transport.Send calls may run at once;
	// default 4.
	SendWorkers int
	// ChunkBytes bounds one sync message's entries; default 4 MiB.
	ChunkBytes int
	// SkewWarn: a version more than this ahead of the local clock is
	// logged (at most once a minute); default 10s.
	SkewWarn time.Duration
	// MaxClockSkew (kv.max_clock_skew) bounds how far ahead of this
	// agent's clock a remote version may be; default 1m. Versions beyond
	// it are refused, counted (Stats.SkewRejected) and logged at most once
	// a minute. It must be below TombstoneTTL. See docs/consistency.md.
	MaxClockSkew time.Duration
	// ClockOffset, when set, estimates how far this agent's wall clock is
	// ahead of its peers' (negative: behind); ok is false while unknown.
	// While the estimate exceeds MaxClockSkew either way, local writes
	// fail with ErrClockOffset: peers would refuse them, or this agent
	// refuses theirs. The agent derives it from ping acks. It is called
	// on every write and must be cheap and safe for concurrent use.
	ClockOffset func() (offset time.Duration, ok bool)
	// SyncInterval (kv.sync_interval) is how often Run sends the store's
	// summary to one random peer (Transport.Forward with fanout 1); a
	// peer that differs starts a sync. Default 5s; negative disables.
	SyncInterval time.Duration
}

// DefaultConfig returns a Config with every default set; Node must still
// be filled in.
func DefaultConfig() Config {
	return Config{
		Limits:         DefaultLimits(),
		TombstoneTTL:   defaultTombstoneTTL,
		GCInterval:     time.Minute,
		CommitDelay:    100 * time.Millisecond,
		SyncDelay:      time.Second,
		CommitKeys:     4096,
		BatchDelay:     time.Millisecond,
		GossipBudget:   defaultGossipBudget,
		ForwardFanout:  3,
		InboxMessages:  4096,
		InboxBytes:     64 << 20,
		OutboxMessages: 1024,
		OutboxBytes:    64 << 20,
		SendWorkers:    4,
		ChunkBytes:     defaultChunkBytes,
		SkewWarn:       10 * time.Second,
		MaxClockSkew:   defaultMaxClockSkew,
		SyncInterval:   5 * time.Second,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Limits == (Limits{}) {
		c.Limits = d.Limits
	}
	setDur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setDur(&c.TombstoneTTL, d.TombstoneTTL)
	setDur(&c.GCInterval, d.GCInterval)
	setDur(&c.CommitDelay, d.CommitDelay)
	setDur(&c.SyncDelay, max(d.SyncDelay, c.CommitDelay))
	setDur(&c.BatchDelay, d.BatchDelay)
	setDur(&c.SkewWarn, d.SkewWarn)
	setDur(&c.MaxClockSkew, d.MaxClockSkew)
	setDur(&c.SyncInterval, d.SyncInterval)
	setInt(&c.CommitKeys, d.CommitKeys)
	setInt(&c.GossipBudget, d.GossipBudget)
	setInt(&c.ForwardFanout, d.ForwardFanout)
	setInt(&c.InboxMessages, d.InboxMessages)
	setInt(&c.InboxBytes, d.InboxBytes)
	setInt(&c.OutboxMessages, d.OutboxMessages)
	setInt(&c.OutboxBytes, d.OutboxBytes)
	setInt(&c.SendWorkers, d.SendWorkers)
	setInt(&c.ChunkBytes, d.ChunkBytes)
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Transport == nil {
		c.Transport = nopTransport{}
	}
	if c.Rand == nil {
		c.Rand = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return c
}

// Validate reports the first invalid field, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := checkNode(c.Node); err != nil {
		return err
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	var errs []error
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("configsync: %s is %v, must be positive", name, d))
		}
	}
	positive("tombstone TTL", c.TombstoneTTL)
	positive("GC interval", c.GCInterval)
	positive("commit delay", c.CommitDelay)
	positive("batch delay", c.BatchDelay)
	if c.SyncDelay > 0 && c.SyncDelay < c.CommitDelay {
		errs = append(errs, fmt.Errorf("configsync: sync delay is %v, must be at least the commit delay (%v), or negative for no journal", c.SyncDelay, c.CommitDelay))
	}
	positive("skew warning", c.SkewWarn)
	if c.MaxClockSkew < time.Millisecond || c.MaxClockSkew >= c.TombstoneTTL {
		errs = append(errs, fmt.Errorf("configsync: kv.max_clock_skew is %v, must be at least 1ms and below kv.tombstone_ttl (%v)", c.MaxClockSkew, c.TombstoneTTL))
	}
	if c.TombstoneTTL < time.Millisecond {
		errs = append(errs, fmt.Errorf("configsync: tombstone TTL is %v, must be at least 1ms", c.TombstoneTTL))
	}
	if need := c.Limits.MaxKeyBytes + AnnounceOverhead; c.GossipBudget < need {
		errs = append(errs, fmt.Errorf("configsync: gossip budget is %d bytes, must be at least kv.max_key_bytes+%d = %d so an announcement fits", c.GossipBudget, AnnounceOverhead, need))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"commit keys", c.CommitKeys}, {"inbox messages", c.InboxMessages}, {"inbox bytes", c.InboxBytes}, {"outbox messages", c.OutboxMessages}, {"outbox bytes", c.OutboxBytes}, {"send workers", c.SendWorkers}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("configsync: %s is %d, must be at least 1", f.name, f.v))
		}
	}
	if c.ChunkBytes < 1024 || c.ChunkBytes > MaxMessageBytes/2 {
		errs = append(errs, fmt.Errorf("configsync: chunk size is %d bytes, must be in [1024, %d]", c.ChunkBytes, MaxMessageBytes/2))
	}
	return errors.Join(errs...)
}

func (c Config) stateConfig() StateConfig {
	return StateConfig{
		Node:         c.Node,
		Limits:       c.Limits,
		TombstoneTTL: c.TombstoneTTL,
		GossipBudget: c.GossipBudget,
		ChunkBytes:   c.ChunkBytes,
		MaxClockSkew: c.MaxClockSkew,
		Seed:         c.Rand.Uint64(),
	}
}
