package agent

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Clock offsets. Every ping ack carries the responder's wall clock after
// its network coordinate (ackPayload); the pinger estimates the
// responder's offset as its time plus half the round trip, minus its own
// time when the ack arrived. This agent's own offset is the median of its
// peers' offsets with the sign flipped (with an even count, the middle
// value nearer zero: a two-node cluster trusts the clock it has). The
// first sample comes from the join's push/pull (msgWallClock), so an agent
// whose clock is wrong knows it before it acknowledges a write its peers
// would refuse; an agent that has heard from no peer cannot know. The
// store refuses local writes while that estimate exceeds
// kv.max_clock_skew (configsync.ErrClockOffset): its peers would refuse
// its versions, or it theirs.

// msgWallClock carries a clock sample in memberlist's push/pull state (the
// exchange of every join and every push/pull interval): the sender's name
// and wall clock, so a joining agent knows its offset at once, before the
// first ping. The round trip is not known there; it is well below any
// sensible kv.max_clock_skew. Wire value: never reuse it.
const msgWallClock MsgType = 10

// wallClockState is the StateHandler of msgWallClock.
type wallClockState struct{ a *Agent }

var _ StateHandler = wallClockState{}

func (c wallClockState) LocalState(bool) []byte {
	b := binary.AppendUvarint(nil, uint64(len(c.a.cfg.NodeName)))
	b = append(b, c.a.cfg.NodeName...)
	return binary.BigEndian.AppendUint64(b, uint64(c.a.clk.Now().UnixMilli()))
}

func (c wallClockState) MergeRemoteState(buf []byte, _ bool) {
	n, w := binary.Uvarint(buf)
	if w <= 0 || n == 0 || n > 512 || uint64(len(buf)-w) != n+8 {
		return // malformed: ignored, like a bad coordinate
	}
	name := string(buf[w : w+int(n)])
	if name == c.a.cfg.NodeName {
		return
	}
	// Only members count: memberlist merges the sender's node list (so a
	// joiner is a member) before it hands over this state, and samples for
	// made-up names must not move the median.
	if m, ok := c.a.members.Get(name); !ok || (m.Status != StatusAlive && m.Status != StatusSuspect) {
		return
	}
	if ms := int64(binary.BigEndian.Uint64(buf[w+int(n):])); ms > 0 {
		c.a.offsets.observe(name, ms, 0)
	}
}

// offsetFresh is how long a peer's sample counts towards the estimate:
// memberlist pings each peer at least every few probe intervals.
const offsetFresh = 2 * time.Minute

type offsetSample struct {
	offset time.Duration
	at     time.Time
}

// clockOffsets holds the latest offset sample of each peer. Safe for
// concurrent use.
type clockOffsets struct {
	now func() time.Time

	mu sync.Mutex
	// peers is guarded by mu.
	peers map[string]offsetSample

	// self is this agent's estimated offset in ns, valid when selfKnown;
	// recomputed on every sample so readers (every write) never sort.
	self      atomic.Int64
	selfKnown atomic.Bool
	samples   atomic.Int64 // fresh samples behind self
	// last is the unix ns of the latest sample: with none fresh, the
	// estimate is unknown.
	last atomic.Int64
}

func newClockOffsets(now func() time.Time) *clockOffsets {
	return &clockOffsets{now: now, peers: map[string]offsetSample{}}
}

// observe records a peer's wall clock (unix ms) read when it sent an ack
// that took rtt to come back.
func (o *clockOffsets) observe(node string, peerMs int64, rtt time.Duration) {
	now := o.now()
	off := time.UnixMilli(peerMs).Add(rtt / 2).Sub(now)
	o.mu.Lock()
	o.peers[node] = offsetSample{offset: off, at: now}
	o.recomputeLocked(now)
	o.mu.Unlock()
	o.last.Store(now.UnixNano())
}

func (o *clockOffsets) forget(node string) {
	o.mu.Lock()
	delete(o.peers, node)
	o.recomputeLocked(o.now())
	o.mu.Unlock()
}

func (o *clockOffsets) recomputeLocked(now time.Time) {
	var d []time.Duration
	for _, s := range o.peers {
		if now.Sub(s.at) < offsetFresh {
			d = append(d, -s.offset)
		}
	}
	if len(d) == 0 {
		o.selfKnown.Store(false)
		return
	}
	o.samples.Store(int64(len(d)))
	slices.Sort(d)
	m := d[len(d)/2]
	if len(d)%2 == 0 && absDur(d[len(d)/2-1]) < absDur(m) {
		m = d[len(d)/2-1]
	}
	o.self.Store(int64(m))
	o.selfKnown.Store(true)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// peer is how far node's clock is ahead of this agent's (negative:
// behind), from its latest fresh sample.
func (o *clockOffsets) peer(node string) (time.Duration, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.peers[node]
	if !ok || o.now().Sub(s.at) >= offsetFresh {
		return 0, false
	}
	return s.offset, true
}

// selfOffset is how far this agent's clock is ahead of its peers', and
// from how many samples; false while no peer was sampled recently.
func (o *clockOffsets) selfOffset() (off time.Duration, samples int, ok bool) {
	if !o.selfKnown.Load() || o.now().UnixNano()-o.last.Load() >= int64(offsetFresh) {
		return 0, 0, false
	}
	return time.Duration(o.self.Load()), int(o.samples.Load()), true
}

// clockOffset is this agent's estimated offset from its peers
// (configsync.Config.ClockOffset).
func (a *Agent) clockOffset() (time.Duration, bool) {
	off, _, ok := a.offsets.selfOffset()
	return off, ok
}

// clockOffsetMs is a member's offset for the API (see
// client.Member.ClockOffsetMs); nil while unknown.
func (a *Agent) clockOffsetMs(node string) *int64 {
	var off time.Duration
	var ok bool
	if node == a.cfg.NodeName {
		off, ok = a.clockOffset()
	} else {
		off, ok = a.offsets.peer(node)
	}
	if !ok {
		return nil
	}
	ms := off.Milliseconds()
	return &ms
}

// ackTimeTag follows the coordinate in an ack payload, then the sender's
// wall clock in unix ms (8 bytes, big-endian).
const ackTimeTag = 'T'

// ackPayload is this agent's coordinate and wall clock, for a ping ack.
func (a *Agent) ackPayload() []byte {
	b := append(a.coords.Payload(), ackTimeTag)
	return binary.BigEndian.AppendUint64(b, uint64(a.clk.Now().UnixMilli()))
}

// observeAckClock records the clock sample at the end of a peer's ack
// payload and returns the coordinate before it. A payload without one (or
// a malformed one) is returned whole: the coordinate decoder judges it.
func (a *Agent) observeAckClock(node string, rtt time.Duration, payload []byte) []byte {
	n := len(payload) - 9
	if n < 0 || payload[n] != ackTimeTag {
		return payload
	}
	if ms := int64(binary.BigEndian.Uint64(payload[n+1:])); ms > 0 {
		a.offsets.observe(node, ms, rtt)
	}
	return payload[:n]
}
