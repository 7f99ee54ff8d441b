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
	"github.com/murmurhq/murmur/agent/client"
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
	lastLog, lastRejoin, rejoins := time.Now(), time.Now(), 0 // first re-join after 5 s
	for {
		minLive, worst := n, ""
		var behind []*agent.Agent
		for _, a := range c.agents {
			live := 0
			for _, m := range a.Members() {
				if m.Status == agent.StatusAlive || m.Status == agent.StatusSuspect {
					live++
				}
			}
			if live < n {
				behind = append(behind, a)
			}
			if live < minLive {
				minLive, worst = live, a.Name()
			}
		}
		if minLive == n {
			if rejoins > 0 && c.log != nil {
				c.log("%d agents: %d push/pull re-joins were needed", n, rejoins)
			}
			return nil
		}
		// Gossip of the joins can miss a member (the push residue of
		// docs/gossip-math.md §4: about 1 % of updates at n = 50); the
		// periodic push/pull would repair it within a minute or two. A
		// join to the first agent, which knows everyone, is one push/pull
		// now.
		if time.Since(lastRejoin) > 5*time.Second {
			lastRejoin = time.Now()
			for _, a := range behind {
				rejoins++
				if _, err := a.Join(ctx, []string{first.AddrPort().String()}); err != nil && c.log != nil {
					c.log("re-join %s: %v", a.Name(), err)
				}
			}
		}
		if c.log != nil && time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			c.log("waiting for %d agents: %s knows only %d live members", n, worst, minLive)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %d in-process agents not all alive everywhere within %v (%s knows %d live members)", n, timeout, worst, minLive)
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
	// LAN gossip (200 ms, fanout 3, RetransmitMult 4) at every size. From
	// 100 agents, probes every 2 s with a 1 s timeout instead of 1 s and
	// 500 ms: hundreds of memberlists on 2 shared cores otherwise miss
	// acks and flap, which is not what this figure measures.
	probes := "LAN probes (1s/500ms)"
	cfg := func(int, *agent.Config) {}
	if n >= 100 {
		probes = "probe_interval 2s, probe_timeout 1s"
		cfg = func(_ int, c *agent.Config) {
			d := func(v time.Duration) *client.Duration { x := client.Duration(v); return &x }
			c.Gossip.ProbeInterval = d(2 * time.Second)
			c.Gossip.ProbeTimeout = d(time.Second)
		}
	}
	c, err := e.newInproc(n, fmt.Sprintf("inproc-%d", n), cfg)
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
	if err := sleepCtx(ctx, settle); err != nil {
		return err
	}
	// Idle baseline of memnet packets (probes and acks only: memberlist
	// sends no gossip packet when its queues are empty).
	const idle = 3 * time.Second
	c.nw.ResetStats()
	if err := sleepCtx(ctx, idle); err != nil {
		return err
	}
	idleRate := float64(c.nw.Stats().Total().PacketsSent) / idle.Seconds()

	before := c.sent()
	c.nw.ResetStats()
	p0 := time.Now()
	value := []byte(fmt.Sprintf("%064d", 0))
	var names []string
	for _, a := range c.agents {
		names = append(names, a.Name())
	}
	res, err := e.propagationRun(ctx, arr, names, e.opts.puts, prefix, func(ctx context.Context, i int, key string) error {
		_, err := c.agents[i%n].Store().Put(ctx, key, value, 0)
		return err
	})
	if err != nil {
		return err
	}
	// Let the last put's retransmissions finish before counting packets.
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	busy := time.Since(p0).Seconds()
	total := c.nw.Stats().Total()
	packets := float64(total.PacketsSent) - idleRate*busy
	after := c.sent()
	perKind := map[string]float64{}
	for k, t := range after {
		perKind[k.String()] = float64(t.Messages-before[k].Messages) / float64(len(res))
	}
	cmd := fmt.Sprintf("go run ./test/bench -only inproc  # %d agents in one process over internal/memnet, gossip.profile=lan with %s, %d puts of 64 B rotating over the agents, arrival from Store.Subscribe", n, probes, e.opts.puts)
	note := "in-memory stores (no fsync); time from Put until the last store notified"
	if total.PacketsOverflowed > 0 {
		note += fmt.Sprintf("; %d packets dropped on full memnet inboxes (the process could not keep up)", total.PacketsOverflowed)
	}
	e.prop[n] = e.reportPropagation("memnet", n, res, perKind, cmd, note)
	e.rec.add(Result{Figure: "2", Name: fmt.Sprintf("prop.memnet.n%d.packets_per_update", n), Value: packets / float64(len(res)), Unit: "packets", Command: cmd,
		Note: fmt.Sprintf("UDP packets on memnet during the puts minus the idle probe rate (%.0f/s), per put; gossip packets may carry several messages", idleRate)})
	return nil
}
