package main

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// runCLI runs the command in-process with small settings unless overridden
// (later flags win).
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	base := []string{"-n", "200", "-trials", "40", "-svg", ""}
	code = run(append(base, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunPrintsCurvesSummaryAndPlot(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "out.svg")
	code, out, errs := runCLI(t, "-svg", svg)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{
		"n=200 (200 live) fanout=3 interval=200ms",
		"Live nodes informed after each round",
		"simple 1-(1-1/n)^t",
		"Forward-on-accept",
		"Rounds (hops for forward)",
		"Time (rounds × step)",
		"Closed forms",
		"log2 n + ln n",
		"residue",
		"wrote " + svg,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, m := range []string{"push ", "pull ", "pushpull ", "forward "} {
		if !strings.Contains(out, "\n"+m) {
			t.Errorf("summary lacks a %q row", m)
		}
	}
	f, err := os.Open(svg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	paths := wellFormed(t, f)
	// 4 modes × (simulated + mean field) + 2 single-sender models.
	if paths != 10 {
		t.Errorf("svg has %d curves, want 10", paths)
	}
}

func TestRunCSV(t *testing.T) {
	code, out, errs := runCLI(t, "-csv", "-mode", "pushpull")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("stdout is not CSV: %v\n%s", err, out)
	}
	if strings.Join(recs[0], ",") != "series,step,time_s,fraction" {
		t.Fatalf("header %v", recs[0])
	}
	seen := map[string]int{}
	for _, r := range recs[1:] {
		seen[r[0]]++
		v, err := strconv.ParseFloat(r[3], 64)
		if err != nil || v < 0 || v > 1 {
			t.Fatalf("bad fraction in %v", r)
		}
		if _, err := strconv.ParseFloat(r[2], 64); err != nil {
			t.Fatalf("bad time in %v", r)
		}
	}
	for _, s := range []string{"pushpull", "pushpull-meanfield", "simple", "fanout-model"} {
		if seen[s] == 0 {
			t.Errorf("no rows for series %q (have %v)", s, seen)
		}
	}
	if !strings.Contains(errs, "Closed forms") {
		t.Errorf("summary should go to stderr with -csv, got %q", errs)
	}
}

func TestRunSingleMode(t *testing.T) {
	_, out, _ := runCLI(t, "-mode", "push")
	if strings.Contains(out, "Forward-on-accept") || strings.Contains(out, "\npull ") {
		t.Errorf("-mode push printed other modes:\n%s", out)
	}
	_, out, _ = runCLI(t, "-mode", "forward")
	if strings.Contains(out, "after each round") || !strings.Contains(out, "Forward-on-accept") {
		t.Errorf("-mode forward printed:\n%s", out)
	}
}

// Each mode has its own random stream: its numbers do not depend on which
// other modes ran, and the same seed prints the same thing.
func TestRunDeterministicPerMode(t *testing.T) {
	row := func(out, mode string) string {
		for l := range strings.SplitSeq(out, "\n") {
			if strings.HasPrefix(l, mode+" ") && strings.Contains(l, "/40") {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		t.Fatalf("no %s summary row in:\n%s", mode, out)
		return ""
	}
	_, all, _ := runCLI(t, "-seed", "9", "-loss", "0.1")
	_, all2, _ := runCLI(t, "-seed", "9", "-loss", "0.1")
	_, one, _ := runCLI(t, "-seed", "9", "-loss", "0.1", "-mode", "pull")
	if all != all2 {
		t.Error("same seed, different output")
	}
	if row(all, "pull") != row(one, "pull") {
		t.Errorf("pull differs alone and in all:\n%s\n%s", row(all, "pull"), row(one, "pull"))
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"n zero", []string{"-n", "0"}, 2, "n = 0"},
		{"loss one", []string{"-loss", "1"}, 2, "loss = 1"},
		{"failed", []string{"-failed", "1.5"}, 2, "failed = 1.5"},
		{"fanout", []string{"-fanout", "0"}, 2, "fanout = 0"},
		{"mode", []string{"-mode", "gossip"}, 2, "-mode"},
		{"timers", []string{"-timers", "sync"}, 2, "-timers"},
		{"trials", []string{"-trials", "0"}, 2, "trials = 0"},
		{"not a number", []string{"-fanout", "three"}, 2, "-fanout"},
		{"unknown flag", []string{"-nodes", "5"}, 2, "-nodes"},
		{"stray argument", []string{"extra"}, 2, `unexpected argument "extra"`},
		{"svg unwritable", []string{"-svg", filepath.Join(os.DevNull, "x.svg")}, 1, "writing svg"},
		{"help", []string{"-h"}, 0, "usage: gossipsim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errs, tt.code, tt.want)
			}
		})
	}
}

func TestRowsToShow(t *testing.T) {
	rows, stride := rowsToShow(10)
	if len(rows) != 10 || stride != 1 {
		t.Errorf("rowsToShow(10) = %v, %d", rows, stride)
	}
	rows, stride = rowsToShow(1000)
	if len(rows) > 62 || rows[len(rows)-1] != 999 || rows[24] != 24 || stride < 2 {
		t.Errorf("rowsToShow(1000): %d rows, stride %d, last %d", len(rows), stride, rows[len(rows)-1])
	}
	for i := 1; i < len(rows); i++ {
		if rows[i] <= rows[i-1] {
			t.Fatalf("rows not increasing: %v", rows)
		}
	}
}

func TestFormatting(t *testing.T) {
	durs := map[int64]string{
		0: "0s", 1_630_000_000: "1.63s", 999_800_000: "1s", 9_000_000: "9ms",
		10_540_000: "10.5ms", 250_000: "250µs", 200_000_000: "200ms", 921_000_000_000: "921s",
	}
	for ns, want := range durs {
		if got := dur(timeDuration(ns)); got != want {
			t.Errorf("dur(%d) = %q, want %q", ns, got, want)
		}
	}
	pcts := map[float64]string{1: "100%", 0.99999: ">99.99%", 0.5: "50.00%", 0.001: "0.10%"}
	for v, want := range pcts {
		if got := pct(v); got != want {
			t.Errorf("pct(%v) = %q, want %q", v, got, want)
		}
	}
	if residue(0) != "0" || residue(0.0595) != "5.95%" {
		t.Errorf("residue: %q %q", residue(0), residue(0.0595))
	}
}

// wellFormed parses an SVG document fully and returns its <path> count.
func wellFormed(t *testing.T, r io.Reader) int {
	t.Helper()
	d := xml.NewDecoder(r)
	paths, root := 0, ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "path" {
				paths++
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q", root)
	}
	return paths
}
