package configsync

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// A deterministic simulation of many replicas, in the style of etcd-io/raft's
// network tests: States driven by Step over a simulated network that drops,
// duplicates, delays and reorders messages and partitions the cluster,
// with gossip queues modelled on memberlist's and periodic push/pull
// anti-entropy. One seed gives one run; a failure prints the seed, and
// -sim.seed=N replays it.

var simSeed = flag.Uint64("sim.seed", 0, "replay one simulation seed")

type simOptions struct {
	nodes       int
	ticks       int // random phase; one tick is 50ms
	ttl         time.Duration
	partitions  bool
	maxPartTick int
	drop, dup   float64
	skewMs      int64 // one node's clock runs this far ahead
}

type simPacket struct {
	from, to string
	data     []byte
	reliable bool
}

type simBroadcast struct {
	key   string
	msg   []byte
	left  int
	local bool
}

type simNode struct {
	st     *State
	offset int64 // clock offset in ms
	queue  []*simBroadcast
}

type sim struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand
	opt    simOptions
	nodes  []*simNode
	byName map[string]*simNode
	group  map[string]int // partition of each node
	flight []simPacket
	now    int64
	// writes is every entry written, for the no-GC check.
	writes map[string]Entry
	sent   int
	kinds  map[Kind]int // messages delivered
}

const simTransmits = 8 // memberlist: RetransmitMult 4 × ceil(log10(n+1))

func newSim(t *testing.T, seed uint64, opt simOptions) *sim {
	s := &sim{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), opt: opt,
		byName: map[string]*simNode{}, group: map[string]int{}, now: 1_700_000_000_000, writes: map[string]Entry{}, kinds: map[Kind]int{}}
	for i := range opt.nodes {
		name := fmt.Sprintf("node-%02d", i)
		st, err := NewState(StateConfig{Node: name, TombstoneTTL: opt.ttl, GossipBudget: 300, ChunkBytes: 4096, Seed: seed + uint64(i), MaxClockSkew: min(5*time.Second, opt.ttl/2)})
		if err != nil {
			t.Fatal(err)
		}
		n := &simNode{st: st, offset: int64(s.rng.IntN(400)) - 200}
		if i == 0 {
			n.offset += opt.skewMs
		}
		s.nodes = append(s.nodes, n)
		s.byName[name] = n
	}
	return s
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d (replay with -run %s -sim.seed=%d): %s", s.seed, s.t.Name(), s.seed, fmt.Sprintf(format, args...))
}

func (s *sim) nowOf(n *simNode) int64 { return s.now + n.offset }

func (s *sim) send(from, to string, m []byte, reliable bool) {
	s.flight = append(s.flight, simPacket{from: from, to: to, data: m, reliable: reliable})
	s.sent += len(m)
}

// peers returns up to k random nodes other than self and except.
func (s *sim) peers(self, except string, k int) []*simNode {
	var out []*simNode
	for _, i := range s.rng.Perm(len(s.nodes)) {
		n := s.nodes[i]
		if n.st.Node() != self && n.st.Node() != except {
			out = append(out, n)
			if len(out) == k {
				break
			}
		}
	}
	return out
}

// gossip queues e on n (a NamedBroadcast: a newer message under the same
// key replaces the queued one) and forwards it at once if asked.
func (s *sim) gossip(n *simNode, e Entry, local, forward bool, except string) {
	msg := n.st.GossipMessage(e)
	n.queue = slices.DeleteFunc(n.queue, func(b *simBroadcast) bool { return b.key == e.Key })
	n.queue = append(n.queue, &simBroadcast{key: e.Key, msg: msg, left: simTransmits, local: local})
	if forward {
		for _, p := range s.peers(n.st.Node(), except, 3) {
			s.send(n.st.Node(), p.st.Node(), msg, false)
		}
	}
}

func (s *sim) record(r Record) {
	if old, ok := s.writes[r.Key]; !ok || r.Newer(old) {
		s.writes[r.Key] = r.Entry
	}
}

func (s *sim) clientWrite() {
	n := s.nodes[s.rng.IntN(len(s.nodes))]
	key := fmt.Sprintf("app/%d/k%d", s.rng.IntN(5), s.rng.IntN(40))
	var recs []Record
	switch p := s.rng.IntN(100); {
	case p < 70:
		val := []byte(fmt.Sprintf("%s@%d", n.st.Node(), s.now))
		if s.rng.IntN(10) == 0 {
			val = []byte(strings.Repeat("big", 200)) // over the gossip budget
		}
		r, err := n.st.Put(key, val, 0, s.nowOf(n))
		if err != nil {
			s.fatalf("put: %v", err)
		}
		recs = append(recs, r)
	case p < 95:
		if r, err := n.st.Delete(key, s.nowOf(n)); err == nil {
			recs = append(recs, r)
		}
	default:
		recs = n.st.DeletePrefix(fmt.Sprintf("app/%d/", s.rng.IntN(5)), s.nowOf(n))
	}
	for _, r := range recs {
		s.record(r)
		s.gossip(n, r.Entry, true, true, "")
	}
}

// gossipTick sends each node's queued broadcasts (local ones first) to
// three random peers, as memberlist does every GossipInterval.
func (s *sim) gossipTick() {
	for _, n := range s.nodes {
		slices.SortStableFunc(n.queue, func(a, b *simBroadcast) int {
			if a.local != b.local {
				if a.local {
					return -1
				}
				return 1
			}
			return 0
		})
		for i, b := range n.queue {
			if i >= 8 {
				break
			}
			for _, p := range s.peers(n.st.Node(), "", 3) {
				s.send(n.st.Node(), p.st.Node(), b.msg, false)
			}
			b.left--
		}
		n.queue = slices.DeleteFunc(n.queue, func(b *simBroadcast) bool { return b.left <= 0 })
	}
}

// pushPull exchanges summaries between a node and a random peer.
func (s *sim) pushPull(n *simNode) {
	p := s.peers(n.st.Node(), "", 1)[0]
	if s.group[n.st.Node()] != s.group[p.st.Node()] {
		return // the TCP connection fails
	}
	s.deliver(simPacket{from: n.st.Node(), to: p.st.Node(), data: Encode(ptr(n.st.Summary())), reliable: true})
	s.deliver(simPacket{from: p.st.Node(), to: n.st.Node(), data: Encode(ptr(p.st.Summary())), reliable: true})
}

func (s *sim) deliver(pk simPacket) {
	n := s.byName[pk.to]
	m, err := Decode(pk.data)
	if err != nil {
		s.fatalf("decode from %s: %v", pk.from, err)
	}
	s.kinds[m.Kind()]++
	out := n.st.Step(m, s.nowOf(n))
	for _, r := range out.Replies {
		s.send(n.st.Node(), out.To, Encode(r), true)
	}
	for _, e := range out.Gossip {
		s.gossip(n, e, false, out.Forward, m.Sender())
	}
	if out.Transfer {
		for _, c := range transferAll(n.st, out.To) {
			s.send(n.st.Node(), c.to, c.data, true)
		}
	}
}

// network delivers some of the messages in flight, in random order, with
// loss and duplication; the rest wait (delay and reordering).
func (s *sim) network(lossy bool) {
	flight := s.flight
	s.flight = nil
	s.rng.Shuffle(len(flight), func(i, j int) { flight[i], flight[j] = flight[j], flight[i] })
	for _, pk := range flight {
		if lossy && s.rng.Float64() < 0.3 {
			s.flight = append(s.flight, pk) // later
			continue
		}
		if s.group[pk.from] != s.group[pk.to] {
			continue // partitioned: lost, reliable or not
		}
		if lossy && !pk.reliable && s.rng.Float64() < s.opt.drop {
			continue
		}
		if lossy && pk.reliable && s.rng.Float64() < s.opt.drop/5 {
			continue // a TCP send that failed
		}
		s.deliver(pk)
		if lossy && s.rng.Float64() < s.opt.dup {
			s.deliver(pk)
		}
	}
}

func (s *sim) partition() {
	k := 2 + s.rng.IntN(2)
	for _, n := range s.nodes {
		s.group[n.st.Node()] = s.rng.IntN(k)
	}
}

func (s *sim) heal() { clear(s.group) }

func (s *sim) tick(phase string) {
	s.now += 50
	switch phase {
	case "random":
		for s.rng.IntN(3) == 0 {
			s.clientWrite()
		}
	}
	if s.now/50%4 == 0 {
		s.gossipTick()
	}
	for i, n := range s.nodes {
		// push/pull every 2s per node (memberlist LAN is 30s; scaled).
		if (s.now/50+int64(i))%40 == 0 || (phase == "settle" && s.rng.IntN(4) == 0) {
			s.pushPull(n)
		}
		if (s.now/50+int64(i))%20 == 0 {
			n.st.GC(s.nowOf(n))
		}
	}
	s.network(phase == "random")
}

func (s *sim) converged() bool {
	root := s.nodes[0].st.Root()
	for _, n := range s.nodes[1:] {
		if n.st.Root() != root {
			return false
		}
	}
	return true
}

func (s *sim) run() {
	partTicks := 0
	for range s.opt.ticks {
		if s.opt.partitions {
			switch {
			case partTicks > 0:
				partTicks--
				if partTicks == 0 {
					s.heal()
				}
			case s.rng.IntN(200) == 0:
				s.partition()
				partTicks = 1 + s.rng.IntN(s.opt.maxPartTick)
			}
		}
		s.tick("random")
	}
	s.heal()
	for i := 0; ; i++ {
		if s.converged() && len(s.flight) == 0 {
			break
		}
		if i > 2000 {
			s.fatalf("not converged 100s after healing")
		}
		s.tick("settle")
	}
	// Identical stores: same entries, not just the same root.
	want := snapshot(s.nodes[0].st)
	for _, n := range s.nodes[1:] {
		got := snapshot(n.st)
		if len(got) != len(want) {
			s.fatalf("%s has %d entries, %s has %d", n.st.Node(), len(got), s.nodes[0].st.Node(), len(want))
		}
		for i := range got {
			if got[i].Key != want[i].Key || !sameEntry(got[i].Entry, want[i].Entry) {
				s.fatalf("%s and %s differ at %q", n.st.Node(), s.nodes[0].st.Node(), got[i].Key)
			}
		}
	}
}

func simSeeds(n int) []uint64 {
	if *simSeed != 0 {
		return []uint64{*simSeed}
	}
	base := uint64(time.Now().UnixNano())
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

// TestSimConvergesToLastWriter: without tombstone collection, every
// replica ends with exactly the greatest write of each key, whatever was
// lost, duplicated, reordered or partitioned on the way.
func TestSimConvergesToLastWriter(t *testing.T) {
	for _, seed := range simSeeds(3) {
		s := newSim(t, seed, simOptions{nodes: 30, ticks: 600, ttl: 1000 * time.Hour, partitions: true, maxPartTick: 200, drop: 0.2, dup: 0.05, skewMs: 3000})
		s.run()
		got := map[string]Entry{}
		s.nodes[0].st.Scan("", func(r Record) bool {
			got[r.Key] = r.Entry
			return true
		})
		if len(got) != len(s.writes) {
			s.fatalf("%d keys, %d written", len(got), len(s.writes))
		}
		for k, w := range s.writes {
			if !sameEntry(got[k], w) {
				s.fatalf("key %q = %+v, last write %+v", k, got[k], w)
			}
		}
		for _, k := range []Kind{KindAnnounce, KindFetch, KindSyncBuckets, KindSyncEntries} {
			if s.kinds[k] == 0 {
				s.fatalf("no %v message: the test does not cover it (%v)", k, s.kinds)
			}
		}
		t.Logf("seed %d: %d keys, %d KB sent, delivered %v", seed, len(got), s.sent>>10, s.kinds)
	}
}

// TestSimConvergesWithGC: tombstones are collected (TTL 3s) while
// partitions last up to 10s, so floors reject stale copies and Rejects
// make holders drop them; all replicas still end identical.
func TestSimConvergesWithGC(t *testing.T) {
	for _, seed := range simSeeds(3) {
		s := newSim(t, seed, simOptions{nodes: 30, ticks: 800, ttl: 3 * time.Second, partitions: true, maxPartTick: 200, drop: 0.2, dup: 0.05, skewMs: 2000})
		s.run()
		var tombs, floors int
		for _, n := range s.nodes {
			_, tb := n.st.Len()
			tombs += tb
			if !n.st.Floor().IsZero() {
				floors++
			}
		}
		if floors == 0 {
			s.fatalf("no tombstone was ever collected: the test does not test GC")
		}
		if s.kinds[KindReject] == 0 {
			s.fatalf("no Reject was sent: the test does not test floors")
		}
		t.Logf("seed %d: %d entries, %d nodes with a floor, %d KB sent, delivered %v", seed, len(snapshot(s.nodes[0].st)), floors, s.sent>>10, s.kinds)
	}
}

// TestSimDeterministic: a seed replays exactly.
func TestSimDeterministic(t *testing.T) {
	opt := simOptions{nodes: 10, ticks: 300, ttl: 2 * time.Second, partitions: true, maxPartTick: 100, drop: 0.2, dup: 0.05}
	a, b := newSim(t, 42, opt), newSim(t, 42, opt)
	a.run()
	b.run()
	if a.sent != b.sent || a.now != b.now || a.nodes[0].st.Root() != b.nodes[0].st.Root() {
		t.Fatalf("same seed, different runs: %d/%d bytes, %d/%d ms", a.sent, b.sent, a.now, b.now)
	}
}
