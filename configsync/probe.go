package configsync

import "context"

// probeLoop sends this store's summary to one random peer every
// SyncInterval. Gossip and forwarding can both miss an update (a lost
// packet, a peer that was down); memberlist's push/pull would repair it,
// but that is 30 s or more apart on a LAN and grows with the cluster. A
// probe costs a few dozen bytes, and a peer whose store differs starts a
// sync, so such an update is repaired within seconds.
func (s *Store) probeLoop(ctx context.Context) {
	if s.cfg.SyncInterval <= 0 {
		return
	}
	t := s.clk.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C():
		case <-ctx.Done():
			return
		}
		s.tr.Forward(s.Probe(), 1, "") // lost: the next tick repairs it
	}
}
