package memnet

import "sync/atomic"

// Link names a directed link between two nodes by their transport names.
type Link struct {
	From, To string
}

// Counters is a snapshot of traffic counts for one node or one link.
//
// In a node's Counters the Sent, Dropped and stream-dial fields count what
// the node sent or dialed, the Received and Accepted fields what it received.
// In a link's Counters {From, To}, every packet and byte field counts traffic
// flowing from From to To (on streams dialed by either side); StreamsOpened,
// StreamsFailed and StreamsCut count dials made by From to To.
type Counters struct {
	PacketsSent     uint64 // packets accepted by WriteTo, including ones later dropped
	BytesSent       uint64 // payload bytes of PacketsSent
	PacketsReceived uint64 // packets put into a receiver's inbox (duplicates included)
	BytesReceived   uint64 // payload bytes of PacketsReceived
	PacketsDropped  uint64 // packets never delivered, for any reason below or a dead destination
	BytesDropped    uint64 // payload bytes of PacketsDropped

	PacketsLost       uint64 // dropped by random loss (SetLoss, SetLossAll)
	PacketsCut        uint64 // dropped by a partition, block or isolation
	PacketsOverflowed uint64 // dropped because the receiver's inbox (or delay queue) was full
	PacketsDuplicated uint64 // extra copies delivered by SetDuplicate

	StreamsOpened       uint64 // successful dials
	StreamsAccepted     uint64 // streams handed to this node's StreamCh (node counters only)
	StreamsFailed       uint64 // dials that returned an error
	StreamsCut          uint64 // open streams closed by a partition, block or isolation
	StreamBytesSent     uint64 // bytes written into streams
	StreamBytesReceived uint64 // bytes read from streams
}

// Add returns the field-wise sum of c and o.
func (c Counters) Add(o Counters) Counters {
	c.PacketsSent += o.PacketsSent
	c.BytesSent += o.BytesSent
	c.PacketsReceived += o.PacketsReceived
	c.BytesReceived += o.BytesReceived
	c.PacketsDropped += o.PacketsDropped
	c.BytesDropped += o.BytesDropped
	c.PacketsLost += o.PacketsLost
	c.PacketsCut += o.PacketsCut
	c.PacketsOverflowed += o.PacketsOverflowed
	c.PacketsDuplicated += o.PacketsDuplicated
	c.StreamsOpened += o.StreamsOpened
	c.StreamsAccepted += o.StreamsAccepted
	c.StreamsFailed += o.StreamsFailed
	c.StreamsCut += o.StreamsCut
	c.StreamBytesSent += o.StreamBytesSent
	c.StreamBytesReceived += o.StreamBytesReceived
	return c
}

// Stats is a snapshot of every node's and link's counters. Nodes are keyed
// by transport name, so a node restarted under the same name keeps adding to
// the same counters. Links that never carried traffic are absent.
type Stats struct {
	Nodes map[string]Counters
	Links map[Link]Counters
}

// Total returns the sum of all node counters: with every transport on the
// network counted once, Total().StreamBytesSent is all stream bytes written.
func (s Stats) Total() Counters {
	var t Counters
	for _, c := range s.Nodes {
		t = t.Add(c)
	}
	return t
}

// counter indexes one field of counters.
type counter int

const (
	cPacketsSent counter = iota
	cBytesSent
	cPacketsReceived
	cBytesReceived
	cPacketsDropped
	cBytesDropped
	cPacketsLost
	cPacketsCut
	cPacketsOverflowed
	cPacketsDuplicated
	cStreamsOpened
	cStreamsAccepted
	cStreamsFailed
	cStreamsCut
	cStreamBytesSent
	cStreamBytesReceived
	numCounters
)

// counters is the live, lock-free form of Counters. Stream conns hold
// pointers to them, so they are zeroed in place, never replaced.
type counters [numCounters]atomic.Uint64

func (c *counters) add(i counter, v uint64) { c[i].Add(v) }

func (c *counters) reset() {
	for i := range c {
		c[i].Store(0)
	}
}

func (c *counters) snapshot() Counters {
	return Counters{
		PacketsSent:         c[cPacketsSent].Load(),
		BytesSent:           c[cBytesSent].Load(),
		PacketsReceived:     c[cPacketsReceived].Load(),
		BytesReceived:       c[cBytesReceived].Load(),
		PacketsDropped:      c[cPacketsDropped].Load(),
		BytesDropped:        c[cBytesDropped].Load(),
		PacketsLost:         c[cPacketsLost].Load(),
		PacketsCut:          c[cPacketsCut].Load(),
		PacketsOverflowed:   c[cPacketsOverflowed].Load(),
		PacketsDuplicated:   c[cPacketsDuplicated].Load(),
		StreamsOpened:       c[cStreamsOpened].Load(),
		StreamsAccepted:     c[cStreamsAccepted].Load(),
		StreamsFailed:       c[cStreamsFailed].Load(),
		StreamsCut:          c[cStreamsCut].Load(),
		StreamBytesSent:     c[cStreamBytesSent].Load(),
		StreamBytesReceived: c[cStreamBytesReceived].Load(),
	}
}

// Stats returns a snapshot of all counters. Counters keep moving while it
// runs, so fields are individually exact but not one atomic cut.
func (n *Network) Stats() Stats {
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Stats{
		Nodes: make(map[string]Counters, len(n.nodeStats)),
		Links: make(map[Link]Counters, len(n.linkStats)),
	}
	for name, c := range n.nodeStats {
		s.Nodes[name] = c.snapshot()
	}
	for l, c := range n.linkStats {
		s.Links[l] = c.snapshot()
	}
	return s
}

// ResetStats zeroes every counter, including those of open streams.
func (n *Network) ResetStats() {
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.nodeStats {
		c.reset()
	}
	for _, c := range n.linkStats {
		c.reset()
	}
}

// nodeLocked returns the counters of node name, creating them.
// Caller holds n.mu.
func (n *Network) nodeLocked(name string) *counters {
	c := n.nodeStats[name]
	if c == nil {
		c = new(counters)
		n.nodeStats[name] = c
	}
	return c
}

// linkLocked returns the counters of link from→to, creating them.
// Caller holds n.mu.
func (n *Network) linkLocked(from, to string) *counters {
	l := Link{From: from, To: to}
	c := n.linkStats[l]
	if c == nil {
		c = new(counters)
		n.linkStats[l] = c
	}
	return c
}
