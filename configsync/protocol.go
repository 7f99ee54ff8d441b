package configsync

// Replication protocol: message types and the pure step function.
//
// Dissemination: a local write, and every version accepted from gossip, is
// queued for gossip under its key (Update, or Announce when the entry does
// not fit GossipBudget; the receiver then Fetches it over a reliable
// message) and forwarded at once to a few peers.
//
// Anti-entropy: memberlist push/pull carries only a Summary (root hash,
// count, floor). When roots differ the node with the smaller name starts a
// session over reliable messages. The digest is 256 buckets of 256 leaves;
// on the wire each bucket is seen as 16 groups of 16 leaves (a group hash
// is the XOR of its leaves, computed when asked), so a scattered
// difference costs about 70 bytes of hashes per differing leaf rather than
// a whole bucket's leaves. Every step is answered from the current State
// and the message alone, so no session state is kept and a lost or
// repeated message is harmless:
//
//	initiator                              responder
//	SyncBuckets (256 × 4-byte hashes)     →
//	                                       ← SyncGroups (differing buckets' 16 × 2-byte group hashes)
//	SyncLeaves (differing groups' 16 × 2-byte leaf hashes) →
//	                                       ← SyncKeys (differing leaves' (key hash, version, content hash) lists)
//	SyncEntries (entries the responder lacks or has older; Want = key hashes wanted back) →
//	                                       ← SyncEntries (the wanted entries)
//
// Truncated hashes are salted per session, so a collision hides a
// difference for one session only. Entry hashes cover content, and
// SyncKeys lists a content hash with each version, so two replicas holding
// one version with different content converge too. A peer whose Summary
// says it is empty (a join) gets every entry in SyncEntries chunks,
// streamed one after another (Output.Transfer). Entries rejected by the
// floor go back as a Reject naming the floor that refused them; the
// sender drops its copies if that floor is plausible (old enough to be a
// real floor) and covers every item. Summaries carry the floor: an empty
// store that hears a plausible floor holds back entries below it from
// other senders until that peer's full transfer ends, and then adopts the
// floor the transfer ends with, so a joiner neither brings back a key the
// cluster collected nor rejects an old key it merely lacks.
//
// Versions are bounded: an entry whose wall time is more than
// MaxClockSkew ahead of the receiver's clock is refused (not applied,
// relayed, fetched or observed by the clock) and counted.

// Kind is the type byte of a message.
type Kind uint8

// Message kinds.
const (
	KindUpdate Kind = iota + 1
	KindAnnounce
	KindFetch
	KindSummary
	KindSyncBuckets
	KindSyncGroups
	KindSyncLeaves
	KindSyncKeys
	KindSyncEntries
	KindReject
	numKinds
)

var kindNames = [...]string{"invalid", "update", "announce", "fetch", "summary", "sync_buckets", "sync_groups", "sync_leaves", "sync_keys", "sync_entries", "reject"}

// String is the lowercase name used in logs and metric labels.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Kinds lists every message kind.
func Kinds() []Kind {
	out := make([]Kind, 0, numKinds-1)
	for k := KindUpdate; k < numKinds; k++ {
		out = append(out, k)
	}
	return out
}

// Message is one protocol message; Encode and Decode convert it.
type Message interface {
	Kind() Kind
	// Sender is the node that sent it, where replies go.
	Sender() string
}

// Update carries entries: gossip of one entry, or a Fetch answer.
type Update struct {
	From    string
	Entries []Entry
}

// Announce names an entry too big for gossip; receivers that lack it
// Fetch it from From.
type Announce struct {
	From    string
	Key     string
	Version Version
	// Size is the value size in bytes (informational).
	Size uint32
}

// Fetch asks From's peer for its entry of Key if it is at least Version;
// the answer is an Update.
type Fetch struct {
	From    string
	Key     string
	Version Version
}

// Summary is what a node sends in memberlist push/pull: enough to tell
// whether a sync is needed, and small whatever the store's size.
type Summary struct {
	Node string
	Root uint64
	// Count is the number of entries, tombstones included.
	Count uint64
	Floor Version
	// Probe marks a one-way summary (Store.Probe), not half of a
	// push/pull: the receiver acts on a difference itself instead of
	// leaving the sync to the node with the smaller name, which never
	// hears a summary back.
	Probe bool
}

// SyncBuckets opens a session: the initiator's bucket hashes, salted and
// truncated.
type SyncBuckets struct {
	From    string
	Session uint64
	Salt    uint64
	Hashes  [Buckets]uint32
}

// Groups per bucket and leaves per group, as the wire sees a bucket.
const (
	GroupsPerBucket = 16
	LeavesPerGroup  = LeavesPerBucket / GroupsPerBucket
)

// BucketGroups are one bucket's group hashes, salted and truncated.
type BucketGroups struct {
	Bucket uint8
	Hashes [GroupsPerBucket]uint16
}

// SyncGroups answers SyncBuckets with the groups of the buckets that
// differ.
type SyncGroups struct {
	From    string
	Session uint64
	Salt    uint64
	Buckets []BucketGroups
}

// GroupLeaves are one group's leaf hashes, salted and truncated. Group is
// bucket*16 + group index.
type GroupLeaves struct {
	Group  uint16
	Hashes [LeavesPerGroup]uint16
}

// SyncLeaves answers SyncGroups with the leaves of the groups that differ.
type SyncLeaves struct {
	From    string
	Session uint64
	Salt    uint64
	Groups  []GroupLeaves
}

// HashVersion summarises one entry: its key hash, version and content
// hash (salted and truncated with the session's salt).
type HashVersion struct {
	Hash    uint64
	Version Version
	Content uint32
}

// LeafKeys lists the sender's entries in one leaf (bucket<<8 | leaf); an
// empty list means the sender has none there.
type LeafKeys struct {
	Leaf uint16
	Keys []HashVersion
}

// SyncKeys answers SyncLeaves with the sender's entries in the leaves
// that differ.
type SyncKeys struct {
	From    string
	Session uint64
	Salt    uint64
	Leaves  []LeafKeys
}

// SyncEntries carries entries the receiver lacks or has older, and the key
// hashes of entries the sender wants back.
type SyncEntries struct {
	From    string
	Session uint64
	Entries []Entry
	Want    []uint64
	// Final marks the last message of a full transfer; Floor is then the
	// sender's floor, which a joiner adopts if all Total entries of the
	// transfer arrived.
	Final bool
	Floor Version
	Total uint64
}

// KeyVersion names one version of a key.
type KeyVersion struct {
	Key     string
	Version Version
}

// Reject tells a sender that its entries for keys absent here are at or
// below the tombstone floor (or a key's mark): it drops its copies (they
// may be stale copies of keys deleted and collected here), provided Floor
// is plausible and covers every item.
type Reject struct {
	From string
	// Floor is the greatest floor (tombstone floor or key mark) that
	// refused an item.
	Floor Version
	Items []KeyVersion
}

// Kind and Sender implement Message.
func (*Update) Kind() Kind      { return KindUpdate }
func (*Announce) Kind() Kind    { return KindAnnounce }
func (*Fetch) Kind() Kind       { return KindFetch }
func (*Summary) Kind() Kind     { return KindSummary }
func (*SyncBuckets) Kind() Kind { return KindSyncBuckets }
func (*SyncGroups) Kind() Kind  { return KindSyncGroups }
func (*SyncLeaves) Kind() Kind  { return KindSyncLeaves }
func (*SyncKeys) Kind() Kind    { return KindSyncKeys }
func (*SyncEntries) Kind() Kind { return KindSyncEntries }
func (*Reject) Kind() Kind      { return KindReject }

func (m *Update) Sender() string      { return m.From }
func (m *Announce) Sender() string    { return m.From }
func (m *Fetch) Sender() string       { return m.From }
func (m *Summary) Sender() string     { return m.Node }
func (m *SyncBuckets) Sender() string { return m.From }
func (m *SyncGroups) Sender() string  { return m.From }
func (m *SyncLeaves) Sender() string  { return m.From }
func (m *SyncKeys) Sender() string    { return m.From }
func (m *SyncEntries) Sender() string { return m.From }
func (m *Reject) Sender() string      { return m.From }

// Output is what the driver must do after a Step.
type Output struct {
	// To is the node Replies go to: the message's sender.
	To string
	// Replies are sent to To over reliable messages, in order.
	Replies []Message
	// Accepted are entries newly held here (persist, notify watchers).
	Accepted []Record
	// Removed are entries dropped on a peer's Reject (persist, notify).
	Removed []Record
	// Gossip are entries to disseminate: queue GossipMessage of each.
	Gossip []Entry
	// Forward: also send Gossip to a few peers at once (set for entries
	// accepted from gossip, so each version is forwarded once per node).
	Forward bool
	// Rejected counts entries refused by the floor (a Reject is in
	// Replies).
	Rejected int
	// SkewMs is the greatest amount an accepted version was ahead of now.
	SkewMs int64
	// Future counts versions refused for being more than MaxClockSkew
	// ahead of now; FutureMs is the greatest such lead and FutureOrigin
	// the origin node of that version.
	Future       int
	FutureMs     int64
	FutureOrigin string
	// RejectIgnored is set when a Reject was not honoured (implausible
	// floor, or an item above it).
	RejectIgnored bool
	// HeldBack counts entries a joiner held back (see State.joinFloor).
	HeldBack int
	// MetaChanged is set when the floor rose (persist it).
	MetaChanged bool
	// Transfer: stream every entry to To (a peer whose summary says it
	// is empty) with TransferChunk, one message after another.
	Transfer bool
	// SyncStarted is set when this step opened a sync session or a full
	// transfer.
	SyncStarted bool
}

// Summary describes this State for push/pull.
func (s *State) Summary() Summary {
	return Summary{Node: s.cfg.Node, Root: s.tree.root, Count: uint64(s.tree.entries), Floor: s.floor}
}

// GossipMessage is the encoded message that disseminates e: an Update from
// this node when it fits GossipBudget, else an Announce.
func (s *State) GossipMessage(e Entry) []byte {
	b := Encode(&Update{From: s.cfg.Node, Entries: []Entry{e}})
	if len(b) <= s.cfg.GossipBudget {
		return b
	}
	return Encode(&Announce{From: s.cfg.Node, Key: e.Key, Version: e.Version, Size: uint32(len(e.Value))})
}

// Step applies one received message and says what to do next.
func (s *State) Step(m Message, nowMs int64) Output {
	if m == nil || m.Sender() == s.cfg.Node {
		return Output{}
	}
	switch m := m.(type) {
	case *Update:
		return s.stepUpdate(m, nowMs)
	case *Announce:
		return s.stepAnnounce(m, nowMs)
	case *Fetch:
		return s.stepFetch(m)
	case *Summary:
		return s.stepSummary(m, nowMs)
	case *SyncBuckets:
		return s.stepBuckets(m)
	case *SyncGroups:
		return s.stepGroups(m)
	case *SyncLeaves:
		return s.stepLeaves(m)
	case *SyncKeys:
		return s.stepKeys(m, nowMs)
	case *SyncEntries:
		return s.stepEntries(m, nowMs)
	case *Reject:
		removed, ignored := s.dropRejected(m, nowMs)
		return Output{To: m.From, Removed: removed, RejectIgnored: ignored}
	}
	return Output{}
}

// merge applies entries and fills the common parts of out.
func (s *State) merge(out *Output, entries []Entry, nowMs int64) {
	res := s.mergeFrom(out.To, entries, nowMs)
	out.Accepted = res.Accepted
	out.HeldBack = res.HeldBack
	out.SkewMs = res.SkewMs
	out.Future, out.FutureMs, out.FutureOrigin = res.Future, res.FutureMs, res.FutureOrigin
	out.Rejected = len(res.Rejected)
	for _, r := range res.Accepted {
		if f, ok := s.fetching[r.Key]; ok && r.Version.Compare(f.v) >= 0 {
			delete(s.fetching, r.Key)
		}
	}
	if len(res.Rejected) > 0 {
		items := make([]KeyVersion, len(res.Rejected))
		var floor Version
		for i, e := range res.Rejected {
			items[i] = KeyVersion{Key: e.Key, Version: e.Version}
			if f, _ := s.rejectFloor(e); f.Compare(floor) > 0 {
				floor = f
			}
		}
		out.Replies = append(out.Replies, chunkBy(items, s.cfg.ChunkBytes,
			func(it KeyVersion) int { return len(it.Key) + len(it.Version.Node) + 24 },
			func(part []KeyVersion) Message { return &Reject{From: s.cfg.Node, Floor: floor, Items: part} })...)
	}
}

func (s *State) stepUpdate(m *Update, nowMs int64) Output {
	out := Output{To: m.From, Forward: true}
	s.merge(&out, m.Entries, nowMs)
	for _, r := range out.Accepted {
		out.Gossip = append(out.Gossip, r.Entry)
	}
	return out
}

// wants reports whether version v of key would be accepted.
func (s *State) wants(key string, v Version) bool {
	if r := s.byKey[key]; r != nil {
		return v.Compare(r.Version) > 0
	}
	return !s.belowFloor(Entry{Key: key, Version: v})
}

func (s *State) stepAnnounce(m *Announce, nowMs int64) Output {
	if skew := m.Version.Wall - nowMs; skew > s.skewMs {
		var res MergeResult
		res.refuseFuture(m.Version, skew)
		return Output{Future: res.Future, FutureMs: res.FutureMs, FutureOrigin: res.FutureOrigin}
	}
	if !s.wants(m.Key, m.Version) {
		return Output{}
	}
	if f, ok := s.fetching[m.Key]; ok && m.Version.Compare(f.v) <= 0 && nowMs-f.atMs < fetchRetryMs {
		return Output{}
	}
	if len(s.fetching) >= maxFetching {
		return Output{} // GC clears expired fetches; anti-entropy covers the rest
	}
	s.fetching[m.Key] = mark{v: m.Version, atMs: nowMs}
	return Output{To: m.From, Replies: []Message{&Fetch{From: s.cfg.Node, Key: m.Key, Version: m.Version}}}
}

func (s *State) stepFetch(m *Fetch) Output {
	r := s.byKey[m.Key]
	if r == nil || r.Version.Compare(m.Version) < 0 {
		return Output{}
	}
	return Output{To: m.From, Replies: []Message{&Update{From: s.cfg.Node, Entries: []Entry{r.Entry}}}}
}

// stepSummary decides, on a peer's push/pull Summary, whether this side
// starts a sync. Only one side does, so a difference costs one session: the
// side with the smaller name, or the non-empty side when the other is
// empty (it sends everything at once).
func (s *State) stepSummary(m *Summary, nowMs int64) Output {
	s.heardFloor(m.Node, m.Floor, nowMs)
	if m.Root == s.tree.root {
		return Output{}
	}
	out := Output{To: m.Node}
	switch {
	case m.Probe && s.tree.entries == 0:
		// Empty here: answer with our summary; a count of zero makes the
		// prober send everything.
		sum := s.Summary()
		out.Replies = []Message{&sum}
	case m.Count == 0 && s.tree.entries > 0:
		out.Transfer = true
		out.SyncStarted = true
	case s.tree.entries == 0 || m.Count == 0:
	case m.Probe || s.cfg.Node < m.Node:
		out.Replies = []Message{s.StartSync(nowMs)}
		out.SyncStarted = true
	}
	return out
}

// StartSync opens a session: the first message to send to the peer.
func (s *State) StartSync(nowMs int64) *SyncBuckets {
	s.sessions++
	salt := mix64(s.cfg.Seed ^ s.sessions*0x9e3779b97f4a7c15 ^ uint64(nowMs))
	m := &SyncBuckets{From: s.cfg.Node, Session: s.sessions, Salt: salt}
	for b := range Buckets {
		m.Hashes[b] = salted32(s.tree.bucket[b], salt)
	}
	return m
}

func (s *State) stepBuckets(m *SyncBuckets) Output {
	var diff []BucketGroups
	for b := range Buckets {
		if salted32(s.tree.bucket[b], m.Salt) == m.Hashes[b] {
			continue
		}
		bg := BucketGroups{Bucket: uint8(b)}
		for g := range GroupsPerBucket {
			bg.Hashes[g] = salted16(s.tree.groupHash(uint16(b*GroupsPerBucket+g)), m.Salt)
		}
		diff = append(diff, bg)
	}
	if len(diff) == 0 {
		return Output{}
	}
	return Output{To: m.From, Replies: []Message{&SyncGroups{From: s.cfg.Node, Session: m.Session, Salt: m.Salt, Buckets: diff}}}
}

func (s *State) stepGroups(m *SyncGroups) Output {
	var diff []GroupLeaves
	for _, bg := range m.Buckets {
		for g := range GroupsPerBucket {
			id := uint16(bg.Bucket)*GroupsPerBucket + uint16(g)
			if salted16(s.tree.groupHash(id), m.Salt) == bg.Hashes[g] {
				continue
			}
			gl := GroupLeaves{Group: id}
			for l := range LeavesPerGroup {
				gl.Hashes[l] = salted16(s.tree.leafHash(uint8(bg.Bucket), uint8(g*LeavesPerGroup+l)), m.Salt)
			}
			diff = append(diff, gl)
		}
	}
	if len(diff) == 0 {
		return Output{}
	}
	return Output{To: m.From, Replies: []Message{&SyncLeaves{From: s.cfg.Node, Session: m.Session, Salt: m.Salt, Groups: diff}}}
}

func (s *State) stepLeaves(m *SyncLeaves) Output {
	var leaves []LeafKeys
	for _, gl := range m.Groups {
		b, g := uint8(gl.Group/GroupsPerBucket), gl.Group%GroupsPerBucket
		for l := range LeavesPerGroup {
			leaf := uint8(int(g)*LeavesPerGroup + l)
			if salted16(s.tree.leafHash(b, leaf), m.Salt) == gl.Hashes[l] {
				continue
			}
			id := uint16(b)<<8 | uint16(leaf)
			lk := LeafKeys{Leaf: id}
			for _, r := range s.tree.leafRecords(id) {
				lk.Keys = append(lk.Keys, HashVersion{Hash: r.kh, Version: r.Version, Content: salted32(r.ch, m.Salt)})
			}
			leaves = append(leaves, lk)
		}
	}
	if len(leaves) == 0 {
		return Output{}
	}
	return Output{To: m.From, Replies: chunkBy(leaves, s.cfg.ChunkBytes,
		func(lk LeafKeys) int { return 4 + len(lk.Keys)*28 },
		func(part []LeafKeys) Message {
			return &SyncKeys{From: s.cfg.Node, Session: m.Session, Salt: m.Salt, Leaves: part}
		})}
}

func (s *State) stepKeys(m *SyncKeys, nowMs int64) Output {
	var out Output
	var send []Entry
	var want []uint64
	// wantNewer asks for a peer's version unless it is beyond the skew
	// bound: it would be refused on arrival.
	wantNewer := func(hv HashVersion) {
		if skew := hv.Version.Wall - nowMs; skew > s.skewMs {
			var res MergeResult
			res.refuseFuture(hv.Version, skew)
			out.Future += res.Future
			if res.FutureMs > out.FutureMs {
				out.FutureMs, out.FutureOrigin = res.FutureMs, res.FutureOrigin
			}
			return
		}
		want = append(want, hv.Hash)
	}
	// mentioned holds our records the peer listed; keyed by record, so
	// it never grows beyond our own leaf whatever the peer sends.
	mentioned := make(map[*record]struct{})
	for _, lk := range m.Leaves {
		clear(mentioned)
		for _, hv := range lk.Keys {
			if leafID(hv.Hash) != lk.Leaf {
				continue // not a key of this leaf: a confused peer
			}
			r := s.tree.byKeyHash(hv.Hash)
			if r == nil {
				wantNewer(hv)
				continue
			}
			if _, dup := mentioned[r]; dup {
				continue
			}
			mentioned[r] = struct{}{}
			switch c := hv.Version.Compare(r.Version); {
			case c > 0:
				wantNewer(hv)
			case c < 0:
				send = append(send, r.Entry)
			case hv.Content != salted32(r.ch, m.Salt):
				// One version, two contents: each side gets the other's
				// and Merge's content tie-break picks the same one.
				send = append(send, r.Entry)
				want = append(want, hv.Hash)
			}
		}
		for _, r := range s.tree.leafRecords(lk.Leaf) {
			if _, ok := mentioned[r]; !ok {
				send = append(send, r.Entry)
			}
		}
	}
	if len(send) == 0 && len(want) == 0 {
		return out
	}
	out.To = m.From
	out.Replies = s.entryChunks(m.Session, send, want)
	return out
}

// TransferChunk returns the next message of a full transfer (Output.
// Transfer): the entries from key from on (all of them for ""), up to
// ChunkBytes, and the key the next chunk starts at; done when none is
// left. sent is how many entries the earlier chunks carried (the final
// one announces the total). The driver sends one chunk before it asks for
// the next, so a transfer is paced by the network and never fills a
// queue; entries changed meanwhile reach the peer by gossip or
// anti-entropy.
func (s *State) TransferChunk(session uint64, from string, sent uint64) (m *SyncEntries, next string, done bool) {
	m = &SyncEntries{From: s.cfg.Node, Session: session}
	size := 0
	done = true
	s.order.AscendGreaterOrEqual(&record{Entry: Entry{Key: from}}, func(r *record) bool {
		if n := r.size(); len(m.Entries) > 0 && size+n > s.cfg.ChunkBytes {
			next, done = r.Key, false
			return false
		}
		size += r.size()
		m.Entries = append(m.Entries, r.Entry)
		return true
	})
	if done {
		m.Final, m.Floor, m.Total = true, s.floor, sent+uint64(len(m.Entries))
	}
	return m, next, done
}

// NewSession numbers a sync session or transfer started here.
func (s *State) NewSession() uint64 {
	s.sessions++
	return s.sessions
}

func (s *State) stepEntries(m *SyncEntries, nowMs int64) Output {
	out := Output{To: m.From}
	s.countJoin(m)
	s.merge(&out, m.Entries, nowMs)
	if m.Final {
		out.MetaChanged = s.transferDone(m, nowMs)
	}
	if n := len(out.Accepted); n > 0 && n <= s.cfg.RegossipSyncMax {
		for _, r := range out.Accepted {
			out.Gossip = append(out.Gossip, r.Entry)
		}
	}
	if len(m.Want) > 0 {
		var send []Entry
		seen := make(map[*record]struct{})
		for _, kh := range m.Want {
			r := s.tree.byKeyHash(kh)
			if r == nil {
				continue
			}
			if _, dup := seen[r]; dup {
				continue
			}
			seen[r] = struct{}{}
			send = append(send, r.Entry)
		}
		if len(send) > 0 {
			out.Replies = append(out.Replies, s.entryChunks(m.Session, send, nil)...)
		}
	}
	return out
}

// entryChunks splits entries (and a want list) into SyncEntries messages
// of about ChunkBytes each; an entry bigger than that travels alone.
func (s *State) entryChunks(session uint64, entries []Entry, want []uint64) []Message {
	msgs := chunkBy(entries, s.cfg.ChunkBytes, Entry.size, func(part []Entry) Message {
		return &SyncEntries{From: s.cfg.Node, Session: session, Entries: part}
	})
	perMsg := s.cfg.ChunkBytes / 8
	for len(want) > 0 {
		n := min(len(want), perMsg)
		if len(msgs) > 0 && len(msgs[0].(*SyncEntries).Want) == 0 && msgSize(msgs[0]) < s.cfg.ChunkBytes/2 {
			msgs[0].(*SyncEntries).Want = want[:n:n]
		} else {
			msgs = append(msgs, &SyncEntries{From: s.cfg.Node, Session: session, Want: want[:n:n]})
		}
		want = want[n:]
	}
	return msgs
}

func msgSize(m Message) int {
	if se, ok := m.(*SyncEntries); ok {
		n := 0
		for _, e := range se.Entries {
			n += e.size()
		}
		return n + 8*len(se.Want)
	}
	return 0
}

// chunkBy splits items into messages of about limit bytes by size.
func chunkBy[T any](items []T, limit int, size func(T) int, mk func([]T) Message) []Message {
	var out []Message
	start, acc := 0, 0
	for i, it := range items {
		n := size(it)
		if i > start && acc+n > limit {
			out = append(out, mk(items[start:i:i]))
			start, acc = i, 0
		}
		acc += n
	}
	if start < len(items) {
		out = append(out, mk(items[start:len(items):len(items)]))
	}
	return out
}
