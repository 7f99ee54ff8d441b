package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/murmurhq/murmur/agent"
)

// The runner itself is exercised by running it (go run ./test/bench); these
// tests cover its parsers and arithmetic, which must not silently turn a
// tool's output into a wrong figure.

func TestPercentile(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100..1, unsorted
	}
	tests := []struct {
		name string
		xs   []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, 0},
		{"one", []float64{7}, 99, 7},
		{"p50 of 100", xs, 50, 50},
		{"p99 of 100", xs, 99, 99},
		{"p100 is max", xs, 100, 100},
		{"p1 is min", xs, 1, 1},
		{"p99 of 10 is max", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.xs, tc.p); got != tc.want {
				t.Fatalf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
	if xs[0] != 100 {
		t.Fatal("percentile sorted its input")
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1}, 2}, {[]float64{5, 1, 3}, 3}}
	for _, tc := range tests {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestParseDNSPerf(t *testing.T) {
	var b strings.Builder
	b.WriteString("DNS Performance Testing Tool\n[Status] Sending queries (to 127.0.0.1:8600)\n")
	for i := 1; i <= 100; i++ {
		rcode := "NOERROR"
		if i == 50 {
			rcode = "SERVFAIL"
		}
		fmt.Fprintf(&b, "> %s svc00.service.murmur A 0.000%03d\n", rcode, i)
	}
	b.WriteString(`
Statistics:

  Queries sent:         100
  Queries completed:    99 (99.00%)
  Queries lost:         1 (1.00%)

  Response codes:       NOERROR 98 (98.99%), SERVFAIL 1 (1.01%)
  Average packet size:  request 38, response 235
  Run time (s):         1.000812
  Queries per second:   66301.163455

  Average Latency (s):  0.001243 (min 0.000016, max 0.012511)
`)
	pr, err := parseDNSPerf(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if pr.Sent != 100 || pr.Completed != 99 || pr.Lost != 1 || pr.QPS != 66301.163455 || pr.Errors != 1 {
		t.Fatalf("parsed %+v", pr)
	}
	if pr.P50 != 0.000050 || pr.P99 != 0.000099 {
		t.Fatalf("p50 %v p99 %v, want 5e-05 and 9.9e-05", pr.P50, pr.P99)
	}
	if _, err := parseDNSPerf(strings.NewReader("[Status] nothing\n")); err == nil {
		t.Fatal("no statistics: want an error")
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkQuery/A/murmur-2         	 200000	       381.2 ns/op	       0 B/op	       0 allocs/op
BenchmarkAntiEntropy/diverged-1pct/keys=100000-2         	      10	   5417676 ns/op	    185982 bytes/exchange	     95756 diverged-entry-bytes	         1.942 ratio
BenchmarkNoProcs 	 5	 10 ns/op
PASS
ok  	github.com/murmurhq/murmur/dnsserver	1.2s
`
	lines := parseBench(out)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3: %+v", len(lines), lines)
	}
	if lines[0].name != "BenchmarkQuery/A/murmur" || lines[0].metrics["allocs/op"] != 0 || lines[0].metrics["ns/op"] != 381.2 {
		t.Errorf("line 0: %+v", lines[0])
	}
	if l := lines[1]; l.name != "BenchmarkAntiEntropy/diverged-1pct/keys=100000" || l.metrics["bytes/exchange"] != 185982 || l.metrics["ratio"] != 1.942 {
		t.Errorf("line 1: %+v", l)
	}
	if lines[2].name != "BenchmarkNoProcs" {
		t.Errorf("line 2: %+v", lines[2])
	}
}

func TestParseSimTime(t *testing.T) {
	out := `Time (rounds × step)
mode  99%: mean  p99  100%: mean  p99  last informed: mean  p99
push  601ms      1s   601ms       1.2s   601ms                1s
forward  8ms        8ms  never       never  8.12ms               10ms
`
	st, err := parseSimTime(out, "push")
	if err != nil {
		t.Fatal(err)
	}
	want := simTime{mean99: 601 * time.Millisecond, p99at99: time.Second, mean100: 601 * time.Millisecond, p99at100: 1200 * time.Millisecond}
	if st != want {
		t.Fatalf("push: got %+v, want %+v", st, want)
	}
	st, err = parseSimTime(out, "forward")
	if err != nil || st.mean99 != 8*time.Millisecond || st.mean100 != 0 {
		t.Fatalf("forward: got %+v, %v", st, err)
	}
	if _, err := parseSimTime(out, "pull"); err == nil {
		t.Fatal("missing mode: want an error")
	}
}

func TestMetricValues(t *testing.T) {
	text := `# HELP murmur_kv_messages_sent_total configsync messages
# TYPE murmur_kv_messages_sent_total counter
murmur_kv_messages_sent_total{kind="update"} 60
murmur_kv_messages_sent_total{kind="summary"} 4
murmur_kv_messages_sent_total_other 9
go_memstats_next_gc_bytes 4.194304e+06
`
	got := metricValues(text, "murmur_kv_messages_sent_total")
	if len(got) != 2 || got[`kind="update"`] != 60 || got[`kind="summary"`] != 4 {
		t.Fatalf("got %v", got)
	}
	if v := metricValues(text, "go_memstats_next_gc_bytes")[""]; v != 4194304 {
		t.Fatalf("next_gc %v", v)
	}
}

func TestCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n"
	if got := cpuModel(info); got != "AMD EPYC 7B13" {
		t.Fatalf("cpuModel = %q", got)
	}
	if got := cpuModel("nothing"); got != "unknown" {
		t.Fatalf("cpuModel = %q", got)
	}
}

func TestArrivals(t *testing.T) {
	a := newArrivals(3)
	t0 := time.Unix(1000, 0)
	done := a.expect("k")
	a.saw("other", 0, t0) // not registered: ignored
	a.saw("k", 0, t0.Add(10*time.Millisecond))
	a.saw("k", 0, t0.Add(90*time.Millisecond)) // only the first sighting counts
	a.saw("k", 2, t0.Add(30*time.Millisecond))
	select {
	case <-done:
		t.Fatal("done before every observer saw the key")
	default:
	}
	all, _, cens := a.spread("k", t0, time.Second)
	if !cens || all != time.Second {
		t.Fatalf("incomplete spread: all %v censored %v, want the limit and censored", all, cens)
	}
	a.saw("k", 1, t0.Add(20*time.Millisecond))
	<-done
	all, half, cens := a.spread("k", t0, time.Second)
	if cens || all != 30*time.Millisecond || half != 20*time.Millisecond {
		t.Fatalf("spread: all %v half %v censored %v", all, half, cens)
	}
}

func TestDNSFixtures(t *testing.T) {
	qs := dnsQueries()
	if len(qs) != 2*dnsServices {
		t.Fatalf("%d questions", len(qs))
	}
	lines := strings.Split(strings.TrimSpace(queryFile(qs)), "\n")
	if lines[0] != "svc00.service.murmur A" || lines[1] != "svc00.service.murmur SRV" {
		t.Fatalf("query file starts %q", lines[:2])
	}
	// The generated agent config must be one agentd accepts, with every
	// instance.
	path := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(path, []byte(dnsServiceConfig()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := agent.LoadFile(path, agent.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != dnsServices*dnsInstances || cfg.Gossip.Profile != "lan" {
		t.Fatalf("%d services, profile %q", len(cfg.Services), cfg.Gossip.Profile)
	}
	if qs[1].Qtype != dns.TypeSRV {
		t.Fatalf("second question type %d", qs[1].Qtype)
	}
}

func TestCounts(t *testing.T) {
	got, err := counts("x", " 10, 200 ,")
	if err != nil || len(got) != 2 || got[0] != 10 || got[1] != 200 {
		t.Fatalf("counts = %v, %v", got, err)
	}
	if _, err := counts("mem-keys", "10,-1"); err == nil || !strings.Contains(err.Error(), "-mem-keys") {
		t.Fatalf("bad count: %v", err)
	}
}

func TestSignTest(t *testing.T) {
	for _, c := range []struct {
		k, n int
		p    float64
	}{{8, 8, 2.0 / 256}, {0, 8, 2.0 / 256}, {7, 8, 18.0 / 256}, {4, 8, 1}, {6, 6, 2.0 / 64}, {1, 2, 1}} {
		if got := signTest(c.k, c.n); math.Abs(got-c.p) > 1e-12 {
			t.Errorf("signTest(%d, %d) = %v, want %v", c.k, c.n, got, c.p)
		}
	}
}

func TestPairedMove(t *testing.T) {
	// Flapping slower by 0.3 in every pair, steady runs 0.1 apart: moved.
	m := pairedMove([]float64{0.5, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6}, []float64{0.8, 0.9, 0.8, 0.9, 0.8, 0.9, 0.8, 0.9})
	if m.slower != 8 || m.pairs != 8 || math.Abs(m.move-0.3) > 1e-9 || math.Abs(m.noise-0.1) > 1e-9 || m.still() {
		t.Errorf("a consistent move: %+v, still %v", m, m.still())
	}
	// Differences of either sign within the steady noise: still.
	m = pairedMove([]float64{0.5, 0.8, 0.4, 0.7, 0.5, 0.9, 0.6, 0.5}, []float64{0.6, 0.7, 0.5, 0.6, 0.6, 0.8, 0.5, 0.6})
	if !m.still() {
		t.Errorf("moves within the noise: %+v, want still", m)
	}
	// Small but one-sided in every pair: not still (the sign test).
	m = pairedMove([]float64{0.5, 0.9, 0.4, 0.8, 0.5, 0.9, 0.4, 0.8}, []float64{0.55, 0.95, 0.45, 0.85, 0.55, 0.95, 0.45, 0.85})
	if m.still() || m.p >= 0.05 {
		t.Errorf("slower in every pair: %+v, want moved", m)
	}
}

func TestFlapOrder(t *testing.T) {
	// Every round runs both kinds once, and over the rounds each kind
	// comes right after the steady run equally often.
	first := map[string]int{}
	for r := 1; r <= 8; r++ {
		got := flapOrder(r, "flapping", "neighbour")
		if len(got) != 2 || got[0] == got[1] {
			t.Fatalf("round %d: order %v, want each kind once", r, got)
		}
		first[got[0]]++
	}
	if first["flapping"] != 4 || first["neighbour"] != 4 {
		t.Errorf("first in a round over 8 rounds: %v, want 4 each", first)
	}
}
