package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/internal/clock"
	"github.com/murmurhq/murmur/internal/testutil"
)

// fakeGossip answers the joins after failing the first fails of them and
// records every call.
type fakeGossip struct {
	mu         sync.Mutex
	fails      int
	joins      [][]string
	reconnects []string
}

func (g *fakeGossip) Join(_ context.Context, addrs []string) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.joins = append(g.joins, addrs)
	if len(g.joins) <= g.fails {
		return 0, errors.New("refused")
	}
	return 1, nil
}

func (g *fakeGossip) Reconnect(addr string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reconnects = append(g.reconnects, addr)
	return nil
}

func (g *fakeGossip) calls() (int, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.joins), slices.Clone(g.reconnects)
}

// The Rejoiner retries the join with backoff until one address answers,
// skipping its own address and the duplicates among remembered peers,
// re-contacts a failed member per interval, saves live peers and reaps.
func TestRejoiner(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	tb := NewTable(clk.Now, func(Event) {})
	node := func(name string, last byte) catalog.Node {
		return catalog.Node{Name: name, Addr: netip.AddrFrom4([4]byte{127, 0, 0, last}), Port: 7946}
	}
	tb.Join(node("self", 1))
	tb.Join(node("a", 2))
	tb.Join(node("dead", 3))
	tb.Leave(node("dead", 3), false)
	dir := t.TempDir()
	peers := NewPeers(dir)
	if err := peers.Save([]string{"127.0.0.2:7946", "127.0.0.9:7946"}); err != nil {
		t.Fatal(err)
	}
	g := &fakeGossip{fails: 2}
	r := NewRejoiner(RejoinConfig{
		Self: "self", Join: []string{"127.0.0.1:7946", "127.0.0.2:7946"}, Peers: peers, Table: tb, Gossip: g,
		ReconnectEvery: 30 * time.Second, ReapAfter: time.Hour, Clock: clk, Intn: func(int) int { return 0 },
		Logger: slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// Each poll moves the clock a second: past every backoff and, in time,
	// the reconnect interval.
	testutil.Poll(t, 30*time.Second, time.Millisecond, "3 joins and a reconnect", func() bool {
		joins, rec := g.calls()
		clk.Advance(time.Second)
		return joins == 3 && len(rec) > 0
	})
	g.mu.Lock()
	if want := []string{"127.0.0.2:7946", "127.0.0.9:7946"}; !slices.Equal(g.joins[0], want) {
		t.Errorf("join targets %v, want %v (own address and duplicates left out)", g.joins[0], want)
	}
	if g.reconnects[0] != "127.0.0.3:7946" {
		t.Errorf("reconnected to %s, want the failed member", g.reconnects[0])
	}
	g.mu.Unlock()
	// persistLoop saves on its own ticker, so the save may come after the
	// reconnect the poll above saw: wait for it, moving the clock.
	testutil.Poll(t, 30*time.Second, time.Millisecond, "the live peer saved", func() bool {
		got, err := peers.Load()
		clk.Advance(time.Second)
		return err == nil && slices.Equal(got, []string{"127.0.0.2:7946"})
	})
	testutil.Poll(t, 30*time.Second, time.Millisecond, "the failed member reaped after reap_after", func() bool {
		_, ok := tb.Get("dead")
		clk.Advance(time.Minute)
		return !ok
	})
}

// JoinEach asks each address alone, so a failure is reported even when
// another address answered, one error per address.
func TestJoinEach(t *testing.T) {
	join := func(addrs []string) (int, error) {
		if addrs[0] == "good:1" {
			return 1, nil
		}
		return 0, fmt.Errorf("%s: refused", addrs[0])
	}
	n, err := JoinEach([]string{"good:1", "bad:2", "bad:3"}, join)
	var each interface{ Unwrap() []error }
	if n != 1 || !errors.As(err, &each) || len(each.Unwrap()) != 2 || err.Error() != "bad:2: refused; bad:3: refused" {
		t.Fatalf("JoinEach = %d, %v", n, err)
	}
	if n, err := JoinEach([]string{"good:1"}, join); n != 1 || err != nil {
		t.Fatalf("all answered: %d, %v", n, err)
	}
}
