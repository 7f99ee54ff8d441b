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

// aliveView returns the names of the members m sees as alive, sorted.
func aliveView(m *memberlist.Memberlist) []string {
	var names []string
	for _, n := range m.Members() {
		if n.State == memberlist.StateAlive {
			names = append(names, n.Name)
		}
	}
	slices.Sort(names)
	return names
}

// viewed returns "the rest": the members m lists at all (not dead or left).
func listed(m *memberlist.Memberlist) []string {
	var names []string
	for _, n := range m.Members() {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}

// TestMemberlistCluster runs five real memberlist instances over one
// Network: all join, one is partitioned away and declared dead by the
// others, and after Heal and a re-join all five are alive again.
func TestMemberlistCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a memberlist cluster for a few seconds")
	}
	defer goleak.VerifyNone(t)
	nw := newNet(t, time.Now().UnixNano())
	logs := &logWriter{t: t}
	defer logs.stop()

	const size = 5
	names := make([]string, size)
	ms := make([]*memberlist.Memberlist, size)
	for i := range size {
		names[i] = fmt.Sprintf("node-%d", i)
		tr, err := nw.NewTransport(names[i])
		if err != nil {
			t.Fatal(err)
		}
		cfg := memberlist.DefaultLocalConfig()
		cfg.Name = names[i]
		cfg.Transport = tr
		cfg.LogOutput = logs
		cfg.ProbeInterval = 100 * time.Millisecond
		cfg.ProbeTimeout = 50 * time.Millisecond
		cfg.GossipInterval = 20 * time.Millisecond
		cfg.PushPullInterval = time.Second
		cfg.SuspicionMult = 2
		cfg.TCPTimeout = 500 * time.Millisecond
		m, err := memberlist.Create(cfg)
		if err != nil {
			_ = tr.Shutdown()
			t.Fatalf("create %s: %v", names[i], err)
		}
		ms[i] = m
		defer func() { _ = m.Shutdown() }() // runs before VerifyNone and logs.stop
	}
	seedAddr := ms[0].LocalNode().Address()
	for i := 1; i < size; i++ {
		if _, err := ms[i].Join([]string{seedAddr}); err != nil {
			t.Fatalf("%s join: %v", names[i], err)
		}
	}
	everyone := slices.Clone(names)
	allSee := func(group []int, want []string) func() bool {
		return func() bool {
			for _, i := range group {
				if !slices.Equal(aliveView(ms[i]), want) {
					return false
				}
			}
			return true
		}
	}
	allNodes := []int{0, 1, 2, 3, 4}
	waitFor(t, 30*time.Second, "all five alive after join", allSee(allNodes, everyone))

	// Partition node-4 away: the rest must declare it dead (not merely
	// suspect: dead members are not listed at all).
	if err := nw.Partition([]string{"node-4"}); err != nil {
		t.Fatal(err)
	}
	rest := everyone[:4]
	waitFor(t, 30*time.Second, "node-4 dead to the rest", func() bool {
		for _, i := range allNodes[:4] {
			if !slices.Equal(listed(ms[i]), rest) {
				return false
			}
		}
		return true
	})
	if l := nw.Stats().Links[Link{"node-4", "node-0"}]; l.PacketsCut == 0 {
		t.Errorf("no packets from node-4 to node-0 counted as cut: %+v", l)
	}

	nw.Heal()
	if _, err := ms[4].Join([]string{seedAddr}); err != nil {
		t.Fatalf("re-join: %v", err)
	}
	waitFor(t, 30*time.Second, "all five alive after heal", allSee(allNodes, everyone))

	for _, m := range ms {
		if err := m.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
}
