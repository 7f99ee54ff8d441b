package configsync

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/clock"
)

func TestSubscribeKeys(t *testing.T) {
	checkLeaks(t)
	s := startStore(t, nil, Config{Node: "n"})
	ctx := context.Background()
	sub := s.SubscribeKeys("svc/")
	defer sub.Close()
	plain := s.Subscribe("svc/")
	defer plain.Close()

	for _, k := range []string{"svc/a", "svc/b", "svc/a", "other/x"} {
		if _, err := s.Put(ctx, k, []byte(k), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, "svc/b"); err != nil {
		t.Fatal(err)
	}
	<-sub.C()
	got := sub.Keys()
	slices.Sort(got)
	if want := []string{"svc/a", "svc/b"}; !slices.Equal(got, want) {
		t.Fatalf("Keys() = %q, want %q (each changed key once, none outside the prefix)", got, want)
	}
	if got := sub.Keys(); got != nil {
		t.Fatalf("second Keys() = %q, want nothing: the keys were handed out", got)
	}
	if got := plain.Keys(); got != nil {
		t.Fatalf("Keys() of a plain subscription = %q, want nil", got)
	}
	// A deleted key reads as not found: the consumer drops it.
	if _, err := s.Get("svc/b"); err == nil {
		t.Fatal("svc/b still readable after delete")
	}
}

// TestWatchIndexVisitsOnlyMatching: notify finds the watchers of a key by
// its path, so thousands of watchers on other prefixes cost nothing.
func TestWatchIndexVisitsOnlyMatching(t *testing.T) {
	var x watchIndex
	var all []*watcher
	for i := range 2000 {
		w := &watcher{prefix: fmt.Sprintf("other/%d/", i), ch: make(chan struct{}, 1)}
		x.add(w)
		all = append(all, w)
	}
	match := []*watcher{
		{prefix: "", ch: make(chan struct{}, 1)},
		{prefix: "app/", ch: make(chan struct{}, 1)},
		{prefix: "app/", ch: make(chan struct{}, 1)},
		{prefix: "app/db/pass", ch: make(chan struct{}, 1)},
	}
	for _, w := range match {
		x.add(w)
	}
	noMatch := &watcher{prefix: "app/db/password/x", ch: make(chan struct{}, 1)}
	x.add(noMatch)

	var visited []*watcher
	x.each("app/db/password", func(w *watcher) { visited = append(visited, w) })
	if len(visited) != len(match) {
		t.Fatalf("visited %d watchers, want the %d matching ones", len(visited), len(match))
	}
	for _, w := range match {
		if !slices.Contains(visited, w) {
			t.Fatalf("watcher on %q not visited", w.prefix)
		}
	}
	// Removing the last watcher of a prefix removes the prefix.
	x.remove(match[3])
	x.remove(noMatch)
	for _, w := range all {
		x.remove(w)
	}
	x.remove(all[0]) // twice: a no-op
	if n := x.tree.Len(); n != 2 {
		t.Fatalf("tree holds %d prefixes, want 2 (\"\" and \"app/\")", n)
	}
}

func BenchmarkNotifyManyWatchers(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			s, err := Open(Config{Node: "n"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for i := range n {
				s.Subscribe(fmt.Sprintf("w/%d/", i))
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.Put(ctx, "k", []byte{byte(i)}, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// recordingTransport counts Forward calls; it is a single node's view.
type recordingTransport struct {
	mu       sync.Mutex
	forwards [][]byte
}

func (r *recordingTransport) Broadcast(string, []byte, bool) {}
func (r *recordingTransport) Send(string, []byte) error      { return nil }
func (r *recordingTransport) Forward(msg []byte, fanout int, except string) {
	if fanout != 1 || except != "" {
		panic(fmt.Sprintf("probe forwarded to %d peers except %q", fanout, except))
	}
	r.mu.Lock()
	r.forwards = append(r.forwards, msg)
	r.mu.Unlock()
}

func (r *recordingTransport) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.forwards)
}

// TestRunSendsProbes: the anti-entropy probe is part of Run's schedule,
// driven by the store's clock, one random peer per SyncInterval.
func TestRunSendsProbes(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	tr := &recordingTransport{}
	s := startStore(t, nil, Config{Node: "n", Clock: clk, Transport: tr, SyncInterval: time.Second, ForwardFanout: -1})
	for i := 1; i <= 3; i++ {
		eventually(t, "the GC and probe tickers", func() bool { return clk.Waiters() >= 2 })
		clk.Advance(time.Second)
		eventually(t, fmt.Sprintf("probe %d", i), func() bool { return tr.count() == i })
	}
	m, err := Decode(tr.forwards[0])
	if err != nil {
		t.Fatal(err)
	}
	if sum, ok := m.(*Summary); !ok || !sum.Probe || sum.Node != "n" {
		t.Fatalf("forwarded %T %+v, want a probe summary of n", m, m)
	}
	_ = s
}
