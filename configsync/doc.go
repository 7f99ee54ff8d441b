// Package configsync is Murmur's replicated key/value config store: a key
// set on any agent reaches every agent, all agents converge to one value
// per key, and the store survives restarts, crashes and partitions.
//
// # Model
//
// Every write is an Entry stamped with a Version from a hybrid logical
// clock (wall milliseconds, logical counter, origin node). Replicas merge
// by last-writer-wins on Version, which is idempotent, commutative and
// associative, so they agree whatever order messages arrive in. Deletes
// are tombstones, collected after TombstoneTTL; a version floor then stops
// an older copy of a collected key from coming back (see
// docs/consistency.md for what a partition longer than the TTL costs).
// Reads are local and eventually consistent.
//
// # Trust
//
// Every message is hostile until proven otherwise: versions more than
// MaxClockSkew ahead of the local clock are refused and never observed,
// so no message can pin a key or drag the clock; digests cover content, so
// equal versions with different values converge; a Reject is honoured only
// within its plausible floor; a store that started empty rejects nothing
// it may merely lack; stored records carry CRC-32C checksums and the bbolt
// file is verified before it is mapped; every loss is counted in Stats.
//
// # Structure
//
// State is the deterministic core: it does no I/O, takes no locks and
// reads no clock. Step(message, now) applies a message and returns an
// Output saying what to persist, whom to notify and what to send, as
// etcd-io/raft does; tests drive many States through a simulated network.
// Store is the thin driver: it owns a State behind a mutex, persists to
// bbolt, runs the goroutines (Run) and talks to the cluster through a
// Transport the agent implements over memberlist.
//
// # What the agent must do
//
//   - Open(Config) at start; Close at shutdown, after cancelling Run's
//     context (Close also stops Run).
//   - Run(ctx) in its own goroutine for the agent's lifetime.
//   - Implement Transport (Broadcast on a TransmitLimitedQueue with the key
//     as NamedBroadcast name and local writes first, Forward with
//     SendBestEffort to random live members, Send with SendReliable), each
//     message prefixed with the agent's routing byte.
//   - From the memberlist Delegate: NotifyMsg → HandleMessage (after
//     stripping the routing byte); LocalState → LocalState;
//     MergeRemoteState → MergeRemoteState. These never block.
//   - Serve the HTTP KV API with Put, Get, List, Keys, Delete,
//     DeletePrefix, Index, IndexOf and Wait; map ErrInvalidKey and
//     ErrKeyTooLarge to 400, ErrValueTooLarge to 413, ErrNotFound to 404,
//     ErrClockOffset and ErrClosed to 503.
//   - Set Config.ClockOffset to its estimate of this agent's clock offset
//     from its peers, so writes its peers would refuse are refused here.
//   - Treat an Open error (ErrCorrupt, ErrMissing) as fatal: it names the
//     file and says what to do.
//   - Rebuild catalogs from Subscribe notifications (SubscribeKeys says
//     which keys changed); export Stats.
//   - Nothing else: Run owns every timer of the store, the anti-entropy
//     probe (Config.SyncInterval) included.
//
// The package imports neither memberlist nor net.
package configsync
