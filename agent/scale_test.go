package agent

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/internal/memnet"
)

// TestCluster50 runs 50 agents (20 with -race) in one process over memnet:
// a put reaches all of them, and with 10k keys in sync one push/pull
// exchange costs a
// few KB (memberlist's membership state plus configsync's summary). The
// figures are logged as METRIC lines and recorded in BENCHMARKS.md.
func TestCluster50(t *testing.T) {
	if testing.Short() {
		t.Skip("50 agents: skipped with -short")
	}
	n, keys := 50, 10_000
	if raceEnabled {
		// The race detector makes every agent several times slower: 50 of
		// them on 2 shared cores starve each other for seconds (probes
		// unanswered, members falsely failed). The figures recorded in
		// BENCHMARKS.md come from runs without -race.
		n, keys = 20, 1_000
	}
	nw := memnet.New(50)
	logger := quietLogger(t) // one ring for the whole cluster
	pushPull := 2 * time.Second
	cfgFor := func(name string) Config {
		c := testConfig(name)
		d := func(v time.Duration) *client.Duration { x := client.Duration(v); return &x }
		// Failure detection is not under test here, and 50 agents (with
		// -race, beside other tests) can starve each other of CPU for
		// seconds: probe rarely and suspect long, so a slow agent is not
		// declared failed and "all alive" holds still.
		c.Gossip.ProbeInterval = d(5 * time.Second)
		c.Gossip.ProbeTimeout = d(3 * time.Second)
		mult := 6
		c.Gossip.SuspicionMult = &mult
		c.Gossip.GossipInterval = d(100 * time.Millisecond)
		c.Gossip.PushPullInterval = d(pushPull)
		c.Gossip.TCPTimeout = d(15 * time.Second) // joins and syncs on a loaded machine
		return c
	}
	var agents []*Agent
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("s%02d", i)
		tr, err := nw.NewTransport(name)
		if err != nil {
			t.Fatal(err)
		}
		agents = append(agents, startAgent(t, cfgFor(name), WithTransport(tr), WithLogger(logger)))
	}
	ctx := context.Background()
	t0 := time.Now()
	phase := func(what string) { t.Logf("%s after %.1fs", what, time.Since(t0).Seconds()) }
	// 10k keys on the first agent before the others join: they receive
	// the full state through the join's sync.
	for i := 0; i < keys; i++ {
		if _, err := agents[0].Store().Put(ctx, fmt.Sprintf("cfg/%05d", i), []byte("value-of-some-config-key"), 0); err != nil {
			t.Fatal(err)
		}
	}
	phase("loaded")
	// Join a few at a time: one after another, on a loaded machine, the
	// 49 joins (each followed by a 10k-key sync) take minutes.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for _, a := range agents[1:] {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			joinOrErr(t, a, addr(agents[0]))
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	phase("joined")
	// Live: alive or suspect. On a loaded machine some agent's probes of
	// another may go unanswered for a moment, and a suspect still takes
	// part in gossip (as the bench runner's joinAll counts).
	waitFor(t, 3*patience, fmt.Sprintf("all %d live everywhere", n), func() bool {
		for _, a := range agents {
			if a.members.Count(StatusAlive, StatusSuspect) != n {
				return false
			}
		}
		return true
	})
	phase("all live")
	waitFor(t, 5*patience, fmt.Sprintf("%d keys everywhere", keys), func() bool {
		for _, a := range agents {
			if a.Store().Stats().Keys != keys {
				return false
			}
		}
		return true
	})

	phase("all synced")
	// One put reaches all 50.
	start := time.Now()
	if _, err := agents[17].Store().Put(ctx, "hot/key", []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, fmt.Sprintf("the put on all %d", n), func() bool {
		for _, a := range agents {
			r, err := a.Store().Get("hot/key")
			if err != nil || string(r.Value) != "v1" {
				return false
			}
		}
		return true
	})
	t.Logf("METRIC cluster50 agents=%d put_visible_all_s=%.3f (polling granularity 10ms, -race=%v)", n, time.Since(start).Seconds(), raceEnabled)

	// Let the syncs that summaries sent before the put had arrived
	// everywhere may still start run out: on a loaded machine such a
	// probe can be in flight for seconds. Settled = no new sync for two
	// sync intervals.
	quiet := 2 * agents[0].Config().KV.SyncInterval.D()
	last, since := syncsStarted(agents), time.Now()
	waitFor(t, 3*patience, fmt.Sprintf("no new sync session for %v", quiet), func() bool {
		if cur := syncsStarted(agents); cur != last {
			last, since = cur, time.Now()
		}
		return time.Since(since) >= quiet
	})

	// In-sync anti-entropy: with no writes, the only streams are
	// memberlist push/pulls; each carries both sides' membership state and
	// configsync summary, and no sync follows.
	nw.ResetStats()
	before := syncsStarted(agents)
	waitFor(t, patience, fmt.Sprintf("%d push/pull exchanges", n), func() bool { return nw.Stats().Total().StreamsOpened >= uint64(n) })
	st := nw.Stats().Total()
	if st.StreamsOpened == 0 {
		t.Fatal("no push/pull happened in the window")
	}
	perExchange := float64(st.StreamBytesSent) / float64(st.StreamsOpened)
	t.Logf("METRIC cluster50 keys=%d pushpull_exchanges=%d bytes_per_exchange=%.0f syncs_started=%d",
		keys, st.StreamsOpened, perExchange, syncsStarted(agents)-before)
	// memberlist's part is both sides' member lists, about 80 B a member
	// each uncompressed (gossip.compression is off by default: 8 234 B an
	// exchange at 50 members, 2 042 B with it on); configsync's is two
	// summaries of ~40 B. It grows with the members, never with the keys.
	if limit := float64(n*256 + 1024); perExchange > limit {
		t.Errorf("in-sync push/pull costs %.0f bytes, want at most %.0f for %d members", perExchange, limit, n)
	}
	if d := syncsStarted(agents) - before; d != 0 {
		t.Errorf("%d sync sessions started while in sync", d)
	}
}

func syncsStarted(as []*Agent) uint64 {
	var n uint64
	for _, a := range as {
		n += a.Store().Stats().Syncs
	}
	return n
}
