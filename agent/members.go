package agent

import (
	"context"
	"log/slog"
	"net"
	"net/netip"

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
		a.offsets.Forget(ev.Member.Name)
		a.intents.Forget(ev.Member.Name)
	}
	if c := a.cat.Load(); c != nil {
		c.MembersChanged()
	}
	a.events.Publish(ev)
}

// newSuspector derives suspicion from this agent's own pings
// (membership.Suspector).
func (a *Agent) newSuspector() *membership.Suspector {
	mc := memberlistConfig(&a.cfg)
	return membership.NewSuspector(membership.SuspectConfig{
		Self: a.cfg.NodeName, Table: a.members, Prober: prober{a},
		ProbeInterval: mc.ProbeInterval, ProbeTimeout: mc.ProbeTimeout, Clock: a.clk,
	})
}

// prober pings with memberlist.
type prober struct{ a *Agent }

var _ membership.Prober = prober{}

func (p prober) Ping(node string, addr netip.AddrPort) error {
	ml := p.a.memberlist()
	if ml == nil {
		return membership.ErrStopped
	}
	_, err := ml.Ping(node, net.UDPAddrFromAddrPort(addr))
	return err
}

func (p prober) HealthScore() (int, error) {
	ml := p.a.memberlist()
	if ml == nil {
		return 0, membership.ErrStopped
	}
	return ml.GetHealthScore(), nil
}
