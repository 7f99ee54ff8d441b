package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/memnet"
	"github.com/murmurhq/murmur/membership"
)

// memCluster is n agents over one in-memory network.
type memCluster struct {
	t      *testing.T
	net    *memnet.Network
	agents []*Agent
}

func newMemCluster(t *testing.T, n int, seed int64) *memCluster {
	t.Helper()
	c := &memCluster{t: t, net: memnet.New(seed)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("memnet seed %d", c.net.Seed())
		}
	})
	for i := 1; i <= n; i++ {
		c.agents = append(c.agents, c.start(fmt.Sprintf("n%d", i)))
	}
	joinAll(t, c.agents)
	return c
}

// start starts one more agent on the network.
func (c *memCluster) start(name string) *Agent {
	c.t.Helper()
	tr, err := c.net.NewTransport(name)
	if err != nil {
		c.t.Fatal(err)
	}
	return startAgent(c.t, testConfig(name), WithTransport(tr), WithSeed(uint64(len(c.agents))))
}

func names(as []*Agent) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name())
	}
	return out
}

func TestClusterInMemory(t *testing.T) {
	c := newMemCluster(t, 5, 1)
	a := c.agents

	t.Run("cut off node is failed on all others", func(t *testing.T) {
		if err := c.net.Isolate("n5"); err != nil {
			t.Fatal(err)
		}
		allSee(t, a[:4], "n5", StatusFailed, patience)
		if err := c.net.Unisolate("n5"); err != nil {
			t.Fatal(err)
		}
		// The reconnect loop brings it back without anyone calling Join.
		for _, x := range a {
			allSee(t, a, x.Name(), StatusAlive, patience)
		}
	})

	t.Run("partition 2|3 heals and merges", func(t *testing.T) {
		if err := c.net.Partition(names(a[:2]), names(a[2:])); err != nil {
			t.Fatal(err)
		}
		for _, x := range a[2:] {
			allSee(t, a[:2], x.Name(), StatusFailed, patience)
		}
		for _, x := range a[:2] {
			allSee(t, a[2:], x.Name(), StatusFailed, patience)
		}
		c.net.Heal()
		for _, x := range a {
			allSee(t, a, x.Name(), StatusAlive, patience)
		}
	})

	t.Run("graceful leave is left on all others", func(t *testing.T) {
		if err := a[4].Leave(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := a[4].Shutdown(); err != nil {
			t.Fatal(err)
		}
		allSee(t, a[:4], "n5", StatusLeft, patience)
	})
}

func TestSubscriptionEventsAndDropPolicy(t *testing.T) {
	c := newMemCluster(t, 2, 2)
	sub := c.agents[0].Subscribe(64)
	slow := c.agents[0].Subscribe(1) // never read: must not stall anything
	n3 := c.start("n3")
	join(t, n3, addr(c.agents[0]))
	waitEvent := func(typ membership.EventType, name string) {
		t.Helper()
		deadline := time.After(patience)
		for {
			select {
			case ev := <-sub.C():
				if ev.Type == typ && ev.Member.Name == name {
					return
				}
			case <-deadline:
				t.Fatalf("no %s event for %s", typ, name)
			}
		}
	}
	waitEvent(membership.EventJoin, "n3")
	c.net.Isolate("n3")
	waitEvent(membership.EventFailed, "n3")
	// Subscribers are fed one after the other, so sub can see the failure
	// before the full one has been offered it: wait for the drop.
	waitFor(t, patience, "the unread subscription to drop an event", func() bool { return slow.Dropped() > 0 })
	slow.Close()
	slow.Close()         // idempotent
	for range slow.C() { // closed: drains the buffered event and ends
	}
}

func TestReapForgetsFailedMembers(t *testing.T) {
	net := memnet.New(3)
	var as []*Agent
	for i := 1; i <= 2; i++ {
		tr, _ := net.NewTransport(fmt.Sprintf("r%d", i))
		cfg := testConfig(fmt.Sprintf("r%d", i))
		cfg.ReapAfter = 1e9 // 1s
		as = append(as, startAgent(t, cfg, WithTransport(tr)))
	}
	joinAll(t, as)
	net.Isolate("r2")
	allSee(t, as[:1], "r2", StatusFailed, patience)
	waitFor(t, patience, "r2 reaped", func() bool { _, ok := as[0].Member("r2"); return !ok })
}

func TestSuspectThenRefuted(t *testing.T) {
	nw := memnet.New(4)
	var as []*Agent
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("p%d", i)
		tr, _ := nw.NewTransport(name)
		cfg := testConfig(name)
		mult := 50 // a long suspicion, so the node is seen suspect before it could be failed
		cfg.Gossip.SuspicionMult = &mult
		as = append(as, startAgent(t, cfg, WithTransport(tr)))
	}
	joinAll(t, as)
	nw.Isolate("p3")
	waitFor(t, patience, "p3 suspect on p1 or p2", func() bool {
		s1, _ := statusOf(as[0], "p3")
		s2, _ := statusOf(as[1], "p3")
		return s1 == StatusSuspect || s2 == StatusSuspect
	})
	nw.Unisolate("p3")
	allSee(t, as, "p3", StatusAlive, patience)
}
