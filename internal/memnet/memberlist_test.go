package memnet

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"
)

// logWriter forwards memberlist's warnings and errors to t.Log until the
// test ends; memberlist goroutines may still log after that.
type logWriter struct {
	t   testing.TB
	mu  sync.Mutex
	off bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("[DEBUG]")) || bytes.Contains(p, []byte("[INFO]")) {
		return len(p), nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.off {
		w.t.Log(string(bytes.TrimSpace(p)))
	}
	return len(p), nil
}

func (w *logWriter) stop() {
	w.mu.Lock()
	w.off = true
	w.mu.Unlock()
}

// verifyNoLeaks fails t if goroutines outlive timeout. memberlist's
// goroutines exit asynchronously after Shutdown: a probe in progress waits
// out its probe interval, which memberlist scales up to 9x when the node's
// health score is degraded (as after a partition), longer than goleak's
// own retries cover.
func verifyNoLeaks(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for goleak.Find() != nil && time.Now().Before(deadline) {
		// goleak.Find retries with backoff for about half a second.
	}
	goleak.VerifyNone(t)
}

// view is one member's picture of the cluster, kept by memberlist's event
// callbacks. memberlist.Members returns pointers into memberlist's own
// state, which race with its updates, so the test never reads them; the
// callbacks run under memberlist's node lock, where copying is safe.
type view struct {
	mu    sync.Mutex
	nodes map[string]string // name → address of members neither dead nor left
}

var _ memberlist.EventDelegate = (*view)(nil)

func (v *view) NotifyJoin(n *memberlist.Node)   { v.set(n.Name, n.Address()) }
func (v *view) NotifyUpdate(n *memberlist.Node) { v.set(n.Name, n.Address()) }

func (v *view) NotifyLeave(n *memberlist.Node) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.nodes, n.Name)
}

func (v *view) set(name, addr string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.nodes[name] = addr
}

// members returns the names of the live members, sorted.
func (v *view) members() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	names := make([]string, 0, len(v.nodes))
	for n := range v.nodes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (v *view) addr(name string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.nodes[name]
}

// TestMemberlistCluster runs five real memberlist instances over one
// Network: all join, one is partitioned away and declared dead by the
// others, and after Heal and a re-join all five are live again; then one
// crashes and comes back under its name at a new address.
func TestMemberlistCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a memberlist cluster for a few seconds")
	}
	nw := newNet(t, time.Now().UnixNano())
	logs := &logWriter{t: t}
	// Cleanups run last-in first-out: memberlists shut down, then the leak
	// check, then the logs stop.
	t.Cleanup(logs.stop)
	t.Cleanup(func() { verifyNoLeaks(t, 20*time.Second) })

	const size = 5
	names := make([]string, size)
	ms := make([]*memberlist.Memberlist, size)
	views := make([]*view, size)
	start := func(i int, tr *Transport) {
		t.Helper()
		cfg := memberlist.DefaultLocalConfig()
		cfg.Name = tr.Name()
		cfg.Transport = tr
		cfg.LogOutput = logs
		cfg.ProbeInterval = 100 * time.Millisecond
		cfg.ProbeTimeout = 50 * time.Millisecond
		cfg.GossipInterval = 20 * time.Millisecond
		cfg.PushPullInterval = time.Second
		cfg.SuspicionMult = 2
		cfg.TCPTimeout = 500 * time.Millisecond
		cfg.DeadNodeReclaimTime = time.Nanosecond // a restarted node may move
		views[i] = &view{nodes: map[string]string{}}
		cfg.Events = views[i]
		m, err := memberlist.Create(cfg)
		if err != nil {
			_ = tr.Shutdown()
			t.Fatalf("create %s: %v", tr.Name(), err)
		}
		t.Cleanup(func() { _ = m.Shutdown() }) // before goleak and logs.stop
		ms[i] = m
	}
	for i := range size {
		names[i] = fmt.Sprintf("node-%d", i)
		tr, err := nw.NewTransport(names[i])
		if err != nil {
			t.Fatal(err)
		}
		start(i, tr)
	}
	seedAddr := nw.byName["node-0"].Addr()
	// join retries until the seed answers: on a loaded machine one
	// push/pull can outlast TCPTimeout.
	join := func(i int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, err := ms[i].Join([]string{seedAddr})
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s join: %v", names[i], err)
			}
			time.Sleep(50 * time.Millisecond) // polling period of the deadline-bounded retry
		}
	}
	for i := 1; i < size; i++ {
		join(i)
	}
	// see waits until every member in who sees exactly want as live.
	see := func(what string, who []int, want []string) {
		t.Helper()
		waitFor(t, 60*time.Second, what, func() bool {
			for _, i := range who {
				if !slices.Equal(views[i].members(), want) {
					return false
				}
			}
			return true
		})
	}
	everyone := slices.Clone(names)
	see("all five live after join", []int{0, 1, 2, 3, 4}, everyone)

	// Partition node-4 away: the rest declare it dead, it declares them dead.
	if err := nw.Partition([]string{"node-4"}); err != nil {
		t.Fatal(err)
	}
	see("node-4 dead to the rest", []int{0, 1, 2, 3}, everyone[:4])
	see("the rest dead to node-4", []int{4}, everyone[4:])
	if l := nw.Stats().Links[Link{"node-4", "node-0"}]; l.PacketsCut == 0 {
		t.Errorf("no packets from node-4 to node-0 counted as cut: %+v", l)
	}

	nw.Heal()
	join(4)
	see("all five live after heal", []int{0, 1, 2, 3, 4}, everyone)

	// Crash node-3 (no leave) and restart it under its name at a new
	// address: the others see it live there.
	if err := ms[3].Shutdown(); err != nil {
		t.Fatal(err)
	}
	see("node-3 dead to the rest", []int{0, 1, 2, 4}, []string{"node-0", "node-1", "node-2", "node-4"})
	tr3, err := nw.NewTransport("node-3")
	if err != nil {
		t.Fatal(err)
	}
	start(3, tr3)
	join(3)
	see("all five live after restart", []int{0, 1, 2, 3, 4}, everyone)
	for _, i := range []int{0, 1, 2, 4} {
		if got := views[i].addr("node-3"); got != tr3.Addr() {
			t.Errorf("%s sees node-3 at %s, want %s", names[i], got, tr3.Addr())
		}
	}

	for _, m := range ms {
		if err := m.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
}
