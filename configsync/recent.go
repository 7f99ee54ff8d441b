package configsync

import (
	"math"
	"strings"
	"sync/atomic"
	"time"
)

// Recent changes and propagation lag. The store remembers the last
// RecentChanges versions it applied (the operator's "history of recent
// changes seen by this agent", and when this agent got each version, which
// the cluster propagation view asks every agent for), and keeps a
// histogram of how long remote versions took to arrive. Both are updated
// under s.mu in O(1) per change.

// RecentChanges is how many applied changes the store remembers.
const RecentChanges = 512

// Paths a change arrives by.
const (
	// PathLocal is a write made on this agent.
	PathLocal = "local"
	// PathGossip is an Update: gossiped, forwarded, or fetched after an
	// Announce.
	PathGossip = "gossip"
	// PathSync is anti-entropy (a sync session or a join transfer).
	PathSync = "sync"
)

// Change is one version the store applied.
type Change struct {
	Key     string
	Version Version
	Deleted bool
	// Index is the local modification index it was applied at.
	Index uint64
	// At is when this store applied it, by the store's clock.
	At time.Time
	// Path is PathLocal, PathGossip or PathSync.
	Path string
}

// Lag is how long the change took to reach this store: At minus the wall
// time of its version. Clocks of different agents differ, so a lag of a
// remote change carries their skew (it may even be negative).
func (c Change) Lag() time.Duration { return c.At.Sub(c.Version.Time()) }

// recentRing is a fixed ring of the latest changes; guarded by Store.mu.
type recentRing struct {
	buf  [RecentChanges]Change
	next int
	n    int
}

func (r *recentRing) add(c Change) {
	r.buf[r.next] = c
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
}

// each calls fn on the changes newest first until fn returns false.
func (r *recentRing) each(fn func(Change) bool) {
	for i := 1; i <= r.n; i++ {
		if !fn(r.buf[(r.next-i+len(r.buf))%len(r.buf)]) {
			return
		}
	}
}

// recordLocked remembers applied records; called with s.mu held.
func (s *Store) recordLocked(recs []Record, path string) {
	if len(recs) == 0 {
		return
	}
	now := s.clk.Now()
	for _, r := range recs {
		s.recent.add(Change{Key: r.Key, Version: r.Version, Deleted: r.Deleted, Index: r.Index, At: now, Path: path})
		if path != PathLocal {
			s.lag.observe(path, now.Sub(r.Version.Time()))
		}
	}
}

// Recent returns up to limit of the latest changes applied under prefix,
// newest first (limit ≤ 0: all that are remembered).
func (s *Store) Recent(prefix string, limit int) []Change {
	var out []Change
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recent.each(func(c Change) bool {
		if strings.HasPrefix(c.Key, prefix) {
			out = append(out, c)
		}
		return limit <= 0 || len(out) < limit
	})
	return out
}

// Applied returns the latest remembered change of key: when this store
// applied the version it holds, and how it arrived. ok is false when the
// key's last change is older than the RecentChanges remembered.
func (s *Store) Applied(key string) (c Change, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recent.each(func(x Change) bool {
		if x.Key == key {
			c, ok = x, true
			return false
		}
		return true
	})
	return c, ok
}

// lagBounds are the upper bounds, in seconds, of the propagation lag
// histogram's buckets.
var lagBounds = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// Histogram is a snapshot of a cumulative histogram in Prometheus' shape.
type Histogram struct {
	// Count and Sum (seconds) of all observations.
	Count uint64
	Sum   float64
	// Buckets maps each bucket's upper bound to the observations ≤ it.
	Buckets map[float64]uint64
}

// lagHists counts propagation lags by path, lock-free.
type lagHists struct {
	gossip, sync lagHist
}

type lagHist struct {
	buckets [len(lagBounds)]atomic.Uint64 // non-cumulative
	count   atomic.Uint64
	sumNs   atomic.Int64
}

func (h *lagHists) observe(path string, d time.Duration) {
	x := &h.gossip
	if path == PathSync {
		x = &h.sync
	}
	// A negative lag is clock skew between the writer and this agent; it
	// counts as zero (the sum stays a sum of non-negative durations).
	d = max(d, 0)
	x.count.Add(1)
	x.sumNs.Add(int64(min(d, time.Duration(math.MaxInt64/1024))))
	secs := d.Seconds()
	for i, b := range lagBounds {
		if secs <= b {
			x.buckets[i].Add(1)
			return
		}
	}
}

func (x *lagHist) snapshot() Histogram {
	h := Histogram{Count: x.count.Load(), Sum: time.Duration(x.sumNs.Load()).Seconds(), Buckets: make(map[float64]uint64, len(lagBounds))}
	var cum uint64
	for i, b := range lagBounds {
		cum += x.buckets[i].Load()
		h.Buckets[b] = cum
	}
	return h
}

// PropagationLag returns, by path (PathGossip, PathSync), the histogram
// of how long remote versions took to arrive: the time this store applied
// a version minus the version's wall time. It includes the clock skew
// between writer and receiver; a version that came by anti-entropy long
// after it was written (a node that was down) counts its whole age.
func (s *Store) PropagationLag() map[string]Histogram {
	return map[string]Histogram{
		PathGossip: s.lag.gossip.snapshot(),
		PathSync:   s.lag.sync.snapshot(),
	}
}

// arrivalPath names how the entries a message brought arrived.
func arrivalPath(m Message) string {
	if m.Kind() == KindSyncEntries {
		return PathSync
	}
	return PathGossip
}
