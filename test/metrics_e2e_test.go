package test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var metricName = regexp.MustCompile(`murmur_[a-z_]+`)

// onFirstEvent are labelled series that exist only once their first event
// happened (the label's value comes from the event).
var onFirstEvent = map[string]bool{"murmur_remote_errors_total": true}

// exported returns the metric family names in a /metrics text answer.
func exported(text string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.Lines(text) {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			out[strings.Fields(name)[0]] = true
		}
	}
	return out
}

// family maps a series name (a histogram's _bucket, ...) to its family.
func family(name string, have map[string]bool) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && have[base] {
			return base
		}
	}
	return name
}

// TestMetricNamesAreServed checks that every murmur_* name in
// docs/metrics.md and in the Grafana dashboard is served by a real agentd,
// and that every served murmur_* family is documented.
func TestMetricNamesAreServed(t *testing.T) {
	watch := fmt.Sprintf("\n[[watch]]\ntype = \"members\"\nhandler = [%q]\n", "true")
	start := time.Now()
	ps := cluster(t, 2, agentOpts{config: fastGossip + watch})
	t.Logf("cluster up in %v", time.Since(start))
	ps[0].put(t, "app/x", "1")
	// One DNS answer, so the per-rcode series exists.
	m := new(dns.Msg)
	m.SetQuestion("node1.node.murmur.", dns.TypeA)
	if _, err := dns.Exchange(m, ps[1].dnsAddr); err != nil {
		t.Fatalf("DNS query: %v", err)
	}
	var have map[string]bool
	eventually(t, 20*time.Second, "memberlist and propagation metrics", func() bool {
		have = exported(ps[1].metrics(t))
		return have["murmur_memberlist_probe_seconds"] && have["murmur_kv_propagation_seconds"] && have["murmur_watch_handler_runs_total"]
	})
	t.Logf("metrics served after %v", time.Since(start))
	docs, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile("../examples/grafana/murmur.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("examples/grafana/murmur.json: %v", err)
	}
	var exprs strings.Builder
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs.WriteString(tg.Expr + "\n")
		}
	}
	documented := map[string]bool{}
	for _, src := range []struct{ name, text string }{{"docs/metrics.md", string(docs)}, {"examples/grafana/murmur.json", exprs.String()}} {
		for _, n := range metricName.FindAllString(src.text, -1) {
			if strings.HasSuffix(n, "_") || strings.HasSuffix(n, "_total_") {
				continue // a "..._" abbreviation in prose
			}
			f := family(n, have)
			if src.name == "docs/metrics.md" {
				documented[f] = true
			}
			if !have[f] && !onFirstEvent[f] {
				t.Errorf("%s names %s, which agentd does not serve", src.name, n)
			}
		}
	}
	var undocumented []string
	for n := range have {
		if strings.HasPrefix(n, "murmur_") && !documented[n] && !abbreviated(string(docs), n) {
			undocumented = append(undocumented, n)
		}
	}
	slices.Sort(undocumented)
	if len(undocumented) > 0 {
		t.Errorf("served but not in docs/metrics.md: %v", undocumented)
	}
}

// abbreviated reports whether docs lists name as "..._suffix" after a
// sibling with the same prefix.
func abbreviated(docs, name string) bool {
	i := strings.LastIndex(name[:len(name)-1], "_")
	for i > len("murmur") {
		if strings.Contains(docs, "`..."+name[i:]+"`") {
			return true
		}
		i = strings.LastIndex(name[:i], "_")
	}
	return false
}
