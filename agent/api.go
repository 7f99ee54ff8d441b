package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/ui"
)

// apiMembership adapts the Agent to httpapi.Membership.
type apiMembership struct{ a *Agent }

var _ httpapi.Membership = apiMembership{}

func toClientMember(m Member) client.Member {
	return client.Member{
		Name:        m.Name,
		Address:     m.Addr.String(),
		Port:        m.Port,
		Status:      m.Status.String(),
		Meta:        m.Meta,
		Protocol:    m.Protocol,
		StatusSince: m.Since.UTC(),
	}
}

func (b apiMembership) Members() []client.Member {
	ms := b.a.Members()
	out := make([]client.Member, len(ms))
	for i, m := range ms {
		out[i] = toClientMember(m)
		out[i].RTTSeconds = b.a.rttFrom(m.Name)
		out[i].ClockOffsetMs = b.a.clockOffsetMs(m.Name)
	}
	return out
}

func (b apiMembership) Self() client.Self {
	a := b.a
	s := client.Self{
		Node:          a.cfg.NodeName,
		Version:       Version,
		UptimeSeconds: a.Uptime().Seconds(),
		Config:        a.configSummary(),
		Stats:         a.stats(),
	}
	if m, ok := a.LocalMember(); ok {
		s.Address, s.Port = m.Addr.String(), m.Port
	}
	return s
}

// configSummary is the running configuration with secrets replaced by
// whether they are set.
func (a *Agent) configSummary() map[string]any {
	c := a.cfg
	return map[string]any{
		"node_name":      c.NodeName,
		"bind_addr":      c.BindAddr,
		"advertise_addr": c.AdvertiseAddr,
		"join":           c.Join,
		"data_dir":       c.DataDir,
		"dev":            c.Dev,
		"leave_timeout":  c.LeaveTimeout.D().String(),
		"reap_after":     c.ReapAfter.D().String(),
		"gossip": map[string]any{
			"profile":   c.Gossip.Profile,
			"encrypted": a.GossipEncrypted(),
		},
		"http":       a.httpSummary(),
		"consul_api": map[string]any{"addr": c.ConsulAPI.Addr},
		"datacenter": c.Datacenter,
		"dns":        map[string]any{"addr": c.DNS.Addr},
		"kv": map[string]any{
			"max_key_bytes":   c.KV.MaxKeyBytes,
			"max_value_bytes": c.KV.MaxValueBytes,
			"tombstone_ttl":   c.KV.TombstoneTTL.D().String(),
			"max_clock_skew":  c.KV.maxClockSkew().String(),
		},
		"log": map[string]any{"level": c.Log.Level, "json": c.Log.JSON},
	}
}

func (a *Agent) stats() map[string]int64 {
	st := map[string]int64{}
	for _, m := range a.Members() {
		st["members_"+m.Status.String()]++
	}
	st["members"] = int64(len(a.Members()))
	a.statsKV(st)
	return st
}

func (b apiMembership) Join(ctx context.Context, addrs []string) (int, error) {
	n, err := b.a.Join(ctx, addrs)
	if errors.Is(err, ErrNotRunning) {
		return 0, fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
	}
	return n, err
}

// Leave leaves gracefully, then shuts the agent down. The shutdown runs
// on its own goroutine: it drains the HTTP server, which waits for this
// very request to be answered.
func (b apiMembership) Leave(ctx context.Context) error {
	if err := b.a.Leave(ctx); err != nil {
		return fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
	}
	go b.a.Shutdown()
	return nil
}

func (b apiMembership) Coordinates() []client.Coordinate {
	var out []client.Coordinate
	for _, m := range b.a.Members() {
		co, ok := b.a.coords.Get(m.Name, m.Name == b.a.cfg.NodeName)
		if !ok {
			continue
		}
		out = append(out, client.Coordinate{Node: m.Name, Vec: co.Vec, Error: co.Error, Adjustment: co.Adjustment, Height: co.Height})
	}
	return out
}

func (b apiMembership) RTT(from, to string) (time.Duration, error) {
	if from == "" {
		from = b.a.cfg.NodeName
	}
	cf, ok := b.a.coords.Get(from, from == b.a.cfg.NodeName)
	if !ok {
		return 0, fmt.Errorf("%w: no coordinate for node %q", httpapi.ErrNotFound, from)
	}
	ct, ok := b.a.coords.Get(to, to == b.a.cfg.NodeName)
	if !ok {
		return 0, fmt.Errorf("%w: no coordinate for node %q", httpapi.ErrNotFound, to)
	}
	return cf.DistanceTo(ct), nil
}

// httpHandler builds the agent's HTTP API handler.
func (a *Agent) httpHandler(metrics http.Handler) http.Handler {
	return httpapi.New(httpapi.Options{
		Membership: apiMembership{a},
		KV:         httpapi.StoreKV(a.store),
		Services:   httpapi.CatalogServices(a.Catalog),
		Keyring:    apiKeyring{a.sec.keys},
		ACL:        a.sec.acl,
		Hosts:      a.sec.hosts,
		Blocking:   a.sec.gate,
		Logger:     a.opts.logger,
		Metrics:    metrics,
		// KV values are whole bodies; the store still answers 413 for a
		// value over kv.max_value_bytes when this cap is larger.
		MaxBodyBytes: max(int64(a.cfg.KV.MaxValueBytes), httpapi.DefaultMaxBodyBytes),
		MemberWatch:  apiMembership{a},
		Insight:      apiInsight{a},
		UI:           ui.Handler(),
		Observe:      a.metrics.observeHTTP,
	})
}
