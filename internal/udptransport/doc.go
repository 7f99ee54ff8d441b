// Package udptransport is a memberlist transport that behaves like
// memberlist's NetTransport: UDP packets and TCP streams on one address
// and port, a packet's timestamp taken right after its read, the same
// advertise-address rules, the same "memberlist.udp.received" metric and
// log lines. It differs in one thing: it reads UDP packets into one
// reused 64 KiB buffer and hands memberlist a copy of exactly the
// packet's bytes, where NetTransport allocates a fresh 64 KiB buffer for
// every packet it reads (at a few hundred packets a second that is most
// of an idle agent's garbage; BENCHMARKS.md §11).
//
// It listens on one address (the agent binds one), and does not
// implement memberlist's deprecated, unused IngestionAwareTransport. The
// caller creates it, passes it as memberlist.Config.Transport, and
// memberlist's Shutdown shuts it down; Shutdown is idempotent, so the
// caller may also call it when memberlist.Create fails.
package udptransport
