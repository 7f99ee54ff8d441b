package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/internal/testutil"
)

// testConfig is a fast, in-memory config for tests on loopback.
func testConfig(name string) Config {
	c := DevConfig()
	c.NodeName = name
	c.BindAddr = "127.0.0.1:0"
	c.HTTP.Addr = ""
	c.ConsulAPI.Addr = ""
	c.DNS.Addr = ""
	d := func(v time.Duration) *client.Duration { x := client.Duration(v); return &x }
	i := func(v int) *int { return &v }
	c.Gossip.ProbeInterval = d(100 * time.Millisecond)
	c.Gossip.ProbeTimeout = d(50 * time.Millisecond)
	c.Gossip.GossipInterval = d(20 * time.Millisecond)
	c.Gossip.PushPullInterval = d(500 * time.Millisecond)
	c.Gossip.SuspicionMult = i(2)
	c.Gossip.TCPTimeout = d(500 * time.Millisecond)
	c.Gossip.GossipToTheDeadTime = d(time.Second)
	c.Gossip.DeadNodeReclaimTime = d(time.Second)
	c.ReconnectInterval = client.Duration(200 * time.Millisecond)
	c.LeaveTimeout = client.Duration(2 * time.Second)
	return c
}

// testLogger sends agent logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// quietLogger logs warnings and errors only (big clusters).
func quietLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// tWriter writes to t.Log until the test's cleanup runs, then discards:
// memberlist's goroutines keep logging for a while after Shutdown, and
// t.Log after a test ends panics.
type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func newTWriter(t testing.TB) *tWriter {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p[:len(p)-1]))
	}
	return len(p), nil
}

// startAgent creates and starts an agent that is shut down at test end.
func startAgent(t testing.TB, cfg Config, opts ...Option) *Agent {
	t.Helper()
	opts = append([]Option{WithLogger(testLogger(t))}, opts...)
	a, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeName, err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("Start(%s): %v", cfg.NodeName, err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	return a
}

// addr is the agent's gossip address.
func addr(a *Agent) string {
	m, _ := a.LocalMember()
	return m.AddrPort().String()
}

var waitFor = testutil.WaitFor

// statusOf is the status a sees for the named member.
func statusOf(a *Agent, name string) (catalog.Status, bool) {
	m, ok := a.Member(name)
	return m.Status, ok
}

// allSee waits until every observer sees member name in status st.
func allSee(t testing.TB, observers []*Agent, name string, st catalog.Status, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("all to see %s %s", name, st), func() bool {
		for _, o := range observers {
			if o.Name() == name {
				continue
			}
			if got, ok := statusOf(o, name); !ok || got != st {
				return false
			}
		}
		return true
	})
}

func joinAll(t testing.TB, agents []*Agent) {
	t.Helper()
	for _, a := range agents[1:] {
		if _, err := a.Join(context.Background(), []string{addr(agents[0])}); err != nil {
			t.Fatalf("join %s: %v", a.Name(), err)
		}
	}
	for _, a := range agents {
		allSee(t, agents, a.Name(), StatusAlive, 10*time.Second)
	}
}
