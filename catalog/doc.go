// Package catalog is Murmur's service catalog: this agent's own service
// instances (the registry), their health checks, and an incrementally
// maintained, immutable view of every instance and member in the cluster.
//
// # Model
//
// Each agent publishes each local instance as one key of the replicated
// store (configsync) in its own namespace, Prefix + node + "/" + id, whose
// value is a small JSON record with the instance's health (record.go).
// Every agent subscribes to the namespace and, for each changed key,
// decodes that one record and rebuilds that one service's instance list;
// the new Snapshot shares everything else with the one before (copy on
// write), and is published with an atomic pointer. One health change
// costs one decode, whatever the size of the catalog.
//
// Service names are case-insensitive, as DNS names are: "Web" and "WEB"
// are one service, "web". Instance ids are case-sensitive.
//
// # Arrows
//
// The catalog imports configsync (for its record type) and declares what
// it needs from it (Store) and from membership (Members). It imports no
// face: the DNS server and the HTTP faces import it for its types (Node,
// Instance, Snapshot), and DNS receives each new snapshot through the
// OnSnapshot hook, which the agent wires.
//
// # What the caller (the agent) must do
//
//   - New with a Store (a *configsync.Store) and Members, after both exist;
//     New registers Config.Services and the saved API registrations and
//     builds the first snapshot.
//   - Run(ctx) for the agent's lifetime; it runs the checks too.
//   - Call MembersChanged on every membership event.
//   - Serve registrations with Register, Deregister and UpdateTTL, and
//     reads with Snapshot; on SIGHUP call ReloadConfig.
package catalog
