package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/murmurhq/murmur/agent"
	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/internal/memnet"
)

// Figure 2 in one process: N agents of package agent over internal/memnet
// with memberlist's LAN defaults. Arrival is timestamped from each store's
// change notifications (configsync Store.Subscribe), not by polling.

// inproc is a cluster of in-process agents on one memnet network.
type inproc struct {
	nw     *memnet.Network
	agents []*agent.Agent
	logf   *os.File
	log    func(format string, args ...any)
}

// newInproc starts n agents (none joined yet). cfg adjusts each agent's
// config after the in-memory defaults are set.
func (e *env) newInproc(n int, tag string, cfg func(i int, c *agent.Config)) (*inproc, error) {
	c := &inproc{nw: memnet.New(int64(n)), log: e.logf}
	if err := c.nw.SetInboxSize(8192); err != nil {
		return nil, err
	}
	var err error
	if err = os.MkdirAll(filepath.Join(e.dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	c.logf, err = os.Create(filepath.Join(e.dir, "logs", tag+".log"))
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(c.logf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for i := range n {
		name := fmt.Sprintf("m%03d", i)
		tr, err := c.nw.NewTransport(name)
		if err != nil {
			c.shutdown()
			return nil, err
		}
		ac := agent.DefaultConfig()
		ac.NodeName = name
		ac.Dev = true // in memory: no data_dir
		ac.BindAddr = tr.Addr()
		ac.HTTP.Addr = ""
		ac.DNS.Addr = ""
		ac.Gossip.Profile = "lan"
		if cfg != nil {
			cfg(i, &ac)
		}
		a, err := agent.New(ac, agent.WithTransport(tr), agent.WithLogger(log), agent.WithSeed(uint64(i)+1))
		if err == nil {
			err = a.Start()
		}
		if err != nil {
			_ = tr.Shutdown()
			c.shutdown()
			return nil, fmt.Errorf("agent %s: %w", name, err)
		}
		c.agents = append(c.agents, a)
	}
	return c, nil
}

// joinAll joins every agent to the first and waits until each knows all
// of them as live members (alive, or suspect: on a loaded machine a probe
// of one of 200 agents may time out for a moment, and suspects still take
// part in gossip).
func (c *inproc) joinAll(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	first, _ := c.agents[0].LocalMember()
	for _, a := range c.agents[1:] {
		if _, err := a.Join(ctx, []string{first.AddrPort().String()}); err != nil {
			return fmt.Errorf("join %s: %w", a.Name(), err)
		}
	}
	n := len(c.agents)
	if c.log != nil {
		c.log("%d agents joined in %.1fs", n, time.Since(t0).Seconds())
	}
	for {
		ok := true
		for _, a := range c.agents {
			alive := 0
			for _, m := range a.Members() {
				if m.Status == agent.StatusAlive || m.Status == agent.StatusSuspect {
					alive++
				}
			}
			if alive != n {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %d in-process agents not all alive everywhere within %v", n, timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// shutdown stops every agent in parallel.
func (c *inproc) shutdown() {
	var wg sync.WaitGroup
	for _, a := range c.agents {
		wg.Go(func() { _ = a.Shutdown() })
	}
	wg.Wait()
	if c.logf != nil {
		c.logf.Close()
	}
}

// sent sums the stores' Stats.Sent by kind.
func (c *inproc) sent() map[configsync.Kind]configsync.Traffic {
	out := map[configsync.Kind]configsync.Traffic{}
	for _, a := range c.agents {
		for k, t := range a.Store().Stats().Sent {
			o := out[k]
			o.Messages += t.Messages
			o.Bytes += t.Bytes
			out[k] = o
		}
	}
	return out
}

func runInProc(ctx context.Context, e *env) error {
	for _, n := range e.opts.inprocSizes {
		if err := e.inprocPropagation(ctx, n); err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
	}
	return nil
}

func (e *env) inprocPropagation(ctx context.Context, n int) error {
	t0 := time.Now()
	c, err := e.newInproc(n, fmt.Sprintf("inproc-%d", n), nil)
	if err != nil {
		return err
	}
	defer c.shutdown()
	if err := c.joinAll(ctx, 2*time.Minute); err != nil {
		return err
	}
	e.logf("%d in-process agents alive everywhere after %.1fs", n, time.Since(t0).Seconds())

	prefix := fmt.Sprintf("bench/prop/m%d/", n)
	arr := newArrivals(n)
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for i, a := range c.agents {
		sub := a.Store().Subscribe(prefix)
		wg.Go(func() {
			defer sub.Close()
			for {
				select {
				case <-sub.C():
					now := time.Now()
					for _, k := range a.Store().Keys(prefix) {
						arr.saw(k, i, now)
					}
				case <-wctx.Done():
					return
				}
			}
		})
	}
	// Idle baseline of memnet packets (probes and acks only: memberlist
	// sends no gossip packet when its queues are empty).
	const idle = 3 * time.Second
	c.nw.ResetStats()
	select {
	case <-time.After(idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	idleRate := float64(c.nw.Stats().Total().PacketsSent) / idle.Seconds()

	before := c.sent()
	c.nw.ResetStats()
	p0 := time.Now()
	value := []byte(fmt.Sprintf("%064d", 0))
	res, err := propagationRun(ctx, arr, e.opts.puts, prefix, func(ctx context.Context, i int, key string) error {
		_, err := c.agents[(i*7)%n].Store().Put(ctx, key, value, 0)
		return err
	})
	if err != nil {
		return err
	}
	// Let the last put's retransmissions finish before counting packets.
	time.Sleep(2 * time.Second)
	busy := time.Since(p0).Seconds()
	packets := float64(c.nw.Stats().Total().PacketsSent) - idleRate*busy
	after := c.sent()
	perKind := map[string]float64{}
	for k, t := range after {
		perKind[k.String()] = float64(t.Messages-before[k].Messages) / float64(len(res))
	}
	cmd := fmt.Sprintf("go run ./test/bench -only inproc  # %d agents in one process over internal/memnet, gossip.profile=lan, %d puts of 64 B, arrival from Store.Subscribe", n, e.opts.puts)
	e.prop[n] = e.reportPropagation("memnet", n, res, perKind, cmd, "in-memory stores (no fsync); time from Put until the last store notified")
	e.rec.add(Result{Figure: "2", Name: fmt.Sprintf("prop.memnet.n%d.packets_per_update", n), Value: packets / float64(len(res)), Unit: "packets", Command: cmd,
		Note: fmt.Sprintf("UDP packets on memnet during the puts minus the idle probe rate (%.0f/s), per put; gossip packets may carry several messages", idleRate)})
	return nil
}
