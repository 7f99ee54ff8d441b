package membership

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Intents. memberlist's Node.State is never set (nodeState.State shadows
// it), so NotifyLeave cannot tell a graceful leave from a failure. Like
// Serf, a leaving agent first gossips a leave intent of its own; a member
// that goes away after its intent was heard is "left", otherwise
// "failed", and an intent heard after the failure turns failed into left.
//
// Intents carry Lamport time, as Serf's do, so that an old intent cannot
// speak for a newer life of the node. Every agent keeps a Lamport clock,
// exchanged in push/pull (a joiner witnesses the cluster's clock before it
// announces itself) and witnessed on every intent. A joining agent
// gossips a join intent; a leave intent is applied only when its time is
// newer than every intent already seen for that node, so a stale copy of
// the leave of a node's previous life, arriving after its rejoin, is
// ignored.

// Clock is a Lamport clock. The zero value is ready; it is safe for
// concurrent use.
type Clock struct{ t atomic.Uint64 }

// Time is the current time.
func (c *Clock) Time() uint64 { return c.t.Load() }

// Increment advances the clock and returns the new time (for an event
// this node originates).
func (c *Clock) Increment() uint64 { return c.t.Add(1) }

// Witness moves the clock past t (an event seen from elsewhere).
func (c *Clock) Witness(t uint64) {
	for {
		cur := c.t.Load()
		if t < cur || c.t.CompareAndSwap(cur, t+1) {
			return
		}
	}
}

// Intent kinds. Lower case: agents before Lamport time sent 'L' + name,
// which these agents ignore (such a leave then reads as a failure).
const (
	IntentLeave byte = 'l'
	IntentJoin  byte = 'j'
)

// Intent is one join or leave announcement.
type Intent struct {
	Kind  byte // IntentLeave or IntentJoin
	LTime uint64
	Node  string
}

// maxNodeBytes bounds a node name in an intent (the agent's node_name
// limit).
const maxNodeBytes = 128

// Encode is the wire form: kind, uvarint Lamport time, node name.
func (in Intent) Encode() []byte {
	b := append(make([]byte, 0, 1+binary.MaxVarintLen64+len(in.Node)), in.Kind)
	b = binary.AppendUvarint(b, in.LTime)
	return append(b, in.Node...)
}

var errBadIntent = errors.New("membership: malformed intent")

// DecodeIntent parses an intent from the network.
func DecodeIntent(b []byte) (Intent, error) {
	if len(b) < 2 || (b[0] != IntentLeave && b[0] != IntentJoin) {
		return Intent{}, fmt.Errorf("%w: kind", errBadIntent)
	}
	lt, n := binary.Uvarint(b[1:])
	if n <= 0 {
		return Intent{}, fmt.Errorf("%w: time", errBadIntent)
	}
	node := b[1+n:]
	if len(node) == 0 || len(node) > maxNodeBytes {
		return Intent{}, fmt.Errorf("%w: node name of %d bytes", errBadIntent, len(node))
	}
	return Intent{Kind: b[0], LTime: lt, Node: string(node)}, nil
}

// Intents remembers the newest intent of each node and the Lamport clock.
// It is safe for concurrent use.
type Intents struct {
	Clock Clock

	mu sync.Mutex
	// last is the newest intent seen per node; guarded by mu.
	last map[string]Intent
}

// maxIntents bounds the nodes remembered; the oldest by Lamport time go
// first (a hostile or runaway sender cannot grow the map without bound).
const maxIntents = 1 << 16

// Apply records in when it is newer than every intent seen for its node,
// witnesses its time, and reports whether it was newer (then the caller
// acts on it and relays it).
func (x *Intents) Apply(in Intent) bool {
	x.Clock.Witness(in.LTime)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.last == nil {
		x.last = map[string]Intent{}
	}
	if prev, ok := x.last[in.Node]; ok && in.LTime <= prev.LTime {
		return false
	}
	if len(x.last) >= maxIntents {
		x.evictLocked()
	}
	x.last[in.Node] = in
	return true
}

func (x *Intents) evictLocked() {
	var oldest string
	var at uint64
	first := true
	for n, in := range x.last {
		if first || in.LTime < at {
			oldest, at, first = n, in.LTime, false
		}
	}
	delete(x.last, oldest)
}

// Leaving reports whether the newest intent of node is a leave.
func (x *Intents) Leaving(node string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.last[node].Kind == IntentLeave
}

// Joined is called when memberlist reports node alive again: a leave
// intent seen before no longer describes it (its time stays, so a stale
// copy of that intent is still recognised).
func (x *Intents) Joined(node string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if in, ok := x.last[node]; ok && in.Kind == IntentLeave {
		in.Kind = IntentJoin
		x.last[node] = in
	}
}

// Newest returns the newest intent seen for node (zero when none).
func (x *Intents) Newest(node string) Intent {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.last[node]
}

// Forget drops a reaped node.
func (x *Intents) Forget(node string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.last, node)
}
