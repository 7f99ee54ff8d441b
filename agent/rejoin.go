package agent

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Rejoin and re-merge. memberlist alone never contacts a dead node again
// after GossipToTheDeadTime, so two halves of a healed partition would stay
// apart forever; like Serf, the agent re-contacts one random failed member
// every reconnect_interval. It also remembers the peers it has seen in
// data_dir/peers.json and rejoins them on restart, and retries the
// configured join addresses with backoff until one answers.

// joinTargets is the configured join list plus remembered peers, without
// this agent's own address.
func (a *Agent) joinTargets() []string {
	targets := slices.Clone(a.cfg.Join)
	if a.peers != nil {
		known, err := a.peers.Load()
		if err != nil {
			a.log.Warn("cannot read known peers", "err", err)
		}
		targets = append(targets, known...)
	}
	self := ""
	if m, ok := a.LocalMember(); ok {
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
func (a *Agent) joinLoop(ctx context.Context) {
	targets := a.joinTargets()
	if len(targets) == 0 {
		return
	}
	backoff := 500 * time.Millisecond
	const maxBackoff = 30 * time.Second
	for attempt := 1; ; attempt++ {
		n, err := a.Join(ctx, targets)
		if n > 0 || ctx.Err() != nil || errors.Is(err, ErrNotRunning) {
			return
		}
		wait := backoff/2 + time.Duration(a.intn(int(backoff/2)+1))
		a.log.Warn("join failed, retrying", "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-a.clk.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// reconnectLoop re-contacts one random failed member per interval.
func (a *Agent) reconnectLoop(ctx context.Context) {
	t := a.clk.NewTicker(a.cfg.reconnectInterval())
	defer t.Stop()
	for {
		select {
		case <-t.C():
		case <-ctx.Done():
			return
		}
		failed := a.members.WithStatus(StatusFailed)
		if len(failed) == 0 {
			continue
		}
		m := failed[a.intn(len(failed))]
		ml := a.memberlist()
		if ml == nil || a.leaving() {
			return
		}
		if _, err := ml.Join([]string{m.AddrPort().String()}); err != nil {
			a.log.Debug("reconnect failed", "member", m.Name, "err", err)
			continue
		}
		a.log.Info("reconnected to failed member", "member", m.Name)
	}
}

// reapLoop forgets failed and left members after reap_after.
func (a *Agent) reapLoop(ctx context.Context) {
	after := a.cfg.ReapAfter.D()
	if after <= 0 {
		return
	}
	every := min(max(after/10, 100*time.Millisecond), time.Minute)
	t := a.clk.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			a.members.Reap(after) // the catalog removes their services, once

		case <-ctx.Done():
			return
		}
	}
}

// persistPeersLoop saves the addresses of live peers when they change.
func (a *Agent) persistPeersLoop(ctx context.Context) {
	t := a.clk.NewTicker(time.Second)
	defer t.Stop()
	var seen uint64
	for {
		select {
		case <-t.C():
		case <-ctx.Done():
			return
		}
		v := a.members.Version()
		if v == seen {
			continue
		}
		seen = v
		var addrs []string
		for _, m := range a.members.WithStatus(StatusAlive, StatusSuspect) {
			if m.Name != a.cfg.NodeName {
				addrs = append(addrs, m.AddrPort().String())
			}
		}
		if len(addrs) == 0 {
			continue // keep the last known peers to rejoin
		}
		if err := a.peers.Save(addrs); err != nil {
			a.log.Warn("cannot save known peers", "err", err)
		}
	}
}
