package agent

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/membership"
)

// Member is one node of the cluster as this agent sees it: the catalog's
// Node, the one type membership, the catalog, DNS and HTTP share. Values
// are copies: changing one changes nothing in the agent.
type Member = catalog.Node

// Member states (catalog.Status).
const (
	StatusAlive   = catalog.StatusAlive
	StatusSuspect = catalog.StatusSuspect
	StatusFailed  = catalog.StatusFailed
	StatusLeft    = catalog.StatusLeft
)

// fromNode copies what the table needs out of a memberlist node. It is
// called from memberlist's event callbacks, which run under memberlist's
// node lock, so reading the node here is race-free.
func fromNode(n *memberlist.Node) Member {
	addr, _ := netip.AddrFromSlice(n.Addr)
	meta, _ := membership.DecodeMeta(n.Meta) // bad meta from a peer: shown as none
	return Member{Name: n.Name, Addr: addr.Unmap(), Port: n.Port, Meta: meta, Protocol: n.PCur}
}

// Members returns every member this agent knows, including failed and
// left ones until they are reaped, sorted by name.
func (a *Agent) Members() []Member { return a.members.List() }

// Member returns the named member.
func (a *Agent) Member(name string) (Member, bool) { return a.members.Get(name) }

// LocalMember is this agent as the cluster sees it.
func (a *Agent) LocalMember() (Member, bool) { return a.members.Get(a.cfg.NodeName) }

// Subscribe returns a subscription to membership events with the given
// buffer size (see membership.Subscription for the drop policy).
func (a *Agent) Subscribe(buffer int) *membership.Subscription { return a.events.Subscribe(buffer) }

func (a *Agent) onEvent(ev membership.Event) {
	lvl := slog.LevelInfo
	if ev.Type == membership.EventUpdate || ev.Type == membership.EventReap {
		lvl = slog.LevelDebug
	}
	a.log.Log(context.Background(), lvl, "member "+ev.Type.String(), "member", ev.Member.Name, "addr", ev.Member.AddrPort().String())
	if ev.Type == membership.EventReap {
		a.coords.Forget(ev.Member.Name)
		a.offsets.forget(ev.Member.Name)
		a.intents.Forget(ev.Member.Name)
	}
	if c := a.cat.Load(); c != nil {
		c.MembersChanged()
	}
	a.events.Publish(ev)
}

// suspectLoop derives suspicion from this agent's probes (memberlist has
// no suspect callback; see membership.Table.Stale): a member that has not
// answered for two probe rounds, stretched as memberlist stretches its own
// probe interval when this node is degraded, gets a ping of this agent's
// own (memberlist.Ping) every probe interval. Two pings in a row without
// an answer make it suspect (one lost packet, or a busy moment, does not);
// an answer clears it.
func (a *Agent) suspectLoop(ctx context.Context) {
	mc := a.cfg.memberlistConfig()
	t := a.clk.NewTicker(mc.ProbeInterval)
	defer t.Stop()
	var mu sync.Mutex
	missed := map[string]int{} // unanswered pings in a row, by member; guarded by mu
	for {
		select {
		case <-t.C():
		case <-ctx.Done():
			return
		}
		ml := a.memberlist()
		if ml == nil {
			return
		}
		others := max(a.members.Count(StatusAlive, StatusSuspect)-1, 1)
		round := time.Duration(others) * mc.ProbeInterval
		window := time.Duration(ml.GetHealthScore()+1)*2*round + mc.ProbeTimeout
		stale := a.members.Stale(a.cfg.NodeName, window)
		mu.Lock()
		for name := range missed {
			if !slices.ContainsFunc(stale, func(m Member) bool { return m.Name == name }) {
				delete(missed, name) // answered a probe since, or gone
			}
		}
		mu.Unlock()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4) // pings at once; each waits up to probe_timeout
		for _, m := range stale {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				addr := &net.UDPAddr{IP: m.Addr.AsSlice(), Port: int(m.Port)}
				_, err := ml.Ping(m.Name, addr)
				mu.Lock()
				if err == nil {
					delete(missed, m.Name)
				} else {
					missed[m.Name]++
				}
				n := missed[m.Name]
				mu.Unlock()
				switch {
				case err == nil:
					a.members.Acked(m.Name)
				case n >= 2:
					a.members.MarkSuspect(m.Name)
				}
			})
		}
		wg.Wait()
	}
}
