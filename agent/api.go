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

// apiMembership adapts the Agent to httpapi.Membership: the member list,
// coordinates and blocking queries come from httpapi.MemberView, Self,
// Join and Leave from the agent.
type apiMembership struct{ a *Agent }

var (
	_ httpapi.Membership  = apiMembership{}
	_ httpapi.MemberWatch = apiMembership{}
)

// view reads the agent's membership parts.
func (a *Agent) view() httpapi.MemberView {
	return httpapi.MemberView{Self: a.cfg.NodeName, Table: a.members, Coords: a.coords, Offsets: a.offsets, Events: &a.events}
}

func (b apiMembership) Members() []client.Member                   { return b.a.view().Members() }
func (b apiMembership) Coordinates() []client.Coordinate           { return b.a.view().Coordinates() }
func (b apiMembership) RTT(from, to string) (time.Duration, error) { return b.a.view().RTT(from, to) }
func (b apiMembership) MembersIndex() uint64                       { return b.a.members.Version() }
func (b apiMembership) WaitMembers(ctx context.Context, index uint64) (uint64, error) {
	return b.a.view().WaitMembers(ctx, index)
}

func (b apiMembership) Self() client.Self {
	a := b.a
	s := client.Self{
		Node:          a.cfg.NodeName,
		Version:       Version,
		UptimeSeconds: a.Uptime().Seconds(),
		Config:        a.cfg.Summary(a.GossipEncrypted(), a.aclDefault()),
		Stats:         a.sources().Counters(),
	}
	if m, ok := a.LocalMember(); ok {
		s.Address, s.Port = m.Addr.String(), m.Port
	}
	return s
}

// aclDefault is the default of the ACLs in force (they follow reloads).
func (a *Agent) aclDefault() string {
	if authz := a.sec.acl.Get(); authz != nil {
		return authz.Default()
	}
	return ""
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
		Insight:      apiInsight{a.insight},
		UI:           ui.Handler(),
		Observe:      a.metrics.ObserveHTTP,
	})
}
