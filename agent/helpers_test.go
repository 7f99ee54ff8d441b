package agent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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

// patience bounds the waits of the in-process cluster tests: what they
// wait for takes well under a second, so only a failure comes near it and
// a loaded machine slows them down instead of failing them.
const patience = 60 * time.Second

// quietLogger is for big clusters: it keeps the last lines (info and up)
// in memory and writes them to the test log only if the test fails, so a
// passing run prints nothing even with -v.
func quietLogger(t testing.TB) *slog.Logger {
	r := &ringWriter{max: 400}
	t.Cleanup(func() {
		if t.Failed() {
			lines := r.take()
			t.Logf("last %d log lines of the cluster:\n%s", len(lines), strings.Join(lines, ""))
		}
	})
	return slog.New(slog.NewTextHandler(r, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// ringWriter keeps the last max lines written to it.
type ringWriter struct {
	max   int
	mu    sync.Mutex
	lines []string // guarded by mu
}

func (r *ringWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) == r.max {
		r.lines = r.lines[1:]
	}
	r.lines = append(r.lines, string(p))
	return len(p), nil
}

func (r *ringWriter) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
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
		join(t, a, addr(agents[0]))
	}
	for _, a := range agents {
		allSee(t, agents, a.Name(), StatusAlive, patience)
	}
}

// join makes a join target, trying again until it answers or patience
// runs out: on a loaded machine one push/pull can outlast tcp_timeout.
func join(t testing.TB, a *Agent, target string) {
	t.Helper()
	if !joinOrErr(t, a, target) {
		t.FailNow()
	}
}

// joinOrErr is join for any goroutine: it marks t failed (t.Errorf) and
// returns false instead of stopping the test.
func joinOrErr(t testing.TB, a *Agent, target string) bool {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		_, err := a.Join(context.Background(), []string{target})
		if err == nil {
			return true
		}
		if time.Now().After(deadline) {
			t.Errorf("%s could not join %s within %v: %v", a.Name(), target, patience, err)
			return false
		}
		time.Sleep(100 * time.Millisecond) // polling period of the deadline-bounded retry
	}
}
