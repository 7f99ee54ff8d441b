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
// every live node is informed.
type simTime struct {
	mean, p99 time.Duration
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
			args := append([]string{"-n", fmt.Sprint(n), "-trials", "2000", "-svg", ""}, v.args...)
			cmd := exec.CommandContext(ctx, e.bin("gossipsim"), args...)
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("gossipsim %s: %w", strings.Join(args, " "), err)
			}
			mode := v.args[1]
			st, err := parseSimTime(string(out), mode)
			if err != nil {
				return fmt.Errorf("gossipsim %s: %w", strings.Join(args, " "), err)
			}
			command := "go run ./cmd/gossipsim " + strings.Join(args, " ")
			name := fmt.Sprintf("sim.%s.n%d", v.tag, n)
			e.rec.add(Result{Figure: "sim", Name: name + ".all.mean", Value: st.mean.Seconds(), Unit: "s", Command: command,
				Note: "time until every node is informed, mean over 2000 trials"})
			e.rec.add(Result{Figure: "sim", Name: name + ".all.p99", Value: st.p99.Seconds(), Unit: "s", Command: command})
			m, ok := e.prop[n]
			if !ok || v.tag != "push-staggered" || st.mean <= 0 {
				continue
			}
			e.rec.add(Result{Figure: "sim", Name: fmt.Sprintf("sim.ratio.n%d.p50_measured_over_mean_simulated", n), Value: m.P50 / st.mean.Seconds(), Unit: "x", Command: command + "  vs  go run ./test/bench -only cluster,inproc",
				Note: fmt.Sprintf("measured p50 %.3fs vs push staggered mean %.3fs; Murmur also forwards each new version at once (forward mode: %s)", m.P50, st.mean.Seconds(), "see sim.forward")})
			if st.p99 > 0 {
				e.rec.add(Result{Figure: "sim", Name: fmt.Sprintf("sim.ratio.n%d.p99_measured_over_p99_simulated", n), Value: m.P99 / st.p99.Seconds(), Unit: "x", Command: command + "  vs  go run ./test/bench -only cluster,inproc"})
			}
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
		mean, err1 := parseSimDuration(f[3])
		p99, err2 := parseSimDuration(f[4])
		if err := errors.Join(err1, err2); err != nil {
			return simTime{}, err
		}
		return simTime{mean: mean, p99: p99}, nil
	}
	return simTime{}, fmt.Errorf("no %q line in the Time table", mode)
}

// parseSimDuration reads gossipsim's durations ("601ms", "1s"; "-" when
// no trial got there).
func parseSimDuration(s string) (time.Duration, error) {
	if s == "-" || s == "n/a" {
		return 0, nil
	}
	return time.ParseDuration(s)
}
