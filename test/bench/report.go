package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// Result is one measured figure. The runner prints each as a RESULT line
// of JSON as soon as it is known, and all of them again in the summary.
type Result struct {
	// Figure is the figure number of issue #6 ("1" DNS ... "6" failure
	// detection, "sim" the simulator comparison).
	Figure string `json:"figure"`
	// Name identifies the figure, e.g. "dns.qps.murmur".
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Target is the goal, e.g. "<= 0.5 s"; empty when there is none.
	Target string `json:"target,omitempty"`
	// Met is "yes" or "no" when there is a target.
	Met string `json:"met,omitempty"`
	// Command reproduces the figure.
	Command string `json:"command"`
	Note    string `json:"note,omitempty"`
}

// Machine describes where the figures were measured.
type Machine struct {
	Date      string `json:"date"`
	NProc     int    `json:"nproc"`
	CPU       string `json:"cpu"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end,omitempty"`
	Commit    string `json:"commit,omitempty"`
	Dirty     bool   `json:"dirty,omitempty"`
}

// Summary is the whole machine-readable output.
type Summary struct {
	Machine Machine  `json:"machine"`
	Command string   `json:"command"`
	Seconds float64  `json:"seconds"`
	Results []Result `json:"results"`
	Skipped []string `json:"skipped,omitempty"`
	Errors  []string `json:"errors,omitempty"`
}

// recorder collects results; safe for concurrent use.
type recorder struct {
	out io.Writer

	mu sync.Mutex
	// results, skipped and errs are guarded by mu.
	results []Result
	skipped []string
	errs    []string
}

func (r *recorder) add(res Result) {
	b, _ := json.Marshal(res)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
	fmt.Fprintf(r.out, "RESULT %s\n", b)
}

func (r *recorder) skip(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped = append(r.skipped, msg)
	fmt.Fprintf(r.out, "SKIP %s\n", msg)
}

func (r *recorder) fail(step string, err error) {
	msg := fmt.Sprintf("%s: %v", step, err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, msg)
	fmt.Fprintf(r.out, "ERROR %s\n", msg)
}

// target returns "yes" or "no" for a value against a bound.
func target(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func machineInfo() Machine {
	m := Machine{
		Date:      time.Now().UTC().Format(time.RFC3339),
		NProc:     runtime.NumCPU(),
		Go:        runtime.Version(),
		LoadStart: loadAvg(),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = cpuModel(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		m.Dirty = len(strings.TrimSpace(string(out))) > 0
	}
	return m
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// writeSummary prints a human table, then the JSON summary between
// markers, and writes the JSON to path when path is set.
func writeSummary(w io.Writer, s Summary, path string) error {
	sort.SliceStable(s.Results, func(i, j int) bool { return s.Results[i].Figure < s.Results[j].Figure })
	fmt.Fprintf(w, "\n==== Murmur benchmarks: %s, %d CPU %s, kernel %s, %s, load %s → %s, %.0fs\n",
		s.Machine.Date, s.Machine.NProc, s.Machine.CPU, s.Machine.Kernel, s.Machine.Go,
		s.Machine.LoadStart, s.Machine.LoadEnd, s.Seconds)
	fmt.Fprintf(w, "%-4s %-56s %14s %-8s %-14s %s\n", "fig", "name", "value", "unit", "target", "met")
	for _, r := range s.Results {
		fmt.Fprintf(w, "%-4s %-56s %14s %-8s %-14s %s\n", r.Figure, r.Name, formatValue(r.Value), r.Unit, r.Target, r.Met)
	}
	for _, sk := range s.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", sk)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "==== BEGIN SUMMARY JSON\n%s\n==== END SUMMARY JSON\n", b)
	if path != "" {
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("bench: write summary: %w", err)
		}
	}
	return nil
}

// formatValue prints v with a precision that suits its size.
func formatValue(v float64) string {
	switch a := abs(v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
