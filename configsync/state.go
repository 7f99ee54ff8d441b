package configsync

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/btree"
)

// StateConfig configures the pure core. Zero fields take the defaults
// noted.
type StateConfig struct {
	// Node is this node's name: the origin of its versions. Required.
	Node string
	// Limits for local writes; zero means DefaultLimits().
	Limits Limits
	// TombstoneTTL is how long a tombstone is kept, measured from its
	// version's wall time (default 24h).
	TombstoneTTL time.Duration
	// GossipBudget is the largest encoded Update sent by gossip, in bytes
	// (default 1200); bigger entries are announced and fetched.
	GossipBudget int
	// ChunkBytes bounds the entries of one sync message (default 4 MiB); a
	// single larger entry travels alone.
	ChunkBytes int
	// RegossipSyncMax: entries learned by anti-entropy are re-gossiped when
	// one message brings at most this many (default 256; negative never).
	// Bulk transfers (a join) are not re-gossiped: anti-entropy spreads them.
	RegossipSyncMax int
	// MaxClockSkew (kv.max_clock_skew) is how far ahead of this node's
	// clock a remote version's wall time may be (default 1m). Versions
	// beyond it are refused: not applied, relayed or observed by the
	// clock. Floors and Rejects are plausible only if at least
	// TombstoneTTL - MaxClockSkew old.
	MaxClockSkew time.Duration
	// Seed varies the salts of sync sessions.
	Seed uint64
}

const (
	defaultTombstoneTTL = 24 * time.Hour
	defaultGossipBudget = 1200
	defaultChunkBytes   = 4 << 20
	defaultRegossipSync = 256
	defaultMaxClockSkew = time.Minute
	// fetchRetryMs: a pending fetch of a key suppresses new fetches of the
	// same or an older version for this long.
	fetchRetryMs = 5000
	// maxMarks bounds the per-key floors learned from Rejects.
	maxMarks = 1 << 20
	// maxFetching bounds pending fetches.
	maxFetching = 1 << 14
	// joinHoldMs bounds how long a joiner holds back entries below the
	// floor it heard while waiting for that peer's full transfer.
	joinHoldMs = 60_000
)

func (c StateConfig) withDefaults() StateConfig {
	if c.Limits == (Limits{}) {
		c.Limits = DefaultLimits()
	}
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = defaultTombstoneTTL
	}
	if c.GossipBudget == 0 {
		c.GossipBudget = defaultGossipBudget
	}
	if c.ChunkBytes == 0 {
		c.ChunkBytes = defaultChunkBytes
	}
	if c.RegossipSyncMax == 0 {
		c.RegossipSyncMax = defaultRegossipSync
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = defaultMaxClockSkew
	}
	return c
}

func (c StateConfig) validate() error {
	if err := checkNode(c.Node); err != nil {
		return err
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if c.TombstoneTTL < time.Millisecond {
		return fmt.Errorf("configsync: kv.tombstone_ttl is %v, must be at least 1ms", c.TombstoneTTL)
	}
	if c.MaxClockSkew < time.Millisecond || c.MaxClockSkew >= c.TombstoneTTL {
		return fmt.Errorf("configsync: kv.max_clock_skew is %v, must be at least 1ms and below kv.tombstone_ttl (%v)", c.MaxClockSkew, c.TombstoneTTL)
	}
	if c.GossipBudget < 64 {
		return fmt.Errorf("configsync: gossip budget is %d bytes, must be at least 64", c.GossipBudget)
	}
	if c.ChunkBytes < 1024 || c.ChunkBytes > MaxMessageBytes/2 {
		return fmt.Errorf("configsync: chunk size is %d bytes, must be in [1024, %d]", c.ChunkBytes, MaxMessageBytes/2)
	}
	return nil
}

// record is an entry in the State with its cached hashes: of the key, of
// the content (value, flags, deleted) and of the whole entry.
type record struct {
	Entry
	index      uint64
	kh, ch, eh uint64
}

// newRecord makes a record of e with its hashes; kh is the key hash when
// known (0 computes it).
func newRecord(e Entry, index, kh uint64) *record {
	if kh == 0 {
		kh = keyHash(e.Key)
	}
	r := &record{Entry: e, index: index, kh: kh, ch: contentHash(&e)}
	r.eh = entryHash(r.kh, r.ch, &r.Entry)
	return r
}

func (r *record) rec() Record { return Record{Entry: r.Entry, Index: r.index} }

// mark remembers a version with the local time it was set. A mark kept
// untilComplete does not expire while the store is incomplete (see
// completeFrom).
type mark struct {
	v             Version
	atMs          int64
	untilComplete bool
}

// State is the replicated store's deterministic core: entries with
// tombstones, the local modification index, the hybrid logical clock, the
// tombstone floor and the anti-entropy digest. It does no I/O, starts no
// goroutines, takes no locks and reads no clock: every method that needs
// the time takes nowMs (unix milliseconds). It is not safe for concurrent
// use; the Store serialises access.
type State struct {
	cfg    StateConfig
	ttlMs  int64
	skewMs int64
	hlc    HLC

	byKey map[string]*record
	order *btree.BTreeG[*record]
	tombs map[string]*record
	tree  tree
	index uint64

	// floor is the greatest version of a tombstone collected here: an
	// incoming entry for an absent key at or below it may be a stale copy
	// of a collected key, so it is rejected.
	floor Version
	// completeFrom: this store holds every entry written since this wall
	// time (0: every entry; see MarkEmpty). Only entries written since
	// then are rejected by the floor: an older entry an empty store lacks
	// may be a legitimate key it never received, and rejecting it would
	// make its holders drop it.
	completeFrom int64
	// marks are per-key floors set when a peer's Reject made us drop an
	// entry, so other holders of the same stale copy cannot reinstate it.
	// They expire after the tombstone TTL.
	marks map[string]mark
	// fetching holds announced entries being fetched.
	fetching map[string]mark
	sessions uint64
	// joinFloor is a floor heard from joinFrom while this store was
	// empty (a joiner, or a node restarted without its data). Until
	// joinFrom's full transfer completes (then its floor is adopted) or
	// joinHoldMs pass, entries for absent keys at or below it from other
	// senders are held back: neither applied nor rejected, so a stale copy
	// of a key the cluster deleted and collected does not come back here,
	// and a legitimate old key this node merely lacks is not rejected.
	joining   bool
	joinFloor Version
	joinFrom  string
	joinAtMs  int64
	// joinRecv counts the entries received from joinFrom per session, so
	// a transfer's final message is trusted only when every entry it
	// announces arrived (a chunk lost or reordered on the way must not
	// give this store a floor over keys it lacks).
	joinRecv map[uint64]uint64
}

// NewState returns an empty State.
func NewState(c StateConfig) (*State, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &State{
		cfg:      c,
		ttlMs:    c.TombstoneTTL.Milliseconds(),
		skewMs:   c.MaxClockSkew.Milliseconds(),
		hlc:      NewHLC(c.Node, c.MaxClockSkew.Milliseconds()),
		byKey:    make(map[string]*record),
		order:    btree.NewG(32, func(a, b *record) bool { return a.Key < b.Key }),
		tombs:    make(map[string]*record),
		marks:    make(map[string]mark),
		fetching: make(map[string]mark),
	}, nil
}

// Node is this node's name.
func (s *State) Node() string { return s.cfg.Node }

// Config returns the effective configuration (defaults filled in).
func (s *State) Config() StateConfig { return s.cfg }

// Index is the local modification index: it grows by one with every
// visible change (a write, a delete, a drop on Reject) and never shrinks.
func (s *State) Index() uint64 { return s.index }

// Root is the digest root hash; equal roots mean equal entries.
func (s *State) Root() uint64 { return s.tree.root }

// Floor is the tombstone floor.
func (s *State) Floor() Version { return s.floor }

// MarkEmpty records that this store started empty at nowMs (a new agent,
// or one whose data was lost): it may lack any entry written before, so
// its floor refuses only entries written since, until a full transfer
// from a peer completes. The driver calls it when it opens an empty store
// and persists CompleteFrom.
func (s *State) MarkEmpty(nowMs int64) { s.completeFrom = max(nowMs, 1) }

// CompleteFrom is the time since which this store holds every entry (0:
// always; see MarkEmpty).
func (s *State) CompleteFrom() int64 { return s.completeFrom }

// RestoreCompleteFrom loads the persisted CompleteFrom.
func (s *State) RestoreCompleteFrom(ms int64) { s.completeFrom = ms }

// RestoreMarks loads the persisted marks of an incomplete store: the
// versions of the tombstones it collected while its floor did not cover
// them (see GC). They last until the store is complete and a TombstoneTTL
// after nowMs. A mark beyond the clock bound is not restored (Restamp
// drops those too).
func (s *State) RestoreMarks(marks []KeyVersion, nowMs int64) {
	if s.completeFrom == 0 {
		return
	}
	for _, m := range marks {
		if len(s.marks) >= maxMarks {
			return
		}
		if m.Version.Wall > nowMs+s.skewMs {
			continue
		}
		if old, ok := s.marks[m.Key]; ok && old.v.Compare(m.Version) >= 0 {
			continue
		}
		s.marks[m.Key] = mark{v: m.Version, atMs: nowMs, untilComplete: true}
	}
}

// Clock is the greatest version issued or observed.
func (s *State) Clock() Version { return s.hlc.Last() }

// Len returns the number of live keys and of tombstones.
func (s *State) Len() (live, tombstones int) {
	return len(s.byKey) - len(s.tombs), len(s.tombs)
}

// Get returns the live entry of key.
func (s *State) Get(key string) (Record, bool) {
	r := s.byKey[key]
	if r == nil || r.Deleted {
		return Record{}, false
	}
	return r.rec(), true
}

// Lookup returns the entry of key, tombstone included.
func (s *State) Lookup(key string) (Record, bool) {
	r := s.byKey[key]
	if r == nil {
		return Record{}, false
	}
	return r.rec(), true
}

// Scan calls fn for every entry (tombstones included) whose key starts
// with prefix, in key order, until fn returns false.
func (s *State) Scan(prefix string, fn func(Record) bool) {
	s.order.AscendGreaterOrEqual(&record{Entry: Entry{Key: prefix}}, func(r *record) bool {
		if !strings.HasPrefix(r.Key, prefix) {
			return false
		}
		return fn(r.rec())
	})
}

// List returns the live entries under prefix, sorted by key.
func (s *State) List(prefix string) []Record {
	var out []Record
	s.Scan(prefix, func(r Record) bool {
		if !r.Deleted {
			out = append(out, r)
		}
		return true
	})
	return out
}

// Keys returns the live keys under prefix, sorted.
func (s *State) Keys(prefix string) []string {
	var out []string
	s.Scan(prefix, func(r Record) bool {
		if !r.Deleted {
			out = append(out, r.Key)
		}
		return true
	})
	return out
}

// IndexOf is the greatest modification index of an entry (tombstones
// included) under prefix; Index for the empty prefix.
func (s *State) IndexOf(prefix string) uint64 {
	if prefix == "" {
		return s.index
	}
	var idx uint64
	s.Scan(prefix, func(r Record) bool {
		idx = max(idx, r.Index)
		return true
	})
	return idx
}

// PreparePut validates a local write and assigns it a version, without
// applying it. The Store persists the entry before ApplyLocal makes it
// visible; Put does both.
func (s *State) PreparePut(key string, value []byte, flags uint64, nowMs int64) (Entry, error) {
	if err := s.cfg.Limits.CheckKey(key); err != nil {
		return Entry{}, err
	}
	if err := s.cfg.Limits.CheckValue(value); err != nil {
		return Entry{}, err
	}
	var v []byte
	if len(value) > 0 {
		v = bytes.Clone(value)
	}
	return Entry{Key: key, Value: v, Version: s.hlc.Next(nowMs), Flags: flags}, nil
}

// PrepareDelete makes the tombstone of a live key; ErrNotFound when the key
// is absent or already deleted.
func (s *State) PrepareDelete(key string, nowMs int64) (Entry, error) {
	r := s.byKey[key]
	if r == nil || r.Deleted {
		return Entry{}, errorf(ErrNotFound, "key %q not found", key)
	}
	return Entry{Key: key, Version: s.hlc.Next(nowMs), Deleted: true}, nil
}

// PrepareDeletePrefix makes tombstones for every live key under prefix.
func (s *State) PrepareDeletePrefix(prefix string, nowMs int64) []Entry {
	var out []Entry
	s.Scan(prefix, func(r Record) bool {
		if !r.Deleted {
			out = append(out, Entry{Key: r.Key, Version: s.hlc.Next(nowMs), Deleted: true})
		}
		return true
	})
	return out
}

// ApplyLocal applies an entry made by a Prepare method. It reports false
// when a newer version of the key arrived in between (that one stays).
func (s *State) ApplyLocal(e Entry) (Record, bool) {
	s.hlc.advance(e.Version)
	return s.apply(e)
}

// Put writes key locally; the returned record carries the new index.
func (s *State) Put(key string, value []byte, flags uint64, nowMs int64) (Record, error) {
	e, err := s.PreparePut(key, value, flags, nowMs)
	if err != nil {
		return Record{}, err
	}
	r, _ := s.ApplyLocal(e)
	return r, nil
}

// Delete writes a tombstone for a live key.
func (s *State) Delete(key string, nowMs int64) (Record, error) {
	e, err := s.PrepareDelete(key, nowMs)
	if err != nil {
		return Record{}, err
	}
	r, _ := s.ApplyLocal(e)
	return r, nil
}

// DeletePrefix deletes every live key under prefix.
func (s *State) DeletePrefix(prefix string, nowMs int64) []Record {
	var out []Record
	for _, e := range s.PrepareDeletePrefix(prefix, nowMs) {
		r, _ := s.ApplyLocal(e)
		out = append(out, r)
	}
	return out
}

// MergeResult says what Merge did with each entry.
type MergeResult struct {
	// Accepted are the entries now held, with their new index.
	Accepted []Record
	// Rejected are entries for absent keys at or below the floor (or a
	// key's mark): the sender must be told to drop its copy.
	Rejected []Entry
	// Stale counts entries not newer than the one held.
	Stale int
	// Invalid counts entries with a malformed key or node (skipped).
	Invalid int
	// SkewMs is the greatest amount by which an accepted version was
	// ahead of nowMs.
	SkewMs int64
	// HeldBack counts entries a joiner held back (see State.joinFloor).
	HeldBack int
	// Future counts entries refused because their wall time was more than
	// MaxClockSkew ahead of nowMs; FutureMs is the greatest such lead and
	// FutureOrigin the origin node of that version.
	Future       int
	FutureMs     int64
	FutureOrigin string
}

// refuseFuture records a version refused by the skew bound.
func (res *MergeResult) refuseFuture(v Version, skewMs int64) {
	res.Future++
	if skewMs > res.FutureMs {
		res.FutureMs, res.FutureOrigin = skewMs, v.Node
	}
}

// Merge applies remote entries by last-writer-wins.
func (s *State) Merge(entries []Entry, nowMs int64) MergeResult {
	return s.mergeFrom("", entries, nowMs)
}

// mergeFrom is Merge of entries sent by from.
func (s *State) mergeFrom(from string, entries []Entry, nowMs int64) MergeResult {
	var res MergeResult
	for _, e := range entries {
		if checkKeyForm(e.Key) != nil || checkNode(e.Version.Node) != nil || checkWall(e.Version.Wall) != nil {
			res.Invalid++
			continue
		}
		skew, ok := s.hlc.Observe(e.Version, nowMs)
		if !ok {
			res.refuseFuture(e.Version, skew)
			continue
		}
		res.SkewMs = max(res.SkewMs, skew)
		if s.byKey[e.Key] == nil && s.belowFloor(e) {
			res.Rejected = append(res.Rejected, e)
			continue
		}
		if s.byKey[e.Key] == nil && s.holdBack(from, e, nowMs) {
			res.HeldBack++
			continue
		}
		if r, ok := s.apply(e); ok {
			res.Accepted = append(res.Accepted, r)
		} else {
			res.Stale++
		}
	}
	return res
}

// belowFloor reports whether an entry for an absent key could be a stale
// copy of a collected or dropped one.
func (s *State) belowFloor(e Entry) bool {
	_, below := s.rejectFloor(e)
	return below
}

// rejectFloor returns the floor that refuses e (the tombstone floor, or
// the key's mark), if one does.
func (s *State) rejectFloor(e Entry) (Version, bool) {
	if e.Version.Compare(s.floor) <= 0 && e.Version.Wall >= s.completeFrom {
		return s.floor, true
	}
	if m, ok := s.marks[e.Key]; ok && e.Version.Compare(m.v) <= 0 {
		return m.v, true
	}
	return Version{}, false
}

// plausibleFloor reports whether f could be a floor on a correct node:
// floors are versions of tombstones collected TombstoneTTL after their
// wall time, so a floor less than TombstoneTTL - MaxClockSkew old is
// forged or comes from a clock beyond the bound.
func (s *State) plausibleFloor(f Version, nowMs int64) bool {
	return !f.IsZero() && f.Wall <= nowMs-s.ttlMs+s.skewMs
}

// heardFloor notes a peer's summary floor: an empty store starts holding
// back entries below it (see joinFloor) until that peer's full transfer
// completes. A store that holds data never adopts a floor from a summary:
// it would then reject the legitimate old keys it happens to lack, and
// their holders would drop them.
func (s *State) heardFloor(from string, f Version, nowMs int64) {
	if s.tree.entries > 0 || (s.joining && nowMs-s.joinAtMs < joinHoldMs) {
		return
	}
	if !f.IsZero() && !s.plausibleFloor(f, nowMs) {
		return // forged, or a clock beyond the bound
	}
	if f.Compare(s.floor) <= 0 {
		f = Version{} // nothing to hold back; still wait for the transfer
	}
	s.joining, s.joinFloor, s.joinFrom, s.joinAtMs = true, f, from, nowMs
	s.joinRecv = map[uint64]uint64{}
}

// countJoin counts entries of a message from the peer a joiner waits for.
func (s *State) countJoin(m *SyncEntries) {
	if !s.joining || m.From != s.joinFrom {
		return
	}
	if _, ok := s.joinRecv[m.Session]; ok || len(s.joinRecv) < 64 {
		s.joinRecv[m.Session] += uint64(len(m.Entries))
	}
}

// holdBack reports whether a joiner holds back e (an entry for an absent
// key) from sender from.
func (s *State) holdBack(from string, e Entry, nowMs int64) bool {
	if !s.joining || s.joinFloor.IsZero() {
		return false
	}
	if nowMs-s.joinAtMs >= joinHoldMs {
		s.joining, s.joinFloor, s.joinFrom, s.joinRecv = false, Version{}, "", nil
		return false
	}
	return from != s.joinFrom && e.Version.Compare(s.joinFloor) <= 0
}

// transferDone adopts the floor a completed full transfer ends with: this
// store now holds everything the sender held, so what the sender would
// reject it may reject too. Only the transfer of the peer whose floor a
// joiner heard counts, and only when all its entries arrived.
func (s *State) transferDone(m *SyncEntries, nowMs int64) bool {
	if !s.joining || m.From != s.joinFrom {
		return false
	}
	complete := s.joinRecv[m.Session] == m.Total
	s.joining, s.joinFloor, s.joinFrom, s.joinRecv = false, Version{}, "", nil
	if !complete {
		return false
	}
	s.completeFrom = 0
	if f := m.Floor; f.Compare(s.floor) <= 0 || !s.plausibleFloor(f, nowMs) {
		return true
	}
	s.floor = m.Floor
	return true
}

func (s *State) apply(e Entry) (Record, bool) {
	old := s.byKey[e.Key]
	if old != nil && !e.Newer(old.Entry) {
		return old.rec(), false
	}
	if e.Deleted {
		e.Value = nil
	}
	s.index++
	var kh uint64
	if old != nil {
		kh = old.kh
		s.unlink(old)
	}
	r := newRecord(e, s.index, kh)
	s.link(r)
	delete(s.marks, e.Key)
	return r.rec(), true
}

func (s *State) link(r *record) {
	s.byKey[r.Key] = r
	s.order.ReplaceOrInsert(r)
	if r.Deleted {
		s.tombs[r.Key] = r
	}
	s.tree.add(r)
}

func (s *State) unlink(r *record) {
	delete(s.byKey, r.Key)
	s.order.Delete(r)
	delete(s.tombs, r.Key)
	s.tree.remove(r)
}

// GC collects tombstones whose version is at least TombstoneTTL older than
// nowMs and raises the floor to the newest collected; it also forgets
// expired marks and fetches. It returns the collected tombstones, sorted
// by key. Collection is not a visible change: the index does not move.
func (s *State) GC(nowMs int64) []Entry {
	var out []Entry
	for _, r := range s.tombs {
		if nowMs-r.Version.Wall >= s.ttlMs {
			out = append(out, r.Entry)
		}
	}
	// Sorted first: unlink order shapes the leaf lists, and a replayed
	// simulation must see the same messages.
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	for _, e := range out {
		s.unlink(s.byKey[e.Key])
		if e.Version.Compare(s.floor) > 0 {
			s.floor = e.Version
		}
		if s.completeFrom > 0 && len(s.marks) < maxMarks {
			// An incomplete store's floor does not cover old versions:
			// remember this key's delete itself.
			s.marks[e.Key] = mark{v: e.Version, atMs: nowMs, untilComplete: true}
		}
	}
	for k, m := range s.marks {
		if nowMs-m.atMs >= s.ttlMs && !(m.untilComplete && s.completeFrom > 0) {
			delete(s.marks, k)
		}
	}
	for k, m := range s.fetching {
		if nowMs-m.atMs >= fetchRetryMs {
			delete(s.fetching, k)
		}
	}
	return out
}

// Restore loads a persisted entry at startup: no floor check, the clock
// advances past it, and it takes the given index. After restoring, the
// driver calls Restamp, which repairs a clock restored beyond the bound.
func (s *State) Restore(e Entry, index uint64) {
	s.hlc.advance(e.Version)
	if old := s.byKey[e.Key]; old != nil && !e.Newer(old.Entry) {
		return
	}
	saved := s.index
	s.apply(e)
	s.byKey[e.Key].index = index
	s.index = max(saved, index)
}

// RestoreMeta loads the persisted clock, floor and index (then Restamp,
// as after Restore).
func (s *State) RestoreMeta(clock, floor Version, index uint64) {
	s.hlc.advance(clock)
	s.hlc.advance(floor)
	if floor.Compare(s.floor) > 0 {
		s.floor = floor
	}
	s.index = max(s.index, index)
}

// dropRejected removes entries a peer rejected, if the Reject is
// plausible: its floor is old enough to be a real floor (see
// plausibleFloor) and every item is at or below it. Otherwise nothing is
// dropped and ignored is true. The held version must not be newer than
// the rejected one. Each dropped key is marked so other stale copies are
// rejected here too.
func (s *State) dropRejected(m *Reject, nowMs int64) (out []Record, ignored bool) {
	if !s.plausibleFloor(m.Floor, nowMs) {
		return nil, true
	}
	for _, it := range m.Items {
		if it.Version.Compare(m.Floor) > 0 {
			return nil, true
		}
	}
	for _, it := range m.Items {
		r := s.byKey[it.Key]
		if r == nil || r.Version.Compare(it.Version) > 0 {
			continue
		}
		s.unlink(r)
		s.index++
		if len(s.marks) < maxMarks {
			s.marks[it.Key] = mark{v: it.Version, atMs: nowMs}
		}
		out = append(out, Record{Entry: r.Entry, Index: s.index})
	}
	return out, false
}

// ClockAhead is how far this node's clock runs beyond nowMs plus
// MaxClockSkew, in ms (0 normally; see HLC.Ahead). The driver calls
// Restamp before a local write when it is positive.
func (s *State) ClockAhead(nowMs int64) int64 { return s.hlc.Ahead(nowMs) }

// Restamp repairs a clock that runs more than MaxClockSkew ahead of nowMs
// (the wall clock went back, or the store was written while it was set
// ahead): versions issued from it would be refused by every peer, and a
// key held at such a version could not be written without issuing one.
// The clock is reset to the greatest of nowMs and the versions held within
// the bound; every entry held beyond the bound is stamped again as a local
// write made now, keeping its content, so nothing acknowledged is lost
// and every key stays writable; a floor beyond what a correct clock could
// have collected is lowered to the plausible bound. It returns the
// restamped records (the driver persists them, replacing the stored
// versions, and gossips them); nil when the clock was within the bound.
func (s *State) Restamp(nowMs int64) []Record {
	if s.hlc.Ahead(nowMs) == 0 {
		return nil
	}
	limit := nowMs + s.skewMs
	h := NewHLC(s.cfg.Node, s.skewMs)
	var future []*record
	for _, r := range s.byKey {
		if r.Version.Wall > limit {
			future = append(future, r)
		} else {
			h.advance(r.Version)
		}
	}
	if pf := nowMs - s.ttlMs + s.skewMs; s.floor.Wall > pf {
		s.floor = Version{}
		if pf > 0 {
			s.floor = Version{Wall: pf, Node: s.cfg.Node}
		}
	}
	h.advance(s.floor)
	for k, m := range s.marks {
		if m.v.Wall > limit {
			delete(s.marks, k)
		}
	}
	s.hlc = h
	slices.SortFunc(future, func(a, b *record) int { return strings.Compare(a.Key, b.Key) })
	out := make([]Record, 0, len(future))
	for _, old := range future {
		e := old.Entry
		e.Version = s.hlc.Next(nowMs)
		s.unlink(old)
		s.index++
		r := newRecord(e, s.index, old.kh)
		s.link(r)
		out = append(out, r.rec())
	}
	return out
}
