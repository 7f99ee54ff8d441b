// Package broadcast holds the agent's two gossip broadcast queues on
// memberlist's TransmitLimitedQueue: this node's own messages (local),
// drained first into every gossip packet, and those it relays for others.
// A message replaces a queued one of the same name (NamedBroadcast, O(1)),
// and each queue is bounded like Serf's MaxQueueDepth: beyond MaxQueued
// the oldest broadcasts are dropped and counted (anti-entropy repairs what
// they carried).
//
// The agent calls Queue from Broadcast and Get from memberlist's
// Delegate.GetBroadcasts; Len and Pruned feed /metrics.
package broadcast
