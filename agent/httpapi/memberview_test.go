package httpapi

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/membership"
)

func TestMemberView(t *testing.T) {
	var events membership.Broker
	now := time.Unix(1_700_000_000, 0)
	table := membership.NewTable(func() time.Time { return now }, events.Publish)
	v := MemberView{Self: "self", Table: table, Coords: membership.NewCoords(), Offsets: membership.NewOffsets(func() time.Time { return now }), Events: &events}
	table.Join(catalog.Node{Name: "self", Addr: netip.MustParseAddr("127.0.0.1"), Port: 7946})
	table.Join(catalog.Node{Name: "peer", Addr: netip.MustParseAddr("127.0.0.2"), Port: 7946})
	v.Offsets.Observe("peer", now.Add(3*time.Second).UnixMilli(), 0)
	for _, m := range v.Members() {
		switch m.Name {
		case "self":
			if m.RTTSeconds == nil || *m.RTTSeconds != 0 || m.ClockOffsetMs == nil || *m.ClockOffsetMs != -3000 {
				t.Errorf("self %+v: want an RTT of 0 and an offset of -3s", m)
			}
		case "peer":
			if m.RTTSeconds != nil || m.ClockOffsetMs == nil || *m.ClockOffsetMs != 3000 || m.Status != "alive" {
				t.Errorf("peer %+v: want no RTT yet and an offset of 3s", m)
			}
		}
	}
	if _, err := v.RTT("", "peer"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RTT to a node without a coordinate: %v", err)
	}
	// A blocking query returns on the next change, and on shutdown.
	idx := v.MembersIndex()
	done := make(chan uint64)
	go func() { n, _ := v.WaitMembers(context.Background(), idx); done <- n }()
	table.Join(catalog.Node{Name: "third", Addr: netip.MustParseAddr("127.0.0.3"), Port: 7946})
	if n := <-done; n <= idx {
		t.Fatalf("WaitMembers returned %d, not past %d", n, idx)
	}
	events.Close()
	if _, err := v.WaitMembers(context.Background(), v.MembersIndex()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("WaitMembers after the agent stopped: %v", err)
	}
}
