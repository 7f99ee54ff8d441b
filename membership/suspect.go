package membership

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/internal/clock"
)

// Prober is how the Suspector pings: the agent's memberlist. Called from
// the Suspector's goroutines, concurrently.
type Prober interface {
	// Ping probes node at addr once, waiting up to the probe timeout; nil
	// when it answered, an error wrapping ErrStopped once gossip stopped.
	Ping(node string, addr netip.AddrPort) error
	// HealthScore is memberlist's awareness score: 0 is healthy, higher
	// means this node is slow and stretches its probe interval.
	HealthScore() (int, error)
}

// SuspectConfig configures a Suspector.
type SuspectConfig struct {
	// Self is this agent's node name.
	Self   string
	Table  *Table
	Prober Prober
	// ProbeInterval and ProbeTimeout are memberlist's (gossip profile).
	ProbeInterval, ProbeTimeout time.Duration
	Clock                       clock.Clock
}

// Suspector derives suspicion from this agent's probes (memberlist has no
// suspect callback; see Table.Stale): a member that has not answered for
// two probe rounds, stretched as memberlist stretches its own probe
// interval when this node is degraded, gets a ping of this agent's own
// every probe interval. Two pings in a row without an answer make it
// suspect (one lost packet, or a busy moment, does not); an answer clears
// it.
type Suspector struct{ cfg SuspectConfig }

// NewSuspector returns a Suspector; Run starts it.
func NewSuspector(cfg SuspectConfig) *Suspector {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	return &Suspector{cfg: cfg}
}

// Run probes every probe interval until ctx ends or gossip stops.
func (s *Suspector) Run(ctx context.Context) {
	c := s.cfg
	t := c.Clock.NewTicker(c.ProbeInterval)
	defer t.Stop()
	var mu sync.Mutex
	missed := map[string]int{} // unanswered pings in a row, by member; guarded by mu
	for {
		select {
		case <-t.C():
		case <-ctx.Done():
			return
		}
		score, err := c.Prober.HealthScore()
		if err != nil {
			return
		}
		others := max(c.Table.Count(catalog.StatusAlive, catalog.StatusSuspect)-1, 1)
		round := time.Duration(others) * c.ProbeInterval
		window := time.Duration(score+1)*2*round + c.ProbeTimeout
		stale := c.Table.Stale(c.Self, window)
		mu.Lock()
		for name := range missed {
			if !slices.ContainsFunc(stale, func(m catalog.Node) bool { return m.Name == name }) {
				delete(missed, name) // answered a probe since, or gone
			}
		}
		mu.Unlock()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4) // pings at once; each waits up to probe_timeout
		for _, m := range stale {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				err := c.Prober.Ping(m.Name, m.AddrPort())
				if errors.Is(err, ErrStopped) {
					return
				}
				mu.Lock()
				if err == nil {
					delete(missed, m.Name)
				} else {
					missed[m.Name]++
				}
				n := missed[m.Name]
				mu.Unlock()
				switch {
				case err == nil:
					c.Table.Acked(m.Name)
				case n >= 2:
					c.Table.MarkSuspect(m.Name)
				}
			})
		}
		wg.Wait()
	}
}
