package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// The simulator comparison: cmd/gossipsim at memberlist's LAN defaults
// (fanout 3, 200 ms interval, RetransmitMult 4) for the cluster sizes of
// figure 2, set beside the measured propagation.

// simTime is one mode's "Time" line of gossipsim: mean and p99 time until
// 99 % and until every live node is informed; a zero duration is "never"
// (gossipsim prints that when not every trial got there).
type simTime struct {
	mean99, p99at99, mean100, p99at100 time.Duration
}

func runSim(ctx context.Context, e *env) error {
	for _, n := range []int{5, 30, 50, 200} {
		variants := []struct {
			tag  string
			args []string
		}{
			{"push-staggered", []string{"-mode", "push", "-timers", "staggered"}},
			{"push-lockstep", []string{"-mode", "push", "-timers", "lockstep"}},
			{"forward", []string{"-mode", "forward"}},
		}
		for _, v := range variants {
			args := append([]string{"-n", fmt.Sprint(n), "-trials", "2000"}, v.args...)
			cmd := exec.CommandContext(ctx, e.bin("gossipsim"), append(args, "-svg", "")...)
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("gossipsim %s: %w", strings.Join(args, " "), err)
			}
			st, err := parseSimTime(string(out), v.args[1])
			if err != nil {
				return fmt.Errorf("gossipsim %s: %w", strings.Join(args, " "), err)
			}
			command := "go run ./cmd/gossipsim " + strings.Join(args, " ") + " -svg ''"
			name := fmt.Sprintf("sim.%s.n%d", v.tag, n)
			if st.mean100 > 0 {
				e.rec.add(Result{Figure: "sim", Name: name + ".all.mean", Value: st.mean100.Seconds(), Unit: "s", Command: command,
					Note: "time until every node is informed: mean over the 2000 trials that got there"})
				e.rec.add(Result{Figure: "sim", Name: name + ".all.p99", Value: st.p99at100.Seconds(), Unit: "s", Command: command})
			} else {
				e.rec.add(Result{Figure: "sim", Name: name + ".99pct.mean", Value: st.mean99.Seconds(), Unit: "s", Command: command,
					Note: "time until 99 % of nodes are informed (not every trial reaches all: the mode leaves a residue)"})
			}
			m, ok := e.prop[n]
			if !ok || v.tag != "push-staggered" || st.mean100 <= 0 {
				continue
			}
			against := command + "  vs  go run ./test/bench -only cluster,inproc"
			e.rec.add(Result{Figure: "sim", Name: fmt.Sprintf("sim.ratio.n%d.p50_measured_over_mean_push_staggered", n), Value: m.P50 / st.mean100.Seconds(), Unit: "x", Command: against,
				Note: fmt.Sprintf("measured p50 %.3fs vs simulated push (staggered timers) mean %.3fs to all; Murmur also forwards each new version at once to 3 peers, which gossipsim models only alone (-mode forward)", m.P50, st.mean100.Seconds())})
			e.rec.add(Result{Figure: "sim", Name: fmt.Sprintf("sim.ratio.n%d.max_measured_over_p99_push_staggered", n), Value: m.Max / st.p99at100.Seconds(), Unit: "x", Command: against,
				Note: fmt.Sprintf("measured max over %d puts %.3fs vs simulated p99 %.3fs", m.N, m.Max, st.p99at100.Seconds())})
		}
	}
	return nil
}

// parseSimTime finds mode's line in gossipsim's "Time (rounds × step)"
// table: mode, 99 % mean and p99, 100 % mean and p99, last informed mean
// and p99.
func parseSimTime(out, mode string) (simTime, error) {
	inTime := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Time (") {
			inTime = true
			continue
		}
		f := strings.Fields(line)
		if !inTime || len(f) < 5 || f[0] != mode {
			continue
		}
		var ds [4]time.Duration
		var errs []error
		for i := range ds {
			var err error
			ds[i], err = parseSimDuration(f[1+i])
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			return simTime{}, err
		}
		return simTime{mean99: ds[0], p99at99: ds[1], mean100: ds[2], p99at100: ds[3]}, nil
	}
	return simTime{}, fmt.Errorf("no %q line in the Time table", mode)
}

// parseSimDuration reads gossipsim's durations ("601ms", "1s"; "never"
// when no trial got there, returned as 0).
func parseSimDuration(s string) (time.Duration, error) {
	if s == "never" || s == "-" {
		return 0, nil
	}
	return time.ParseDuration(s)
}
