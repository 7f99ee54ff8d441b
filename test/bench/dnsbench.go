package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Figure 1: one agentd serving 10 services × 3 instances against the bare
// responder (test/bench/bareresponder) answering the same records from a
// map, under the same dnsperf load, alternating bare and murmur runs.

const (
	dnsServices  = 10
	dnsInstances = 3
	dnsTarget    = 0.8 // murmur/bare q/s
)

// dnsServiceConfig is the agent config: LAN gossip, the services as
// [[service]] tables without checks (passing).
func dnsServiceConfig() string {
	var b strings.Builder
	b.WriteString("[gossip]\nprofile = \"lan\"\n")
	for s := range dnsServices {
		for i := 1; i <= dnsInstances; i++ {
			fmt.Fprintf(&b, "\n[[service]]\nname = \"svc%02d\"\nid = \"svc%02d-%d\"\naddress = \"10.0.%d.%d\"\nport = %d\n",
				s, s, i, s, i, 8000+i)
		}
	}
	return b.String()
}

// dnsQueries are the questions of the query file, A and SRV mixed.
func dnsQueries() []dns.Question {
	var qs []dns.Question
	for s := range dnsServices {
		name := fmt.Sprintf("svc%02d.service.murmur.", s)
		qs = append(qs, dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET},
			dns.Question{Name: name, Qtype: dns.TypeSRV, Qclass: dns.ClassINET})
	}
	return qs
}

// queryFile is dnsperf's input: "NAME TYPE" per line.
func queryFile(qs []dns.Question) string {
	var b strings.Builder
	for _, q := range qs {
		fmt.Fprintf(&b, "%s %s\n", strings.TrimSuffix(q.Name, "."), dns.TypeToString[q.Qtype])
	}
	return b.String()
}

func runDNS(ctx context.Context, e *env) error {
	if err := e.dnsAllocs(ctx); err != nil {
		e.rec.fail("dns allocs", err)
	}
	dnsperf, err := exec.LookPath("dnsperf")
	if err != nil {
		e.rec.skip("figure 1 q/s and p99: dnsperf not found in PATH; install it with `apt-get install dnsperf` (Debian/Ubuntu) or from https://github.com/DNS-OARC/dnsperf")
		return nil
	}
	agent, err := e.startAgent(ctx, agentSpec{name: "dns", config: dnsServiceConfig()})
	if err != nil {
		return err
	}
	defer agent.stop()
	qs := dnsQueries()
	answers, err := waitAnswers(ctx, agent.dnsAddr, qs)
	if err != nil {
		return err
	}
	ansPath := filepath.Join(e.dir, "answers.txt")
	qPath := filepath.Join(e.dir, "queries.txt")
	if err := os.WriteFile(ansPath, []byte(answers), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(qPath, []byte(queryFile(qs)), 0o644); err != nil {
		return err
	}
	bare, err := e.startBare(ctx, ansPath)
	if err != nil {
		return err
	}
	defer bare.stop()
	if _, err := waitAnswers(ctx, bare.addr, qs); err != nil {
		return fmt.Errorf("bare responder: %w", err)
	}

	servers := []struct {
		name string
		addr string
		pid  int
	}{{"bare", bare.addr, bare.pid()}, {"murmur", agent.dnsAddr, agent.pid()}}
	flags := []string{"-c", strconv.Itoa(e.opts.dnsClients), "-q", "100", "-l", strconv.Itoa(e.opts.dnsSeconds)}
	if e.opts.dnsRate > 0 {
		flags = append(flags, "-Q", strconv.Itoa(e.opts.dnsRate))
	}
	cmdline := fmt.Sprintf("dnsperf -s 127.0.0.1 -p PORT -d queries.txt %s -v (GOMAXPROCS=%d for both servers)", strings.Join(flags, " "), e.gomaxprocs)
	// Warm both up (page faults, socket buffers, the Go heap), unrecorded.
	for _, s := range servers {
		if _, err := e.dnsperf(ctx, dnsperf, s.addr, qPath, []string{"-c", strconv.Itoa(e.opts.dnsClients), "-l", "1"}, nil); err != nil {
			return fmt.Errorf("warm-up %s: %w", s.name, err)
		}
	}
	runs := map[string][]perfRun{}
	for r := 1; r <= e.opts.dnsRounds; r++ {
		for _, s := range servers {
			cpu0, _ := cpuTime(s.pid)
			var cpu1 time.Duration
			var cpuErr error
			pr, err := e.dnsperf(ctx, dnsperf, s.addr, qPath, flags, func() { cpu1, cpuErr = cpuTime(s.pid) })
			if err != nil {
				return fmt.Errorf("%s round %d: %w", s.name, r, err)
			}
			if cpuErr == nil && pr.Completed > 0 {
				pr.CPUPerQuery = (cpu1 - cpu0).Seconds() / float64(pr.Completed)
			}
			runs[s.name] = append(runs[s.name], pr)
			e.logf("dns round %d %-6s %8.0f q/s  p50 %.3f ms  p99 %.3f ms  lost %d  server CPU %.1f µs/query  load %s",
				r, s.name, pr.QPS, pr.P50*1e3, pr.P99*1e3, pr.Lost, pr.CPUPerQuery*1e6, loadAvg())
		}
	}
	med := func(name string, f func(perfRun) float64) float64 {
		var xs []float64
		for _, r := range runs[name] {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	qps := func(r perfRun) float64 { return r.QPS }
	p99 := func(r perfRun) float64 { return r.P99 * 1e3 }
	cpu := func(r perfRun) float64 { return r.CPUPerQuery * 1e6 }
	cmd := "go run ./test/bench -only dns  # " + cmdline
	note := fmt.Sprintf("median of %d alternating runs; per run q/s bare %v murmur %v", e.opts.dnsRounds, listOf(runs["bare"], qps, 0), listOf(runs["murmur"], qps, 0))
	bq, mq := med("bare", qps), med("murmur", qps)
	e.rec.add(Result{Figure: "1", Name: "dns.qps.bare", Value: bq, Unit: "q/s", Command: cmd, Note: note})
	e.rec.add(Result{Figure: "1", Name: "dns.qps.murmur", Value: mq, Unit: "q/s", Command: cmd, Note: note})
	ratio := 0.0
	if bq > 0 {
		ratio = mq / bq
	}
	e.rec.add(Result{Figure: "1", Name: "dns.qps.ratio_murmur_over_bare", Value: ratio, Unit: "x", Target: ">= 0.8", Met: target(ratio >= dnsTarget), Command: cmd})
	e.rec.add(Result{Figure: "1", Name: "dns.p99.bare", Value: med("bare", p99), Unit: "ms", Command: cmd, Note: "at saturation: mostly queueing of 100 outstanding queries"})
	e.rec.add(Result{Figure: "1", Name: "dns.p99.murmur", Value: med("murmur", p99), Unit: "ms", Command: cmd})
	bc, mc := med("bare", cpu), med("murmur", cpu)
	e.rec.add(Result{Figure: "1", Name: "dns.cpu_per_query.bare", Value: bc, Unit: "µs", Command: cmd, Note: "server CPU time (utime+stime) / queries answered; less sensitive to other load than q/s"})
	e.rec.add(Result{Figure: "1", Name: "dns.cpu_per_query.murmur", Value: mc, Unit: "µs", Command: cmd})
	if mc > 0 {
		e.rec.add(Result{Figure: "1", Name: "dns.cpu_ratio_bare_over_murmur", Value: bc / mc, Unit: "x", Command: cmd, Note: "efficiency ratio; comparable to the q/s ratio when the server is the bottleneck"})
	}
	if ratio < dnsTarget || e.opts.profile {
		if err := e.profileDNS(ctx, dnsperf, qPath, flags); err != nil {
			e.rec.fail("dns profile", err)
		}
	}
	return nil
}

// listOf formats f of each run with the given decimals.
func listOf(rs []perfRun, f func(perfRun) float64, decimals int) string {
	var parts []string
	for _, v := range values(rs, f) {
		parts = append(parts, strconv.FormatFloat(v, 'f', decimals, 64))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// waitAnswers waits until the server answers every question with
// dnsInstances records, then returns the answers, base64 of the packed
// message one per line: the bare responder's input.
func waitAnswers(ctx context.Context, addr string, qs []dns.Question) (string, error) {
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var b strings.Builder
		var bad error
		for _, q := range qs {
			m := new(dns.Msg)
			m.Question = []dns.Question{q}
			m.RecursionDesired = true
			m.Id = dns.Id()
			r, _, err := c.ExchangeContext(ctx, m, addr)
			switch {
			case err != nil:
				bad = err
			case r.Rcode != dns.RcodeSuccess || len(r.Answer) != dnsInstances || r.Truncated:
				bad = fmt.Errorf("%s %s: rcode %s, %d answers, TC %v", q.Name, dns.TypeToString[q.Qtype], dns.RcodeToString[r.Rcode], len(r.Answer), r.Truncated)
			default:
				wire, err := r.Pack()
				if err != nil {
					return "", err
				}
				b.WriteString(base64.StdEncoding.EncodeToString(wire))
				b.WriteByte('\n')
			}
			if bad != nil {
				break
			}
		}
		if bad == nil {
			return b.String(), nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return "", fmt.Errorf("bench: DNS at %s not answering every service: %w", addr, bad)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bareProc is the running bare responder.
type bareProc struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
}

func (b *bareProc) pid() int { return b.cmd.Process.Pid }

func (b *bareProc) stop() {
	_ = b.cmd.Process.Kill()
	<-b.exited
}

// startBare starts the bare responder on a port UDP gets from the kernel
// (TCP takes the same one) and reads the address from its ready line. A
// TCP conflict on that port makes it exit at start: it tries again.
func (e *env) startBare(ctx context.Context, answers string) (*bareProc, error) {
	for try := 1; ; try++ {
		b, err := e.startBareOnce(ctx, answers)
		if err == nil || try == portTries || !errors.Is(err, errPortTaken) {
			return b, err
		}
	}
}

func (e *env) startBareOnce(ctx context.Context, answers string) (*bareProc, error) {
	b := &bareProc{exited: make(chan struct{})}
	b.cmd = exec.Command(e.bin("bareresponder"), "-addr", "127.0.0.1:0", "-answers", answers)
	b.cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(e.gomaxprocs))
	// stderr goes to e.log too; it is read only after b.exited, when
	// cmd.Wait has copied all of it.
	var stderr strings.Builder
	b.cmd.Stderr = io.MultiWriter(e.log, &stderr)
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := e.procs.start(b.cmd); err != nil {
		return nil, fmt.Errorf("start bareresponder: %w", err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case ready <- sc.Text():
			default:
			}
		}
		_ = b.cmd.Wait()
		e.procs.done(b.cmd)
		close(b.exited)
	}()
	select {
	case line := <-ready:
		e.logf("bareresponder: %s", line)
		// "ready 127.0.0.1:PORT (N answers)"
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "ready" {
			b.stop()
			return nil, fmt.Errorf("bench: bareresponder: unexpected first line %q", line)
		}
		b.addr = f[1]
		return b, nil
	case <-b.exited:
		if strings.Contains(stderr.String(), "address already in use") {
			return nil, fmt.Errorf("%w: bareresponder: %s", errPortTaken, strings.TrimSpace(stderr.String()))
		}
		return nil, errors.New("bench: bareresponder exited at start")
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	b.stop()
	return nil, errors.New("bench: bareresponder not ready")
}

// perfRun is one dnsperf run.
type perfRun struct {
	Sent, Completed, Lost int
	QPS                   float64
	// P50 and P99 are latencies in seconds from dnsperf -v lines.
	P50, P99    float64
	Errors      int     // answers other than NOERROR
	CPUPerQuery float64 // seconds of server CPU per completed query
}

// dnsperf runs dnsperf against addr with -v, its output in a file, and
// parses the statistics and the per-query latencies. exited, when not
// nil, is called as soon as dnsperf has exited, before the parsing.
func (e *env) dnsperf(ctx context.Context, bin, addr, queries string, flags []string, exited func()) (perfRun, error) {
	return e.dnsperfOn(ctx, "", bin, addr, queries, flags, exited)
}

// dnsperfOn is dnsperf on the given CPUs (taskset -c; "" = any).
func (e *env) dnsperfOn(ctx context.Context, cpus, bin, addr, queries string, flags []string, exited func()) (perfRun, error) {
	host, port, _ := strings.Cut(addr, ":")
	out, err := os.CreateTemp(dnsperfOutDir(e.dir), "dnsperf-*.out")
	if err != nil {
		return perfRun{}, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	args := append([]string{"-s", host, "-p", port, "-d", queries, "-v"}, flags...)
	argv := onCPUs(cpus, append([]string{bin}, args...))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := e.procs.start(cmd); err != nil {
		return perfRun{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); e.procs.done(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		err = ctx.Err()
	}
	if exited != nil {
		exited()
	}
	if ctx.Err() != nil {
		return perfRun{}, ctx.Err()
	}
	if err != nil {
		return perfRun{}, fmt.Errorf("dnsperf: %v: %s", err, stderr.String())
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return perfRun{}, err
	}
	return parseDNSPerf(out)
}

// dnsperfOutDir is where dnsperf writes its output, one line per answer
// (up to 80 000 a second): on tmpfs when the machine has /dev/shm, so
// that the load generator's writes do not share the disk, and the disk's
// journal commits, with the agent under test, which syncs to it. Else
// the work directory.
func dnsperfOutDir(work string) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return work
}

// parseDNSPerf reads dnsperf -v output: "> RCODE name type latency" per
// answer, then the statistics block.
func parseDNSPerf(r io.Reader) (perfRun, error) {
	var pr perfRun
	var lat []float64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			if f[1] != "NOERROR" {
				pr.Errors++
			}
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				lat = append(lat, v)
			}
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "Queries sent":
			pr.Sent, _ = strconv.Atoi(fields[0])
		case "Queries completed":
			pr.Completed, _ = strconv.Atoi(fields[0])
		case "Queries lost":
			pr.Lost, _ = strconv.Atoi(fields[0])
		case "Queries per second":
			pr.QPS, _ = strconv.ParseFloat(fields[0], 64)
		}
	}
	if err := sc.Err(); err != nil {
		return pr, err
	}
	if pr.QPS == 0 || pr.Completed == 0 {
		return pr, errors.New("bench: dnsperf printed no statistics (no answers?)")
	}
	pr.P50, pr.P99 = percentile(lat, 50), percentile(lat, 99)
	return pr, nil
}

// cpuTime is the user+system CPU time a process has used, from
// /proc/PID/stat (clock ticks of 10 ms).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after its
	// closing parenthesis are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bench: unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("bench: short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bench: bad /proc stat times")
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(ut+st) * tick, nil
}

// dnsAllocs runs dnsserver's benchmarks for time and allocations per
// query, handler only and with the request unpacking.
func (e *env) dnsAllocs(ctx context.Context) error {
	args := []string{"test", "-run", "^$", "-bench", "^BenchmarkQuery(Wire)?$", "-benchmem", "-benchtime", "200000x", "-count", "1", "./dnsserver/"}
	lines, err := e.goBench(ctx, args)
	if err != nil {
		return err
	}
	cmd := "go " + strings.Join(args, " ")
	for _, l := range lines {
		// BenchmarkQueryWire/SRV/murmur-2  1000  1234 ns/op  456 B/op  3 allocs/op
		name := strings.TrimPrefix(l.name, "Benchmark")
		if v, ok := l.metrics["allocs/op"]; ok {
			e.rec.add(Result{Figure: "1", Name: "dns.allocs." + name, Value: v, Unit: "allocs/op", Command: cmd})
		}
		if v, ok := l.metrics["ns/op"]; ok {
			e.rec.add(Result{Figure: "1", Name: "dns.ns." + name, Value: v, Unit: "ns/op", Command: cmd})
		}
	}
	return nil
}

// benchLine is one result line of go test -bench.
type benchLine struct {
	name    string // without the -GOMAXPROCS suffix
	metrics map[string]float64
}

// goBench runs a go test -bench command in the module root and parses
// its result lines.
func (e *env) goBench(ctx context.Context, args []string) ([]benchLine, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = e.root
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := e.procs.start(cmd); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); e.procs.done(cmd) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	lines := parseBench(out.String())
	if len(lines) == 0 {
		return nil, fmt.Errorf("go %s: no benchmark results\n%s", strings.Join(args, " "), out.String())
	}
	return lines, nil
}

// parseBench parses the result lines of go test -bench output.
func parseBench(out string) []benchLine {
	var lines []benchLine
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		bl := benchLine{name: name, metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			bl.metrics[f[i+1]] = v
		}
		lines = append(lines, bl)
	}
	return lines
}
