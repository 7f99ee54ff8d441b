package configsync

import "context"

// Full transfers to peers whose summary says they are empty, streamed one
// chunk at a time (State.TransferChunk).

// maxTransfers bounds the full transfers queued at once; a peer whose
// request does not fit is counted (Stats.TransfersDeferred) and served on
// its next push/pull or probe. Config.SendWorkers transfers run at once
// (the 50-agent test joins 49 agents to one holding 10k keys: one at a
// time, membership took twice as long to settle).
const maxTransfers = 16

// startTransferLocked queues a full transfer to a peer that has none
// queued or under way. Called with s.mu held.
func (s *Store) startTransferLocked(to string) {
	if s.transferring[to] {
		return
	}
	select {
	case s.transfers <- to:
		s.transferring[to] = true
	default:
		s.stats.transfersDeferred.Add(1)
	}
}

func (s *Store) transferLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case to := <-s.transfers:
			s.transfer(ctx, to)
			s.mu.Lock()
			delete(s.transferring, to)
			s.mu.Unlock()
		}
	}
}

// transfer streams every entry to a peer, one chunk at a time: each
// chunk is taken from the current state and sent (reliably, with
// retries) before the next, so a transfer is paced by the network and
// never fills the outbox. It stops when a chunk cannot be delivered; the
// peer's next summary starts it again.
func (s *Store) transfer(ctx context.Context, to string) {
	s.mu.Lock()
	session := s.st.NewSession()
	s.mu.Unlock()
	from, sent := "", uint64(0)
	for ctx.Err() == nil {
		s.mu.Lock()
		m, next, done := s.st.TransferChunk(session, from, sent)
		s.mu.Unlock()
		sent += uint64(len(m.Entries))
		if len(m.Entries) > 0 || done {
			msg := Encode(m)
			s.stats.countSent(msg)
			if !s.send(ctx, outMsg{to: to, msg: msg}) {
				return
			}
		}
		if done {
			return
		}
		from = next
	}
}
