package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/internal/memnet"
)

// TestCluster50 runs 50 agents in one process over memnet: a put reaches
// all of them, and with 10k keys in sync one push/pull exchange costs a
// few KB (memberlist's membership state plus configsync's summary). The
// figures are logged as METRIC lines and recorded in BENCHMARKS.md.
func TestCluster50(t *testing.T) {
	if testing.Short() {
		t.Skip("50 agents: skipped with -short")
	}
	const n, keys = 50, 10_000
	nw := memnet.New(50)
	pushPull := 2 * time.Second
	cfgFor := func(name string) Config {
		c := testConfig(name)
		d := func(v time.Duration) *client.Duration { x := client.Duration(v); return &x }
		c.Gossip.ProbeInterval = d(time.Second) // fewer probes: 50 agents share 2 cores
		c.Gossip.ProbeTimeout = d(500 * time.Millisecond)
		c.Gossip.GossipInterval = d(100 * time.Millisecond)
		c.Gossip.PushPullInterval = d(pushPull)
		c.Gossip.SuspicionMult = nil
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
		agents = append(agents, startAgent(t, cfgFor(name), WithTransport(tr), WithLogger(quietLogger(t))))
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
	for _, a := range agents[1:] {
		join(t, a, addr(agents[0]))
	}
	phase("joined")
	waitFor(t, 3*patience, "all 50 alive everywhere", func() bool {
		for _, a := range agents {
			if len(a.members.withStatus(StatusAlive)) != n {
				return false
			}
		}
		return true
	})
	phase("all alive")
	waitFor(t, 3*patience, "10k keys everywhere", func() bool {
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
	waitFor(t, patience, "the put on all 50", func() bool {
		for _, a := range agents {
			r, err := a.Store().Get("hot/key")
			if err != nil || string(r.Value) != "v1" {
				return false
			}
		}
		return true
	})
	t.Logf("METRIC cluster50 put_visible_all_s=%.3f (polling granularity 10ms, -race=%v)", time.Since(start).Seconds(), raceEnabled)

	// In-sync anti-entropy: with no writes, the only streams are
	// memberlist push/pulls; each carries both sides' membership state and
	// configsync summary, and no sync follows.
	nw.ResetStats()
	before := syncsStarted(agents)
	waitFor(t, patience, "50 push/pull exchanges", func() bool { return nw.Stats().Total().StreamsOpened >= n })
	st := nw.Stats().Total()
	if st.StreamsOpened == 0 {
		t.Fatal("no push/pull happened in the window")
	}
	perExchange := float64(st.StreamBytesSent) / float64(st.StreamsOpened)
	t.Logf("METRIC cluster50 keys=%d pushpull_exchanges=%d bytes_per_exchange=%.0f syncs_started=%d",
		keys, st.StreamsOpened, perExchange, syncsStarted(agents)-before)
	if perExchange > 8<<10 {
		t.Errorf("in-sync push/pull costs %.0f bytes, want a few KB", perExchange)
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
