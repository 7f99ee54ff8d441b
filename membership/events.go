package membership

import (
	"sync"
	"sync/atomic"
)

// Subscription delivers membership events. Its channel is buffered; when
// the buffer is full the newest event is dropped and counted, so a slow
// subscriber never stalls gossip (memberlist calls the agent's event
// callbacks on its own goroutines, under its node lock). A subscriber that
// needs the full picture after drops reads the table (Table.List).
type Subscription struct {
	c       chan Event
	dropped atomic.Uint64
	b       *Broker
}

// C is the event channel; it is closed by Close or when the agent shuts
// down.
func (s *Subscription) C() <-chan Event { return s.c }

// Dropped counts events lost because the buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C. Safe to call more than once.
func (s *Subscription) Close() { s.b.remove(s) }

// Broker fans events out to subscriptions. The zero value is ready.
type Broker struct {
	mu sync.Mutex
	// subs is the set of live subscriptions; nil once closed.
	subs   map[*Subscription]struct{}
	closed bool
}

// Subscribe returns a subscription with the given buffer (at least 1).
func (b *Broker) Subscribe(buffer int) *Subscription {
	if buffer < 1 {
		buffer = 1
	}
	s := &Subscription{c: make(chan Event, buffer), b: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(s.c)
		return s
	}
	if b.subs == nil {
		b.subs = map[*Subscription]struct{}{}
	}
	b.subs[s] = struct{}{}
	return s
}

func (b *Broker) remove(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.c)
	}
}

// Publish hands ev to every subscription; it never blocks.
func (b *Broker) Publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.c <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}

// Close closes every subscription, and those made later at once.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		close(s.c)
	}
	b.subs = nil
}
