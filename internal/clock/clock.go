// Package clock is the time seam of Murmur: every component that reads the
// time or waits takes a Clock, so tests can drive time with a Fake.
package clock

import (
	"sync"
	"time"
)

// Clock is the subset of the time package Murmur uses. All methods are safe
// for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has elapsed.
	After(d time.Duration) <-chan time.Time
	// NewTimer returns a Timer that fires once after d.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a Ticker that fires every d; d must be > 0.
	NewTicker(d time.Duration) Ticker
}

// Timer is a stoppable one-shot timer.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
	// Reset re-arms the timer to fire after d.
	Reset(d time.Duration)
}

// Ticker delivers ticks at an interval until stopped.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Real is the wall clock.
type Real struct{}

var _ Clock = Real{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NewTimer wraps time.NewTimer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTicker wraps time.NewTicker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Stop() bool            { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// Offset is a real clock shifted by a fixed duration. It simulates a host
// whose wall clock is wrong (tests and the agentd -clock-offset test flag):
// Now is shifted, durations are not.
type Offset struct {
	Real
	By time.Duration
}

// Now returns time.Now() shifted by o.By.
func (o Offset) Now() time.Time { return time.Now().Add(o.By) }

// Fake is a manually advanced clock for tests. The zero value starts at the
// zero time; use NewFake for a realistic start.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeTimer
}

var _ Clock = (*Fake)(nil)

// NewFake returns a Fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves time forward by d and fires every timer and ticker due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	var keep []*fakeTimer
	var due []*fakeTimer
	for _, w := range f.waiters {
		if !w.at.After(now) {
			due = append(due, w)
			if w.period > 0 {
				for !w.at.After(now) {
					w.at = w.at.Add(w.period)
				}
				keep = append(keep, w)
			}
		} else {
			keep = append(keep, w)
		}
	}
	f.waiters = keep
	f.mu.Unlock()
	for _, w := range due {
		select {
		case w.ch <- now:
		default: // like time.Ticker, a slow reader misses ticks
		}
	}
}

// Waiters reports how many timers and tickers are armed; tests use it to
// know a goroutine has reached its wait before advancing.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// After returns a channel that fires once the fake time passes d from now.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// NewTimer returns a one-shot fake timer.
func (f *Fake) NewTimer(d time.Duration) Timer { return f.add(d, 0) }

// NewTicker returns a fake ticker.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker interval")
	}
	return fakeTicker{f.add(d, d)}
}

type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) C() <-chan time.Time { return k.t.ch }
func (k fakeTicker) Stop()               { k.t.Stop() }

func (f *Fake) add(d, period time.Duration) *fakeTimer {
	t := &fakeTimer{f: f, ch: make(chan time.Time, 1), period: period}
	f.mu.Lock()
	t.at = f.now.Add(d)
	f.waiters = append(f.waiters, t)
	f.mu.Unlock()
	if d <= 0 {
		f.Advance(0)
	}
	return t
}

func (f *Fake) remove(t *fakeTimer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, w := range f.waiters {
		if w == t {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return true
		}
	}
	return false
}

type fakeTimer struct {
	f      *Fake
	ch     chan time.Time
	at     time.Time
	period time.Duration
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }
func (t *fakeTimer) Stop() bool          { return t.f.remove(t) }
func (t *fakeTimer) Reset(d time.Duration) {
	t.f.remove(t)
	t.f.mu.Lock()
	t.at = t.f.now.Add(d)
	t.f.waiters = append(t.f.waiters, t)
	t.f.mu.Unlock()
}
