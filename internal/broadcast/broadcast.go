package broadcast

import (
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// MaxQueued bounds each queue.
const MaxQueued = 4096

// Queues are the local and relay queues. Safe for concurrent use.
type Queues struct {
	local, relay *memberlist.TransmitLimitedQueue
	pruned       atomic.Uint64
}

// New returns empty queues; numNodes (the cluster's size, called
// concurrently) and retransmitMult set how often each message is sent.
func New(numNodes func() int, retransmitMult int) *Queues {
	return &Queues{
		local: &memberlist.TransmitLimitedQueue{NumNodes: numNodes, RetransmitMult: retransmitMult},
		relay: &memberlist.TransmitLimitedQueue{NumNodes: numNodes, RetransmitMult: retransmitMult},
	}
}

// Queue queues msg under name (replacing a queued message of that name),
// on the local queue when local. It never blocks.
func (q *Queues) Queue(name string, msg []byte, local bool) {
	tq := q.relay
	if local {
		tq = q.local
	}
	tq.QueueBroadcast(&named{name: name, msg: msg})
	if n := tq.NumQueued(); n > MaxQueued {
		tq.Prune(MaxQueued)
		q.pruned.Add(uint64(n - tq.NumQueued()))
	}
}

// Get is memberlist's Delegate.GetBroadcasts: local messages first, then
// relayed ones in the room left.
func (q *Queues) Get(overhead, limit int) [][]byte {
	out := q.local.GetBroadcasts(overhead, limit)
	used := 0
	for _, b := range out {
		used += overhead + len(b)
	}
	if rest := limit - used; rest > overhead {
		out = append(out, q.relay.GetBroadcasts(overhead, rest)...)
	}
	return out
}

// Len returns the messages waiting in each queue.
func (q *Queues) Len() (local, relay int) { return q.local.NumQueued(), q.relay.NumQueued() }

// Pruned counts the messages dropped from full queues.
func (q *Queues) Pruned() uint64 { return q.pruned.Load() }

// named is a queued message; messages with the same name replace each
// other.
type named struct {
	name string
	msg  []byte
}

var _ memberlist.NamedBroadcast = (*named)(nil)

func (b *named) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*named)
	return ok && o.name == b.name
}
func (b *named) Name() string    { return b.name }
func (b *named) Message() []byte { return b.msg }
func (b *named) Finished()       {}
