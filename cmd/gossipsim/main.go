// Command gossipsim simulates how one update spreads through a cluster by
// gossip under memberlist-like settings, and sets the result beside the
// closed-form models of docs/gossip-math.md.
//
//	go run ./cmd/gossipsim -n 1000
//	go run ./cmd/gossipsim -n 200 -loss 0.1 -failed 0.05 -mode push -timers staggered
//	go run ./cmd/gossipsim -n 50 -retransmit-limit 1 -antientropy 30s -mode push
//
// It prints the mean fraction of live nodes informed per round, the rounds
// and time to 99 % and 100 % (mean and percentiles over trials), the
// residue never informed and the sends per update, and writes an SVG plot.
// Each mode draws from its own stream of the seed, so -mode push and
// -mode all print the same push numbers.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/murmurhq/murmur/internal/gossipsim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options is the parsed command line.
type options struct {
	p     gossipsim.Params
	modes []gossipsim.Mode
	seed  uint64
	svg   string
	csv   bool
}

// errUsage marks errors that come from the command line itself.
var errUsage = errors.New("gossipsim: usage")

func parseFlags(args []string, stderr io.Writer) (options, error) {
	d := gossipsim.DefaultParams()
	fs := flag.NewFlagSet("gossipsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: gossipsim [flags]\n\nSimulates gossip dissemination of one update; see docs/gossip-math.md.\n\n")
		fs.PrintDefaults()
	}
	o := options{}
	p := &o.p
	fs.IntVar(&p.N, "n", d.N, "cluster size, failed nodes included")
	fs.IntVar(&p.Fanout, "fanout", d.Fanout, "peers per gossip tick (memberlist GossipNodes) or per forward")
	fs.DurationVar(&p.Interval, "interval", d.Interval, "gossip interval, one round (memberlist GossipInterval)")
	fs.DurationVar(&p.HopLatency, "hop", d.HopLatency, "latency of one forwarded message (forward mode's step)")
	fs.Float64Var(&p.Loss, "loss", d.Loss, "probability each message is lost, 0 <= loss < 1")
	fs.Float64Var(&p.Failed, "failed", d.Failed, "fraction of nodes failed (silent, still chosen as targets), 0 <= failed < 1")
	fs.IntVar(&p.RetransmitMult, "retransmit-mult", d.RetransmitMult, "memberlist RetransmitMult: push sends mult×ceil(log10(n+1)) times per node; negative = unlimited")
	fs.IntVar(&p.RetransmitLimit, "retransmit-limit", 0, "sends per node in push, overriding -retransmit-mult when > 0")
	fs.DurationVar(&p.AntiEntropy, "antientropy", 0, "memberlist PushPullInterval before size scaling, e.g. 30s; push mode only; 0 = off")
	timers := fs.String("timers", d.Timers.String(), "lockstep (textbook rounds) or staggered (memberlist's per-node tick phases)")
	mode := fs.String("mode", "all", "push, pull, pushpull, forward, or all")
	fs.IntVar(&p.Trials, "trials", d.Trials, "independent runs per mode")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed")
	fs.IntVar(&p.MaxRounds, "rounds", 0, "maximum rounds (hops for forward) per run; 0 = automatic")
	fs.StringVar(&o.svg, "svg", "gossipsim.svg", "write the plot to this file; empty for none")
	fs.BoolVar(&o.csv, "csv", false, "print the per-round curves as CSV on stdout (the summary goes to stderr)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	t, err := gossipsim.ParseTimers(*timers)
	if err != nil {
		return o, fmt.Errorf("%w: -timers: %w", errUsage, err)
	}
	p.Timers = t
	if strings.EqualFold(*mode, "all") {
		o.modes = gossipsim.Modes
	} else {
		m, err := gossipsim.ParseMode(*mode)
		if err != nil {
			return o, fmt.Errorf("%w: -mode: %w", errUsage, err)
		}
		o.modes = []gossipsim.Mode{m}
	}
	if err := p.Validate(); err != nil {
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	return o, nil
}

// run is main without the process: it returns the exit code (0 ok, 1 a
// failure while working, 2 a bad command line).
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintln(stderr, err)
		}
		return 2
	}
	results := make([]*gossipsim.Result, 0, len(o.modes))
	for _, m := range o.modes {
		// One stream per mode: adding a mode never changes another's numbers.
		r, err := gossipsim.Simulate(o.p, m, rand.NewPCG(o.seed, uint64(m)))
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		results = append(results, r)
	}
	rep := newReport(o, results)
	summary := stdout
	if o.csv {
		if err := rep.writeCSV(stdout); err != nil {
			fmt.Fprintf(stderr, "gossipsim: writing csv: %v\n", err)
			return 1
		}
		summary = stderr
	} else {
		rep.writeTable(stdout)
	}
	rep.writeSummary(summary)
	if o.svg != "" {
		if err := writeSVGFile(o.svg, rep.chart()); err != nil {
			fmt.Fprintf(stderr, "gossipsim: %v\n", err)
			return 1
		}
		fmt.Fprintf(summary, "\nwrote %s\n", o.svg)
	}
	return 0
}

// writeSVGFile writes the plot whole or reports why not.
func writeSVGFile(path string, c chart) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing svg: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing svg %s: %w", path, cerr)
		}
	}()
	if err := writeSVG(f, c); err != nil {
		return fmt.Errorf("writing svg %s: %w", path, err)
	}
	return nil
}
