// Package dnsserver answers DNS queries for the live, healthy service
// instances and the members of a Murmur cluster (docs/dns.md is the user
// reference; DESIGN.md's "DNS" section is the contract).
//
// It is split the usual way: a pure core and a thin driver.
//
//   - A zone (zone.go) is a catalog.Snapshot compiled under one Config:
//     lower-cased lookup maps, tag views, the reverse map, nearest-first
//     orderings and every name an answer needs, built once so the query
//     path only copies. A new snapshot recompiles only the services it
//     changed (catalog.Changes); members or config changes recompile all.
//   - Resolve (resolve.go) is a pure function from (snapshot, Config,
//     request, random source) to a response: no sockets, clock, goroutines
//     or global randomness.
//   - Server (server.go) is the driver: it serves a UDP net.PacketConn and a
//     TCP net.Listener with miekg/dns from the current zone (one atomic
//     load per query), trims UDP answers to the client's EDNS0 size,
//     forwards out-of-zone names to recursors when configured, and counts
//     queries and responses for metrics.
//
// The package imports catalog for its types only; catalog never imports
// it.
//
// What the caller (the agent) must do:
//
//   - Hand every catalog snapshot to Update, in order, from the catalog's
//     goroutine (catalog.Config.OnSnapshot): the zone is compiled there,
//     never on the query path.
//   - Bind the UDP and TCP sockets (dns.addr, default 127.0.0.1:8600) and
//     hand them to Server.Run, which owns and closes them.
//   - On SIGHUP call Server.SetConfig with the new [dns] table.
package dnsserver
