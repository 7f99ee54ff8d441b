package configsync

import (
	"bytes"
	"context"
	"sync/atomic"

	iradix "github.com/hashicorp/go-immutable-radix"
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
	// keys, for a SubscribeKeys subscription, collects the keys changed
	// since the consumer last called Keys; nil otherwise. Guarded by the
	// Store's mu. It holds each key once, so it is bounded by the number
	// of keys under prefix however slow the consumer is.
	keys map[string]struct{}
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

// watchIndex finds the watchers of a key by walking the key's path in a
// radix tree of the watched prefixes: notifying costs O(len(key) +
// matching watchers), not O(all watchers). Guarded by the Store's mu; the
// zero value is empty.
type watchIndex struct {
	tree *iradix.Tree // prefix -> watchSet
}

type watchSet map[*watcher]struct{}

func (x *watchIndex) add(w *watcher) {
	if x.tree == nil {
		x.tree = iradix.New()
	}
	if v, ok := x.tree.Get([]byte(w.prefix)); ok {
		v.(watchSet)[w] = struct{}{}
		return
	}
	x.tree, _, _ = x.tree.Insert([]byte(w.prefix), watchSet{w: {}})
}

func (x *watchIndex) remove(w *watcher) {
	if x.tree == nil {
		return
	}
	v, ok := x.tree.Get([]byte(w.prefix))
	if !ok {
		return
	}
	set := v.(watchSet)
	delete(set, w)
	if len(set) == 0 {
		x.tree, _, _ = x.tree.Delete([]byte(w.prefix))
	}
}

// each calls fn for every watcher whose prefix is a prefix of key.
func (x *watchIndex) each(key string, fn func(*watcher)) {
	if x.tree == nil || x.tree.Len() == 0 {
		return
	}
	x.tree.Root().WalkPath([]byte(key), func(_ []byte, v interface{}) bool {
		for w := range v.(watchSet) {
			fn(w)
		}
		return false
	})
}

// notify wakes the watchers whose prefix covers a changed key, and hands
// the keys to key subscriptions. Called with s.mu held.
func (s *Store) notify(changed []Record) {
	if len(changed) == 0 {
		return
	}
	last := changed[len(changed)-1].Index
	for _, r := range changed {
		s.watchers.each(r.Key, func(w *watcher) {
			if w.keys != nil {
				w.keys[r.Key] = struct{}{}
			}
			w.fire(last)
		})
	}
}

func (s *Store) addWatcher(prefix string, keys bool) *watcher {
	w := &watcher{prefix: prefix, ch: make(chan struct{}, 1)}
	if keys {
		w.keys = map[string]struct{}{}
	}
	s.watchers.add(w)
	return w
}

func (s *Store) removeWatcher(w *watcher) {
	s.mu.Lock()
	s.watchers.remove(w)
	s.mu.Unlock()
}

// Wait blocks until the modification index under prefix exceeds index, or
// ctx ends, or the store closes, and returns the index under prefix then
// (with ctx.Err() or ErrClosed when it gave up). It is the HTTP blocking
// query: a watcher sees the latest state, not every intermediate value,
// and waiting never delays replication. Only the first check scans the
// prefix; a wake-up reads the index the notification carried.
func (s *Store) Wait(ctx context.Context, prefix string, index uint64) (uint64, error) {
	s.mu.Lock()
	cur := s.st.IndexOf(prefix)
	if cur > index {
		s.mu.Unlock()
		return cur, nil
	}
	w := s.addWatcher(prefix, false)
	s.mu.Unlock()
	defer s.removeWatcher(w)
	for {
		select {
		case <-w.ch:
			// fired is at least the index of the change under prefix
			// that woke us, and greater than index: it was registered
			// after the first check.
			if cur = max(cur, w.fired.Load()); cur > index {
				return cur, nil
			}
		case <-ctx.Done():
			return s.IndexOf(prefix), ctx.Err()
		case <-s.done:
			return cur, ErrClosed
		}
	}
}

// Subscription notifies of changes under a prefix. Notifications coalesce
// (C has a buffer of one and a send never blocks), so a burst of changes
// may arrive as one; a subscription made by SubscribeKeys also says which
// keys changed.
type Subscription struct {
	s *Store
	w *watcher
}

// Subscribe starts notifications of changes (writes, deletes, drops) under
// prefix, from peers or local. On each receive from C the consumer
// re-reads what it needs. Close it when done.
func (s *Store) Subscribe(prefix string) *Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Subscription{s: s, w: s.addWatcher(prefix, false)}
}

// SubscribeKeys is Subscribe that also collects the changed keys: after a
// receive from C, Keys returns every key under prefix that changed since
// the previous call, each once, so the consumer reads only those (Get
// reports a deleted or dropped key as ErrNotFound). Nothing is lost to
// coalescing: keys accumulate until read. The catalog uses it to decode
// only the service records that changed.
func (s *Store) SubscribeKeys(prefix string) *Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Subscription{s: s, w: s.addWatcher(prefix, true)}
}

// C receives a value after one or more changes under the prefix.
func (sub *Subscription) C() <-chan struct{} { return sub.w.ch }

// Index is the greatest index of a change notified so far.
func (sub *Subscription) Index() uint64 { return sub.w.fired.Load() }

// Keys returns the keys changed since the last call, in no particular
// order, and forgets them; nil for a subscription made by Subscribe.
func (sub *Subscription) Keys() []string {
	keys, _ := sub.Next()
	return keys
}

// Next is Keys with the index it covers: once the returned keys are read,
// the consumer has seen every change under the prefix up to index.
func (sub *Subscription) Next() (keys []string, index uint64) {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	index = sub.w.fired.Load()
	if len(sub.w.keys) == 0 {
		return nil, index
	}
	keys = make([]string, 0, len(sub.w.keys))
	for k := range sub.w.keys {
		keys = append(keys, k)
	}
	clear(sub.w.keys)
	return keys, index
}

// Close stops notifications; it is idempotent.
func (sub *Subscription) Close() { sub.s.removeWatcher(sub.w) }

// Lookup returns the entry of key as this store holds it, a tombstone
// included (Deleted set); ok is false when the store has no entry (never
// written, or a tombstone already collected). A SubscribeKeys consumer
// reads each changed key with it.
func (s *Store) Lookup(key string) (Record, bool) {
	s.mu.Lock()
	r, ok := s.st.Lookup(key)
	s.mu.Unlock()
	r.Value = bytes.Clone(r.Value)
	return r, ok
}

// Entries returns the entries under prefix, tombstones included, sorted
// by key: the full state a SubscribeKeys consumer starts from.
func (s *Store) Entries(prefix string) []Record {
	var out []Record
	s.mu.Lock()
	s.st.Scan(prefix, func(r Record) bool {
		out = append(out, r)
		return true
	})
	s.mu.Unlock()
	for i := range out {
		out[i].Value = bytes.Clone(out[i].Value)
	}
	return out
}
