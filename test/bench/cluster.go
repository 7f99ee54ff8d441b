package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

// Figures 2 (real processes) and 6: clusters of real agentd processes on
// loopback with memberlist's LAN defaults.

const (
	lanConfig = "[gossip]\nprofile = \"lan\"\n"
	// settle is the pause between a cluster's formation and the first
	// measured put. Right after N joins every memberlist queue is full of
	// alive messages, and memberlist fills each gossip packet with its own
	// broadcasts before asking the agent for its: a put then waits ticks
	// longer (seen as a first put reaching its last agent after 0.8-1.3 s
	// where later ones take under 0.4 s). The figures are steady state.
	settle = 3 * time.Second
	// propTarget is the goal for the slowest put at N=30.
	propTarget = 500 * time.Millisecond
	// perPutLimit bounds the wait for one put to reach every agent; a put
	// that takes longer is counted at the limit and reported as censored
	// (anti-entropy, every 30 s on LAN, would still repair it).
	perPutLimit = 10 * time.Second
	// fdPoll is the granularity of failure detection polling.
	fdPoll = 20 * time.Millisecond
)

func runClusters(ctx context.Context, e *env) error {
	for _, n := range []int{5, 30} {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.logf("starting %d agentd processes (LAN profile)", n)
		t0 := time.Now()
		c, err := e.startCluster(ctx, n, lanConfig, 2*time.Minute, nil)
		if err != nil {
			return err
		}
		e.logf("%d agents alive everywhere after %.1fs", n, time.Since(t0).Seconds())
		err = e.realPropagation(ctx, c, n)
		if err == nil && e.opts.fdKills > 0 {
			err = e.failureDetection(ctx, c, n)
		}
		c.stop()
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
	}
	return nil
}

// arrivals records when each of n observers first saw each key.
type arrivals struct {
	n  int
	mu sync.Mutex
	// at, count and done are guarded by mu.
	at    map[string][]time.Time
	count map[string]int
	done  map[string]chan struct{}
}

func newArrivals(n int) *arrivals {
	return &arrivals{n: n, at: map[string][]time.Time{}, count: map[string]int{}, done: map[string]chan struct{}{}}
}

// expect registers key before it is written and returns a channel closed
// once every observer has seen it.
func (a *arrivals) expect(key string) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at[key] = make([]time.Time, a.n)
	ch := make(chan struct{})
	a.done[key] = ch
	return ch
}

// saw records that observer i saw key at t (only the first time counts;
// unregistered keys are ignored).
func (a *arrivals) saw(key string, i int, t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ts, ok := a.at[key]
	if !ok || !ts[i].IsZero() {
		return
	}
	ts[i] = t
	a.count[key]++
	if a.count[key] == a.n {
		close(a.done[key])
	}
}

// last returns the observer that saw key last, when, and when the one
// before it did (durations from t0).
func (a *arrivals) last(key string, t0 time.Time) (last int, at, before time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ds := make([]time.Duration, 0, a.n)
	for i, t := range a.at[key] {
		d := t.Sub(t0)
		if d >= at {
			last, at = i, d
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	if len(ds) > 1 {
		before = ds[len(ds)-2]
	}
	return last, at, before
}

// missing returns the observers that have not seen key.
func (a *arrivals) missing(key string) []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int
	for i, t := range a.at[key] {
		if t.IsZero() {
			out = append(out, i)
		}
	}
	return out
}

// spread returns, for key written at t0, the time until every observer
// had it (or limit, censored, when some never did) and until half had it.
func (a *arrivals) spread(key string, t0 time.Time, limit time.Duration) (all, half time.Duration, censored bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ds []float64
	for _, t := range a.at[key] {
		if t.IsZero() {
			censored = true
			continue
		}
		ds = append(ds, float64(max(t.Sub(t0), 0)))
	}
	if censored {
		all = limit
	} else {
		all = time.Duration(percentile(ds, 100))
	}
	return all, time.Duration(percentile(ds, 50)), censored
}

// putResult is the outcome of one measured put.
type putResult struct {
	all, half time.Duration
	censored  bool
	putRTT    time.Duration
	// late is, for a censored put, when its last agent got it after all
	// (by the end of the run; 0 if still missing then).
	late time.Duration
	key  string
	t0   time.Time
}

// maxCensored ends a propagation run early: that many puts missing an
// agent after perPutLimit means the cluster itself is unhealthy (on a
// starved machine, members flapping), not slow dissemination.
const maxCensored = 5

// propagationRun writes puts keys, one at a time, each after a random
// pause of up to one gossip interval (so writes do not lock onto the
// gossip ticks), and waits for each to reach every observer. A put that
// misses observers is logged with their names.
func (e *env) propagationRun(ctx context.Context, arr *arrivals, names []string, puts int, prefix string, put func(ctx context.Context, i int, key string) error) ([]putResult, error) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
	var out []putResult
	censored := 0
	for i := range puts {
		key := fmt.Sprintf("%s%04d", prefix, i)
		done := arr.expect(key)
		select {
		case <-time.After(time.Duration(rng.Int64N(int64(200 * time.Millisecond)))):
		case <-ctx.Done():
			return out, ctx.Err()
		}
		t0 := time.Now()
		if err := put(ctx, i, key); err != nil {
			return out, fmt.Errorf("put %s: %w", key, err)
		}
		rtt := time.Since(t0)
		select {
		case <-done:
		case <-time.After(perPutLimit):
		case <-ctx.Done():
			return out, ctx.Err()
		}
		all, half, cens := arr.spread(key, t0, perPutLimit)
		out = append(out, putResult{all: all, half: half, censored: cens, putRTT: rtt, key: key, t0: t0})
		if !cens && all > propTarget {
			// The tail is what the max figure shows: say whether one
			// straggler or the whole spread was slow.
			last, lastAt, prevAt := arr.last(key, t0)
			e.logf("slow put %s (written on %s): half the agents after %v, the last but one after %v, the last (%s) after %v",
				key, names[i%len(names)], half.Round(time.Millisecond), prevAt.Round(time.Millisecond), names[last], lastAt.Round(time.Millisecond))
		}
		if cens {
			censored++
			var missing []string
			for _, j := range arr.missing(key) {
				missing = append(missing, names[j])
			}
			e.logf("put %s (written on %s) missing on %d agents after %v: %v", key, names[i%len(names)], len(missing), perPutLimit, missing)
			if censored >= maxCensored {
				return out, fmt.Errorf("bench: %d puts did not reach every agent within %v: the cluster is unhealthy (see the agents' logs with -keep)", censored, perPutLimit)
			}
		}
	}
	// Puts that missed an agent: did anti-entropy repair them meanwhile?
	for i, r := range out {
		if !r.censored {
			continue
		}
		if all, _, still := arr.spread(r.key, r.t0, 0); !still {
			out[i].late = all
			e.logf("put %s reached its last agent after %v", r.key, all.Round(time.Millisecond))
		}
	}
	return out, nil
}

// reportPropagation records the figures of one propagation run.
func (e *env) reportPropagation(tag string, n int, res []putResult, perKind map[string]float64, cmd, note string) dist {
	var all, half, rtt []float64
	censored := 0
	for _, r := range res {
		all = append(all, r.all.Seconds())
		half = append(half, r.half.Seconds())
		rtt = append(rtt, r.putRTT.Seconds())
		if r.censored {
			censored++
		}
	}
	d := distOf(all)
	if censored > 0 {
		var late []string
		for _, r := range res {
			switch {
			case !r.censored:
			case r.late > 0:
				late = append(late, fmt.Sprintf("%.1fs", r.late.Seconds()))
			default:
				late = append(late, "not by the end of the run")
			}
		}
		note += fmt.Sprintf("; %d of %d puts did not reach every agent within %v (counted at %v): missed by forwarding and by every gossip retransmission, repaired by anti-entropy after %s",
			censored, len(res), perPutLimit, perPutLimit, strings.Join(late, ", "))
	}
	name := fmt.Sprintf("prop.%s.n%d", tag, n)
	r := func(suffix string, v float64, unit string) Result {
		return Result{Figure: "2", Name: name + suffix, Value: v, Unit: unit, Command: cmd, Note: note}
	}
	e.rec.add(r(".all.p50", d.P50, "s"))
	e.rec.add(r(".all.p99", d.P99, "s"))
	mx := r(".all.max", d.Max, "s")
	if n == 30 {
		mx.Target = "<= 0.5 s"
		mx.Met = target(d.Max <= propTarget.Seconds() && censored == 0)
	}
	e.rec.add(mx)
	e.rec.add(r(".half.p50", percentile(half, 50), "s"))
	e.rec.add(r(".put_rtt.p50", percentile(rtt, 50), "s"))
	kinds := make([]string, 0, len(perKind))
	for k := range perKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var total float64
	var parts []string
	for _, k := range kinds {
		if perKind[k] == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", k, perKind[k]))
		if k != "summary" {
			total += perKind[k]
		}
	}
	e.rec.add(Result{Figure: "2", Name: name + ".msgs_per_update", Value: total, Unit: "msgs", Command: cmd,
		Note: "configsync Stats.Sent summed over agents / puts, by kind: " + strings.Join(parts, ", ") +
			" (summary = push/pull background, not in the total; a Broadcast call counts once though memberlist sends it up to RetransmitMult×ceil(log10(n+1)) times, a Forward call once though it goes to 3 peers)"})
	e.logf("%s N=%d: all p50 %.3fs p99 %.3fs max %.3fs; half p50 %.3fs; msgs/update %.1f (%s)",
		tag, n, d.P50, d.P99, d.Max, percentile(half, 50), total, strings.Join(parts, ", "))
	return d
}

// realPropagation is figure 2 on a cluster of agentd processes: each
// agent watches the prefix with blocking queries, so an arrival is seen
// when the agent's store has it, not at the next poll.
func (e *env) realPropagation(ctx context.Context, c *cluster, n int) error {
	prefix := fmt.Sprintf("bench/prop/n%d/", n)
	arr := newArrivals(len(c.agents))
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	ready := make(chan error, len(c.agents))
	for i, a := range c.agents {
		wg.Go(func() { watchPrefix(wctx, a.api, prefix, i, arr, ready) })
	}
	for range c.agents {
		if err := <-ready; err != nil {
			return err
		}
	}
	if err := sleepCtx(ctx, settle); err != nil {
		return err
	}
	before, err := e.kvSent(ctx, c)
	if err != nil {
		return err
	}
	value := []byte(strings.Repeat("v", 64))
	var names []string
	for _, a := range c.agents {
		names = append(names, a.name)
	}
	res, err := e.propagationRun(ctx, arr, names, e.opts.puts, prefix, func(ctx context.Context, i int, key string) error {
		_, err := c.agents[i%len(c.agents)].api.KVPut(ctx, key, value, 0)
		return err
	})
	if err != nil {
		return err
	}
	after, err := e.kvSent(ctx, c)
	if err != nil {
		return err
	}
	perKind := map[string]float64{}
	for k, v := range after {
		perKind[k] = (v - before[k]) / float64(len(res))
	}
	cmd := fmt.Sprintf("go run ./test/bench -only cluster  # %d agentd, gossip.profile=lan, %d puts of 64 B rotating over the agents, arrival by blocking GET /v1/kv/PREFIX?recurse&index=N on every agent", n, e.opts.puts)
	e.prop[n] = e.reportPropagation("real", n, res, perKind, cmd, "time from sending the PUT (includes its fsync) until the last agent's blocking query returned it")
	return nil
}

// watchPrefix runs blocking queries on prefix until ctx ends, recording
// when keys first appear. It sends on ready once its first query is
// answered (nil) or failed.
func watchPrefix(ctx context.Context, api *client.Client, prefix string, i int, arr *arrivals, ready chan<- error) {
	_, idx, err := api.KVListIndex(ctx, prefix)
	ready <- err
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		pairs, next, err := api.KVListWait(ctx, prefix, idx, time.Minute)
		now := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond) // agent busy or restarting: retry
			}
			continue
		}
		for _, p := range pairs {
			arr.saw(p.Key, i, now)
		}
		idx = next
	}
}

// kvSent sums murmur_kv_messages_sent_total by kind over the cluster.
func (e *env) kvSent(ctx context.Context, c *cluster) (map[string]float64, error) {
	out := map[string]float64{}
	for _, a := range c.agents {
		if !a.running() {
			continue
		}
		text, err := e.scrapeMetrics(ctx, a.httpAddr)
		if err != nil {
			return nil, fmt.Errorf("metrics of %s: %w", a.name, err)
		}
		for labels, v := range metricValues(text, "murmur_kv_messages_sent_total") {
			kind := strings.TrimSuffix(strings.TrimPrefix(labels, `kind="`), `"`)
			out[kind] += v
		}
	}
	return out, nil
}

// failureDetection is figure 6: kill -9 one agent and poll /v1/members on
// every survivor until all of them show it failed.
func (e *env) failureDetection(ctx context.Context, c *cluster, n int) error {
	var alls, firsts []float64
	for k := range e.opts.fdKills {
		victim := c.agents[len(c.agents)-1-k]
		var survivors []*agentProc
		for _, a := range c.agents {
			if a != victim && a.running() {
				survivors = append(survivors, a)
			}
		}
		seen := make([]time.Duration, len(survivors))
		var t0 time.Time
		start := make(chan struct{})
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		var wg sync.WaitGroup
		for i, s := range survivors {
			wg.Go(func() {
				<-start
				tick := time.NewTicker(fdPoll)
				defer tick.Stop()
				for {
					ms, err := s.api.Members(pctx, "failed")
					if err == nil && slices.ContainsFunc(ms, func(m client.Member) bool { return m.Name == victim.name }) {
						seen[i] = time.Since(t0)
						return
					}
					select {
					case <-tick.C:
					case <-pctx.Done():
						return
					}
				}
			})
		}
		t0 = time.Now()
		victim.kill9()
		close(start)
		wg.Wait()
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ds []float64
		for i, d := range seen {
			if d == 0 {
				return fmt.Errorf("%s never saw %s failed within a minute", survivors[i].name, victim.name)
			}
			ds = append(ds, d.Seconds())
		}
		alls = append(alls, percentile(ds, 100))
		firsts = append(firsts, percentile(ds, 1))
		e.logf("kill -9 %s (%d members before): first survivor saw it failed after %.2fs, all %d after %.2fs",
			victim.name, len(survivors)+1, percentile(ds, 1), len(survivors), percentile(ds, 100))
	}
	cmd := fmt.Sprintf("go run ./test/bench -only cluster  # %d agentd, gossip.profile=lan, kill -9, GET /v1/members?status=failed on every survivor every %v", n, fdPoll)
	note := fmt.Sprintf("median of %d kills (one after another in the same cluster), per kill %v; granularity %v poll + one HTTP round trip", len(alls), fmtList(alls), fdPoll)
	e.rec.add(Result{Figure: "6", Name: fmt.Sprintf("fd.real.n%d.all", n), Value: median(alls), Unit: "s", Command: cmd, Note: note})
	e.rec.add(Result{Figure: "6", Name: fmt.Sprintf("fd.real.n%d.first", n), Value: median(firsts), Unit: "s", Command: cmd, Note: "first survivor to show it failed"})
	return nil
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func fmtList(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
