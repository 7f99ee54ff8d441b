// Package dnsserver answers DNS queries for the live, healthy service
// instances and the members of a Murmur cluster (docs/dns.md is the user
// reference; DESIGN.md's "DNS" section is the contract).
//
// It is split the usual way: a pure core and a thin driver.
//
//   - Snapshot (snapshot.go) is an immutable view of the cluster that the
//     agent builds with NewSnapshot on every membership, service or health
//     change and publishes through the Catalog interface. NewSnapshot does
//     the expensive work once (lower-cased lookup maps, tag indices, the
//     reverse map, nearest-first orderings) so the query path does none.
//   - Resolve (resolve.go) is a pure function from (Snapshot, Config,
//     request, random source) to a response: no sockets, clock, goroutines
//     or global randomness.
//   - Server (server.go) is the driver: it serves a UDP net.PacketConn and a
//     TCP net.Listener with miekg/dns, caches the snapshot compiled for the
//     current Config, trims UDP answers to the client's EDNS0 size, forwards
//     out-of-zone names to recursors when configured, and counts queries and
//     responses for metrics.
//
// What the caller (the agent) must do:
//
//   - Implement Catalog: DNS is called on every query from many goroutines
//     and must be an atomic load. CatalogFunc adapts
//     (*atomic.Pointer[Snapshot]).Load.
//   - Rebuild and publish a Snapshot whenever members, services, health or
//     network coordinates change (coordinates may be batched); never modify
//     one after publishing it.
//   - Bind the UDP and TCP sockets (dns.addr, default 127.0.0.1:8600) and
//     hand them to Server.Run, which owns and closes them.
//   - On SIGHUP call Server.SetConfig with the new [dns] table.
package dnsserver
