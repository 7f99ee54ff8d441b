package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/murmurhq/murmur/membership"
)

// newRejoiner joins, re-contacts failed members, reaps and remembers
// peers (membership.Rejoiner) through the agent's gossip.
func (a *Agent) newRejoiner() *membership.Rejoiner {
	return membership.NewRejoiner(membership.RejoinConfig{
		Self: a.cfg.NodeName, Join: a.cfg.Join, Peers: a.peers, Table: a.members, Gossip: rejoinGossip{a},
		ReconnectEvery: a.cfg.Reconnect(), ReapAfter: a.cfg.ReapAfter.D(),
		Clock: a.clk, Intn: a.intn, Logger: a.log,
	})
}

// rejoinGossip is the Rejoiner's way into memberlist.
type rejoinGossip struct{ a *Agent }

var _ membership.Gossip = rejoinGossip{}

func (g rejoinGossip) Join(ctx context.Context, addrs []string) (int, error) {
	n, err := g.a.Join(ctx, addrs)
	if errors.Is(err, ErrNotRunning) {
		err = fmt.Errorf("%w: %w", membership.ErrStopped, err)
	}
	return n, err
}

func (g rejoinGossip) Reconnect(addr string) error {
	ml := g.a.memberlist()
	if ml == nil || g.a.leaving() {
		return membership.ErrStopped
	}
	_, err := ml.Join([]string{addr})
	return err
}
