package httpapi

import (
	"context"
	"fmt"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/membership"
)

// MemberView is the read side of Membership and MemberWatch, served from
// the membership package's parts: the member table, the network
// coordinates and the clock offsets, converted to the wire types here, at
// the face. The agent adds Self, Join and Leave. Safe for concurrent use.
type MemberView struct {
	// Self is this agent's node name.
	Self    string
	Table   *membership.Table
	Coords  *membership.Coords
	Offsets *membership.Offsets
	// Events publishes the table's changes (WaitMembers).
	Events *membership.Broker
}

// ClientMember is the wire form of a member, without the estimates
// (RTTSeconds, ClockOffsetMs) that move all the time.
func ClientMember(m catalog.Node) client.Member {
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

// Members returns every known member with its RTT from this agent and
// its clock offset, where known.
func (v MemberView) Members() []client.Member {
	ms := v.Table.List()
	out := make([]client.Member, len(ms))
	for i, m := range ms {
		out[i] = ClientMember(m)
		out[i].RTTSeconds = v.rttFrom(m.Name)
		out[i].ClockOffsetMs = v.ClockOffsetMs(m.Name)
	}
	return out
}

// ClockOffsetMs is how far node's clock is ahead (this agent's own: ahead
// of its peers'), in ms; nil while unknown.
func (v MemberView) ClockOffsetMs(node string) *int64 {
	var off time.Duration
	var ok bool
	if node == v.Self {
		off, _, ok = v.Offsets.Self()
	} else {
		off, ok = v.Offsets.Peer(node)
	}
	if !ok {
		return nil
	}
	ms := off.Milliseconds()
	return &ms
}

// rttFrom estimates the round trip from this agent to node, in seconds.
func (v MemberView) rttFrom(node string) *float64 {
	self, ok := v.Coords.Get(v.Self, true)
	if !ok {
		return nil
	}
	if node == v.Self {
		zero := 0.0
		return &zero
	}
	other, ok := v.Coords.Get(node, false)
	if !ok {
		return nil
	}
	s := self.DistanceTo(other).Seconds()
	return &s
}

// Coordinates returns the network coordinate of every member known.
func (v MemberView) Coordinates() []client.Coordinate {
	var out []client.Coordinate
	for _, m := range v.Table.List() {
		co, ok := v.Coords.Get(m.Name, m.Name == v.Self)
		if !ok {
			continue
		}
		out = append(out, client.Coordinate{Node: m.Name, Vec: co.Vec, Error: co.Error, Adjustment: co.Adjustment, Height: co.Height})
	}
	return out
}

// RTT estimates the round trip between two nodes (from "" is this one).
func (v MemberView) RTT(from, to string) (time.Duration, error) {
	if from == "" {
		from = v.Self
	}
	cf, ok := v.Coords.Get(from, from == v.Self)
	if !ok {
		return 0, fmt.Errorf("%w: no coordinate for node %q", ErrNotFound, from)
	}
	ct, ok := v.Coords.Get(to, to == v.Self)
	if !ok {
		return 0, fmt.Errorf("%w: no coordinate for node %q", ErrNotFound, to)
	}
	return cf.DistanceTo(ct), nil
}

// MembersIndex is the member table's version.
func (v MemberView) MembersIndex() uint64 { return v.Table.Version() }

// WaitMembers waits on a membership subscription: the table's version
// moves before its event is published, so subscribing first and then
// reading the version misses nothing. A closed subscription (the agent
// shut down) is ErrUnavailable.
func (v MemberView) WaitMembers(ctx context.Context, index uint64) (uint64, error) {
	sub := v.Events.Subscribe(1)
	defer sub.Close()
	for {
		if n := v.MembersIndex(); n > index {
			return n, nil
		}
		select {
		case _, ok := <-sub.C():
			if !ok {
				return v.MembersIndex(), fmt.Errorf("%w: the agent is shutting down", ErrUnavailable)
			}
		case <-ctx.Done():
			return v.MembersIndex(), ctx.Err()
		}
	}
}
