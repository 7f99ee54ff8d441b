package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/murmurhq/murmur/agent"
	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/configsync"
)

// Figure 3: bytes per anti-entropy exchange. Two sources:
//
//   - configsync's BenchmarkAntiEntropy: configsync's own messages between
//     two States (summary, sync rounds, entries), no memberlist;
//   - two agents over memnet: every byte on the wire of one memberlist
//     push/pull (triggered by a Join to the peer, which is a push/pull) and
//     of the sync it starts, beside what configsync handed memberlist.
//     The wire bytes are the sum of memberlist's own membership state
//     and configsync's messages, compressed only with gossip.compression
//     (memberlist's EnableCompression; off by default since BENCHMARKS.md
//     §11); with no keys (the keys=0 case) the wire total is memberlist's
//     part plus two summaries.

const aeTarget = 4 << 10 // bytes per in-sync exchange at 100k keys

func runAntiEntropy(ctx context.Context, e *env) error {
	if err := e.aeBenchmark(ctx); err != nil {
		e.rec.fail("ae benchmark", err)
	}
	for _, keys := range []int{0, 1000, 100000} {
		if err := e.aeMemnet(ctx, keys); err != nil {
			return fmt.Errorf("keys=%d: %w", keys, err)
		}
	}
	return nil
}

func (e *env) aeBenchmark(ctx context.Context) error {
	args := []string{"test", "-run", "^$", "-bench", "^BenchmarkAntiEntropy$", "-benchtime", "10x", "-count", "1", "./configsync/"}
	lines, err := e.goBench(ctx, args)
	if err != nil {
		return err
	}
	cmd := "go " + strings.Join(args, " ")
	for _, l := range lines {
		name := strings.TrimPrefix(l.name, "BenchmarkAntiEntropy/")
		v, ok := l.metrics["bytes/exchange"]
		if !ok {
			continue
		}
		r := Result{Figure: "3", Name: "ae.configsync." + name, Value: v, Unit: "B", Command: cmd,
			Note: "configsync messages only (State to State, no memberlist)"}
		if name == "in-sync/keys=100000" {
			r.Target, r.Met = "<= 4096 B", target(v <= aeTarget)
		}
		if d, ok := l.metrics["diverged-entry-bytes"]; ok {
			r.Note += fmt.Sprintf("; the diverged entries themselves encode to %.0f B (ratio %.2f)", d, l.metrics["ratio"])
		}
		e.rec.add(r)
	}
	return nil
}

// aeConfig is the two agents' config: no probes and no periodic push/pull
// during the measurement (exchanges are triggered by Join), LAN gossip.
func aeConfig(_ int, c *agent.Config) {
	d := func(v time.Duration) *client.Duration { x := client.Duration(v); return &x }
	c.Gossip.ProbeInterval = d(time.Hour)
	c.Gossip.PushPullInterval = d(time.Hour)
}

// aeMemnet measures one in-sync exchange (mean of 5) and one with 1 % of
// the keys diverged, half written on each side while UDP between them is
// cut (streams still work, as TCP would).
func (e *env) aeMemnet(ctx context.Context, keys int) error {
	// Both agents start from copies of one database, so they hold the
	// same entries without a 100k-key sync (or 100k queued broadcasts).
	// The copy was written under the first agent's name: the second one
	// logs that and carries on, which is all this needs.
	shm, err := os.MkdirTemp(shmDir(), "murmur-bench-ae-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(shm)
	dirs := []string{filepath.Join(shm, "a"), filepath.Join(shm, "b")}
	if err := seedStore(ctx, "m000", dirs[0], keys); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(dirs[0], configsync.DBFile), filepath.Join(dirs[1], configsync.DBFile)); err != nil {
		return err
	}
	c, err := e.newInproc(2, fmt.Sprintf("ae-%d", keys), func(i int, cfg *agent.Config) {
		aeConfig(i, cfg)
		cfg.Dev = false
		cfg.DataDir = dirs[i]
	})
	if err != nil {
		return err
	}
	defer c.shutdown()
	if err := c.joinAll(ctx, time.Minute); err != nil {
		return err
	}
	a, b := c.agents[0], c.agents[1]
	if err := waitSynced(ctx, a, b, keys, 30*time.Second); err != nil {
		return err
	}
	peer, _ := a.LocalMember()
	// exchange runs push/pulls until the stores agree (at most 3; the
	// digest's truncated hashes can hide a differing leaf from one sync,
	// and the next exchange finds it) and returns the bytes of all of them.
	exchange := func() (stream, cs, update float64, rounds int, err error) {
		c.nw.ResetStats()
		before := c.sent()
		for rounds = 1; ; rounds++ {
			if _, err := b.Join(ctx, []string{peer.AddrPort().String()}); err != nil {
				return 0, 0, 0, rounds, err
			}
			// A sync, if one started, is over once the stream bytes stop
			// moving.
			if err := waitQuiet(ctx, c); err != nil {
				return 0, 0, 0, rounds, err
			}
			if a.Store().Stats().Root == b.Store().Stats().Root {
				break
			}
			if rounds == 3 {
				return 0, 0, 0, rounds, fmt.Errorf("bench: stores differ after %d push/pull exchanges", rounds)
			}
		}
		after := c.sent()
		for k, t := range after {
			bytes := float64(t.Bytes - before[k].Bytes)
			if k == configsync.KindUpdate {
				update += bytes
			} else {
				cs += bytes
			}
		}
		return float64(c.nw.Stats().Total().StreamBytesSent), cs, update, rounds, nil
	}
	cmd := "go run ./test/bench -only ae  # 2 agents over memnet, exchange = one memberlist push/pull (Join) plus the sync it starts"
	const reps = 5
	var st, cs float64
	for range reps {
		s, c, _, _, err := exchange()
		if err != nil {
			return err
		}
		st += s / reps
		cs += c / reps
	}
	r := Result{Figure: "3", Name: fmt.Sprintf("ae.memnet.in-sync.keys=%d.total", keys), Value: st, Unit: "B", Command: cmd,
		Note: fmt.Sprintf("all stream bytes on the wire both ways, mean of %d: memberlist's membership state of the 2 members and framing plus configsync's %.0f B of summaries, with the agents' default gossip.compression (off)", reps, cs)}
	if keys == 100000 {
		r.Target, r.Met = "<= 4096 B", target(st <= aeTarget)
	}
	e.rec.add(r)
	e.rec.add(Result{Figure: "3", Name: fmt.Sprintf("ae.memnet.in-sync.keys=%d.configsync", keys), Value: cs, Unit: "B", Command: cmd,
		Note: "configsync's messages as handed to memberlist (before compression): the two summaries"})
	if keys == 0 {
		return nil
	}
	// 1 % of the keys diverge, scattered, half on each side, with UDP cut
	// so neither forwarding nor gossip carries them across.
	if err := c.nw.SetLoss(a.Name(), b.Name(), 1); err != nil {
		return err
	}
	if err := c.nw.SetLoss(b.Name(), a.Name(), 1); err != nil {
		return err
	}
	diverged := keys / 100
	rng := rand.New(rand.NewPCG(uint64(keys), 3))
	var changed []configsync.Entry
	for i, k := range rng.Perm(keys)[:diverged] {
		s := a.Store()
		if i%2 == 1 {
			s = b.Store()
		}
		r, err := s.Put(ctx, seedKey(k), []byte(fmt.Sprintf("changed-%032d", k)), 0)
		if err != nil {
			return err
		}
		changed = append(changed, r.Entry)
	}
	entryBytes := len(configsync.Encode(&configsync.SyncEntries{From: a.Name(), Entries: changed}))
	if a.Store().Stats().Root == b.Store().Stats().Root {
		return fmt.Errorf("bench: stores agree after diverging %d keys", diverged)
	}
	// Retransmissions of the queued broadcasts end after
	// RetransmitMult×ceil(log10(3)) = 4 gossip ticks of 200 ms.
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	s, csd, upd, rounds, err := exchange()
	if err != nil {
		return err
	}
	e.rec.add(Result{Figure: "3", Name: fmt.Sprintf("ae.memnet.diverged-1pct.keys=%d.total", keys), Value: s, Unit: "B", Command: cmd,
		Note: fmt.Sprintf("%d keys changed (half per side), %d B as one SyncEntries message: wire/entries %.2f; configsync handed memberlist %.0f B (%.2f× the entries), compressed on the wire only with gossip.compression; %d push/pull exchange(s) until the roots agreed; repaired entries re-gossiped as %.0f B of update messages (UDP, cut here)",
			diverged, entryBytes, s/float64(entryBytes), csd, csd/float64(entryBytes), rounds, upd)})
	return nil
}

// seedKey is the name of the i-th seeded key.
func seedKey(i int) string { return fmt.Sprintf("config/service-%06d/setting", i) }

// seedStore writes keys entries into a configsync database in dir.
func seedStore(ctx context.Context, node, dir string, keys int) error {
	s, err := configsync.Open(configsync.Config{Node: node, DataDir: dir})
	if err != nil {
		return err
	}
	defer s.Close()
	// Put is the public path; on tmpfs its fsync is cheap, and concurrent
	// writers share commits.
	const workers = 8
	errc := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < keys; i += workers {
				if _, err := s.Put(ctx, seedKey(i), []byte(fmt.Sprintf("value-%d-%032d", i, i)), 0); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range workers {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

// waitSynced waits until both stores have the same root (and keys live
// keys, unless keys < 0).
func waitSynced(ctx context.Context, a, b *agent.Agent, keys int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		sa, sb := a.Store().Stats(), b.Store().Stats()
		if sa.Root == sb.Root && (keys < 0 || sa.Keys == keys && sb.Keys == keys) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: stores not in sync after %v: %d/%d keys, roots %x/%x", timeout, sa.Keys, sb.Keys, sa.Root, sb.Root)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitQuiet waits until the stream byte counter has not moved for 500 ms.
func waitQuiet(ctx context.Context, c *inproc) error {
	last := c.nw.Stats().Total().StreamBytesSent
	for stable := 0; stable < 5; {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		now := c.nw.Stats().Total().StreamBytesSent
		if now == last {
			stable++
		} else {
			stable, last = 0, now
		}
	}
	return nil
}

// shmDir is a memory-backed directory for scratch databases when there is
// one.
func shmDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
