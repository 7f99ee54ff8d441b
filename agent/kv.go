package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
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
	for _, peer := range t.a.randomPeers(fanout, except) {
		_ = t.a.SendBestEffort(peer, MsgConfigSync, msg) // best effort by contract
	}
}

func (t kvTransport) Send(node string, msg []byte) error {
	return t.a.SendReliable(node, MsgConfigSync, msg)
}

// randomPeers picks up to n random alive members other than this node and
// except.
func (a *Agent) randomPeers(n int, except string) []string {
	var cand []string
	for _, m := range a.members.WithStatus(StatusAlive) {
		if m.Name != a.cfg.NodeName && m.Name != except {
			cand = append(cand, m.Name)
		}
	}
	a.rndMu.Lock()
	a.rnd.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	a.rndMu.Unlock()
	return cand[:min(n, len(cand))]
}

// openStore opens configsync in data_dir (in memory without one).
func (a *Agent) openStore() (*configsync.Store, error) {
	cfg := configsync.DefaultConfig()
	cfg.Node = a.cfg.NodeName
	cfg.DataDir = a.cfg.DataDir
	cfg.Limits = configsync.Limits{MaxKeyBytes: a.cfg.KV.MaxKeyBytes, MaxValueBytes: a.cfg.KV.MaxValueBytes}
	cfg.TombstoneTTL = a.cfg.KV.TombstoneTTL.D()
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

// apiKV adapts the store to httpapi.KV.
type apiKV struct{ s *configsync.Store }

var _ httpapi.KV = apiKV{}

func toKVPair(r configsync.Record) client.KVPair {
	return client.KVPair{
		Key:     r.Key,
		Value:   r.Value,
		Version: r.Version.String(),
		Origin:  r.Version.Node,
		Updated: time.UnixMilli(r.Version.Wall).UTC(),
		Index:   r.Index,
		Flags:   r.Flags,
	}
}

// kvError maps store errors onto the HTTP status sentinels.
func kvError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, configsync.ErrValueTooLarge):
		return fmt.Errorf("%w: %w", httpapi.ErrTooLarge, err)
	case errors.Is(err, configsync.ErrKeyTooLarge), errors.Is(err, configsync.ErrInvalidKey):
		return fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	case errors.Is(err, configsync.ErrNotFound):
		return fmt.Errorf("%w: %w", httpapi.ErrNotFound, err)
	case errors.Is(err, configsync.ErrClosed):
		return fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
	}
	return err
}

func (k apiKV) Get(key string) (client.KVPair, error) {
	r, err := k.s.Get(key)
	if err != nil {
		return client.KVPair{}, kvError(err)
	}
	return toKVPair(r), nil
}

func (k apiKV) List(prefix string) []client.KVPair {
	rs := k.s.List(prefix)
	out := make([]client.KVPair, len(rs))
	for i, r := range rs {
		out[i] = toKVPair(r)
	}
	return out
}

func (k apiKV) Keys(prefix string) []string { return k.s.Keys(prefix) }

func (k apiKV) Put(ctx context.Context, key string, value []byte, flags uint64) (client.KVPair, error) {
	r, err := k.s.Put(ctx, key, value, flags)
	if err != nil {
		return client.KVPair{}, kvError(err)
	}
	return toKVPair(r), nil
}

func (k apiKV) Delete(ctx context.Context, key string, recurse bool) (int, error) {
	if recurse {
		n, err := k.s.DeletePrefix(ctx, key)
		return n, kvError(err)
	}
	if _, err := k.s.Get(key); errors.Is(err, configsync.ErrNotFound) {
		return 0, nil
	}
	_, err := k.s.Delete(ctx, key)
	if err != nil {
		return 0, kvError(err)
	}
	return 1, nil
}

func (k apiKV) Index(prefix string) uint64 { return k.s.IndexOf(prefix) }

func (k apiKV) Wait(ctx context.Context, prefix string, index uint64) (uint64, error) {
	i, err := k.s.Wait(ctx, prefix, index)
	if errors.Is(err, configsync.ErrClosed) {
		return i, kvError(err)
	}
	return i, err
}

// statsKV adds the store's counters to /v1/agent/self.
func (a *Agent) statsKV(st map[string]int64) {
	if a.store == nil {
		return
	}
	s := a.store.Stats()
	st["kv_keys"] = int64(s.Keys)
	st["kv_tombstones"] = int64(s.Tombstones)
	st["kv_index"] = int64(s.Index)
}
