package configsync

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
)

// Background commits: the journal and checkpoints (journal.go; docs/
// consistency.md, "Durability").

// flush writes down the changes learned from peers and GC: to the
// journal, or, when checkpoint is set, when a commit must not wait
// (flushDueLocked), or without a journal, in a checkpoint with everything
// journaled before. On failure the changes stay pending for the next
// attempt.
func (s *Store) flush(checkpoint bool) error {
	if s.disk == nil {
		s.mu.Lock()
		clear(s.dirty)
		s.metaDirty = false
		s.mu.Unlock()
		return nil
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if !checkpoint && s.jr != nil {
		done, err := s.journalLocked()
		if done {
			return nil
		}
		if err != nil && !errors.Is(err, errJournalFull) {
			s.stats.commitErrors.Add(1)
			s.log.Error("journal write failed; committing to the database instead", "err", err)
		}
	}
	return s.checkpointLocked()
}

// collectLocked builds the batch of the keys in ops from the state as it
// is now.
func (s *Store) collectLocked(ops map[string]dirtyOp) *batch {
	b := &batch{clock: s.st.Clock(), floor: s.st.Floor(), completeFrom: s.st.CompleteFrom()}
	for k, op := range ops {
		if r, ok := s.st.Lookup(k); ok {
			b.puts = append(b.puts, r.Entry)
		} else if op.remove {
			b.removes = append(b.removes, KeyVersion{Key: k, Version: op.upTo})
			if op.mark {
				b.marks = append(b.marks, KeyVersion{Key: k, Version: op.upTo})
			}
		}
	}
	return b
}

// restoreLocked puts ops that failed to be written back into to (dirty
// or unsynced), unless the key changed again meanwhile.
func (s *Store) restoreLocked(ops, to map[string]dirtyOp) {
	for k, op := range ops {
		if _, newer := s.dirty[k]; !newer {
			to[k] = op
		}
	}
}

// journalLocked appends the dirty keys to the journal. done is false when
// they must go to a checkpoint instead: a commit that must not wait, a
// full journal, a batch too large for it, or a failed write (err).
func (s *Store) journalLocked() (done bool, err error) {
	s.mu.Lock()
	pending, now := s.flushDueLocked()
	if !pending {
		s.mu.Unlock()
		return true, nil
	}
	if now || s.jr.full() {
		s.mu.Unlock()
		return false, nil
	}
	dirty := s.dirty
	s.dirty = make(map[string]dirtyOp)
	s.committing = len(dirty)
	s.metaDirty = false
	b := s.collectLocked(dirty)
	s.mu.Unlock()

	err = s.jr.append(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.committing = 0
	if err != nil {
		s.restoreLocked(dirty, s.dirty)
		s.metaDirty = true
		return false, err
	}
	for k, op := range dirty {
		s.unsynced[k] = op
	}
	s.unsyncedMeta = true
	s.stats.journaled.Add(1)
	return true, nil
}

// checkpointLocked commits the dirty keys and everything journaled since
// the last checkpoint to bbolt, fsynced, and starts the journal again.
func (s *Store) checkpointLocked() error {
	s.mu.Lock()
	pending, _ := s.flushDueLocked()
	if !pending && len(s.unsynced) == 0 && !s.unsyncedMeta {
		s.mu.Unlock()
		return nil
	}
	journaled, dirty, journaledMeta := s.unsynced, s.dirty, s.unsyncedMeta
	ops := make(map[string]dirtyOp, len(journaled)+len(dirty))
	maps.Copy(ops, journaled)
	maps.Copy(ops, dirty) // newer
	s.dirty = make(map[string]dirtyOp)
	s.unsynced = make(map[string]dirtyOp)
	s.committing = len(ops)
	s.metaDirty, s.unsyncedMeta = false, false
	b := s.collectLocked(ops)
	ceil := max(s.indexCeil, s.st.Index()+indexLease)
	s.mu.Unlock()

	id := newJournalID()
	err := s.disk.commit(s.cfg.Node, []*batch{b}, ceil, id)
	s.mu.Lock()
	s.committing = 0
	if err != nil {
		// What was journaled stays journaled, for the next checkpoint
		// (commitLoop retries it); what was not is journaled now, so that
		// a crash of the process keeps it meanwhile.
		s.restoreLocked(journaled, s.unsynced)
		s.unsyncedMeta = s.unsyncedMeta || journaledMeta
		s.restoreLocked(dirty, s.dirty)
		s.metaDirty = true
		s.mu.Unlock()
		s.stats.commitErrors.Add(1)
		s.log.Error("commit failed; will retry", "err", err, "pending", len(ops))
		if s.jr != nil {
			if _, jerr := s.journalLocked(); jerr != nil && !errors.Is(jerr, errJournalFull) {
				s.log.Error("journal write failed too", "err", jerr)
			}
		}
		return err
	}
	s.indexCeil = ceil
	s.mu.Unlock()
	s.stats.checkpoints.Add(1)
	s.resetJournal(id)
	return nil
}

// hasUnsynced: something was journaled since the last checkpoint.
func (s *Store) hasUnsynced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.unsynced) > 0 || s.unsyncedMeta
}

// replayJournal commits the journal's records to d when the journal
// belongs to the database as ds read it, and reads the database again.
// Records that do not verify end the replay with a warning: a machine
// crash leaves such a tail.
func (s *Store) replayJournal(d *disk, ds *diskState) error {
	path := filepath.Join(s.cfg.DataDir, JournalFile)
	data, err := readJournalFile(path)
	if err != nil || len(data) == 0 {
		return err
	}
	id, ok, batches, tail := readJournal(data)
	switch {
	case !ok:
		s.log.Warn("ignored the journal: its header does not verify (a machine crash can leave it so); changes in it are fetched again from peers", "path", path, "err", tail)
		return nil
	case id != ds.journalID:
		// Left from before the last checkpoint, or from another database.
		return nil
	}
	if tail != nil {
		s.log.Warn("ignored the journal's tail (a machine crash leaves one, as the journal is not synced); changes in it are fetched again from peers", "path", path, "err", tail)
	}
	if len(batches) == 0 {
		return nil
	}
	keys := 0
	for _, b := range batches {
		keys += b.keys()
	}
	if err := d.commit(s.cfg.Node, batches, ds.index, newJournalID()); err != nil {
		return fmt.Errorf("%w (replaying %s)", err, path)
	}
	s.log.Info("replayed the journal", "path", path, "records", len(batches), "keys", keys)
	node := ds.node // the replay's checkpoint wrote this node's name
	*ds, err = d.load()
	ds.node = node
	return err
}

// openJournal opens the journal file, or, with SyncDelay negative,
// removes one left from before (replayJournal has committed it).
func (s *Store) openJournal() error {
	path := filepath.Join(s.cfg.DataDir, JournalFile)
	if s.cfg.SyncDelay < 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	jr, err := openJournal(path)
	if err != nil {
		return err
	}
	s.jr = jr
	return nil
}

// resetJournal starts the journal again with the id a checkpoint stored.
// If that fails, the store goes on without a journal: every background
// commit is then a checkpoint.
func (s *Store) resetJournal(id uint64) {
	if s.jr == nil {
		return
	}
	if err := s.jr.reset(id); err != nil {
		s.log.Error("the journal cannot be written; every background commit now goes to the database", "err", err)
		s.jr.close()
		s.jr = nil
	}
}

// closeDisk closes the journal and the database.
func (s *Store) closeDisk() error {
	s.commitMu.Lock() // a clock repair may be checkpointing
	defer s.commitMu.Unlock()
	var err error
	if s.jr != nil {
		err = s.jr.close()
		s.jr = nil
	}
	return errors.Join(err, s.disk.close())
}
