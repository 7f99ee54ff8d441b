package agent

import (
	"context"
	"testing"
	"time"

	"github.com/murmurhq/murmur/configsync"
)

func TestPropagationAsksEveryAgent(t *testing.T) {
	c := newMemCluster(t, 3, 21)
	ctx := context.Background()
	r, err := c.agents[0].Store().Put(ctx, "app/mode", []byte("blue"), 0)
	if err != nil {
		t.Fatal(err)
	}
	ins := apiInsight{c.agents[1]}
	waitFor(t, 10*time.Second, "every agent to hold the write", func() bool {
		p, err := ins.Propagation(ctx, "app/mode", r.Version.String(), r.Version.Node, 2*time.Second)
		if err != nil || len(p.Nodes) != 3 {
			return false
		}
		for _, n := range p.Nodes {
			if !n.Current || n.Seconds == nil || n.Applied == nil || n.Error != "" {
				return false
			}
		}
		return true
	})
	p, _ := ins.Propagation(ctx, "app/mode", "", "", 2*time.Second)
	if p.Version != r.Version.String() || p.Nodes[0].Node != "n1" || p.Nodes[2].Node != "n3" {
		t.Fatalf("propagation with the local version: %+v", p)
	}
	// A newer write: the old version is not current anywhere once it spread.
	if _, err := c.agents[2].Store().Delete(ctx, "app/mode"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the delete to spread", func() bool {
		p, _ := ins.Propagation(ctx, "app/mode", "", "", 2*time.Second)
		for _, n := range p.Nodes {
			if !n.Deleted || !n.Current {
				return false
			}
		}
		return len(p.Nodes) == 3
	})
	if _, err := ins.Propagation(ctx, "app/mode", "x.y", "", time.Second); err == nil {
		t.Fatal("a malformed version was accepted")
	}
	// A member that does not answer is named with the reason.
	c.net.Isolate("n3")
	p, _ = ins.Propagation(ctx, "app/mode", "", "", 200*time.Millisecond)
	if len(p.Nodes) == 3 && p.Nodes[2].Error == "" {
		t.Fatalf("an isolated agent answered: %+v", p.Nodes[2])
	}
}

func TestHistoryAndMembersIndex(t *testing.T) {
	c := newMemCluster(t, 2, 22)
	a := c.agents[0]
	mem := apiMembership{a}
	idx := mem.MembersIndex()
	done := make(chan uint64, 1)
	go func() {
		i, _ := mem.WaitMembers(context.Background(), idx)
		done <- i
	}()
	c.net.Isolate("n2")
	select {
	case i := <-done:
		if i <= idx {
			t.Fatalf("WaitMembers returned %d, not past %d", i, idx)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("WaitMembers did not wake on a failure")
	}
	if _, err := a.Store().Put(context.Background(), "app/x", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	h := apiInsight{a}.History("app/", 10)
	if len(h) != 1 || h[0].Key != "app/x" || h[0].Path != configsync.PathLocal || h[0].Origin != "n1" {
		t.Fatalf("history %+v", h)
	}
	if ms := mem.Members(); ms[0].StatusSince.IsZero() || ms[0].RTTSeconds == nil || *ms[0].RTTSeconds != 0 {
		t.Fatalf("self member %+v: want a status time and an RTT of 0", ms[0])
	}
}

func FuzzQueryFrame(f *testing.F) {
	f.Add(queryFrame{typ: queryRequest, kind: queryKeyVersion, id: 7, node: "n1", payload: []byte("app/mode")}.encode())
	f.Add(queryFrame{typ: queryAnswer, kind: queryKeyVersion, id: 1, node: "n2", payload: keyVersion{has: true}.encode()}.encode())
	f.Add([]byte{})
	f.Add([]byte("Q"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeQueryFrame(b)
		if err != nil {
			return
		}
		if len(fr.node) == 0 || len(fr.node) > maxNodeNameBytes {
			t.Fatalf("accepted node name of %d bytes", len(fr.node))
		}
		again, err := decodeQueryFrame(fr.encode())
		if err != nil || again.node != fr.node || again.id != fr.id || string(again.payload) != string(fr.payload) {
			t.Fatalf("round trip: %+v %v", again, err)
		}
	})
}

func FuzzKeyVersion(f *testing.F) {
	f.Add(keyVersion{has: true, version: configsync.Version{Wall: 1700000000000, Logical: 3, Node: "n1"}, applied: time.UnixMilli(1700000000005)}.encode())
	f.Add(keyVersion{}.encode())
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodeKeyVersion(b)
		if err != nil {
			return
		}
		if k.version.Wall < 0 || len(k.version.Node) > maxNodeNameBytes {
			t.Fatalf("accepted %+v", k)
		}
		again, err := decodeKeyVersion(k.encode())
		if err != nil || again.version != k.version || !again.applied.Equal(k.applied) || again.has != k.has || again.deleted != k.deleted {
			t.Fatalf("round trip: %+v %v, was %+v", again, err, k)
		}
	})
}
