package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/murmurhq/murmur/internal/memnet"
	"github.com/murmurhq/murmur/membership"
)

// TestStaleLeaveIntentAfterRejoin: a node leaves, comes back, and an old
// copy of its leave intent arrives afterwards (a relay from a slow peer).
// It must not make the rejoined node look left: its later crash is a
// failure. Runs over the in-memory transport.
func TestStaleLeaveIntentAfterRejoin(t *testing.T) {
	c := newMemCluster(t, 3, 31)
	n1, n3 := c.agents[0], c.agents[2]
	addr3 := addr(n3)
	if err := n3.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	n3.Shutdown()
	allSee(t, c.agents[:2], "n3", StatusLeft, 10*time.Second)
	stale := staleIntent(t, n1, "n3")
	if stale.Kind != membership.IntentLeave {
		t.Fatalf("n1 holds %+v for n3, want its leave", stale)
	}

	// n3 restarts at the same address and rejoins; it announces a join
	// intent newer than its old leave (its clock came from push/pull).
	tr, err := c.net.NewTransportAt("n3", addr3)
	if err != nil {
		t.Fatal(err)
	}
	back := startAgent(t, testConfig("n3"), WithTransport(tr))
	if _, err := back.Join(context.Background(), []string{addr(n1)}); err != nil {
		t.Fatal(err)
	}
	allSee(t, c.agents[:2], "n3", StatusAlive, 10*time.Second)
	waitFor(t, 10*time.Second, "n3's join intent on n2", func() bool {
		in := staleIntent(t, c.agents[1], "n3")
		return in.Kind == membership.IntentJoin && in.LTime > stale.LTime
	})

	// The stale leave arrives at both: the one that saw the leave, and
	// the one that saw the join intent. Neither applies it.
	for _, a := range c.agents[:2] {
		a.handleAgentMsg(stale.Encode())
		if a.intents.Leaving("n3") {
			t.Fatalf("%s: a stale leave intent marked the rejoined n3 leaving", a.Name())
		}
	}
	// So a crash now is a failure, not a leave.
	c.net.Isolate("n3")
	allSee(t, c.agents[:2], "n3", StatusFailed, 15*time.Second)
	for _, a := range c.agents[:2] {
		if st, _ := statusOf(a, "n3"); st != StatusFailed {
			t.Fatalf("%s sees the crashed n3 as %s", a.Name(), st)
		}
	}
}

// staleIntent is the newest intent a holds for node, encoded as it
// travelled (the relay of a slow peer would resend these bytes).
func staleIntent(t *testing.T, a *Agent, node string) membership.Intent {
	t.Helper()
	return a.intents.Newest(node)
}

// TestLeaveAfterFlapIsLeft: on a loaded machine a peer can see a leaving
// node dead by suspicion (its leave intent already heard: left), alive
// again (a refutation gossiped late, which retires the intent) and dead
// again from memberlist's leave message (failed). The leaving agent
// announces its leave a second time after memberlist's, and that newer
// intent turns failed into left.
func TestLeaveAfterFlapIsLeft(t *testing.T) {
	nw := memnet.New(41)
	newAgent := func(name string) *Agent {
		tr, err := nw.NewTransport(name)
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(testConfig(name), WithTransport(tr), WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, b := newAgent("a"), newAgent("b")
	// a records the distinct leave intents it receives from b.
	var mu sync.Mutex
	leaves := map[uint64]bool{}
	a.Handle(msgAgent, HandlerFunc(func(p []byte) {
		if in, err := membership.DecodeIntent(p); err == nil && in.Kind == membership.IntentLeave && in.Node == "b" {
			mu.Lock()
			leaves[in.LTime] = true
			mu.Unlock()
		}
		a.handleAgentMsg(p)
	}))
	for _, x := range []*Agent{a, b} {
		if err := x.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = x.Shutdown() })
	}
	joinAll(t, []*Agent{a, b})
	if err := b.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "two leave intents of b on a", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(leaves) == 2
	})
	b.Shutdown()
	allSee(t, []*Agent{a}, "b", StatusLeft, patience)

	// The flap, replayed on a's delegate: left, alive, then failed...
	m, _ := a.Member("b")
	node := &memberlist.Node{Name: m.Name, Addr: m.Addr.AsSlice(), Port: m.Port}
	a.del.NotifyJoin(node)
	a.del.NotifyLeave(node)
	if st, _ := statusOf(a, "b"); st != StatusFailed {
		t.Fatalf("after the flap a sees b %s, want failed (the case being repaired)", st)
	}
	// ...and a leave intent newer than the retired one makes it left.
	next := a.intents.Newest("b")
	next.Kind, next.LTime = membership.IntentLeave, next.LTime+1
	a.handleAgentMsg(next.Encode())
	if st, _ := statusOf(a, "b"); st != StatusLeft {
		t.Fatalf("after a newer leave intent a sees b %s, want left", st)
	}
}
