// Package query asks every live member of the cluster a question and
// gathers their answers until all have answered, a timeout passes or the
// caller gives up — Serf's queries, for Murmur's two askers: the UI's
// propagation view (which version of a key does each agent hold) and the
// cluster-wide keyring (list, install, use, remove a gossip key).
//
// # Model
//
// A question has a Kind (one byte) and opaque bytes; each kind has a
// Handler that answers it, registered with Handle before the agent starts
// with Options that say how its requests travel:
//
//   - Without Reliable, a request and its answer each travel in one UDP
//     packet (small, read-only questions); a lost packet shows as a member
//     that did not answer, and the caller asks again.
//   - With Reliable, both go over memberlist streams, and halfway through
//     the timeout the request goes again to the members that have not
//     answered (a stream lost or stalled on a loaded machine).
//   - With a Window, requests carry the asker's wall clock: a request
//     further than Window from this agent's clock is refused, and each
//     request id is answered once — a repeat (a resend, or a replay of a
//     captured request) gets the first answer again and never runs the
//     handler twice. With Admit, a request is dropped unless Admit says
//     yes (the keyring: only while gossip is encrypted, so memberlist has
//     authenticated the sender).
//
// Requests are answered one at a time per kind, on a goroutine of Run,
// from a bounded queue; a request that finds the queue full is dropped
// and counted, never answered on memberlist's packet loop.
//
// # Wire
//
// Frames travel as the payload of the agent's query message type
// (gossip.MsgQuery, 4). After that byte:
//
//	'Q' | 'S' | 'A' | 'E'   request, stamped request, answer, error answer
//	kind                    which question
//	id                      8 bytes, big endian: the asker's request id
//	sent                    'S' only: the asker's wall clock, unix ms, 8 bytes
//	uvarint n, n bytes      the sender's node name (1 to 128 bytes)
//	payload                 question, answer, or error text (at most 512 bytes)
//
// 'Q' and 'A' are the frames of the propagation query as it was before
// this package, unchanged. Ids come from crypto/rand: a forged answer
// must guess one.
//
// # What the caller (the agent) must do
//
//   - New with the Cluster (members to ask, and a way to send a frame).
//   - Handle each kind before Start; route the query message type's
//     payloads to HandleMessage.
//   - Run(ctx) for the agent's lifetime; Ask after it stops returns
//     ErrClosed.
package query
