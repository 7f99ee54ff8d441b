package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/murmurhq/murmur/internal/gossipsim"
)

// report turns simulation results into the table, CSV, summary and chart.
type report struct {
	o       options
	results []*gossipsim.Result
	ticked  []*gossipsim.Result // modes stepping on gossip ticks
	forward *gossipsim.Result   // nil unless forward was simulated
	fwdMF   []float64           // forward's mean-field curve
	// meanField[i] is the lockstep recurrence for results[i], as long as
	// the longest curve.
	meanField [][]float64
	rows      int // longest Mean among all results
}

func newReport(o options, results []*gossipsim.Result) *report {
	r := &report{o: o, results: results}
	for _, res := range results {
		if res.Mode.Ticked() {
			r.ticked = append(r.ticked, res)
		} else {
			r.forward = res
		}
		r.rows = max(r.rows, len(res.Mean))
	}
	for _, res := range results {
		mf := gossipsim.MeanField(o.p, res.Mode, r.rows-1)
		r.meanField = append(r.meanField, mf)
		if res.Mode == gossipsim.Forward {
			r.fwdMF = mf
		}
	}
	return r
}

// header is one line with every setting that shaped the numbers.
func (r *report) header() string {
	p := r.o.p
	limit := "unlimited"
	if l := p.Limit(); l > 0 {
		limit = strconv.Itoa(l)
		if p.RetransmitLimit == 0 {
			limit += fmt.Sprintf(" (%d × ceil(log10(n+1)))", p.RetransmitMult)
		}
	}
	ae := "off"
	if p.AntiEntropy > 0 {
		ae = fmt.Sprintf("%v, scaled to %v", p.AntiEntropy, gossipsim.PushPullScale(p.AntiEntropy, p.N))
	}
	return fmt.Sprintf("n=%d (%d live) fanout=%d interval=%v hop=%v loss=%v failed=%v push retransmit limit=%s anti-entropy=%s timers=%s trials=%d seed=%d",
		p.N, p.Live(), p.Fanout, p.Interval, p.HopLatency, p.Loss, p.Failed, limit, ae, p.Timers, p.Trials, r.o.seed)
}

// rowsToShow picks which rounds the table prints: all of them when few,
// else the first 25 and then evenly spaced ones, always the last.
func rowsToShow(n int) (rows []int, stride int) {
	const head, maxRows = 25, 60
	if n <= maxRows {
		for i := range n {
			rows = append(rows, i)
		}
		return rows, 1
	}
	stride = (n - head + maxRows - head - 1) / (maxRows - head)
	for i := range head {
		rows = append(rows, i)
	}
	for i := head; i < n-1; i += stride {
		rows = append(rows, i)
	}
	return append(rows, n-1), stride
}

// at is curve[i], or its last value past the end (a stopped process).
func at(curve []float64, i int) float64 {
	if len(curve) == 0 {
		return math.NaN()
	}
	return curve[min(i, len(curve)-1)]
}

func pct(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v >= 1:
		return "100%"
	case v > 0.9999:
		return ">99.99%"
	}
	return strconv.FormatFloat(v*100, 'f', 2, 64) + "%"
}

// writeTable prints the per-round curves: ticked modes against the simple
// model and the SI recurrence, then forward by hop.
func (r *report) writeTable(w io.Writer) {
	p := r.o.p
	fmt.Fprintf(w, "gossipsim: %s\n", r.header())
	if len(r.ticked) > 0 {
		n := 0
		for _, res := range r.ticked {
			n = max(n, len(res.Mean))
		}
		rows, stride := rowsToShow(n)
		fmt.Fprintf(w, "\nLive nodes informed after each round (mean over %d trials)", p.Trials)
		if stride > 1 {
			fmt.Fprintf(w, "; every %d rounds after round 24", stride)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "round\ttime\t")
		for _, res := range r.ticked {
			fmt.Fprintf(tw, "%s\t", res.Mode)
		}
		fmt.Fprintf(tw, "simple 1-(1-1/n)^t\tSI push f=%d\t\n", p.Fanout)
		si := gossipsim.SI(1/float64(p.Live()), float64(p.Fanout), n)
		for _, i := range rows {
			fmt.Fprintf(tw, "%d\t%s\t", i, dur(time.Duration(i)*p.Interval))
			for _, res := range r.ticked {
				fmt.Fprintf(tw, "%s\t", pct(at(res.Mean, i)))
			}
			fmt.Fprintf(tw, "%s\t%s\t\n", pct(gossipsim.Simple(p.N, i)), pct(si[i]))
		}
		tw.Flush()
	}
	if f := r.forward; f != nil {
		rows, _ := rowsToShow(len(f.Mean))
		fmt.Fprintf(w, "\nForward-on-accept: live nodes informed after each hop (mean over %d trials)\n", p.Trials)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "hop\ttime\tforward\tmean field\t\n")
		mf := r.fwdMF
		for _, i := range rows {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t\n", i, dur(time.Duration(i)*p.HopLatency), pct(f.Mean[i]), pct(at(mf, i)))
		}
		tw.Flush()
	}
}

// writeCSV prints every curve in long form: series,step,time_s,fraction.
func (r *report) writeCSV(w io.Writer) error {
	p := r.o.p
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"series", "step", "time_s", "fraction"})
	row := func(name string, i int, step time.Duration, v float64) {
		_ = cw.Write([]string{name, strconv.Itoa(i),
			strconv.FormatFloat((time.Duration(i) * step).Seconds(), 'g', -1, 64),
			strconv.FormatFloat(v, 'g', 8, 64)})
	}
	for k, res := range r.results {
		step := p.Step(res.Mode)
		for i, v := range res.Mean {
			row(res.Mode.String(), i, step, v)
		}
		for i, v := range r.meanField[k] {
			row(res.Mode.String()+"-meanfield", i, step, v)
		}
	}
	for i := range r.rows {
		row("simple", i, p.Interval, gossipsim.Simple(p.N, i))
		row("fanout-model", i, p.Interval, gossipsim.FanoutModel(p.N, p.Fanout, i))
	}
	cw.Flush()
	return cw.Error()
}

// writeSummary prints rounds and times to 99 % and 100 %, residue, sends,
// and the closed forms.
func (r *report) writeSummary(w io.Writer) {
	p := r.o.p
	fmt.Fprintf(w, "\nRounds (hops for forward) until live nodes are informed; mean and percentiles over trials that got there\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "mode\tstep\t99%: mean\tp99\t100%: mean\tp50\tp99\tall reached\tlast informed: mean\tp99\tresidue\tsends/update\tsends/node\n")
	for _, res := range r.results {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%.2f\t%d\t%s\t%.0f\t%.1f\n",
			res.Mode, p.Step(res.Mode),
			mean(res.To99), pctl(res.To99, res.To99.P99),
			mean(res.ToAll), pctl(res.ToAll, res.ToAll.P50), pctl(res.ToAll, res.ToAll.P99),
			res.ToAll.Trials, p.Trials, res.End.Mean, res.End.P99,
			residue(res.Residue), res.Sends, res.Sends/float64(res.Live))
	}
	tw.Flush()

	fmt.Fprintf(w, "\nTime (rounds × step)\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "mode\t99%: mean\tp99\t100%: mean\tp99\tlast informed: mean\tp99\n")
	for _, res := range r.results {
		s := p.Step(res.Mode)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", res.Mode,
			durStat(res.To99, res.To99.Mean, s), durStat(res.To99, float64(res.To99.P99), s),
			durStat(res.ToAll, res.ToAll.Mean, s), durStat(res.ToAll, float64(res.ToAll.P99), s),
			durStat(res.End, res.End.Mean, s), durStat(res.End, float64(res.End.P99), s))
	}
	tw.Flush()
	for _, res := range r.results {
		if res.Capped > 0 {
			fmt.Fprintf(w, "note: %d %s trials were still spreading when -rounds (%d) ran out; raise -rounds for a final residue\n",
				res.Capped, res.Mode, res.Rounds)
		}
	}
	if p.Timers == gossipsim.Lockstep {
		fmt.Fprintln(w, "(lockstep: each hop waits a whole interval; memberlist's staggered timers are faster, try -timers staggered)")
	}
	r.writeClosedForms(w)
}

func (r *report) writeClosedForms(w io.Writer) {
	p := r.o.p
	live := p.Live()
	fmt.Fprintf(w, "\nClosed forms (docs/gossip-math.md)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range []int{1, p.Fanout} {
		t := math.Ceil(gossipsim.FanoutModelRounds(p.N, f, 0.99))
		targets := "1 target"
		if f > 1 {
			targets = strconv.Itoa(f) + " targets"
		}
		fmt.Fprintf(tw, "1-(1-%d/n)^t\t99%% at round %.0f (%s)\tcoverage by one sender with %s per round, not epidemic spread\n",
			f, t, dur(time.Duration(t)*p.Interval), targets)
		if p.Fanout == 1 {
			break
		}
	}
	si := gossipsim.SI(1/float64(live), float64(p.Fanout), 500)
	fmt.Fprintf(tw, "SI i'=1-(1-i)e^(-%d·i)\t%s\tpush, no limit, no loss, n → ∞\n", p.Fanout, reach(si, live, "round"))
	for _, m := range r.o.modes {
		unit, note := "round", "lockstep, no anti-entropy"
		if !m.Ticked() {
			unit, note = "hop", "one hop per step"
		}
		fmt.Fprintf(tw, "mean field %s\t%s\t%s\n", m, reach(gossipsim.MeanField(p, m, p.Rounds()), live, unit), note)
	}
	fmt.Fprintf(tw, "log2 n + ln n\t%.1f rounds\tPittel: push, fanout 1, no limit\n", gossipsim.Pittel(p.N))
	fmt.Fprintf(tw, "log3 n + ln ln n\t%.1f rounds\tKarp et al.: push-pull, fanout 1\n", gossipsim.Karp(p.N))
	thin := (1 - p.Loss) * (1 - p.Failed)
	kf := float64(p.Fanout) * thin
	fmt.Fprintf(tw, "s=e^(-k(1-s))\tresidue %s\tforward: k = fanout·(1-loss)·(1-failed) = %.2f\n", residue(gossipsim.Residue(kf)), kf)
	if l := p.Limit(); l > 0 {
		kp := float64(l) * thin
		fmt.Fprintf(tw, "s=e^(-k(1-s))\tresidue %s\tpush: k = limit·(1-loss)·(1-failed) = %.2f\n", residue(gossipsim.Residue(kp)), kp)
	}
	tw.Flush()
}

// reach says when a model curve reaches 99 % and all, or where it stops.
func reach(curve []float64, live int, unit string) string {
	t99 := gossipsim.FirstRound(curve, 0.99)
	tAll := gossipsim.FirstRound(curve, gossipsim.AllTarget(live))
	switch {
	case tAll >= 0:
		return fmt.Sprintf("99%% at %s %d, all at %s %d", unit, t99, unit, tAll)
	case t99 >= 0:
		return fmt.Sprintf("99%% at %s %d, stops at %s", unit, t99, pct(curve[len(curve)-1]))
	}
	return "stops at " + pct(curve[len(curve)-1])
}

// chart builds the plot: one solid curve per simulated mode, its mean-field
// recurrence dashed, the single-sender models in grey and the two bounds as
// markers.
func (r *report) chart() chart {
	p := r.o.p
	colors := map[gossipsim.Mode]string{
		gossipsim.Push: "#1f77b4", gossipsim.Pull: "#2ca02c",
		gossipsim.PushPull: "#d62728", gossipsim.Forward: "#9467bd",
	}
	xmax := float64(max(r.rows-1, 1))
	markers := []marker{
		{X: gossipsim.Karp(p.N), Label: "log3 n + ln ln n (push-pull, f=1)", Color: "#8c564b"},
		{X: gossipsim.Pittel(p.N), Label: "log2 n + ln n (push, f=1)", Color: "#ff7f0e"},
	}
	var shown []marker
	for _, m := range markers {
		// Off the chart, or so close to the y axis it would be unreadable.
		if m.X > 0 && m.X <= 3*xmax && m.X >= xmax/20 {
			shown = append(shown, m)
			xmax = max(xmax, math.Ceil(m.X+1))
		}
	}
	n := int(xmax) + 1
	c := chart{
		Title: fmt.Sprintf("Gossip dissemination of one update: n=%d (%d live), fanout %d", p.N, p.Live(), p.Fanout),
		Subtitle: fmt.Sprintf("interval %v, hop %v, loss %v, failed %v, push retransmit limit %s, %s timers, %d trials, seed %d",
			p.Interval, p.HopLatency, p.Loss, p.Failed, limitString(p), p.Timers, p.Trials, r.o.seed),
		XLabel:  r.xLabel(),
		XMax:    xmax,
		Markers: shown,
	}
	for k, res := range r.results {
		col := colors[res.Mode]
		name := fmt.Sprintf("%s (simulated)", res.Mode)
		if res.Mode == gossipsim.Forward {
			name = "forward-on-accept by hop (simulated)"
		}
		// Earlier curves are drawn wider so that coinciding ones (push and
		// pull grow alike at first) both stay visible.
		c.Series = append(c.Series, series{Name: name, Color: col, Width: 4 - 0.5*float64(k), Y: res.Mean})
		mfName := res.Mode.String() + " mean-field recurrence"
		if p.Timers == gossipsim.Staggered && res.Mode.Ticked() {
			mfName += " (lockstep)"
		}
		if p.AntiEntropy > 0 && res.Mode == gossipsim.Push {
			mfName += " (no anti-entropy)"
		}
		c.Series = append(c.Series, series{Name: mfName, Color: col, Dash: "6 4", Width: 1.3, Y: r.meanField[k]})
	}
	simple := make([]float64, n)
	fan := make([]float64, n)
	for i := range n {
		simple[i] = gossipsim.Simple(p.N, i)
		fan[i] = gossipsim.FanoutModel(p.N, p.Fanout, i)
	}
	c.Series = append(c.Series,
		series{Name: "simple model 1-(1-1/n)^t", Color: "#7f7f7f", Dash: "8 4", Width: 1.5, Y: simple},
		series{Name: fmt.Sprintf("fanout model 1-(1-%d/n)^t", p.Fanout), Color: "#7f7f7f", Dash: "2 3", Width: 1.5, Y: fan})
	return c
}

func (r *report) xLabel() string {
	p := r.o.p
	switch {
	case r.forward == nil:
		return fmt.Sprintf("round (× %v)", p.Interval)
	case len(r.ticked) == 0:
		return fmt.Sprintf("hop (× %v)", p.HopLatency)
	}
	return fmt.Sprintf("round (× %v); forward: hop (× %v)", p.Interval, p.HopLatency)
}

func limitString(p gossipsim.Params) string {
	if l := p.Limit(); l > 0 {
		return strconv.Itoa(l)
	}
	return "unlimited"
}

func mean(s gossipsim.Stats) string {
	if s.Trials == 0 {
		return "never"
	}
	return strconv.FormatFloat(s.Mean, 'f', 2, 64)
}

func pctl(s gossipsim.Stats, v int) string {
	if s.Trials == 0 {
		return "-"
	}
	return strconv.Itoa(v)
}

func durStat(s gossipsim.Stats, steps float64, step time.Duration) string {
	if s.Trials == 0 {
		return "never"
	}
	return dur(time.Duration(steps * float64(step)))
}

func residue(v float64) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v*100, 'g', 3, 64) + "%"
}

// dur prints a duration rounded to three significant digits: 1.63s, 1s,
// 9ms, 250µs.
func dur(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	x := float64(d)
	unit := math.Pow(10, math.Floor(math.Log10(x))-2)
	x = math.Round(x/unit) * unit
	switch {
	case x >= float64(time.Second):
		return strconv.FormatFloat(x/float64(time.Second), 'f', -1, 64) + "s"
	case x >= float64(time.Millisecond):
		return strconv.FormatFloat(x/float64(time.Millisecond), 'f', -1, 64) + "ms"
	}
	return strconv.FormatFloat(x/float64(time.Microsecond), 'f', -1, 64) + "µs"
}
