package configsync

import (
	"context"
	"strings"
	"sync/atomic"
)

// watcher is one blocking query or subscription. Notification is a
// non-blocking send on a 1-buffered channel, so changes coalesce: a slow
// consumer sees that something changed, then reads the latest state; it
// never holds up replication.
type watcher struct {
	prefix string
	ch     chan struct{}
	// fired is the greatest index of a change seen under prefix; it
	// matters when the change removed the key (a drop on Reject), which
	// IndexOf can no longer see.
	fired atomic.Uint64
}

func (w *watcher) fire(index uint64) {
	for {
		old := w.fired.Load()
		if index <= old || w.fired.CompareAndSwap(old, index) {
			break
		}
	}
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// notify wakes the watchers whose prefix covers a changed key. Called
// with s.mu held.
func (s *Store) notify(changed []Record) {
	if len(changed) == 0 {
		return
	}
	for w := range s.watchers {
		for _, r := range changed {
			if strings.HasPrefix(r.Key, w.prefix) {
				w.fire(changed[len(changed)-1].Index)
				break
			}
		}
	}
}

func (s *Store) addWatcher(prefix string) *watcher {
	w := &watcher{prefix: prefix, ch: make(chan struct{}, 1)}
	s.watchers[w] = struct{}{}
	return w
}

func (s *Store) removeWatcher(w *watcher) {
	s.mu.Lock()
	delete(s.watchers, w)
	s.mu.Unlock()
}

// Wait blocks until the modification index under prefix exceeds index, or
// ctx ends, or the store closes, and returns the index under prefix then
// (with ctx.Err() or ErrClosed when it gave up). It is the HTTP blocking
// query: a watcher sees the latest state, not every intermediate value,
// and waiting never delays replication.
func (s *Store) Wait(ctx context.Context, prefix string, index uint64) (uint64, error) {
	s.mu.Lock()
	cur := s.st.IndexOf(prefix)
	if cur > index {
		s.mu.Unlock()
		return cur, nil
	}
	w := s.addWatcher(prefix)
	s.mu.Unlock()
	defer s.removeWatcher(w)
	for {
		select {
		case <-w.ch:
			s.mu.Lock()
			cur = max(s.st.IndexOf(prefix), w.fired.Load())
			s.mu.Unlock()
			if cur > index {
				return cur, nil
			}
		case <-ctx.Done():
			return s.IndexOf(prefix), ctx.Err()
		case <-s.done:
			return cur, ErrClosed
		}
	}
}

// Subscription notifies of changes under a prefix. The agent uses one on
// its service namespace to rebuild the catalog: on each receive from C it
// re-reads the prefix with List. Notifications coalesce (C has a buffer of
// one and a send never blocks), so a burst of changes may arrive as one.
type Subscription struct {
	s *Store
	w *watcher
}

// Subscribe starts notifications of changes (writes, deletes, drops) under
// prefix, from peers or local. Close it when done.
func (s *Store) Subscribe(prefix string) *Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Subscription{s: s, w: s.addWatcher(prefix)}
}

// C receives a value after one or more changes under the prefix.
func (sub *Subscription) C() <-chan struct{} { return sub.w.ch }

// Index is the greatest index of a change notified so far.
func (sub *Subscription) Index() uint64 { return sub.w.fired.Load() }

// Close stops notifications; it is idempotent.
func (sub *Subscription) Close() { sub.s.removeWatcher(sub.w) }
