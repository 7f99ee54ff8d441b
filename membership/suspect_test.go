package membership

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/internal/clock"
	"github.com/murmurhq/murmur/internal/testutil"
)

// fakeProber answers the pings of the members in up and counts them all.
type fakeProber struct {
	mu    sync.Mutex
	up    map[string]bool
	pings map[string]int
}

func (p *fakeProber) Ping(node string, _ netip.AddrPort) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pings[node]++
	if p.up[node] {
		return nil
	}
	return errors.New("timeout")
}

func (p *fakeProber) HealthScore() (int, error) { return 0, nil }

// A stale member that answers the Suspector's ping stays alive; one that
// misses two in a row turns suspect, and its answer clears it.
func TestSuspector(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	tb := NewTable(clk.Now, func(Event) {})
	for _, n := range []string{"self", "a", "b"} {
		tb.Join(catalog.Node{Name: n, Addr: netip.MustParseAddr("127.0.0.1"), Port: 1})
	}
	p := &fakeProber{up: map[string]bool{"a": true}, pings: map[string]int{}}
	s := NewSuspector(SuspectConfig{Self: "self", Table: tb, Prober: p, ProbeInterval: time.Second, ProbeTimeout: 500 * time.Millisecond, Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	status := func(n string) catalog.Status { m, _ := tb.Get(n); return m.Status }
	testutil.Poll(t, 30*time.Second, time.Millisecond, "b suspect", func() bool {
		clk.Advance(time.Second)
		return status("b") == catalog.StatusSuspect
	})
	p.mu.Lock()
	if p.pings["b"] < 2 || p.pings["a"] == 0 {
		t.Errorf("pings %v: want b pinged twice before suspicion, and a pinged", p.pings)
	}
	p.up["b"] = true
	p.mu.Unlock()
	if status("a") != catalog.StatusAlive {
		t.Fatalf("a, which answers, is %s", status("a"))
	}
	testutil.Poll(t, 30*time.Second, time.Millisecond, "b alive again", func() bool {
		clk.Advance(time.Second)
		return status("b") == catalog.StatusAlive
	})
}
