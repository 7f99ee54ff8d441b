// Package membership is the agent's view of who is in the cluster, kept
// beside memberlist because memberlist forgets dead nodes and exposes
// neither suspicion nor graceful leaves: the member table (Table) with its
// events (Broker, Subscription), leave and join intents with Lamport time
// (Intents), the node metadata codec (EncodeMeta, DecodeMeta), network
// coordinates (Coords) and clock offsets (Offsets, with the wall-clock
// samples that ride in ping acks and push/pull state).
//
// It does not import memberlist: the agent owns memberlist and feeds its
// callbacks in (Join, Update, Leave from the EventDelegate; Acked and
// Offsets.Observe from the PingDelegate), and carries intents
// (Intents.Receive), the Lamport clock and wall-clock samples in its own
// messages and push/pull state. The Suspector (suspicion from pings of its
// own) and the Rejoiner (join with backoff, reconnect to failed members,
// reap, remember peers) reach memberlist through the small Prober and
// Gossip interfaces the agent implements; each has a Run the agent
// starts. Members are catalog.Node values, the one member type the
// catalog, DNS and the HTTP faces share.
//
// docs/memberlist-notes.md records the memberlist facts behind this
// design.
package membership
