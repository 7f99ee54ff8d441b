package membership

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Clock offsets. Every ping ack carries the responder's wall clock after
// its network coordinate (AppendAckClock); the pinger estimates the
// responder's offset as its time plus half the round trip, minus its own
// time when the ack arrived. This agent's own offset is the median of its
// peers' offsets with the sign flipped (with an even count, the middle
// value nearer zero: a two-node cluster trusts the clock it has). The
// first sample comes from the join's push/pull (EncodeWallClock), so an
// agent whose clock is wrong knows it before it acknowledges a write its
// peers would refuse; an agent that has heard from no peer cannot know.
// The store refuses local writes while that estimate exceeds
// kv.max_clock_skew (configsync.ErrClockOffset): its peers would refuse
// its versions, or it theirs.

// OffsetFresh is how long a peer's sample counts towards the estimate:
// memberlist pings each peer at least every few probe intervals.
const OffsetFresh = 2 * time.Minute

// ErrMalformedClock marks a wall-clock sample that does not decode.
var ErrMalformedClock = errors.New("membership: malformed clock sample")

type offsetSample struct {
	offset time.Duration
	at     time.Time
}

// Offsets holds the latest clock offset sample of each peer. Safe for
// concurrent use.
type Offsets struct {
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

// NewOffsets returns Offsets with no samples, judging freshness by now.
func NewOffsets(now func() time.Time) *Offsets {
	return &Offsets{now: now, peers: map[string]offsetSample{}}
}

// Observe records a peer's wall clock (unix ms) read when it sent an ack
// that took rtt to come back. A clock at or before the epoch is ignored.
func (o *Offsets) Observe(node string, peerMs int64, rtt time.Duration) {
	if peerMs <= 0 {
		return
	}
	now := o.now()
	off := time.UnixMilli(peerMs).Add(rtt / 2).Sub(now)
	o.mu.Lock()
	o.peers[node] = offsetSample{offset: off, at: now}
	o.recomputeLocked(now)
	o.mu.Unlock()
	o.last.Store(now.UnixNano())
}

// Forget drops node's sample (it left or was reaped).
func (o *Offsets) Forget(node string) {
	o.mu.Lock()
	delete(o.peers, node)
	o.recomputeLocked(o.now())
	o.mu.Unlock()
}

func (o *Offsets) recomputeLocked(now time.Time) {
	var d []time.Duration
	for _, s := range o.peers {
		if now.Sub(s.at) < OffsetFresh {
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

// Peer is how far node's clock is ahead of this agent's (negative:
// behind), from its latest fresh sample.
func (o *Offsets) Peer(node string) (time.Duration, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.peers[node]
	if !ok || o.now().Sub(s.at) >= OffsetFresh {
		return 0, false
	}
	return s.offset, true
}

// Self is how far this agent's clock is ahead of its peers', and from how
// many samples; false while no peer was sampled recently.
func (o *Offsets) Self() (off time.Duration, samples int, ok bool) {
	if !o.selfKnown.Load() || o.now().UnixNano()-o.last.Load() >= int64(OffsetFresh) {
		return 0, 0, false
	}
	return time.Duration(o.self.Load()), int(o.samples.Load()), true
}

// ackTimeTag follows the coordinate in an ack payload, then the sender's
// wall clock in unix ms (8 bytes, big-endian).
const ackTimeTag = 'T'

// AppendAckClock appends the wall clock now to a ping ack's coordinate
// payload.
func AppendAckClock(coord []byte, now time.Time) []byte {
	b := append(coord, ackTimeTag)
	return binary.BigEndian.AppendUint64(b, uint64(now.UnixMilli()))
}

// SplitAckClock returns the coordinate before the clock sample at the end
// of an ack payload and the sample (unix ms). A payload without one (or a
// malformed one) is returned whole with ms 0: the coordinate decoder
// judges it.
func SplitAckClock(payload []byte) (coord []byte, ms int64) {
	n := len(payload) - 9
	if n < 0 || payload[n] != ackTimeTag {
		return payload, 0
	}
	if ms = int64(binary.BigEndian.Uint64(payload[n+1:])); ms <= 0 {
		ms = 0
	}
	return payload[:n], ms
}

// EncodeWallClock is a clock sample for push/pull state: the sender's
// name (uvarint length, bytes) and its wall clock now (unix ms, 8 bytes,
// big-endian). The round trip is not known there; it is well below any
// sensible kv.max_clock_skew.
func EncodeWallClock(node string, now time.Time) []byte {
	b := binary.AppendUvarint(nil, uint64(len(node)))
	b = append(b, node...)
	return binary.BigEndian.AppendUint64(b, uint64(now.UnixMilli()))
}

// DecodeWallClock parses EncodeWallClock's bytes. Errors wrap
// ErrMalformedClock. The length must be a minimal uvarint (binary.Uvarint
// also accepts padded forms such as 83 00 for 3), so that one sample has
// exactly one encoding.
func DecodeWallClock(b []byte) (node string, ms int64, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || w != len(binary.AppendUvarint(nil, n)) || n == 0 || n > 512 || uint64(len(b)-w) != n+8 {
		return "", 0, fmt.Errorf("%w: %d bytes", ErrMalformedClock, len(b))
	}
	ms = int64(binary.BigEndian.Uint64(b[w+int(n):]))
	if ms <= 0 {
		return "", 0, fmt.Errorf("%w: wall clock %d ms", ErrMalformedClock, ms)
	}
	return string(b[w : w+int(n)]), ms, nil
}
