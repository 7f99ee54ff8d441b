package memnet

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newNet returns a seeded network and logs the seed if the test fails.
func newNet(t testing.TB, seed int64) *Network {
	t.Helper()
	nw := New(seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("memnet seed: %d", nw.Seed())
		}
	})
	return nw
}

// mustTransport creates a transport and shuts it down at the end of the test.
func mustTransport(t testing.TB, nw *Network, name string) *Transport {
	t.Helper()
	tr, err := nw.NewTransport(name)
	if err != nil {
		t.Fatalf("NewTransport(%q): %v", name, err)
	}
	t.Cleanup(func() { _ = tr.Shutdown() })
	return tr
}

// send writes msg from a to b and fails the test on error.
func send(t testing.TB, a, b *Transport, msg string) {
	t.Helper()
	if _, err := a.WriteTo([]byte(msg), b.Addr()); err != nil {
		t.Fatalf("%s WriteTo %s: %v", a.Name(), b.Name(), err)
	}
}

// drain returns the packets waiting in tr's inbox without blocking.
// Undelayed packets are delivered before WriteTo returns, so this is exact.
func drain(tr *Transport) []*memberlist.Packet {
	var ps []*memberlist.Packet
	for {
		select {
		case p := <-tr.PacketCh():
			ps = append(ps, p)
		default:
			return ps
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

// accept takes one stream from tr's StreamCh, which a successful dial has
// already filled.
func accept(t testing.TB, tr *Transport) net.Conn {
	t.Helper()
	select {
	case c := <-tr.StreamCh():
		t.Cleanup(func() { _ = c.Close() })
		return c
	default:
		t.Fatalf("%s: no stream waiting", tr.Name())
		return nil
	}
}

// dial opens a stream a→b and returns both ends.
func dial(t testing.TB, a, b *Transport) (net.Conn, net.Conn) {
	t.Helper()
	c, err := a.DialTimeout(b.Addr(), time.Second)
	if err != nil {
		t.Fatalf("dial %s→%s: %v", a.Name(), b.Name(), err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, accept(t, b)
}

// roundTrip writes msg on w in the background and reads it from r.
func roundTrip(w, r net.Conn, msg string) error {
	errc := make(chan error, 1)
	go func() {
		_, err := w.Write([]byte(msg))
		errc <- err
	}()
	buf := make([]byte, len(msg))
	_, rerr := io.ReadFull(r, buf)
	if rerr != nil {
		_ = w.Close() // unblock the writer
		<-errc
		return rerr
	}
	return <-errc
}

// fakeTimers replaces the Network's delivery timers with ones fired by hand.
type fakeTimers struct {
	timers []*fakeTimer
}

type fakeTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (ft *fakeTimers) afterFunc(d time.Duration, f func()) func() bool {
	tm := &fakeTimer{d: d, f: f}
	ft.timers = append(ft.timers, tm)
	return func() bool {
		was := !tm.stopped
		tm.stopped = true
		return was
	}
}

// newNetFakeTimers returns a network whose delayed deliveries wait for
// fire. Timers are only touched under the test goroutine, with n.mu held
// by the network, so the fake needs no lock of its own.
func newNetFakeTimers(t testing.TB, seed int64) (*Network, *fakeTimers) {
	ft := &fakeTimers{}
	nw := &Network{afterFunc: ft.afterFunc}
	nw.initOnce.Do(func() { nw.setup(seed) })
	return nw, ft
}

// fire runs timer i as if it were due.
func (ft *fakeTimers) fire(i int) {
	tm := ft.timers[i]
	if !tm.stopped {
		tm.stopped = true
		tm.f()
	}
}
