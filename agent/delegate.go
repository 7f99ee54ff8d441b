package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/murmurhq/murmur/config"
	"github.com/murmurhq/murmur/internal/broadcast"
)

// MsgType is the first byte of every Murmur user message carried by
// memberlist. Subsystems register a Handler for their type and never touch
// memberlist wiring.
type MsgType uint8

// Message types. Values are part of the wire protocol: never reuse one.
const (
	// MsgConfigSync carries configsync's messages.
	MsgConfigSync MsgType = 1
	// msgTest is reserved for the agent's own tests.
	msgTest MsgType = 255
)

// Handler receives the user messages of one MsgType.
type Handler interface {
	// HandleMessage is called on memberlist's packet loop (and for
	// reliable messages on a stream goroutine) with the payload after the
	// type byte. It may be called concurrently, must not block, and must
	// copy payload if it keeps it.
	HandleMessage(payload []byte)
}

// StateHandler takes part in memberlist's push/pull state exchange.
type StateHandler interface {
	// LocalState returns this subsystem's part of the exchange; join is
	// true when the exchange is part of a join. Called concurrently.
	LocalState(join bool) []byte
	// MergeRemoteState receives the peer's LocalState. Called
	// concurrently, on memberlist's stream goroutines; must not block for
	// long.
	MergeRemoteState(buf []byte, join bool)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(payload []byte)

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(p []byte) { f(p) }

// delegate implements memberlist's Delegate, EventDelegate and
// PingDelegate for the agent. It owns the broadcast queues.
type delegate struct {
	a *Agent
	// q holds the broadcasts; local ones (this node's own writes) are
	// drained first in every gossip packet.
	q *broadcast.Queues
	// unknown counts user messages with an unregistered type byte.
	unknown atomic.Uint64
}

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate  = (*delegate)(nil)
)

func (d *delegate) NodeMeta(limit int) []byte {
	if len(d.a.meta) > limit { // checked against memberlist's 512 in New
		return nil
	}
	return d.a.meta
}

func (d *delegate) NotifyMsg(msg []byte) {
	if len(msg) == 0 {
		d.unknown.Add(1)
		return
	}
	h := d.a.handlers[MsgType(msg[0])]
	if h == nil {
		if d.unknown.Add(1)%1000 == 1 {
			d.a.log.Debug("dropping user message of unknown type", "type", msg[0], "bytes", len(msg))
		}
		return
	}
	h.HandleMessage(msg[1:])
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return d.q.Get(overhead, limit) }

// State exchange framing: for each registered StateHandler, its type byte,
// a uvarint length and its bytes.
func (d *delegate) LocalState(join bool) []byte {
	var buf []byte
	for t, h := range d.a.states {
		part := h.LocalState(join)
		buf = append(buf, byte(t))
		buf = binary.AppendUvarint(buf, uint64(len(part)))
		buf = append(buf, part...)
	}
	return buf
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	for len(buf) > 0 {
		t := MsgType(buf[0])
		n, w := binary.Uvarint(buf[1:])
		if w <= 0 || n > uint64(len(buf)-1-w) {
			d.a.logRemote("gossip", "", "dropping malformed push/pull state", "bytes", len(buf))
			return
		}
		part := buf[1+w : 1+w+int(n)]
		buf = buf[1+w+int(n):]
		if h := d.a.states[t]; h != nil {
			h.MergeRemoteState(part, join)
		}
	}
}

// EventDelegate: memberlist calls these under its node lock, never
// concurrently; they only update the agent's table and never block.
func (d *delegate) NotifyJoin(n *memberlist.Node) {
	d.a.intents.Joined(n.Name)
	d.a.members.Join(fromNode(n))
}
func (d *delegate) NotifyUpdate(n *memberlist.Node) {
	d.a.members.Update(fromNode(n))
}
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	left := d.a.intents.Leaving(n.Name) || n.Name == d.a.cfg.NodeName && d.a.leaving()
	d.a.members.Leave(fromNode(n), left)
}

// PingDelegate: acks carry this node's network coordinate and wall clock
// (clockoffset.go), and a completed probe is the evidence of life
// suspicion is derived from.
func (d *delegate) AckPayload() []byte { return d.a.ackPayload() }

func (d *delegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	d.a.members.Acked(other.Name)
	d.a.coords.Observe(other.Name, rtt, d.a.observeAckClock(other.Name, rtt, payload))
}

// Broadcast queues a user message of type t for gossip. name identifies
// what the message is about: a queued message with the same type and name
// is replaced. local puts it ahead of relayed messages. It never blocks;
// full queues drop their oldest messages (counted in
// murmur_gossip_broadcasts_pruned_total; anti-entropy repairs them). The
// message must fit one gossip packet (see MaxGossipPayload).
func (a *Agent) Broadcast(t MsgType, name string, payload []byte, local bool) {
	a.del.q.Queue(fmt.Sprintf("%d/%s", t, name), frame(t, payload), local)
}

// MaxGossipPayload is the largest payload Broadcast can carry in one UDP
// gossip packet: memberlist's 1400-byte UDP buffer minus its compound,
// encryption and label overhead, minus the type byte. Larger payloads must
// go by SendReliable. config validates kv.max_key_bytes against it.
const MaxGossipPayload = config.MaxGossipPayload

// ErrUnknownNode is returned when sending to a node the agent does not know
// as alive or suspect.
var ErrUnknownNode = errors.New("agent: unknown or unreachable node")

func frame(t MsgType, payload []byte) []byte {
	msg := make([]byte, 1+len(payload))
	msg[0] = byte(t)
	copy(msg[1:], payload)
	return msg
}

// SendReliable sends a user message of type t to the named node over a
// stream (TCP), up to memberlist's 20 MiB user message limit. It blocks up
// to gossip.tcp_timeout.
func (a *Agent) SendReliable(node string, t MsgType, payload []byte) error {
	return a.send(node, t, payload, true, false)
}

// SendBestEffort sends a user message of type t to the named node in one
// UDP packet; payloads over MaxGossipPayload fail.
func (a *Agent) SendBestEffort(node string, t MsgType, payload []byte) error {
	return a.send(node, t, payload, false, false)
}

// send sends to an alive or suspect member, or with anyStatus to any
// member the agent knows (an answer goes to whoever asked).
func (a *Agent) send(node string, t MsgType, payload []byte, reliable, anyStatus bool) error {
	if !reliable && len(payload) > MaxGossipPayload {
		return fmt.Errorf("agent: %d-byte payload exceeds one packet (%d)", len(payload), MaxGossipPayload)
	}
	ml := a.memberlist()
	if ml == nil {
		return ErrNotRunning
	}
	m, ok := a.members.Get(node)
	if !ok || !anyStatus && !m.Status.Live() {
		return fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	to := &memberlist.Node{Name: m.Name, Addr: m.Addr.AsSlice(), Port: m.Port}
	if reliable {
		return ml.SendReliable(to, frame(t, payload))
	}
	return ml.SendBestEffort(to, frame(t, payload))
}
