// Package gossipsim simulates how one update spreads through a cluster by
// gossip, and holds the closed-form models the simulation is checked
// against. It backs cmd/gossipsim and docs/gossip-math.md.
//
// The core is pure: Simulate takes Params, a Mode and an injected
// math/rand/v2 Source and returns plain numbers. It starts no goroutines,
// reads no clock and does no I/O, so the same seed always gives the same
// Result. A Source is not safe for concurrent use; give each concurrent
// Simulate call its own.
//
// Modes:
//
//   - Push: what memberlist does on every gossip tick. Each informed node
//     picks up to Fanout random other nodes (GossipNodes) and sends each one
//     the update, until the update has been sent RetransmitLimit times in
//     total (memberlist's TransmitLimitedQueue). A node that accepts the
//     update queues it and starts sending on its own next tick.
//   - Pull and PushPull: the textbook anti-entropy rounds. Every live node
//     contacts Fanout random peers each round; in pull it asks for the
//     update, in push-pull both sides exchange. No retransmit limit.
//   - Forward: Murmur's forward-on-accept. A node that accepts a new version
//     sends it at once to Fanout random peers, once ("infect and die"). Its
//     time step is one network hop, not one tick.
//
// Failed nodes are silent: they never send, and whatever is sent to them is
// lost. They are still chosen as targets, because memberlist keeps gossiping
// to a node until it is declared dead and then for GossipToTheDeadTime
// (30 s on LAN) after that. Fractions are of live nodes.
package gossipsim
