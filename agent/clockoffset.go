package agent

import (
	"time"

	"github.com/murmurhq/murmur/membership"
)

// Clock offsets (membership.Offsets): ping acks and push/pull carry each
// agent's wall clock; the store refuses local writes while this agent's
// estimated offset exceeds kv.max_clock_skew.

// msgWallClock carries a clock sample in memberlist's push/pull state (the
// exchange of every join and every push/pull interval), so a joining
// agent knows its offset at once, before the first ping. Wire value:
// never reuse it.
const msgWallClock MsgType = 10

// wallClockState is the StateHandler of msgWallClock.
type wallClockState struct{ a *Agent }

var _ StateHandler = wallClockState{}

func (c wallClockState) LocalState(bool) []byte {
	return membership.EncodeWallClock(c.a.cfg.NodeName, c.a.clk.Now())
}

func (c wallClockState) MergeRemoteState(buf []byte, _ bool) {
	name, ms, err := membership.DecodeWallClock(buf)
	if err != nil || name == c.a.cfg.NodeName {
		return // malformed: ignored, like a bad coordinate
	}
	// Only members count: memberlist merges the sender's node list (so a
	// joiner is a member) before it hands over this state, and samples for
	// made-up names must not move the median.
	if m, ok := c.a.members.Get(name); ok && (m.Status == StatusAlive || m.Status == StatusSuspect) {
		c.a.offsets.Observe(name, ms, 0)
	}
}

// clockOffset is this agent's estimated offset from its peers
// (configsync.Config.ClockOffset).
func (a *Agent) clockOffset() (time.Duration, bool) {
	off, _, ok := a.offsets.Self()
	return off, ok
}

// ackPayload is this agent's coordinate and wall clock, for a ping ack.
func (a *Agent) ackPayload() []byte {
	return membership.AppendAckClock(a.coords.Payload(), a.clk.Now())
}

// observeAckClock records the clock sample at the end of a peer's ack
// payload and returns the coordinate before it.
func (a *Agent) observeAckClock(node string, rtt time.Duration, payload []byte) []byte {
	coord, ms := membership.SplitAckClock(payload)
	a.offsets.Observe(node, ms, rtt)
	return coord
}
