package configsync

import "sync/atomic"

// Traffic counts messages and their bytes.
type Traffic struct {
	Messages uint64
	Bytes    uint64
}

// Stats is a snapshot for metrics and GET /v1/agent/self.
type Stats struct {
	Keys       int
	Tombstones int
	Index      uint64
	Root       uint64
	Floor      Version
	Clock      Version
	// Sent counts messages handed to the Transport by kind: each
	// Broadcast, Forward and Send call once (memberlist retransmits
	// broadcasts on its own), plus LocalState summaries.
	Sent map[Kind]Traffic
	// Received counts decoded messages by kind.
	Received map[Kind]Traffic
	// Malformed counts messages that failed to decode.
	Malformed uint64
	// InboxDropped and OutboxDropped count messages dropped on full
	// queues; SendErrors failed Transport.Send calls.
	InboxDropped  uint64
	OutboxDropped uint64
	SendErrors    uint64
	// Rejected counts entries refused here by the tombstone floor;
	// Dropped, entries dropped here on a peer's Reject.
	Rejected uint64
	Dropped  uint64
	// Syncs counts sync sessions (and full transfers) this node started.
	Syncs uint64
	// CommitErrors counts failed commits of remote changes; Pending is the
	// number of keys not yet on disk (waiting or being committed).
	CommitErrors uint64
	Pending      int
	// Journaled counts background commits written to the journal;
	// Checkpoints, commits to the database of what was journaled (and
	// pending); Unsynced is the number of keys journaled and not yet
	// checkpointed, which a machine crash could lose.
	Journaled   uint64
	Checkpoints uint64
	Unsynced    int
	// MaxSkewMs and LastSkewMs: how far ahead of the local clock accepted
	// versions were (greatest ever, and latest non-zero).
	MaxSkewMs  int64
	LastSkewMs int64
	// SkewRejected counts versions refused for being more than
	// MaxClockSkew ahead of the local clock.
	SkewRejected uint64
	// RejectsIgnored counts Reject messages not honoured (implausible
	// floor, or an item above it).
	RejectsIgnored uint64
	// Restamped counts entries stamped again after the clock was found
	// beyond the skew bound (State.Restamp).
	Restamped uint64
	// HeldBack counts entries a joiner held back below the floor it heard
	// while waiting for that peer's full transfer.
	HeldBack uint64
	// TransfersDeferred counts full transfers not started because
	// maxTransfers were queued; the peer's next summary asks again.
	TransfersDeferred uint64
}

type counters struct {
	sent, recv                             [numKinds][2]atomic.Uint64
	malformed, inboxDropped, outboxDropped atomic.Uint64
	sendErrors, rejected, dropped, syncs   atomic.Uint64
	commitErrors, skewRejected             atomic.Uint64
	journaled, checkpoints                 atomic.Uint64
	rejectsIgnored, restamped              atomic.Uint64
	transfersDeferred, heldBack            atomic.Uint64
	maxSkew, lastSkew                      atomic.Int64
}

func (c *counters) countSent(msg []byte) {
	if len(msg) >= 2 && Kind(msg[1]) < numKinds {
		c.sent[msg[1]][0].Add(1)
		c.sent[msg[1]][1].Add(uint64(len(msg)))
	}
}

func (c *counters) countReceived(msg []byte) {
	if len(msg) >= 2 && Kind(msg[1]) < numKinds {
		c.recv[msg[1]][0].Add(1)
		c.recv[msg[1]][1].Add(uint64(len(msg)))
	}
}

func (c *counters) observeSkew(ms int64) {
	if ms <= 0 {
		return
	}
	c.lastSkew.Store(ms)
	for {
		old := c.maxSkew.Load()
		if ms <= old || c.maxSkew.CompareAndSwap(old, ms) {
			return
		}
	}
}

// Stats returns current counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	live, tombs := s.st.Len()
	st := Stats{
		Keys: live, Tombstones: tombs,
		Index: s.st.Index(), Root: s.st.Root(),
		Floor: s.st.Floor(), Clock: s.st.Clock(),
		Pending:  len(s.dirty) + s.committing,
		Unsynced: len(s.unsynced),
	}
	s.mu.Unlock()
	c := &s.stats
	st.Sent = make(map[Kind]Traffic)
	st.Received = make(map[Kind]Traffic)
	for _, k := range Kinds() {
		st.Sent[k] = Traffic{Messages: c.sent[k][0].Load(), Bytes: c.sent[k][1].Load()}
		st.Received[k] = Traffic{Messages: c.recv[k][0].Load(), Bytes: c.recv[k][1].Load()}
	}
	st.Malformed = c.malformed.Load()
	st.InboxDropped = c.inboxDropped.Load()
	st.OutboxDropped = c.outboxDropped.Load()
	st.SendErrors = c.sendErrors.Load()
	st.Rejected = c.rejected.Load()
	st.Dropped = c.dropped.Load()
	st.Syncs = c.syncs.Load()
	st.CommitErrors = c.commitErrors.Load()
	st.Journaled = c.journaled.Load()
	st.Checkpoints = c.checkpoints.Load()
	st.MaxSkewMs = c.maxSkew.Load()
	st.LastSkewMs = c.lastSkew.Load()
	st.SkewRejected = c.skewRejected.Load()
	st.RejectsIgnored = c.rejectsIgnored.Load()
	st.Restamped = c.restamped.Load()
	st.TransfersDeferred = c.transfersDeferred.Load()
	st.HeldBack = c.heldBack.Load()
	return st
}
