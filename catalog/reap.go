package catalog

import (
	"context"
	"time"
)

// Reap once. When a node is gone from membership (reaped after
// reap_after, or never seen by this agent) and its namespace has been
// silent for reap_after, its records are deleted by one agent only: the
// alive member with the lowest name in that agent's view. Every agent
// would otherwise delete them itself, N tombstones per record for one
// logical delete. Views can differ for a moment (a join, a partition), so
// two agents may both delete: tombstones merge, the cost is a few
// duplicates, never a lost or resurrected record. Should the node come
// back, it re-asserts its records (registry.watchOwn).
//
// Hiding by status instead (never deleting) would keep the records of
// every node that ever existed, which an autoscaled cluster with fresh
// node names cannot afford.

// reapEvery is how often the designated agent looks for namespaces to
// delete.
func reapEvery(after time.Duration) time.Duration {
	return min(max(after/10, 100*time.Millisecond), time.Minute)
}

// reaper reports whether this agent is the one that deletes: the alive
// member with the lowest name.
func (c *Catalog) reaper(s *Snapshot) bool {
	for _, n := range s.nodes { // sorted by name
		if n.Status == StatusAlive {
			return n.Name == c.cfg.Node
		}
	}
	return false
}

// reapOnce deletes the namespaces of gone, silent nodes if this agent is
// the reaper. It runs on the catalog's goroutine.
func (c *Catalog) reapOnce(ctx context.Context) {
	s := c.snap.Load()
	if !c.reaper(s) {
		return
	}
	now := c.clk.Now().UnixMilli()
	after := c.cfg.ReapAfter.Milliseconds()
	for node, wall := range c.nodeWall {
		if _, known := s.Node(node); known || node == c.cfg.Node || now-wall < after {
			continue
		}
		var keys []string
		for k, in := range c.recs {
			if in.Node == node {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			delete(c.nodeWall, node)
			continue
		}
		n, err := c.kv.DeletePrefix(ctx, nodePrefix(node))
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("cannot remove services of reaped node", "node", node, "err", err)
			}
			return
		}
		c.stat.reaped.Add(uint64(n))
		c.log.Info("removed services of reaped node", "node", node, "records", n)
	}
}
