package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// step is one part of the run, bounded by its own timeout.
type step struct {
	name    string
	what    string
	timeout time.Duration
	run     func(ctx context.Context, e *env) error
}

// steps in the order they run.
var steps = []step{
	{"dns", "figure 1: DNS q/s and p99, murmur vs bare responder; allocs per query", 4 * time.Minute, runDNS},
	{"cluster", "figures 2 and 6 with real agentd processes: propagation and failure detection at N=5 and N=30", 5 * time.Minute, runClusters},
	{"inproc", "figure 2 in one process over memnet: propagation at N=50 and N=200", 5 * time.Minute, runInProc},
	{"ae", "figure 3: anti-entropy bytes per push/pull exchange", 4 * time.Minute, runAntiEntropy},
	{"mem", "figure 4: RSS idle and with 10k and 100k keys of 1 KiB", 5 * time.Minute, runMemory},
	{"write", "figure 5: fsynced puts/s, sequential and 16 concurrent clients", 2 * time.Minute, runWrites},
	{"sim", "gossipsim at the same settings as the propagation figures, ratio measured/simulated", time.Minute, runSim},
	{"security", "figure 9: KV puts/s and DNS q/s with TLS, mTLS, ACLs and a gossip key on vs off, alternating", 4 * time.Minute, runSecurity},
	{"catalog", "figure 11: decodes per health change and DNS p99 at a fixed rate, 10k instances, with and without a flapping service, and one flapping in a cluster the DNS agent is not in", 11 * time.Minute, runCatalog},
}

// env is what every step shares.
type env struct {
	root       string // module root
	dir        string // work directory
	binDir     string
	procs      *procs
	hc         *http.Client
	rec        *recorder
	log        io.Writer
	gomaxprocs int
	opts       options
	// prop holds propagation results for the simulator comparison.
	prop map[int]dist
}

type options struct {
	only        []string
	skip        []string
	dnsSeconds  int
	dnsRounds   int
	dnsClients  int
	dnsRate     int
	catalogRate int
	// catalogRounds is the number of steady/flapping pairs of the catalog
	// figure.
	catalogRounds int
	puts          int
	fdKills       int
	memKeys       []int
	inprocSizes   []int
	profile       bool
	keep          bool
	summaryPath   string
}

func (e *env) bin(name string) string { return filepath.Join(e.binDir, name) }

// logf prints a progress line.
func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./test/bench [flags]\n\nReproduces the figures of BENCHMARKS.md on loopback. Steps:\n")
		for _, s := range steps {
			fmt.Fprintf(stderr, "  %-8s %s (bounded by %v)\n", s.name, s.what, s.timeout)
		}
		fmt.Fprintf(stderr, "\nflags:\n")
		fs.PrintDefaults()
	}
	var o options
	only := fs.String("only", "", "comma-separated steps to run (default: all)")
	skip := fs.String("skip", "", "comma-separated steps to leave out")
	fs.IntVar(&o.dnsSeconds, "dns-seconds", 10, "dnsperf -l: seconds per DNS run")
	fs.IntVar(&o.dnsRounds, "dns-rounds", 2, "DNS rounds; each runs bare then murmur")
	fs.IntVar(&o.dnsClients, "dns-clients", 4, "dnsperf -c: clients (sockets)")
	fs.IntVar(&o.dnsRate, "dns-rate", 0, "dnsperf -Q: queries/s limit (0 = unthrottled, 100 outstanding)")
	fs.IntVar(&o.catalogRate, "catalog-rate", 10000, "dnsperf -Q of the catalog figure: fixed queries/s")
	fs.IntVar(&o.catalogRounds, "catalog-rounds", 8, "rounds of the catalog figure, each a steady, a flapping and a neighbour run (at least 2)")
	gmp := fs.Int("gomaxprocs", 1, "GOMAXPROCS of agentd and the bare responder (dnsperf gets the other core)")
	fs.IntVar(&o.puts, "puts", 100, "puts per propagation figure")
	fs.IntVar(&o.fdKills, "fd-kills", 2, "kill -9 measurements per cluster size (figure 6)")
	memKeys := fs.String("mem-keys", "10000,100000", "key counts for figure 4 (cumulative loads)")
	inprocSizes := fs.String("inproc-sizes", "50,200", "cluster sizes of the in-process propagation figure")
	fs.BoolVar(&o.profile, "profile", false, "with the dns step: CPU-profile an in-process agent under dnsperf and print the top functions")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, data, profiles)")
	fs.StringVar(&o.summaryPath, "json", "", "also write the JSON summary to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	o.only = splitList(*only)
	o.skip = splitList(*skip)
	for _, name := range append(slices.Clone(o.only), o.skip...) {
		if !slices.ContainsFunc(steps, func(s step) bool { return s.name == name }) {
			fmt.Fprintf(stderr, "bench: unknown step %q (see -h)\n", name)
			return 2
		}
	}
	var err error
	if o.memKeys, err = counts("mem-keys", *memKeys); err == nil {
		o.inprocSizes, err = counts("inproc-sizes", *inprocSizes)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if o.dnsSeconds < 1 || o.dnsRounds < 1 || o.catalogRounds < 2 || o.dnsClients < 1 || o.puts < 1 || *gmp < 1 || o.fdKills < 0 || o.dnsRate < 0 {
		fmt.Fprintln(stderr, "bench: -dns-seconds, -dns-rounds, -dns-clients, -puts and -gomaxprocs must be at least 1, -catalog-rounds at least 2; -fd-kills and -dns-rate not negative")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	e := &env{
		procs:      newProcs(),
		rec:        &recorder{out: stdout},
		log:        stderr,
		gomaxprocs: *gmp,
		opts:       o,
		prop:       map[int]dist{},
		hc: &http.Client{Transport: &http.Transport{
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
	defer e.procs.killAll()
	code, err := e.setup()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return code
	}
	if !o.keep {
		defer os.RemoveAll(e.dir)
	} else {
		defer fmt.Fprintf(stderr, "work directory kept: %s\n", e.dir)
	}
	sum := Summary{Machine: machineInfo(), Command: "go run ./test/bench " + strings.Join(args, " ")}
	e.logf("machine: %d CPU %s, kernel %s, load %s; work dir %s", sum.Machine.NProc, sum.Machine.CPU, sum.Machine.Kernel, sum.Machine.LoadStart, e.dir)
	for _, s := range steps {
		if !e.selected(s.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		e.logf("step %s: %s", s.name, s.what)
		sctx, cancel := context.WithTimeout(ctx, s.timeout)
		t0 := time.Now()
		err := s.run(sctx, e)
		cancel()
		if err != nil {
			if sctx.Err() != nil && ctx.Err() == nil {
				err = fmt.Errorf("%w (step bounded by %v)", err, s.timeout)
			}
			e.rec.fail(s.name, err)
		}
		e.logf("step %s done in %.1fs", s.name, time.Since(t0).Seconds())
	}
	e.procs.killAll()
	sum.Machine.LoadEnd = loadAvg()
	sum.Seconds = time.Since(start).Seconds()
	sum.Results, sum.Skipped, sum.Errors = e.rec.results, e.rec.skipped, e.rec.errs
	if err := writeSummary(stdout, sum, o.summaryPath); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "bench: interrupted; every process started was killed")
		return 130
	case len(sum.Errors) > 0:
		return 1
	}
	return 0
}

// setup makes the work directory and builds the binaries.
func (e *env) setup() (int, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return 1, fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return 2, errors.New("run from inside the murmur module (go run ./test/bench)")
	}
	e.root = filepath.Dir(gomod)
	e.dir, err = os.MkdirTemp("", "murmur-bench-")
	if err != nil {
		return 1, err
	}
	e.binDir = filepath.Join(e.dir, "bin")
	e.logf("building agentd, bareresponder, flapper, gossipsim")
	build := exec.Command("go", "build", "-o", e.binDir+string(filepath.Separator), "./cmd/agentd", "./cmd/gossipsim", "./test/bench/bareresponder", "./test/bench/flapper")
	build.Dir = e.root
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(e.dir)
		return 1, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return 0, nil
}

func (e *env) selected(step string) bool {
	if slices.Contains(e.opts.skip, step) {
		return false
	}
	return len(e.opts.only) == 0 || slices.Contains(e.opts.only, step)
}

// counts parses a comma-separated list of positive integers.
func counts(flagName, s string) ([]int, error) {
	var out []int
	for _, k := range splitList(s) {
		n, err := strconv.Atoi(k)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bench: -%s: %q is not a positive count", flagName, k)
		}
		out = append(out, n)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
