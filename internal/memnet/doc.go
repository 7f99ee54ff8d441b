// Package memnet is an in-memory network for running many memberlist
// instances (and so many agents) in one test process, with controls to
// drop, cut, delay and duplicate their traffic.
//
// A Network hands out Transports, each implementing
// memberlist.NodeAwareTransport: set it as memberlist.Config.Transport.
//
//	nw := memnet.New(seed)                  // or var nw memnet.Network
//	tr, err := nw.NewTransport("node-1")    // gets 127.0.0.1:7946, then .2, ...
//	cfg.Transport = tr                      // memberlist advertises tr.Addr()
//	...
//	nw.Partition([]string{"node-1"})        // node-1 against everyone else
//	nw.Heal()
//
// # Addresses and names
//
// Every transport has a node name, unique among live transports, and an
// "IP:port" address. NewTransport assigns a fresh loopback address
// (127.0.0.1:7946, 127.0.0.2:7946, ...) never used before on the network;
// NewTransportAt takes a chosen one, so a restarted node can come back at
// its old address or a new one. Nothing touches the host network. Traffic is
// routed by address, like IP: the node name memberlist passes along with an
// address is ignored. Faults and statistics are keyed by node name, so they
// follow a node that restarts under the same name.
//
// # Packets
//
// WriteTo and WriteToAddress behave like UDP: they never block, copy the
// buffer, and report success even when the packet is then dropped. The
// receiver's PacketCh is a buffered inbox (DefaultInboxSize, see
// SetInboxSize); a packet finding it full is dropped and counted as
// overflowed. Packet.Timestamp is the delivery time and Packet.From is the
// sender's address as a *net.UDPAddr.
//
// # Streams
//
// DialTimeout and DialAddressTimeout return one end of a net.Pipe (so
// deadlines work) and put the other end on the peer's StreamCh, a small
// buffered backlog. A dial to an unknown address fails with ErrNoRoute, to
// a shut-down transport with ErrRefused, both at once. A dial across a cut
// link waits out its timeout and fails with ErrTimeout, as a TCP connect
// into a black hole does; so does a dial while the peer's backlog stays
// full. No dial outlives its timeout or its transport's Shutdown.
//
// # Faults
//
// All controls may be called at any time, concurrently with traffic.
//
//   - Partition(groups...): nodes in different groups are cut apart; every
//     node named in no group belongs to one extra group "the rest".
//     Partition() with no groups ends the partition.
//   - Block(a, b) / Unblock(a, b): cut the link between two nodes, both ways.
//   - Isolate(name) / Unisolate(name): cut all links of one node.
//   - Heal(): end the partition and remove all blocks and isolations.
//   - SetLoss(from, to, p) and SetLossAll(p): drop packets at random, per
//     direction and globally; the two combine as independent events.
//   - SetDelay(from, to, d) and SetDelayAll(d): deliver packets later (the
//     two add up, at most MaxDelay each). Delayed packets are held by
//     timers, not goroutines, bounded by the inbox size per receiver, and
//     dropped if their link is cut by the time they are due.
//   - SetDuplicate(p): deliver a packet twice.
//
// Cuts (partition, block, isolation) stop packets and dials, and close the
// open streams between the separated nodes at once, so nothing sneaks
// across. Loss, delay and duplication apply to packets only: streams model
// TCP, which retransmits. Random choices come from one source seeded by New
// (Seed reports it); with a single sending goroutine a run replays exactly.
//
// # Shutdown
//
// Transport.Shutdown is like a process exit: the transport's streams are
// closed, packets in flight to it are dropped, dials to it are refused and
// its own sends fail with ErrShutdown. It is idempotent, leaves no
// goroutine behind, and frees the name and address for a new transport.
// PacketCh and StreamCh are never closed, as memberlist requires.
//
// # Statistics
//
// Stats returns per-node and per-link Counters: packets and bytes sent,
// received and dropped (by reason), streams opened, failed and cut, and the
// exact bytes written and read on streams. ResetStats zeroes them, so a test
// can measure one exchange, for example the bytes of a push/pull.
package memnet
