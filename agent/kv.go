package agent

import (
	"fmt"

	"github.com/murmurhq/murmur/configsync"
)

// The replicated store rides on memberlist through kvTransport: gossip
// broadcasts on the agent's queues, immediate best-effort forwarding to
// random peers, and reliable sends over memberlist streams.

// Store is the agent's replicated key/value store (nil before Start).
func (a *Agent) Store() *configsync.Store { return a.store }

type kvTransport struct{ a *Agent }

var _ configsync.Transport = kvTransport{}

func (t kvTransport) Broadcast(key string, msg []byte, local bool) {
	t.a.Broadcast(MsgConfigSync, key, msg, local)
}

func (t kvTransport) Forward(msg []byte, fanout int, except string) {
	for _, peer := range t.a.members.Pick(fanout, t.a.shuffle, t.a.cfg.NodeName, except) {
		_ = t.a.SendBestEffort(peer, MsgConfigSync, msg) // best effort by contract
	}
}

func (t kvTransport) Send(node string, msg []byte) error {
	return t.a.SendReliable(node, MsgConfigSync, msg)
}

// openStore opens configsync in data_dir (in memory without one).
func (a *Agent) openStore() (*configsync.Store, error) {
	cfg := configsync.DefaultConfig()
	cfg.Node = a.cfg.NodeName
	cfg.DataDir = a.cfg.DataDir
	cfg.Limits = configsync.Limits{MaxKeyBytes: a.cfg.KV.MaxKeyBytes, MaxValueBytes: a.cfg.KV.MaxValueBytes}
	cfg.TombstoneTTL = a.cfg.KV.TombstoneTTL.D()
	cfg.MaxClockSkew = a.cfg.KV.ClockSkew()
	cfg.ClockOffset = a.clockOffset
	cfg.Clock = a.clk
	cfg.Logger = a.opts.logger.With("node", a.cfg.NodeName)
	cfg.Transport = kvTransport{a}
	cfg.GossipBudget = MaxGossipPayload
	cfg.SyncInterval = a.cfg.KV.SyncInterval.D()
	s, err := configsync.Open(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent: open store: %w", err)
	}
	return s, nil
}
