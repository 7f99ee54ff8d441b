package agent

import (
	"encoding/binary"

	"github.com/murmurhq/murmur/membership"
)

// Intents (membership.Intents): a leaving agent gossips a leave intent
// first, so that others tell its leave from a failure; a joining agent
// gossips a join intent, so that a stale copy of the leave of its previous
// life cannot mark it left. Both carry Lamport time, exchanged in
// push/pull.

// msgAgent carries the agent's own messages: intents.
const msgAgent MsgType = 2

// handleAgentMsg handles msgAgent messages. Runs on the packet loop.
func (a *Agent) handleAgentMsg(p []byte) {
	in, err := membership.DecodeIntent(p)
	if err != nil || in.Node == a.cfg.NodeName {
		return
	}
	if !a.intents.Apply(in) {
		return // seen, or older than what is known of the node
	}
	if in.Kind == membership.IntentLeave {
		a.members.MarkLeft(in.Node)
	}
	a.Broadcast(msgAgent, "intent/"+in.Node, p, false)
}

// announce gossips an intent of this node; a leave also goes straight to
// every live member, so it arrives before memberlist's own leave message.
func (a *Agent) announce(kind byte) {
	in := membership.Intent{Kind: kind, LTime: a.intents.Clock.Increment(), Node: a.cfg.NodeName}
	p := in.Encode()
	a.Broadcast(msgAgent, "intent/"+a.cfg.NodeName, p, true)
	if kind != membership.IntentLeave {
		return
	}
	for _, m := range a.members.WithStatus(StatusAlive, StatusSuspect) {
		if m.Name != a.cfg.NodeName {
			_ = a.SendBestEffort(m.Name, msgAgent, p)
		}
	}
}

// clockState puts the Lamport clock in push/pull, so a joiner's clock is
// past every intent the cluster has seen before it announces itself.
type clockState struct{ a *Agent }

func (c clockState) HandleMessage(p []byte) { c.a.handleAgentMsg(p) }

func (c clockState) LocalState(bool) []byte {
	return binary.AppendUvarint(nil, c.a.intents.Clock.Time())
}

func (c clockState) MergeRemoteState(buf []byte, _ bool) {
	if t, n := binary.Uvarint(buf); n > 0 {
		c.a.intents.Clock.Witness(t)
	}
}
