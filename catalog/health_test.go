package catalog

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/clock"
	"github.com/murmurhq/murmur/internal/testutil"
)

// reports collects a check's status changes.
type reports struct {
	mu  sync.Mutex
	got []Health
}

func (r *reports) add(h Health, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, h)
}

func (r *reports) last() Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return HealthUnknown
	}
	return r.got[len(r.got)-1]
}

func TestHTTPCheckStatusMapping(t *testing.T) {
	var code atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		code int32
		want Health
	}{{200, HealthPassing}, {204, HealthPassing}, {429, HealthWarning}, {500, HealthCritical}, {302, HealthCritical}, {404, HealthCritical}} {
		code.Store(tc.code)
		c := newCheckRunner(Check{HTTP: srv.URL}, clock.Real{}, func(Health, string) {})
		if got := c.probe(context.Background()); got.health != tc.want {
			t.Errorf("HTTP %d: %s, want %s (%s)", tc.code, got.health, tc.want, got.output)
		}
	}
}

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := newCheckRunner(Check{TCP: ln.Addr().String(), Timeout: time.Second}, clock.Real{}, func(Health, string) {})
	if r := c.probe(context.Background()); r.health != HealthPassing {
		t.Fatalf("open port: %+v", r)
	}
	ln.Close()
	if r := c.probe(context.Background()); r.health != HealthCritical {
		t.Fatalf("closed port: %+v", r)
	}
}

func TestCheckDamping(t *testing.T) {
	var r reports
	c := newCheckRunner(Check{TCP: "x", SuccessBeforePassing: 2, FailuresBeforeCritical: 3}, clock.Real{}, r.add)
	pass := checkResult{HealthPassing, "ok"}
	fail := checkResult{HealthCritical, "down"}
	steps := []struct {
		in   checkResult
		want Health
	}{
		{pass, HealthCritical}, // initial critical; 1 of 2 passes
		{pass, HealthPassing},
		{fail, HealthPassing}, // 1 of 3 failures
		{fail, HealthPassing},
		{pass, HealthPassing}, // resets the failure count
		{fail, HealthPassing},
		{fail, HealthPassing},
		{fail, HealthCritical},
		{checkResult{HealthWarning, "429"}, HealthWarning},
	}
	for i, s := range steps {
		c.record(s.in)
		if h, _ := c.status(); h != s.want {
			t.Fatalf("step %d: %s, want %s", i, h, s.want)
		}
	}
	if got := len(r.got); got != 3 {
		t.Fatalf("reported %d changes (%v), want 3", got, r.got)
	}
}

func TestTTLCheck(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	var r reports
	c := newCheckRunner(Check{TTL: time.Duration(10 * time.Second)}, clk, r.add)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testutil.WaitFor(t, 30*time.Second, "ttl timer armed", func() bool { return clk.Waiters() == 1 })

	if err := c.updateTTL(HealthPassing, "fine"); err != nil {
		t.Fatal(err)
	}
	if h, out := c.status(); h != HealthPassing || out != "fine" {
		t.Fatalf("after pass: %s %q", h, out)
	}
	clk.Advance(9 * time.Second)
	if err := c.updateTTL(HealthPassing, "fine"); err != nil { // refresh in time
		t.Fatal(err)
	}
	clk.Advance(9 * time.Second)
	if h, _ := c.status(); h != HealthPassing {
		t.Fatalf("refreshed check expired: %s", h)
	}
	clk.Advance(2 * time.Second)
	testutil.WaitFor(t, 30*time.Second, "ttl expiry", func() bool { h, _ := c.status(); return h == HealthCritical })
	// The runner reports after it sets the status: wait for the report too.
	testutil.WaitFor(t, 30*time.Second, "ttl expiry reported", func() bool { return r.last() == HealthCritical })

	tcp := newCheckRunner(Check{TCP: "127.0.0.1:1"}, clk, r.add)
	if err := tcp.updateTTL(HealthPassing, ""); err != ErrNotTTL {
		t.Fatalf("updateTTL on a tcp check = %v", err)
	}
}
