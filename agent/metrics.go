package agent

import (
	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/keyring"
	"github.com/murmurhq/murmur/metrics"
)

// ExportMemberlistMetrics makes memberlist's statistics appear in every
// agent's /metrics (murmur_memberlist_*). It replaces the process-wide
// go-metrics sink, so an embedding program that configures go-metrics
// itself should not call it; agentd does. Calling it again does nothing.
func ExportMemberlistMetrics() { metrics.ExportMemberlist() }

// newMetrics gives the exporter (package metrics) the agent's parts, read
// at scrape time. Start calls it once the store, DNS and catalog exist.
func newMetrics(a *Agent) *metrics.Exporter { return metrics.New(a.sources()) }

// sources are the agent's parts as /metrics and /v1/agent/self read them.
func (a *Agent) sources() metrics.Sources {
	src := metrics.Sources{
		Node:          a.cfg.NodeName,
		Now:           a.clk.Now,
		Members:       func() []catalog.Node { return a.Members() },
		ClockOffsetMs: a.view().ClockOffsetMs,
		Gossip: func() metrics.Gossip {
			local, relay := a.del.q.Len()
			return metrics.Gossip{Pruned: a.del.q.Pruned(), Local: local, Relay: relay}
		},
		Watches:  a.WatchStats,
		Security: a.securityStats,
	}
	if a.store != nil {
		src.KV = a.store
	}
	if a.dns != nil {
		src.DNS = a.dns
	}
	if cat := a.Catalog(); cat != nil {
		src.Catalog = cat
	}
	return src
}

// securityStats reads the security counters for /metrics.
func (a *Agent) securityStats() metrics.Security {
	s := a.sec
	cs := s.conns.Stats()
	ks := a.queries.Stats(keyring.Kind)
	return metrics.Security{
		RemoteErrors: s.remote.Counts(), LogSuppressed: s.remote.Held(),
		ConnsOpen: cs.Open, ConnsRefused: cs.Refused, ConnsDropped: cs.Dropped,
		Blocking: s.gate.InUse(), BlockingRefused: s.gate.Refused(),
		KeyringKeys: len(s.keys.Keys()), KeyringDropped: ks.Dropped, KeyringMalformed: ks.Malformed,
	}
}
