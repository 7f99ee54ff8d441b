package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/murmurhq/murmur/agent/client"
)

// Catalog figure (issue 13): 10,000 service instances (1,000 services of
// 10 instances on 5 agentd processes on loopback, LAN profile, each with
// its data dir). One instance's health change costs one record decode on
// the agent that serves DNS, whatever the size of the catalog; and the DNS
// p99 latency at a fixed query rate does not move while one service flaps
// 10 times a second. Runs without and with flapping alternate in the same
// run, so the load of the machine is the same for both.
//
// Each agent is its own process, as deployed: the DNS agent (n01) shares
// no scheduler or garbage collector with the agent whose service flaps
// (n02) or with the others, and runs alone on its CPU (see runCatalog).
// The health changes come from the flapper command, which runs where the
// other agents do (their CPU, SCHED_IDLE), not from the runner, whose
// threads may run on either CPU.
// An earlier version ran the five agents in the runner's one process over
// memnet. Separating them did not stop the p99 from moving. About half of
// what remained was the machine's sharing (the neighbour run below shows
// it), and the DNS agent's background commits of the changes added about
// 0.1 ms: a bbolt commit, two fdatasyncs, per change. Since the journal
// (configsync/journal.go) those syncs come once a second and the DNS
// agent's part is within the noise (BENCHMARKS.md §11, "The journal").
//
// On a two-CPU machine the stand-ins for other machines share CPU 1 with
// dnsperf, beside the DNS agent's CPU, and their relaying of each change
// loads the machine as other machines would not. So each round also has a
// control run: the same flapper, on the same CPU, flips a service in a
// neighbour cluster of catNeighbours agents placed as the stand-ins are,
// which the DNS agent is not a member of. The neighbour run's move is what
// the sharing alone causes; the flapping run's move beyond it is what
// membership of the flapping cluster adds (BENCHMARKS.md §11).
//
// A p99 over 10 s moves by a few tenths of a millisecond from one steady
// run to the next on a shared two-CPU machine, so one round says little.
// The step runs -catalog-rounds rounds of a steady, a flapping and a
// neighbour run, and compares the flapping run with the neighbour run of
// the same round against the noise, the median change between
// consecutive steady runs: "does not move" is met when the median of
// flapping minus neighbour is no larger than the noise and the flapping
// run is not the slower one in so many rounds that chance is ruled out (a
// two-sided sign test at 5 %). The move over the steady run, sharing
// included, is reported beside it.

const (
	catServices = 1000
	catPerSvc   = 10
	catAgents   = 5
	// catNeighbours is the size of the neighbour cluster: as many agents
	// as stand in for other machines in the DNS agent's cluster.
	catNeighbours = catAgents - 1
	catFlapEvery  = 100 * time.Millisecond
)

func runCatalog(ctx context.Context, e *env) error {
	dnsperf, err := exec.LookPath("dnsperf")
	if err != nil {
		e.rec.skip("catalog figure: dnsperf not found in PATH (apt-get install dnsperf)")
		return nil
	}
	// The DNS agent runs as on a one-CPU machine of its own: alone on CPU
	// 0. The other agents stand in for other machines: on CPU 1 with
	// dnsperf, under SCHED_IDLE so that dnsperf is never queued behind
	// them (agentSpec.idle), and with their data on tmpfs, so that their
	// disk syncs do not queue with the DNS agent's on the one disk.
	shm, err := os.MkdirTemp("/dev/shm", "murmur-bench-")
	if err != nil {
		return fmt.Errorf("bench: the catalog figure keeps the other agents' data on tmpfs: %w", err)
	}
	defer os.RemoveAll(shm)
	dnsCPU, otherCPU := "0", "1"
	if runtime.NumCPU() < 2 {
		dnsCPU, otherCPU = "", ""
		e.logf("catalog: one CPU; no agent is pinned")
	}
	e.logf("catalog: starting %d agentd processes (LAN profile); the DNS agent on CPU 0, the others and dnsperf on CPU 1, the others under SCHED_IDLE with data on %s", catAgents, shm)
	c, err := e.startCluster(ctx, catAgents, lanConfig, 2*time.Minute, func(i int, s *agentSpec) {
		if i == 0 {
			s.cpus = dnsCPU
			return
		}
		s.cpus, s.idle, s.dataDir = otherCPU, true, filepath.Join(shm, s.name)
	})
	if err != nil {
		return err
	}
	defer c.stop()
	t0 := time.Now()
	if err := registerMany(ctx, c.agents); err != nil {
		return err
	}
	if err := registerFlap(ctx, c.agents[1].api); err != nil {
		return err
	}
	dnsAgent := c.agents[0]
	want := float64(catServices*catPerSvc + 1)
	for {
		st, err := e.catalogStats(ctx, dnsAgent)
		if err == nil && st.instances >= want {
			break
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("bench: %.0f of %.0f instances in the DNS agent's catalog: %w", st.instances, want, err)
		}
	}
	e.logf("catalog: %.0f instances registered and replicated in %.1fs", want, time.Since(t0).Seconds())
	// Every agent still relays the registrations it learned (each
	// broadcast is sent a few times over as many gossip rounds), and the
	// DNS agent receives those copies: about 190 a second for the first
	// two minutes after 10 000 registrations. The steady runs are
	// steady only once the queues are empty.
	t1 := time.Now()
	if err := drainBroadcasts(ctx, e, c.agents); err != nil {
		return err
	}
	e.logf("catalog: gossip broadcast queues empty on every agent after another %.1fs", time.Since(t1).Seconds())

	// The control: the same flapper, on the same CPU, against a cluster
	// of catNeighbours agents that the DNS agent is not a member of.
	e.logf("catalog: starting the neighbour cluster (%d agentd on CPU 1, SCHED_IDLE, data on %s)", catNeighbours, shm)
	nc, err := e.startNeighbours(ctx, otherCPU, shm)
	if err != nil {
		return err
	}
	defer nc.stop()

	qPath := filepath.Join(e.dir, "catalog-queries.txt")
	if err := os.WriteFile(qPath, []byte(catalogQueries()), 0o644); err != nil {
		return err
	}
	addr := dnsAgent.dnsAddr
	for {
		m := new(dns.Msg)
		m.SetQuestion("flap.service.murmur.", dns.TypeSRV)
		r, err := dns.ExchangeContext(ctx, m, addr)
		if err == nil && len(r.Answer) == 1 {
			break
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("bench: flap.service.murmur not answered at %s: %w", addr, err)
		}
	}
	rate := e.opts.catalogRate
	flags := []string{"-c", "4", "-Q", strconv.Itoa(rate), "-l", strconv.Itoa(e.opts.dnsSeconds)}
	if _, err := e.dnsperfOn(ctx, otherCPU, dnsperf, addr, qPath, []string{"-c", "4", "-Q", strconv.Itoa(rate), "-l", "2"}, nil); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}

	var still, churn, neigh []perfRun
	var flaps uint64
	var decodes, rebuilds, rebuildTime float64
	var gcStill, gcChurn agentLoad
	query := func() (perfRun, error) { return e.dnsperfOn(ctx, otherCPU, dnsperf, addr, qPath, flags, nil) }
	for r := 1; r <= e.opts.catalogRounds; r++ {
		start, err := e.catalogStats(ctx, dnsAgent)
		if err != nil {
			return err
		}
		pr, err := query()
		if err != nil {
			return err
		}
		end, err := e.catalogStats(ctx, dnsAgent)
		if err != nil {
			return err
		}
		still = append(still, pr)
		gcStill.add(start, end)
		e.logf("catalog round %d steady    %7.0f q/s  p50 %.3f ms  p99 %.3f ms  lost %d  %s  load %s", r, pr.QPS, pr.P50*1e3, pr.P99*1e3, pr.Lost, gcStill.last, loadAvg())

		flapping := func() error {
			before, err := e.catalogStats(ctx, dnsAgent)
			if err != nil {
				return err
			}
			pr, n, err := e.flapDuring(otherCPU, c.agents[1].httpAddr, query)
			if err != nil {
				return err
			}
			// The load figures cover the query window only, as the
			// steady run's do; the decode counts wait until the last
			// flaps have been relayed.
			ended, err := e.catalogStats(ctx, dnsAgent)
			if err != nil {
				return err
			}
			if err := drainBroadcasts(ctx, e, c.agents); err != nil {
				return err
			}
			after, err := e.catalogStats(ctx, dnsAgent)
			if err != nil {
				return err
			}
			flaps += n
			decodes += after.decodes - before.decodes
			rebuilds += after.rebuilds - before.rebuilds
			rebuildTime += after.rebuildSeconds - before.rebuildSeconds
			churn = append(churn, pr)
			gcChurn.add(before, ended)
			e.logf("catalog round %d flapping  %7.0f q/s  p50 %.3f ms  p99 %.3f ms  lost %d  %d health changes, %.0f decodes  %s  load %s",
				r, pr.QPS, pr.P50*1e3, pr.P99*1e3, pr.Lost, n, after.decodes-before.decodes, gcChurn.last, loadAvg())
			e.logf("catalog round %d flapping: the DNS agent received %s, started %.0f anti-entropy sessions, wrote %.0f journal records and %.0f checkpoints (steady: %s, %.0f, %.0f, %.0f)",
				r, kvInDiff(before, after), after.syncs-before.syncs, after.journaled-before.journaled, after.checkpoints-before.checkpoints,
				kvInDiff(start, end), end.syncs-start.syncs, end.journaled-start.journaled, end.checkpoints-start.checkpoints)
			return nil
		}
		neighbour := func() error {
			pr, n, err := e.flapDuring(otherCPU, nc.agents[1].httpAddr, query)
			if err != nil {
				return err
			}
			if err := drainBroadcasts(ctx, e, nc.agents); err != nil {
				return err
			}
			neigh = append(neigh, pr)
			e.logf("catalog round %d neighbour %7.0f q/s  p50 %.3f ms  p99 %.3f ms  lost %d  %d health changes in the neighbour cluster  load %s",
				r, pr.QPS, pr.P50*1e3, pr.P99*1e3, pr.Lost, n, loadAvg())
			return nil
		}
		// Which of the two comes right after the steady run alternates, so
		// that neither gains from its place in the round.
		for _, run := range flapOrder(r, flapping, neighbour) {
			if err := run(); err != nil {
				return err
			}
		}
	}
	med := func(rs []perfRun, f func(perfRun) float64) float64 { return median(values(rs, f)) }
	p99 := func(r perfRun) float64 { return r.P99 * 1e3 }
	p50 := func(r perfRun) float64 { return r.P50 * 1e3 }
	cmd := fmt.Sprintf("go run ./test/bench -only catalog  # %d agentd (GOMAXPROCS=%d; the DNS agent alone on CPU 0), dnsperf -d catalog-queries.txt %s -v", catAgents, e.gomaxprocs, strings.Join(flags, " "))
	note := fmt.Sprintf("%.0f instances; median of %d alternating runs; p99 steady %s, flapping %s ms", want, e.opts.catalogRounds, listOf(still, p99, 2), listOf(churn, p99, 2))
	e.rec.add(Result{Figure: "11", Name: "catalog.dns.p99.steady", Value: med(still, p99), Unit: "ms", Command: cmd, Note: note})
	e.rec.add(Result{Figure: "11", Name: "catalog.dns.p99.flapping", Value: med(churn, p99), Unit: "ms", Command: cmd, Note: "one service's health changes 10 times a second"})
	// The target is judged on the flapping run against the neighbour run:
	// what the churn the DNS agent takes part in adds to its p99, beyond
	// what the same flapping does to this machine anyway. The raw move
	// over the steady run is reported beside it.
	mv := pairedMove(values(still, p99), values(churn, p99))
	e.rec.add(Result{Figure: "11", Name: "catalog.dns.p99.move", Value: mv.move, Unit: "ms", Command: cmd,
		Note: fmt.Sprintf("flapping minus steady within a round, the machine's sharing included; noise (median change between consecutive steady runs) %.3f ms; flapping slower in %d of %d rounds (sign test p = %.2f)", mv.noise, mv.slower, mv.pairs, mv.p)})
	e.rec.add(Result{Figure: "11", Name: "catalog.dns.p99.neighbour", Value: med(neigh, p99), Unit: "ms", Command: cmd,
		Note: fmt.Sprintf("the same flapper on the same CPU against a cluster of %d agents the DNS agent is not in; p99 %s ms", catNeighbours, listOf(neigh, p99, 2))})
	nm := pairedMove(values(still, p99), values(neigh, p99))
	e.rec.add(Result{Figure: "11", Name: "catalog.dns.p99.move.neighbour", Value: nm.move, Unit: "ms", Command: cmd,
		Note: fmt.Sprintf("neighbour minus steady within a round: what the machine's sharing alone does; slower in %d of %d rounds (sign test p = %.2f)", nm.slower, nm.pairs, nm.p)})
	om := pairedMove(values(neigh, p99), values(churn, p99))
	om.noise = mv.noise
	e.rec.add(Result{Figure: "11", Name: "catalog.dns.p99.move.member", Value: om.move, Unit: "ms", Target: "does not move", Met: target(om.still()), Command: cmd,
		Note: fmt.Sprintf("flapping minus neighbour within a round: what the DNS agent's membership of the flapping cluster adds; noise (steady runs) %.3f ms; flapping slower in %d of %d rounds (sign test p = %.2f)", om.noise, om.slower, om.pairs, om.p)})
	e.rec.add(Result{Figure: "11", Name: "catalog.dns.p50.steady", Value: med(still, p50), Unit: "ms", Command: cmd})
	e.rec.add(Result{Figure: "11", Name: "catalog.dns.p50.flapping", Value: med(churn, p50), Unit: "ms", Command: cmd})
	e.rec.add(Result{Figure: "11", Name: "catalog.dns.p50.neighbour", Value: med(neigh, p50), Unit: "ms", Command: cmd})
	e.rec.add(Result{Figure: "11", Name: "catalog.dns.qps", Value: med(churn, func(r perfRun) float64 { return r.QPS }), Unit: "q/s", Command: cmd})
	if flaps > 0 {
		e.rec.add(Result{Figure: "11", Name: "catalog.decodes_per_health_change", Value: decodes / float64(flaps), Unit: "decodes", Target: "O(1)", Met: target(decodes <= float64(flaps)), Command: cmd,
			Note: fmt.Sprintf("%.0f decodes for %d health changes on the DNS agent at %.0f instances (before: every change decoded all %.0f records)", decodes, flaps, want, want)})
	}
	for _, g := range []struct {
		name string
		load agentLoad
	}{{"steady", gcStill}, {"flapping", gcChurn}} {
		mb, gcs := g.load.perSecond()
		e.rec.add(Result{Figure: "11", Name: "catalog.dns_agent.alloc_mb_per_s." + g.name, Value: mb, Unit: "MB/s", Command: cmd,
			Note: fmt.Sprintf("Go heap allocation of the DNS agent at %d q/s (go_memstats_alloc_bytes_total); %.2f garbage collections/s", rate, gcs)})
		e.rec.add(Result{Figure: "11", Name: "catalog.dns_agent.cpu_ms_per_s." + g.name, Value: g.load.cpuPerSecond(), Unit: "ms/s", Command: cmd,
			Note: "CPU time of the DNS agent process (user and system, /proc/PID/stat)"})
	}
	if flaps > 0 {
		perChange := (gcChurn.cpuPerSecond() - gcStill.cpuPerSecond()) * gcChurn.dur.Seconds() / float64(flaps)
		e.rec.add(Result{Figure: "11", Name: "catalog.dns_agent.cpu_ms_per_health_change", Value: perChange, Unit: "ms", Command: cmd,
			Note: "the DNS agent's CPU time flapping minus steady, per health change: what one replicated change costs it (gossip copies, apply, commit, catalog)"})
	}
	if rebuilds > 0 {
		e.rec.add(Result{Figure: "11", Name: "catalog.rebuild_us", Value: rebuildTime / rebuilds * 1e6, Unit: "µs", Command: cmd,
			Note: fmt.Sprintf("mean of %.0f incremental rebuilds, DNS zone compile included", rebuilds)})
	}
	return nil
}

// agentLoad sums what the DNS agent's garbage collector saw over the
// rounds of one kind, and the CPU time the agent used.
type agentLoad struct {
	bytes, gcs float64
	cpu        time.Duration
	dur        time.Duration
	last       string // the last round's figures, for the log
}

func (g *agentLoad) add(from, to catStats) {
	d := to.at.Sub(from.at)
	b, n, c := to.allocated-from.allocated, to.gcs-from.gcs, to.cpu-from.cpu
	g.bytes += b
	g.gcs += n
	g.cpu += c
	g.dur += d
	g.last = fmt.Sprintf("alloc %.1f MB/s, %.1f GC/s, CPU %.0f ms/s", b/d.Seconds()/1e6, n/d.Seconds(), float64(c.Milliseconds())/d.Seconds())
}

// cpuPerSecond is the agent's CPU time in ms per second.
func (g agentLoad) cpuPerSecond() float64 {
	return float64(g.cpu.Milliseconds()) / g.dur.Seconds()
}

// perSecond returns the allocation rate in MB/s and the collections per
// second.
func (g agentLoad) perSecond() (mb, gcs float64) {
	s := g.dur.Seconds()
	return g.bytes / s / 1e6, g.gcs / s
}

// catStats are the catalog counters of one agentd, from its /metrics.
type catStats struct {
	instances, decodes, rebuilds, rebuildSeconds float64
	// allocated is the Go heap bytes allocated so far, gcs the garbage
	// collections: what churn adds to the process's garbage collector.
	allocated, gcs float64
	// cpu is the process's CPU time (user and system) so far.
	cpu time.Duration
	// kvIn counts the configsync messages received, by kind; syncs the
	// anti-entropy sessions started.
	kvIn  map[string]float64
	syncs float64
	// journaled and checkpoints count the store's background commits:
	// journal records (no fsync) and checkpoints (a bbolt commit).
	journaled, checkpoints float64
	at                     time.Time // when they were read
}

func (e *env) catalogStats(ctx context.Context, a *agentProc) (catStats, error) {
	text, err := e.scrapeMetrics(ctx, a.httpAddr)
	if err != nil {
		return catStats{}, err
	}
	one := func(name string) (float64, error) {
		v, ok := metricValues(text, name)[""]
		if !ok {
			return 0, fmt.Errorf("bench: agentd %s: no %s in /metrics", a.name, name)
		}
		return v, nil
	}
	st := catStats{at: time.Now(), cpu: procCPU(a.pid())}
	if st.cpu < 0 {
		return st, fmt.Errorf("bench: agentd %s: cannot read its CPU time in /proc", a.name)
	}
	st.kvIn = map[string]float64{}
	for labels, v := range metricValues(text, "murmur_kv_messages_received_total") {
		st.kvIn[strings.Trim(strings.TrimPrefix(labels, "kind="), `"`)] = v
	}
	for _, m := range []struct {
		name string
		to   *float64
	}{
		{"murmur_kv_syncs_total", &st.syncs},
		{"murmur_kv_journal_writes_total", &st.journaled},
		{"murmur_kv_checkpoints_total", &st.checkpoints},
		{"murmur_catalog_instances", &st.instances},
		{"murmur_catalog_decodes_total", &st.decodes},
		{"murmur_catalog_rebuild_seconds_count", &st.rebuilds},
		{"murmur_catalog_rebuild_seconds_sum", &st.rebuildSeconds},
		{"go_memstats_alloc_bytes_total", &st.allocated},
		{"go_gc_duration_seconds_count", &st.gcs},
	} {
		if *m.to, err = one(m.name); err != nil {
			return st, err
		}
	}
	return st, nil
}

// registerMany registers catServices × catPerSvc instances spread over the
// agents through their HTTP APIs, many at a time.
func registerMany(ctx context.Context, as []*agentProc) error {
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := range jobs {
				a := as[(i+w)%len(as)]
				svc, k := i/catPerSvc, i%catPerSvc
				def := client.ServiceDefinition{Name: fmt.Sprintf("svc%04d", svc), ID: fmt.Sprintf("svc%04d-%d", svc, k), Port: 10000 + k}
				if err := a.api.Register(ctx, def); err != nil {
					select {
					case errs <- fmt.Errorf("register on %s: %w", a.name, err):
					default:
					}
				}
			}
		})
	}
	for i := range catServices * catPerSvc {
		select {
		case jobs <- i:
		case err := <-errs:
			close(jobs)
			wg.Wait()
			return err
		case <-ctx.Done():
			close(jobs)
			wg.Wait()
			return ctx.Err()
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// startNeighbours starts the control's cluster: catNeighbours agents
// placed as the DNS agent's stand-ins are (cpus, SCHED_IDLE, data under
// dir), named m01…, with a TTL-checked service "flap" on m02 as on n02.
// The DNS agent is not a member: flapping there loads the machine as
// flapping in the DNS agent's cluster does, without sending the DNS agent
// a single packet. It returns once the registration has been relayed.
func (e *env) startNeighbours(ctx context.Context, cpus, dir string) (*cluster, error) {
	nc, err := e.startCluster(ctx, catNeighbours, lanConfig, 2*time.Minute, func(i int, s *agentSpec) {
		s.name = fmt.Sprintf("m%02d", i+1)
		s.cpus, s.idle, s.dataDir = cpus, true, filepath.Join(dir, s.name)
	})
	if err != nil {
		return nil, err
	}
	err = registerFlap(ctx, nc.agents[1].api)
	if err == nil {
		err = drainBroadcasts(ctx, e, nc.agents)
	}
	if err != nil {
		nc.stop()
		return nil, fmt.Errorf("bench: neighbour cluster: %w", err)
	}
	return nc, nil
}

// registerFlap registers the service "flap" with a TTL check on the agent
// behind api and sets it passing: what the flapper then flips.
func registerFlap(ctx context.Context, api *client.Client) error {
	if err := api.Register(ctx, client.ServiceDefinition{Name: "flap", Port: 9, Check: &client.CheckDefinition{TTL: client.Duration(time.Hour)}}); err != nil {
		return err
	}
	return api.UpdateTTL(ctx, "flap", client.HealthPassing, "")
}

// flapDuring runs query while the flapper command flips the check of the
// agent at httpAddr, and returns its run and the health changes the agent
// accepted. The flapper runs on the given CPUs under SCHED_IDLE, the place
// of the other machines: the check it flips is a service's on another
// machine, and its HTTP client is not the DNS agent's to pay for. (When
// the runner flipped it itself, the runner's threads were free to run on
// the DNS agent's CPU.)
func (e *env) flapDuring(cpus, httpAddr string, query func() (perfRun, error)) (perfRun, uint64, error) {
	argv := asIdle(onCPUs(cpus, []string{e.bin("flapper"), "-addr", httpAddr, "-check", "flap", "-every", catFlapEvery.String()}))
	cmd := exec.Command(argv[0], argv[1:]...)
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := e.procs.start(cmd); err != nil {
		return perfRun{}, 0, fmt.Errorf("start flapper: %w", err)
	}
	defer e.procs.done(cmd)
	pr, err := query()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if werr := cmd.Wait(); werr != nil {
		return pr, 0, errors.Join(err, fmt.Errorf("flapper: %v: %s", werr, stderr.String()))
	}
	var n uint64
	if _, serr := fmt.Sscanf(out.String(), "flaps %d", &n); serr != nil {
		return pr, 0, errors.Join(err, fmt.Errorf("flapper: unexpected output %q: %v", out.String(), serr))
	}
	return pr, n, err
}

// flapOrder is the order of a round's two flapping runs: the DNS agent's
// cluster first in odd rounds, the neighbour cluster first in even ones.
func flapOrder[T any](round int, flapping, neighbour T) []T {
	if round%2 == 0 {
		return []T{neighbour, flapping}
	}
	return []T{flapping, neighbour}
}

// catalogQueries asks for every service, A and SRV, and the flapping one.
func catalogQueries() string {
	var b strings.Builder
	for i := range catServices {
		fmt.Fprintf(&b, "svc%04d.service.murmur A\nsvc%04d.service.murmur SRV\n", i, i)
		if i%50 == 0 {
			b.WriteString("flap.service.murmur SRV\n")
		}
	}
	return b.String()
}

// procCPU is the user plus system CPU time of pid (/proc/PID/stat, in
// clock ticks of 10 ms), or -1 when it cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; fields count from the
	// closing parenthesis.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * 10 * time.Millisecond
}

// move is how far flapping moves a figure against the noise between
// steady runs.
type move struct {
	move, noise   float64
	slower, pairs int
	p             float64 // two-sided sign test
}

// still says the flapping does not move the figure: the median move is
// within the noise, and the pairs do not lean one way beyond chance.
func (m move) still() bool { return m.move <= m.noise && m.p >= 0.05 }

// pairedMove compares still[i] and churn[i], run back to back, and the
// consecutive steady runs with each other.
func pairedMove(still, churn []float64) move {
	m := move{pairs: min(len(still), len(churn))}
	var diffs, noise []float64
	for i := range m.pairs {
		diffs = append(diffs, churn[i]-still[i])
		if churn[i] > still[i] {
			m.slower++
		}
		if i > 0 {
			noise = append(noise, math.Abs(still[i]-still[i-1]))
		}
	}
	m.move, m.noise = median(diffs), median(noise)
	m.p = signTest(m.slower, m.pairs)
	return m
}

// signTest is the two-sided p-value of k successes in n fair coin tosses.
func signTest(k, n int) float64 {
	k = max(k, n-k)
	var tail float64
	for i := k; i <= n; i++ {
		tail += binom(n, i)
	}
	return min(1, 2*tail/math.Pow(2, float64(n)))
}

func binom(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

// values maps f over rs.
func values(rs []perfRun, f func(perfRun) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// kvInDiff lists the configsync messages received between two readings,
// by kind.
func kvInDiff(from, to catStats) string {
	var parts []string
	for kind, v := range to.kvIn {
		if d := v - from.kvIn[kind]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", kind, d))
		}
	}
	if len(parts) == 0 {
		return "no messages"
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// drainBroadcasts waits until no agent has a gossip broadcast queued
// (murmur_gossip_broadcast_queue, local and relay).
func drainBroadcasts(ctx context.Context, e *env, as []*agentProc) error {
	for {
		queued := 0.0
		for _, a := range as {
			text, err := e.scrapeMetrics(ctx, a.httpAddr)
			if err != nil {
				return err
			}
			q := metricValues(text, "murmur_gossip_broadcast_queue")
			if len(q) == 0 {
				return fmt.Errorf("bench: agentd %s: no murmur_gossip_broadcast_queue in /metrics", a.name)
			}
			for _, v := range q {
				queued += v
			}
		}
		if queued == 0 {
			return nil
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return fmt.Errorf("bench: %.0f gossip broadcasts still queued: %w", queued, err)
		}
	}
}
