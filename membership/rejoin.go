package membership

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/internal/clock"
)

// Rejoin and re-merge. memberlist alone never contacts a dead node again
// after GossipToTheDeadTime, so two halves of a healed partition would stay
// apart forever; like Serf, the Rejoiner re-contacts one random failed
// member every reconnect interval. It also remembers the live peers in
// data_dir/peers.json (Peers) for a restarted agent to rejoin, retries the
// configured join addresses with backoff until one answers, and reaps
// failed and left members after reap_after.

// ErrStopped is what a Gossip returns (wrapped) once the agent is leaving
// or stopped: the Rejoiner's loops end.
var ErrStopped = errors.New("membership: gossip stopped")

// Gossip is how the Rejoiner reaches the cluster: the agent's memberlist.
// Both methods are called from the Rejoiner's goroutines, concurrently.
type Gossip interface {
	// Join contacts addrs and merges with their cluster, returning how
	// many answered (the agent's Join, which logs and reports).
	Join(ctx context.Context, addrs []string) (int, error)
	// Reconnect contacts one failed member's address, quietly.
	Reconnect(addr string) error
}

// RejoinConfig configures a Rejoiner.
type RejoinConfig struct {
	// Self is this agent's node name: its own address is never a target.
	Self string
	// Join lists the configured HOST:PORT addresses to join at start.
	Join []string
	// Peers remembers live peers across restarts; nil keeps none.
	Peers  *Peers
	Table  *Table
	Gossip Gossip
	// ReconnectEvery is how often one failed member is re-contacted.
	ReconnectEvery time.Duration
	// ReapAfter is how long failed and left members are kept; 0 keeps
	// them.
	ReapAfter time.Duration
	Clock     clock.Clock
	// Intn returns a random int in [0, n) (the agent's seeded source);
	// called concurrently.
	Intn func(n int) int
	// Logger gets the component attribute "membership".
	Logger *slog.Logger
}

// Rejoiner runs the join, reconnect, reap and peer-saving loops.
type Rejoiner struct {
	cfg RejoinConfig
	log *slog.Logger
}

// NewRejoiner returns a Rejoiner; Run starts it.
func NewRejoiner(cfg RejoinConfig) *Rejoiner {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Rejoiner{cfg: cfg, log: cfg.Logger.With("component", "membership")}
}

// Run joins the configured and remembered peers, and re-contacts, reaps
// and saves peers until ctx ends. Start it after this agent is a member.
func (r *Rejoiner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){r.joinLoop, r.reconnectLoop, r.reapLoop, r.persistLoop} {
		wg.Go(func() { f(ctx) })
	}
	wg.Wait()
}

// targets is the configured join list plus remembered peers, without
// this agent's own address.
func (r *Rejoiner) targets() []string {
	targets := slices.Clone(r.cfg.Join)
	if r.cfg.Peers != nil {
		known, err := r.cfg.Peers.Load()
		if err != nil {
			r.log.Warn("cannot read known peers", "err", err)
		}
		targets = append(targets, known...)
	}
	self := ""
	if m, ok := r.cfg.Table.Get(r.cfg.Self); ok {
		self = m.AddrPort().String()
	}
	out := targets[:0]
	for _, t := range targets {
		if t != self && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// joinLoop joins the configured and remembered peers, retrying with
// exponential backoff (with jitter) until one answers.
func (r *Rejoiner) joinLoop(ctx context.Context) {
	targets := r.targets()
	if len(targets) == 0 {
		return
	}
	backoff := 500 * time.Millisecond
	const maxBackoff = 30 * time.Second
	for attempt := 1; ; attempt++ {
		n, err := r.cfg.Gossip.Join(ctx, targets)
		if n > 0 || ctx.Err() != nil || errors.Is(err, ErrStopped) {
			return
		}
		wait := backoff/2 + time.Duration(r.cfg.Intn(int(backoff/2)+1))
		r.log.Warn("join failed, retrying", "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-r.cfg.Clock.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// reconnectLoop re-contacts one random failed member per interval.
func (r *Rejoiner) reconnectLoop(ctx context.Context) {
	if r.cfg.ReconnectEvery <= 0 {
		return
	}
	t := r.cfg.Clock.NewTicker(r.cfg.ReconnectEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C():
		case <-ctx.Done():
			return
		}
		failed := r.cfg.Table.WithStatus(catalog.StatusFailed)
		if len(failed) == 0 {
			continue
		}
		m := failed[r.cfg.Intn(len(failed))]
		if err := r.cfg.Gossip.Reconnect(m.AddrPort().String()); errors.Is(err, ErrStopped) {
			return
		} else if err != nil {
			r.log.Debug("reconnect failed", "member", m.Name, "err", err)
			continue
		}
		r.log.Info("reconnected to failed member", "member", m.Name)
	}
}

// reapLoop forgets failed and left members after ReapAfter.
func (r *Rejoiner) reapLoop(ctx context.Context) {
	after := r.cfg.ReapAfter
	if after <= 0 {
		return
	}
	every := min(max(after/10, 100*time.Millisecond), time.Minute)
	t := r.cfg.Clock.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			r.cfg.Table.Reap(after) // the catalog removes their services, once
		case <-ctx.Done():
			return
		}
	}
}

// persistLoop saves the addresses of live peers when they change.
func (r *Rejoiner) persistLoop(ctx context.Context) {
	if r.cfg.Peers == nil {
		return
	}
	t := r.cfg.Clock.NewTicker(time.Second)
	defer t.Stop()
	var seen uint64
	for {
		select {
		case <-t.C():
		case <-ctx.Done():
			return
		}
		v := r.cfg.Table.Version()
		if v == seen {
			continue
		}
		seen = v
		var addrs []string
		for _, m := range r.cfg.Table.WithStatus(catalog.StatusAlive, catalog.StatusSuspect) {
			if m.Name != r.cfg.Self {
				addrs = append(addrs, m.AddrPort().String())
			}
		}
		if len(addrs) == 0 {
			continue // keep the last known peers to rejoin
		}
		if err := r.cfg.Peers.Save(addrs); err != nil {
			r.log.Warn("cannot save known peers", "err", err)
		}
	}
}
