// Package membership is the agent's view of who is in the cluster, kept
// beside memberlist because memberlist forgets dead nodes and exposes
// neither suspicion nor graceful leaves: the member table (Table) with its
// events (Broker, Subscription), leave and join intents with Lamport time
// (Intents), the node metadata codec (EncodeMeta, DecodeMeta) and network
// coordinates (Coords).
//
// It does not import memberlist: the agent owns memberlist and feeds its
// callbacks in (Join, Update, Leave from the EventDelegate; Acked from the
// PingDelegate), runs Suspect on a ticker, and carries intents and the
// Lamport clock in its own messages and push/pull state. Members are
// catalog.Node values, the one member type the catalog, DNS and the HTTP
// faces share.
//
// docs/memberlist-notes.md records the memberlist facts behind this
// design.
package membership
