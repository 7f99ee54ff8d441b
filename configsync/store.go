package configsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murmurhq/murmur/internal/clock"
)

// Store is the replicated key/value store of one agent: the State behind a
// mutex, persisted in bbolt, replicated through a Transport, with watches.
// All methods are safe for concurrent use.
type Store struct {
	cfg  Config
	log  *slog.Logger
	clk  clock.Clock
	tr   Transport
	disk *disk // nil in memory
	// jr is the journal (nil in memory or with SyncDelay negative); used
	// with commitMu held.
	jr *journal

	// gate orders local writes (shared) against clock repair (exclusive):
	// restamped entries replace what is on disk before any local write
	// that could otherwise be skipped as older than a stale stored
	// version.
	gate sync.RWMutex

	mu sync.Mutex
	st *State
	// dirty holds keys changed by peers or GC and not yet committed;
	// unsynced, those journaled since the last checkpoint (and
	// unsyncedMeta, metadata), which the next checkpoint commits.
	dirty        map[string]dirtyOp
	unsynced     map[string]dirtyOp
	unsyncedMeta bool
	committing   int // keys in the commit under way
	metaDirty    bool
	indexCeil    uint64
	watchers     watchIndex
	lastSkewLog  time.Time
	// lastFutureLog rate-limits the log of refused future versions.
	lastFutureLog time.Time
	// replaceKeys and replaceMeta are restamped entries and a lowered
	// clock or floor not yet written over the stored ones (clock repair).
	replaceKeys map[string]struct{}
	replaceMeta bool
	// transferring names peers with a full transfer queued or under way.
	transferring map[string]bool

	inbox      chan []byte
	inboxBytes atomic.Int64
	outbox     chan outMsg
	outBytes   atomic.Int64
	transfers  chan string
	commitKick chan struct{} // commit within CommitDelay
	commitNow  chan struct{} // commit without waiting (flushDueLocked)
	done       chan struct{} // closed by Close

	life    sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc
	runDone chan struct{}

	commitMu sync.Mutex // one flush at a time
	stats    counters
	// recent is guarded by mu; lag is lock-free (recent.go).
	recent recentRing
	lag    lagHists
}

type dirtyOp struct {
	remove bool
	upTo   Version
	// mark: an incomplete store collected this key's tombstone; the
	// commit persists the mark State.GC set (bucketMarks).
	mark bool
}

type outMsg struct {
	to  string
	msg []byte
}

// Open restores the store from cfg.DataDir (creating it if needed) and
// returns it ready for local reads and writes; call Run to replicate and
// Close to release the database. A database that cannot be read back is an
// error wrapping ErrCorrupt, never an empty store.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	st, err := NewState(cfg.stateConfig())
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:          cfg,
		log:          cfg.Logger.With("component", "configsync"),
		clk:          cfg.Clock,
		tr:           cfg.Transport,
		st:           st,
		dirty:        make(map[string]dirtyOp),
		unsynced:     make(map[string]dirtyOp),
		replaceKeys:  make(map[string]struct{}),
		transferring: make(map[string]bool),
		transfers:    make(chan string, maxTransfers),
		inbox:        make(chan []byte, cfg.InboxMessages),
		outbox:       make(chan outMsg, cfg.OutboxMessages),
		commitKick:   make(chan struct{}, 1),
		commitNow:    make(chan struct{}, 1),
		done:         make(chan struct{}),
		runDone:      make(chan struct{}),
	}
	if cfg.DataDir == "" {
		st.MarkEmpty(s.nowMs())
		return s, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("configsync: data dir: %w", err)
	}
	d, err := openDisk(cfg.DataDir, cfg.BatchDelay)
	if err != nil {
		return nil, err
	}
	ds, err := d.load()
	if err == nil {
		err = s.replayJournal(d, &ds)
	}
	if err != nil {
		d.close()
		return nil, err
	}
	if ds.migrated != 0 {
		s.log.Info("migrated the database to the current schema (checksummed records)", "path", d.path, "from_schema", ds.migrated, "schema", schemaVersion)
	}
	if ds.node != "" && ds.node != cfg.Node {
		s.log.Warn("database was written by another node name", "path", d.path, "was", ds.node, "now", cfg.Node)
	}
	// Everything restored takes one index above the persisted ceiling, so
	// a blocking query from before the restart wakes up.
	restored := ds.index + 1
	for _, e := range ds.entries {
		st.Restore(e, restored)
	}
	st.RestoreMeta(ds.clock, ds.floor, restored)
	if ds.fresh {
		st.MarkEmpty(s.nowMs())
	} else {
		st.RestoreCompleteFrom(ds.completeFrom)
		st.RestoreMarks(ds.marks, s.nowMs())
	}
	s.disk = d
	s.indexCeil = restored + indexLease
	if err := s.repairClock(); err != nil {
		d.close()
		return nil, err
	}
	if err := s.openJournal(); err != nil {
		d.close()
		return nil, err
	}
	id := newJournalID()
	if err := d.commit(cfg.Node, []*batch{{clock: st.Clock(), floor: st.Floor(), completeFrom: st.CompleteFrom()}}, s.indexCeil, id); err != nil {
		s.closeDisk()
		return nil, err
	}
	s.resetJournal(id)
	if err := d.markHeld(); err != nil {
		s.closeDisk()
		return nil, err
	}
	live, tombs := st.Len()
	s.log.Info("restored", "path", d.path, "keys", live, "tombstones", tombs, "index", st.Index(), "clock", st.Clock().String())
	return s, nil
}

func (s *Store) nowMs() int64 { return s.clk.Now().UnixMilli() }

// Node is this store's node name.
func (s *Store) Node() string { return s.cfg.Node }

// Limits are the limits local writes are checked against.
func (s *Store) Limits() Limits { return s.cfg.Limits }

func (s *Store) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Put writes key and returns once the write is durable (fsynced) and
// visible. ctx is checked before the write starts; once started it
// completes. A rejected write (ErrInvalidKey, ErrKeyTooLarge,
// ErrValueTooLarge) changes nothing.
func (s *Store) Put(ctx context.Context, key string, value []byte, flags uint64) (Record, error) {
	return s.writeOne(ctx, func(now int64) (Entry, error) { return s.st.PreparePut(key, value, flags, now) })
}

// Delete deletes a live key (ErrNotFound otherwise), durably.
func (s *Store) Delete(ctx context.Context, key string) (Record, error) {
	return s.writeOne(ctx, func(now int64) (Entry, error) { return s.st.PrepareDelete(key, now) })
}

// writeOne prepares one local entry under the lock and commits it durably.
func (s *Store) writeOne(ctx context.Context, prepare func(nowMs int64) (Entry, error)) (Record, error) {
	var rec Record
	err := s.write(ctx, func(nowMs int64) ([]Entry, error) {
		e, err := prepare(nowMs)
		if err != nil {
			return nil, err
		}
		return []Entry{e}, nil
	}, func(recs []Record) { rec = recs[0] })
	return rec, err
}

// DeletePrefix deletes every live key under prefix ("" is everything) in
// one durable transaction and returns how many it deleted.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	n := 0
	err := s.write(ctx, func(nowMs int64) ([]Entry, error) {
		return s.st.PrepareDeletePrefix(prefix, nowMs), nil
	}, func(recs []Record) { n = len(recs) })
	return n, err
}

// write prepares local entries under the lock (with a clock within the
// skew bound, repaired first if need be) and commits them durably; done
// receives the committed records.
func (s *Store) write(ctx context.Context, prepare func(nowMs int64) ([]Entry, error), done func([]Record)) error {
	if err := s.writable(ctx); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		if err := s.repairClock(); err != nil {
			return err
		}
		s.gate.RLock()
		s.mu.Lock()
		now := s.nowMs()
		if s.clockNeedsRepairLocked(now) {
			s.mu.Unlock()
			s.gate.RUnlock()
			if attempt == 3 {
				return fmt.Errorf("configsync: the clock keeps running ahead of the wall clock beyond kv.max_clock_skew")
			}
			continue
		}
		es, err := prepare(now)
		s.mu.Unlock()
		if err != nil || len(es) == 0 {
			s.gate.RUnlock()
			return err
		}
		recs, err := s.commitLocal(es)
		s.gate.RUnlock()
		if err != nil {
			return err
		}
		done(recs)
		return nil
	}
}

func (s *Store) writable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return ErrClosed
	}
	if f := s.cfg.ClockOffset; f != nil {
		if off, ok := f(); ok && (off > s.cfg.MaxClockSkew || off < -s.cfg.MaxClockSkew) {
			dir := "ahead of"
			if off < 0 {
				dir, off = "behind", -off
			}
			return errorf(ErrClockOffset, "this agent's clock is %v %s its peers' (kv.max_clock_skew is %v): writes are refused, since peers would refuse them or this agent refuses theirs, until the clock is fixed (check NTP)",
				off.Round(time.Millisecond), dir, s.cfg.MaxClockSkew)
		}
	}
	return nil
}

// commitLocal persists local entries, then applies, announces and forwards
// them. Readers never see a local write that is not yet durable.
func (s *Store) commitLocal(es []Entry) ([]Record, error) {
	if s.disk != nil {
		if err := s.disk.writeLocal(es, es[len(es)-1].Version); err != nil {
			return nil, err
		}
	}
	recs := make([]Record, len(es))
	var msgs [][]byte
	s.mu.Lock()
	var changed []Record
	for i, e := range es {
		r, ok := s.st.ApplyLocal(e)
		if ok {
			changed = append(changed, r)
			msgs = append(msgs, s.broadcastLocked(r.Entry, true))
		}
		recs[i] = Record{Entry: e, Index: r.Index}
	}
	s.notify(changed)
	s.recordLocked(changed, PathLocal)
	pending, now := s.flushDueLocked()
	s.mu.Unlock()
	if pending {
		s.kickCommit(now)
	}
	s.forward(msgs, "")
	for i := range recs {
		recs[i].Value = bytes.Clone(recs[i].Value)
	}
	return recs, nil
}

// broadcastLocked queues the gossip message of e and returns it. It is
// called with s.mu held so that broadcasts reach the Transport in the order
// versions were applied: the newer message of a key always replaces the
// older one in the queue, never the reverse.
func (s *Store) broadcastLocked(e Entry, local bool) []byte {
	msg := s.st.GossipMessage(e)
	s.tr.Broadcast(e.Key, msg, local)
	s.stats.countSent(msg)
	return msg
}

// maxForward bounds the messages forwarded for one write or one received
// message (a DeletePrefix of thousands of keys must not become a packet
// storm); the rest travel by gossip and anti-entropy.
const maxForward = 64

func (s *Store) forward(msgs [][]byte, except string) {
	if s.cfg.ForwardFanout <= 0 {
		return
	}
	for _, msg := range msgs[:min(len(msgs), maxForward)] {
		s.tr.Forward(msg, s.cfg.ForwardFanout, except)
		s.stats.countSent(msg)
	}
}

// Get returns the live entry of key, or ErrNotFound.
func (s *Store) Get(key string) (Record, error) {
	s.mu.Lock()
	r, ok := s.st.Get(key)
	s.mu.Unlock()
	if !ok {
		return Record{}, errorf(ErrNotFound, "key %q not found", key)
	}
	r.Value = bytes.Clone(r.Value)
	return r, nil
}

// List returns the live entries under prefix, sorted by key (nil when
// none).
func (s *Store) List(prefix string) []Record {
	s.mu.Lock()
	out := s.st.List(prefix)
	s.mu.Unlock()
	for i := range out {
		out[i].Value = bytes.Clone(out[i].Value)
	}
	return out
}

// Keys returns the live keys under prefix, sorted.
func (s *Store) Keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Keys(prefix)
}

// Index is the local modification index (X-Murmur-Index).
func (s *Store) Index() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Index()
}

// IndexOf is the greatest modification index under prefix.
func (s *Store) IndexOf(prefix string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.IndexOf(prefix)
}

// Summary is this store's anti-entropy summary (what LocalState sends).
func (s *Store) Summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Summary()
}

// HandleMessage takes a message from a peer (memberlist NotifyMsg, after
// the agent strips its routing byte). It copies msg and never blocks: when
// the inbox is full (Config.InboxMessages / InboxBytes) the message is
// dropped and counted; anti-entropy repairs whatever it carried.
func (s *Store) HandleMessage(msg []byte) {
	if len(msg) == 0 || len(msg) > MaxMessageBytes {
		s.stats.malformed.Add(1)
		return
	}
	if s.isClosed() {
		return
	}
	n := int64(len(msg))
	if s.inboxBytes.Add(n) > int64(s.cfg.InboxBytes) {
		s.inboxBytes.Add(-n)
		s.stats.inboxDropped.Add(1)
		return
	}
	select {
	case s.inbox <- bytes.Clone(msg):
	default:
		s.inboxBytes.Add(-n)
		s.stats.inboxDropped.Add(1)
	}
}

// LocalState is this node's push/pull state: an encoded Summary of a few
// dozen bytes whatever the store's size. join is ignored: a joining node
// gets the full state through the same sync protocol.
func (s *Store) LocalState(join bool) []byte {
	sum := s.Summary()
	b := Encode(&sum)
	s.stats.countSent(b)
	return b
}

// Probe returns a one-way summary (a few dozen bytes); Run sends one to a
// random peer every Config.SyncInterval (probe.go). A peer whose store differs
// starts a sync, so an update that gossip and forwarding both missed is
// repaired within seconds rather than at memberlist's next push/pull,
// which is 30 s or more apart on a LAN and grows with the cluster.
func (s *Store) Probe() []byte {
	sum := s.Summary()
	sum.Probe = true
	b := Encode(&sum)
	s.stats.countSent(b)
	return b
}

// MergeRemoteState takes a peer's LocalState. It never blocks; when the
// summaries differ, one side starts a sync over Transport.Send from the
// Store's goroutines.
func (s *Store) MergeRemoteState(buf []byte, join bool) { s.HandleMessage(buf) }

// Run runs the store's goroutines until ctx ends or Close is called:
// message processing, reliable sends, group commit of remote changes,
// tombstone collection and the summary probe. It flushes pending commits before returning.
func (s *Store) Run(ctx context.Context) error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return ErrClosed
	}
	if s.running {
		s.life.Unlock()
		return errors.New("configsync: Run called twice")
	}
	s.running = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.life.Unlock()
	defer close(s.runDone)

	var wg sync.WaitGroup
	wg.Go(func() { s.inboxLoop(ctx) })
	for range s.cfg.SendWorkers {
		wg.Go(func() { s.sendLoop(ctx) })
	}
	wg.Go(func() { s.commitLoop(ctx) })
	wg.Go(func() { s.gcLoop(ctx) })
	wg.Go(func() { s.probeLoop(ctx) })
	for range s.cfg.SendWorkers {
		wg.Go(func() { s.transferLoop(ctx) })
	}
	wg.Wait()
	return s.flush(true)
}

// Close stops Run (if running), commits what is pending and releases the
// database. It is idempotent; later writes fail with ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	running, cancel := s.running, s.cancel
	s.life.Unlock()
	if running {
		cancel()
		<-s.runDone
	}
	err := s.flush(true)
	if s.disk != nil {
		err = errors.Join(err, s.closeDisk())
	}
	return err
}

func (s *Store) inboxLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-s.inbox:
			s.inboxBytes.Add(-int64(len(b)))
			s.process(b)
		}
	}
}

// process decodes and steps one message, then performs the output.
func (s *Store) process(b []byte) {
	m, err := Decode(b)
	if err != nil {
		s.stats.malformed.Add(1)
		s.log.Debug("dropping message", "err", err)
		return
	}
	s.stats.countReceived(b)
	if err := s.repairClock(); err != nil {
		s.log.Error("clock repair failed; local writes fail until it succeeds", "err", err)
	}
	now := s.nowMs()
	s.mu.Lock()
	out := s.st.Step(m, now)
	for _, r := range out.Accepted {
		s.dirty[r.Key] = dirtyOp{}
	}
	for _, r := range out.Removed {
		s.dirty[r.Key] = dirtyOp{remove: true, upTo: r.Version}
	}
	if out.SkewMs > 0 || len(out.Accepted) > 0 {
		s.metaDirty = true
	}
	s.notify(out.Accepted)
	s.notify(out.Removed)
	s.recordLocked(out.Accepted, arrivalPath(m))
	var msgs [][]byte
	for _, e := range out.Gossip {
		msgs = append(msgs, s.broadcastLocked(e, false))
	}
	logSkew := out.SkewMs > s.cfg.SkewWarn.Milliseconds() && s.clk.Now().Sub(s.lastSkewLog) > time.Minute
	if logSkew {
		s.lastSkewLog = s.clk.Now()
	}
	if out.MetaChanged {
		s.metaDirty = true
	}
	pending, commitNow := s.flushDueLocked()
	if out.Transfer {
		s.startTransferLocked(out.To)
	}
	logFuture := out.Future > 0 && s.clk.Now().Sub(s.lastFutureLog) > time.Minute
	if logFuture {
		s.lastFutureLog = s.clk.Now()
	}
	s.mu.Unlock()

	s.stats.observeSkew(out.SkewMs)
	if logSkew {
		s.log.Warn("peer version ahead of local clock", "from", m.Sender(), "skew", time.Duration(out.SkewMs)*time.Millisecond)
	}
	if out.Future > 0 {
		n := s.stats.skewRejected.Add(uint64(out.Future))
		if logFuture {
			s.log.Warn("refused versions beyond kv.max_clock_skew ahead of the local clock (a peer's clock is wrong, or a forged message): not applied, relayed or observed",
				"origin", out.FutureOrigin, "from", m.Sender(), "skew", time.Duration(out.FutureMs)*time.Millisecond,
				"max_clock_skew", s.cfg.MaxClockSkew, "refused_total", n)
		}
	}
	if out.HeldBack > 0 {
		s.stats.heldBack.Add(uint64(out.HeldBack))
	}
	if out.RejectIgnored {
		s.stats.rejectsIgnored.Add(1)
		s.log.Debug("ignored a Reject: its floor is implausible or does not cover its items", "from", m.Sender())
	}
	s.stats.rejected.Add(uint64(out.Rejected))
	s.stats.dropped.Add(uint64(len(out.Removed)))
	if out.SyncStarted {
		s.stats.syncs.Add(1)
	}
	if pending {
		s.kickCommit(commitNow)
	}
	if out.Forward {
		s.forward(msgs, m.Sender())
	}
	for _, r := range out.Replies {
		s.enqueueSend(out.To, Encode(r))
	}
}

// enqueueSend queues a reliable message; it drops (and counts) when the
// outbox is over its bounds.
func (s *Store) enqueueSend(to string, msg []byte) {
	n := int64(len(msg))
	if s.outBytes.Add(n) > int64(s.cfg.OutboxBytes) {
		s.outBytes.Add(-n)
		s.stats.outboxDropped.Add(1)
		return
	}
	select {
	case s.outbox <- outMsg{to: to, msg: msg}:
	default:
		s.outBytes.Add(-n)
		s.stats.outboxDropped.Add(1)
	}
}

func (s *Store) sendLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-s.outbox:
			s.outBytes.Add(-int64(len(o.msg)))
			s.stats.countSent(o.msg)
			s.send(ctx, o)
		}
	}
}

// Reliable sends are retried: every message is idempotent (entries merge,
// sync steps are recomputed from the receiver's state), and a lost SYN
// under packet loss fails a whole connection, which would otherwise end
// the sync session until the next push/pull (found by the netns fault
// suite at 20% loss).
const (
	sendAttempts = 3
	sendBackoff  = 100 * time.Millisecond
)

// send delivers o, retrying; it reports whether o was delivered.
func (s *Store) send(ctx context.Context, o outMsg) bool {
	for attempt := 1; ; attempt++ {
		err := s.tr.Send(o.to, o.msg)
		if err == nil {
			return true
		}
		s.stats.sendErrors.Add(1)
		if attempt == sendAttempts {
			s.log.Debug("send failed", "to", o.to, "kind", Kind(o.msg[1]), "attempts", attempt, "err", err)
			return false
		}
		t := time.NewTimer(time.Duration(attempt) * sendBackoff) // network time, not the store's clock
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// commitLoop writes changes learned from peers down CommitDelay after
// the first of them, or at once when flushDueLocked says so, and
// checkpoints what was journaled SyncDelay after the first such write.
func (s *Store) commitLoop(ctx context.Context) {
	var syncT clock.Timer
	var syncC <-chan time.Time
	defer func() {
		if syncT != nil {
			syncT.Stop()
		}
	}()
	for {
		checkpoint := false
		select {
		case <-ctx.Done():
			return
		case <-s.commitNow:
		case <-syncC:
			checkpoint = true
		case <-s.commitKick:
			t := s.clk.NewTimer(s.cfg.CommitDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			case <-s.commitNow:
				t.Stop()
			case <-syncC:
				t.Stop()
				checkpoint = true
			}
		}
		s.flush(checkpoint)
		switch unsynced := s.hasUnsynced(); {
		case checkpoint || !unsynced:
			if syncT != nil {
				syncT.Stop()
			}
			syncT, syncC = nil, nil
			if unsynced { // a checkpoint failed: try again
				syncT = s.clk.NewTimer(max(s.cfg.SyncDelay, s.cfg.CommitDelay))
				syncC = syncT.C()
			}
		case syncC == nil:
			syncT = s.clk.NewTimer(s.cfg.SyncDelay)
			syncC = syncT.C()
		}
	}
}

func (s *Store) gcLoop(ctx context.Context) {
	tk := s.clk.NewTicker(s.cfg.GCInterval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C():
			if err := s.repairClock(); err != nil {
				s.log.Error("clock repair failed; local writes fail until it succeeds", "err", err)
			}
			s.GC()
		}
	}
}

// GC collects expired tombstones now (Run does it every GCInterval) and
// returns how many it collected; they are removed from disk with the next
// commit.
func (s *Store) GC() int {
	now := s.nowMs()
	s.mu.Lock()
	collected := s.st.GC(now)
	for _, e := range collected {
		// Persisted only while State holds it, so the disk holds no more
		// marks than maxMarks (and the keys written again since).
		m, marked := s.st.marks[e.Key]
		s.dirty[e.Key] = dirtyOp{remove: true, upTo: e.Version, mark: marked && m.untilComplete}
	}
	if len(collected) > 0 {
		s.metaDirty = true
	}
	_, commitNow := s.flushDueLocked()
	s.mu.Unlock()
	if len(collected) > 0 {
		s.log.Debug("collected tombstones", "count", len(collected))
		s.kickCommit(commitNow)
	}
	return len(collected)
}

// kickCommit asks commitLoop for a commit within CommitDelay, or at once.
func (s *Store) kickCommit(now bool) {
	ch := s.commitKick
	if now {
		ch = s.commitNow
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// flushDueLocked reports whether something awaits commit (pending), and
// whether the commit should start without waiting out CommitDelay (now):
// CommitKeys keys are pending, or the index nears its persisted ceiling,
// which must be raised before the index passes it.
func (s *Store) flushDueLocked() (pending, now bool) {
	now = len(s.dirty) >= s.cfg.CommitKeys || (s.disk != nil && s.st.Index()+indexLease/2 >= s.indexCeil)
	return now || len(s.dirty) > 0 || s.metaDirty, now
}
