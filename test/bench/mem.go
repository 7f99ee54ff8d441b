package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Figures 4 and 5: one agentd with a data dir on the work directory's
// file system, loaded through the HTTP API.

const (
	idleRSSTarget = 20 << 20
	memValueBytes = 1 << 10
	loaders       = 16
	writeWindow   = 5 * time.Second
)

func runMemory(ctx context.Context, e *env) error {
	a, err := e.startAgent(ctx, agentSpec{name: "mem", config: lanConfig})
	if err != nil {
		return err
	}
	defer a.stop()
	settle := func() error {
		select {
		case <-time.After(3 * time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := settle(); err != nil {
		return err
	}
	cmd := fmt.Sprintf("go run ./test/bench -only mem  # one agentd, gossip.profile=lan, data dir; keys of %d B loaded by %d concurrent HTTP PUTs; VmRSS from /proc/PID/status after 3 s idle", memValueBytes, loaders)
	record := func(name string, keys int, tgt bool) error {
		m, err := procMem(a.pid())
		if err != nil {
			return err
		}
		var heap, nextGC float64
		if text, err := e.scrapeMetrics(ctx, a.httpAddr); err == nil {
			heap = metricValues(text, "go_memstats_heap_inuse_bytes")[""]
			nextGC = metricValues(text, "go_memstats_next_gc_bytes")[""]
		}
		const mib = 1 << 20
		r := Result{Figure: "4", Name: name, Value: float64(m.RSS) / mib, Unit: "MiB", Command: cmd,
			Note: fmt.Sprintf("%d keys; RssAnon %.1f MiB, RssFile %.1f MiB (binary and bbolt's mmap); Go heap in use %.1f MiB, live heap at the last GC about %.1f MiB (next_gc/2 at GOGC=100)",
				keys, float64(m.Anon)/mib, float64(m.File)/mib, heap/mib, nextGC/2/mib)}
		if tgt {
			r.Target, r.Met = "<= 20 MiB", target(m.RSS <= idleRSSTarget)
		}
		e.rec.add(r)
		return nil
	}
	if err := record("mem.rss.idle", 0, true); err != nil {
		return err
	}
	value := make([]byte, memValueBytes)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	loaded := 0
	for _, n := range e.opts.memKeys {
		if n <= loaded {
			continue
		}
		t0 := time.Now()
		if err := e.load(ctx, a, loaded, n, value); err != nil {
			return err
		}
		e.logf("loaded keys %d..%d in %.1fs (%.0f puts/s)", loaded, n, time.Since(t0).Seconds(), float64(n-loaded)/time.Since(t0).Seconds())
		loaded = n
		if err := settle(); err != nil {
			return err
		}
		if err := record(fmt.Sprintf("mem.rss.keys=%d", n), n, false); err != nil {
			return err
		}
	}
	a.stop()
	if e.opts.profile && len(e.opts.memKeys) > 0 {
		return e.profileMem(ctx, e.opts.memKeys[len(e.opts.memKeys)-1])
	}
	return nil
}

// load puts keys [from, to) with loaders concurrent clients.
func (e *env) load(ctx context.Context, a *agentProc, from, to int, value []byte) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	errc := make(chan error, loaders)
	for range loaders {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(to) || ctx.Err() != nil {
					return
				}
				if _, err := a.api.KVPut(ctx, fmt.Sprintf("bench/mem/%07d", i), value, 0); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}

func runWrites(ctx context.Context, e *env) error {
	a, err := e.startAgent(ctx, agentSpec{name: "write", config: lanConfig})
	if err != nil {
		return err
	}
	defer a.stop()
	value := make([]byte, 128)
	for _, clients := range []int{1, 16} {
		var count atomic.Int64
		lat := make([][]float64, clients)
		wctx, cancel := context.WithTimeout(ctx, writeWindow)
		var wg sync.WaitGroup
		var failed atomic.Value
		t0 := time.Now()
		for c := range clients {
			wg.Go(func() {
				for i := 0; wctx.Err() == nil; i++ {
					s := time.Now()
					_, err := a.api.KVPut(wctx, fmt.Sprintf("bench/w/c%d/%02d/%07d", clients, c, i), value, 0)
					if err != nil {
						if wctx.Err() == nil {
							failed.Store(err)
						}
						return
					}
					lat[c] = append(lat[c], time.Since(s).Seconds())
					count.Add(1)
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(t0).Seconds()
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err, ok := failed.Load().(error); ok {
			return err
		}
		var all []float64
		for _, l := range lat {
			all = append(all, l...)
		}
		d := distOf(all)
		rate := float64(count.Load()) / elapsed
		cmd := fmt.Sprintf("go run ./test/bench -only write  # one agentd with a data dir on %s, PUT /v1/kv of 128 B, %d client(s) for %v", e.dir, clients, writeWindow)
		name := "write.sequential"
		if clients > 1 {
			name = fmt.Sprintf("write.concurrent%d", clients)
		}
		e.rec.add(Result{Figure: "5", Name: name + ".puts_per_s", Value: rate, Unit: "puts/s", Command: cmd,
			Note: fmt.Sprintf("each PUT answered after fsync; latency p50 %.2f ms, p99 %.2f ms", d.P50*1e3, d.P99*1e3)})
		e.rec.add(Result{Figure: "5", Name: name + ".p99", Value: d.P99 * 1e3, Unit: "ms", Command: cmd})
		e.logf("writes with %d client(s): %.0f puts/s, p50 %.2f ms, p99 %.2f ms", clients, rate, d.P50*1e3, d.P99*1e3)
	}
	return nil
}
