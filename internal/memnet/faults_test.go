package memnet

import (
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// reachable reports whether a packet from a arrives at b.
func reachable(t *testing.T, a, b *Transport) bool {
	t.Helper()
	drain(b)
	send(t, a, b, "probe")
	return len(drain(b)) == 1
}

func TestReachability(t *testing.T) {
	type pairs = [][2]string
	all := pairs{{"a", "b"}, {"a", "c"}, {"a", "d"}, {"b", "c"}, {"b", "d"}, {"c", "d"}}
	cases := []struct {
		name  string
		apply func(nw *Network) error
		cut   pairs // unordered; every other pair is connected
	}{
		{"no faults", func(nw *Network) error { return nil }, nil},
		{"two groups", func(nw *Network) error {
			return nw.Partition([]string{"a", "b"}, []string{"c", "d"})
		}, pairs{{"a", "c"}, {"a", "d"}, {"b", "c"}, {"b", "d"}}},
		{"unnamed nodes form the rest", func(nw *Network) error {
			return nw.Partition([]string{"a"})
		}, pairs{{"a", "b"}, {"a", "c"}, {"a", "d"}}},
		{"two singletons and the rest", func(nw *Network) error {
			return nw.Partition([]string{"a"}, []string{"b"})
		}, pairs{{"a", "b"}, {"a", "c"}, {"a", "d"}, {"b", "c"}, {"b", "d"}}},
		{"new partition replaces old", func(nw *Network) error {
			if err := nw.Partition([]string{"a"}); err != nil {
				return err
			}
			return nw.Partition([]string{"d"})
		}, pairs{{"a", "d"}, {"b", "d"}, {"c", "d"}}},
		{"empty partition ends it", func(nw *Network) error {
			if err := nw.Partition([]string{"a"}); err != nil {
				return err
			}
			return nw.Partition()
		}, nil},
		{"block", func(nw *Network) error { return nw.Block("b", "a") }, pairs{{"a", "b"}}},
		{"unblock", func(nw *Network) error {
			if err := nw.Block("a", "b"); err != nil {
				return err
			}
			return nw.Unblock("b", "a")
		}, nil},
		{"isolate", func(nw *Network) error { return nw.Isolate("c") }, pairs{{"a", "c"}, {"b", "c"}, {"c", "d"}}},
		{"unisolate", func(nw *Network) error {
			if err := nw.Isolate("c"); err != nil {
				return err
			}
			return nw.Unisolate("c")
		}, nil},
		{"block inside a group", func(nw *Network) error {
			if err := nw.Partition([]string{"a", "b"}); err != nil {
				return err
			}
			return nw.Block("c", "d")
		}, pairs{{"a", "c"}, {"a", "d"}, {"b", "c"}, {"b", "d"}, {"c", "d"}}},
		{"heal clears every cut", func(nw *Network) error {
			if err := nw.Partition([]string{"a"}); err != nil {
				return err
			}
			if err := nw.Block("b", "c"); err != nil {
				return err
			}
			if err := nw.Isolate("d"); err != nil {
				return err
			}
			nw.Heal()
			return nil
		}, nil},
		{"faults follow names not yet created", func(nw *Network) error {
			return nw.Block("a", "later")
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nw := newNet(t, 1)
			trs := map[string]*Transport{}
			for _, n := range []string{"a", "b", "c", "d"} {
				trs[n] = mustTransport(t, nw, n)
			}
			if err := tc.apply(nw); err != nil {
				t.Fatal(err)
			}
			for _, p := range all {
				want := !slices.Contains(tc.cut, p)
				for _, dir := range [][2]string{p, {p[1], p[0]}} {
					if got := reachable(t, trs[dir[0]], trs[dir[1]]); got != want {
						t.Errorf("%s→%s delivered %v, want %v", dir[0], dir[1], got, want)
					}
					if got := nw.Connected(dir[0], dir[1]); got != want {
						t.Errorf("Connected(%s, %s) = %v, want %v", dir[0], dir[1], got, want)
					}
				}
			}
			if !reachable(t, trs["a"], trs["a"]) {
				t.Error("a node must always reach itself")
			}
		})
	}
}

func TestFaultValidation(t *testing.T) {
	nw := newNet(t, 1)
	if err := nw.Partition([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		call    func() error
		mention string
	}{
		{"partition: name twice", func() error { return nw.Partition([]string{"x", "y"}, []string{"y"}) }, `"y"`},
		{"partition: empty name", func() error { return nw.Partition([]string{""}) }, "empty"},
		{"block: self", func() error { return nw.Block("a", "a") }, `"a"`},
		{"block: empty", func() error { return nw.Block("", "b") }, "empty"},
		{"unblock: empty", func() error { return nw.Unblock("a", "") }, "empty"},
		{"isolate: empty", func() error { return nw.Isolate("") }, "empty"},
		{"unisolate: empty", func() error { return nw.Unisolate("") }, "empty"},
		{"loss: negative", func() error { return nw.SetLoss("a", "b", -0.1) }, "-0.1"},
		{"loss: above one", func() error { return nw.SetLoss("a", "b", 1.5) }, "1.5"},
		{"loss: NaN", func() error { return nw.SetLossAll(math.NaN()) }, "NaN"},
		{"loss: self", func() error { return nw.SetLoss("a", "a", 0.5) }, `"a"`},
		{"duplicate: above one", func() error { return nw.SetDuplicate(2) }, "2"},
		{"delay: negative", func() error { return nw.SetDelayAll(-time.Millisecond) }, "-1ms"},
		{"delay: too long", func() error { return nw.SetDelay("a", "b", MaxDelay+1) }, MaxDelay.String()},
		{"delay: empty", func() error { return nw.SetDelay("", "b", time.Millisecond) }, "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "memnet: ") || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q should start with memnet: and mention %s", err, tc.mention)
			}
		})
	}
	// A rejected call changed nothing: the first partition still holds.
	if nw.Connected("a", "x") || !nw.Connected("x", "y") {
		t.Error("rejected Partition changed the partition")
	}
}

// Streams that cross a new cut are closed at once, on both ends; streams
// inside a group survive.
func TestCutClosesStreams(t *testing.T) {
	cases := []struct {
		name string
		cut  func(nw *Network) error
	}{
		{"partition", func(nw *Network) error { return nw.Partition([]string{"a"}, []string{"b", "c"}) }},
		{"isolate", func(nw *Network) error { return nw.Isolate("a") }},
		{"block", func(nw *Network) error {
			if err := nw.Block("a", "b"); err != nil {
				return err
			}
			return nw.Block("c", "a")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nw := newNet(t, 1)
			a := mustTransport(t, nw, "a")
			b := mustTransport(t, nw, "b")
			c := mustTransport(t, nw, "c")
			ab, ba := dial(t, a, b)
			ca, ac := dial(t, c, a) // dialed the other way
			bc, cb := dial(t, b, c)

			// A reader blocked mid-stream must be woken by the cut.
			blocked := make(chan error, 1)
			go func() {
				_, err := ba.Read(make([]byte, 1))
				blocked <- err
			}()
			if err := tc.cut(nw); err != nil {
				t.Fatal(err)
			}
			if err := <-blocked; err == nil {
				t.Error("blocked reader not woken by the cut")
			}
			for name, end := range map[string]net.Conn{"a→b": ab, "c→a": ca, "a←c": ac} {
				if _, err := end.Write([]byte("x")); err == nil {
					t.Errorf("%s: write after cut succeeded", name)
				}
			}
			if err := roundTrip(bc, cb, "still here"); err != nil {
				t.Errorf("b↔c stream broken: %v", err)
			}
			s := nw.Stats()
			if got := s.Links[Link{"a", "b"}].StreamsCut + s.Links[Link{"c", "a"}].StreamsCut; got != 2 {
				t.Errorf("StreamsCut on a→b and c→a = %d, want 2", got)
			}
			if _, err := a.DialTimeout(b.Addr(), time.Millisecond); !errors.Is(err, ErrTimeout) {
				t.Errorf("dial across the cut: %v, want timeout", err)
			}
		})
	}
}

// deliveries sends n numbered packets a→b and returns the numbers that
// arrived, in order.
func deliveries(t *testing.T, nw *Network, n int) []int {
	t.Helper()
	a, b := nw.byName["a"], nw.byName["b"]
	var got []int
	for i := range n {
		send(t, a, b, fmt.Sprint(i))
		for _, p := range drain(b) {
			var k int
			if _, err := fmt.Sscan(string(p.Buf), &k); err != nil {
				t.Fatal(err)
			}
			got = append(got, k)
		}
	}
	return got
}

func TestLossStatistics(t *testing.T) {
	const n = 10000
	cases := []struct {
		name     string
		link, gl float64 // SetLoss(a, b) and SetLossAll
		wantLoss float64
	}{
		{"none", 0, 0, 0},
		{"link 30%", 0.3, 0, 0.3},
		{"global 30%", 0, 0.3, 0.3},
		{"link and global combine", 0.5, 0.5, 0.75},
		{"all", 1, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := func() ([]int, *Network) {
				nw := newNet(t, 42)
				mustTransport(t, nw, "a")
				mustTransport(t, nw, "b")
				if err := nw.SetLoss("a", "b", tc.link); err != nil {
					t.Fatal(err)
				}
				if err := nw.SetLossAll(tc.gl); err != nil {
					t.Fatal(err)
				}
				return deliveries(t, nw, n), nw
			}
			got, nw := run()
			again, _ := run()
			if !slices.Equal(got, again) {
				t.Fatal("same seed, different losses")
			}
			lost := n - len(got)
			sigma := math.Sqrt(n * tc.wantLoss * (1 - tc.wantLoss))
			if math.Abs(float64(lost)-n*tc.wantLoss) > 5*sigma+0.5 {
				t.Errorf("lost %d of %d, want about %.0f (±%.0f)", lost, n, n*tc.wantLoss, 5*sigma)
			}
			l := nw.Stats().Links[Link{"a", "b"}]
			if l.PacketsLost != uint64(lost) || l.PacketsDropped != uint64(lost) || l.PacketsReceived != uint64(len(got)) {
				t.Errorf("counters %+v, lost %d", l, lost)
			}
		})
	}

	// Loss is per direction.
	nw := newNet(t, 1)
	a := mustTransport(t, nw, "a")
	b := mustTransport(t, nw, "b")
	if err := nw.SetLoss("a", "b", 1); err != nil {
		t.Fatal(err)
	}
	if reachable(t, a, b) || !reachable(t, b, a) {
		t.Error("SetLoss(a, b, 1) must drop a→b only")
	}
	if err := nw.SetLoss("a", "b", 0); err != nil {
		t.Fatal(err)
	}
	if !reachable(t, a, b) {
		t.Error("SetLoss(a, b, 0) did not clear the loss")
	}
}

func TestDuplicate(t *testing.T) {
	nw := newNet(t, 1)
	a := mustTransport(t, nw, "a")
	b := mustTransport(t, nw, "b")
	if err := nw.SetDuplicate(1); err != nil {
		t.Fatal(err)
	}
	send(t, a, b, "twice")
	ps := drain(b)
	if len(ps) != 2 || string(ps[0].Buf) != "twice" || string(ps[1].Buf) != "twice" {
		t.Fatalf("got %d packets", len(ps))
	}
	ps[0].Buf[0] = 'X' // copies are independent
	if string(ps[1].Buf) != "twice" {
		t.Error("duplicates share a buffer")
	}
	if l := nw.Stats().Links[Link{"a", "b"}]; l.PacketsSent != 1 || l.PacketsDuplicated != 1 || l.PacketsReceived != 2 {
		t.Errorf("counters %+v", l)
	}
}

func TestDelayFakeTimers(t *testing.T) {
	nw, ft := newNetFakeTimers(t, 1)
	if err := nw.SetInboxSize(2); err != nil {
		t.Fatal(err)
	}
	a := mustTransport(t, nw, "a")
	b := mustTransport(t, nw, "b")
	if err := nw.SetDelayAll(10 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := nw.SetDelay("a", "b", 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	send(t, a, b, "one")
	if len(drain(b)) != 0 {
		t.Fatal("delayed packet delivered at once")
	}
	if len(ft.timers) != 1 || ft.timers[0].d != 15*time.Millisecond {
		t.Fatalf("timers %+v, want one of 15ms (link + global)", ft.timers)
	}
	ft.fire(0)
	if ps := drain(b); len(ps) != 1 || string(ps[0].Buf) != "one" {
		t.Fatalf("after firing got %v", ps)
	}

	// A cut that begins while the packet is in flight stops it.
	send(t, a, b, "two")
	if err := nw.Block("a", "b"); err != nil {
		t.Fatal(err)
	}
	ft.fire(1)
	if len(drain(b)) != 0 {
		t.Fatal("packet crossed a cut made while it was in flight")
	}
	nw.Heal()

	// In-flight packets are bounded by the inbox size.
	send(t, a, b, "3")
	send(t, a, b, "4")
	send(t, a, b, "5")
	if l := nw.Stats().Links[Link{"a", "b"}]; l.PacketsOverflowed != 1 || l.PacketsCut != 1 {
		t.Fatalf("counters %+v, want 1 overflowed and 1 cut", l)
	}

	// Shutdown stops the timers of packets in flight to it and counts them.
	_ = b.Shutdown()
	if !ft.timers[2].stopped || !ft.timers[3].stopped {
		t.Error("Shutdown left delivery timers running")
	}
	l := nw.Stats().Links[Link{"a", "b"}]
	if l.PacketsSent+l.PacketsDuplicated != l.PacketsReceived+l.PacketsDropped {
		t.Errorf("packets unaccounted for: %+v", l)
	}
	ft.timers[2].f() // a timer that fired anyway is a no-op
	if got := nw.Stats().Links[Link{"a", "b"}]; got != l {
		t.Errorf("late timer changed counters: %+v", got)
	}
}

func TestDelayRealTimers(t *testing.T) {
	nw := newNet(t, 1)
	a := mustTransport(t, nw, "a")
	b := mustTransport(t, nw, "b")
	const d = 2 * time.Millisecond
	if err := nw.SetDelay("a", "b", d); err != nil {
		t.Fatal(err)
	}
	sent, err := a.WriteTo([]byte("late"), b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-b.PacketCh():
		if p.Timestamp.Sub(sent) < d {
			t.Errorf("delivered %v after sending, before the %v delay", p.Timestamp.Sub(sent), d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("delayed packet never delivered")
	}
}
