package configsync

import "time"

// Clock repair: the Store's side of State.Restamp (see
// docs/consistency.md, "Clock skew and its bound").

// clockNeedsRepairLocked: the clock runs beyond the skew bound, or a
// repair has not reached the disk yet.
func (s *Store) clockNeedsRepairLocked(nowMs int64) bool {
	return s.st.ClockAhead(nowMs) > 0 || len(s.replaceKeys) > 0 || s.replaceMeta
}

// repairClock runs State.Restamp when the clock runs more than
// MaxClockSkew ahead of the wall clock, and writes its result over the
// stored entries, clock and floor before any local write continues. It
// runs at Open, before local writes, on every message and every GC tick.
func (s *Store) repairClock() error {
	s.mu.Lock()
	need := s.clockNeedsRepairLocked(s.nowMs())
	s.mu.Unlock()
	if !need {
		return nil
	}
	s.gate.Lock()
	defer s.gate.Unlock()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	now := s.nowMs()
	ahead := s.st.ClockAhead(now)
	recs := s.st.Restamp(now)
	if ahead > 0 {
		s.replaceMeta = true
	}
	var msgs [][]byte
	for _, r := range recs {
		s.replaceKeys[r.Key] = struct{}{}
		msgs = append(msgs, s.broadcastLocked(r.Entry, true))
	}
	s.notify(recs)
	var puts []Entry
	for k := range s.replaceKeys {
		if r, ok := s.st.Lookup(k); ok {
			puts = append(puts, r.Entry)
		}
	}
	clk, floor := s.st.Clock(), s.st.Floor()
	s.mu.Unlock()
	if ahead > 0 {
		s.stats.restamped.Add(uint64(len(recs)))
		s.log.Warn("the clock was ahead of the wall clock beyond kv.max_clock_skew (the wall clock went back, or data was written with a clock set ahead): reset it, and stamped the entries held beyond the bound again as local writes made now",
			"ahead", time.Duration(ahead)*time.Millisecond, "restamped", len(recs), "clock", clk.String(), "max_clock_skew", s.cfg.MaxClockSkew)
	}
	s.forward(msgs, "")
	if s.disk != nil {
		// What the journal holds goes to the database first: replayed
		// after the repair, it would undo it.
		if err := s.checkpointLocked(); err != nil {
			return err
		}
		if err := s.disk.replace(puts, clk, floor); err != nil {
			s.stats.commitErrors.Add(1)
			return err
		}
	}
	s.mu.Lock()
	for _, e := range puts {
		delete(s.replaceKeys, e.Key)
	}
	s.replaceMeta = false
	s.mu.Unlock()
	return nil
}
