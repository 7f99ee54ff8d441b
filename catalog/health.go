package catalog

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/murmurhq/murmur/internal/clock"
)

// Health checks of local service instances. Every check starts critical
// and becomes passing only after success_before_passing consecutive passes
// (default 1); it becomes critical after failures_before_critical
// consecutive failures (default 1). Warnings (HTTP 429) are reported as
// they come. A TTL check is critical unless refreshed within its TTL.

// maxCheckOutput bounds the output kept (and replicated) per check.
const maxCheckOutput = 256

// checkResult is one probe's outcome.
type checkResult struct {
	health Health
	output string
}

// checkRunner runs one service's check and reports status changes.
type checkRunner struct {
	def    Check
	clk    clock.Clock
	http   *http.Client
	report func(health Health, output string) // called on every status change

	mu sync.Mutex
	// health/output are the damped status; passes/fails count consecutive
	// raw results; ttlTimer re-arms on each TTL refresh. Guarded by mu.
	health   Health
	output   string
	passes   int
	fails    int
	ttlTimer clock.Timer
	// counts, when set (before run), counts runs and health changes.
	counts *checkCounters
}

func newCheckRunner(def Check, clk clock.Clock, report func(Health, string)) *checkRunner {
	if def.SuccessBeforePassing < 1 {
		def.SuccessBeforePassing = 1
	}
	if def.FailuresBeforeCritical < 1 {
		def.FailuresBeforeCritical = 1
	}
	if def.Interval <= 0 {
		def.Interval = defaultInterval
	}
	if def.Timeout <= 0 {
		def.Timeout = defaultTimeout
	}
	return &checkRunner{
		def:    def,
		clk:    clk,
		report: report,
		health: HealthCritical,
		output: "no check result yet",
		http: &http.Client{
			Timeout: def.Timeout,
			// A check is about this URL, not where it redirects to.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// status returns the current damped health and output.
func (c *checkRunner) status() (Health, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health, c.output
}

// run probes every interval until ctx ends; TTL checks only wait for
// expiry.
func (c *checkRunner) run(ctx context.Context) {
	if c.def.TTL > 0 {
		c.runTTL(ctx)
		return
	}
	t := c.clk.NewTicker(c.def.Interval)
	defer t.Stop()
	for {
		c.record(c.probe(ctx))
		select {
		case <-t.C():
		case <-ctx.Done():
			return
		}
	}
}

func (c *checkRunner) probe(ctx context.Context) checkResult {
	ctx, cancel := context.WithTimeout(ctx, c.def.Timeout)
	defer cancel()
	switch {
	case c.def.TCP != "":
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.def.TCP)
		if err != nil {
			return checkResult{HealthCritical, "tcp: " + err.Error()}
		}
		conn.Close()
		return checkResult{HealthPassing, "tcp: connected to " + c.def.TCP}
	case c.def.HTTP != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.def.HTTP, nil)
		if err != nil {
			return checkResult{HealthCritical, "http: " + err.Error()}
		}
		req.Header.Set("User-Agent", "murmur-health-check")
		resp, err := c.http.Do(req)
		if err != nil {
			return checkResult{HealthCritical, "http: " + err.Error()}
		}
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
		out := fmt.Sprintf("http: GET %s: %s", c.def.HTTP, resp.Status)
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return checkResult{HealthPassing, out}
		case resp.StatusCode == http.StatusTooManyRequests:
			return checkResult{HealthWarning, out}
		}
		return checkResult{HealthCritical, out}
	}
	return checkResult{HealthCritical, "no check configured"}
}

// record applies one raw result through the damping counters.
func (c *checkRunner) record(r checkResult) {
	if len(r.output) > maxCheckOutput {
		r.output = r.output[:maxCheckOutput]
	}
	c.mu.Lock()
	next := c.health
	switch r.health {
	case HealthPassing:
		c.passes++
		c.fails = 0
		if c.passes >= c.def.SuccessBeforePassing {
			next = HealthPassing
		}
	case HealthWarning:
		c.passes, c.fails = 0, 0
		next = HealthWarning
	default:
		c.fails++
		c.passes = 0
		if c.fails >= c.def.FailuresBeforeCritical {
			next = HealthCritical
		}
	}
	changed := next != c.health
	c.health = next
	if next == r.health {
		c.output = r.output
	}
	c.mu.Unlock()
	c.counts.ran(r.health)
	if changed {
		c.counts.changed(next)
		c.report(next, r.output)
	}
}

// runTTL turns the check critical whenever its TTL passes without a
// refresh.
func (c *checkRunner) runTTL(ctx context.Context) {
	c.mu.Lock()
	c.ttlTimer = c.clk.NewTimer(c.def.TTL)
	timer := c.ttlTimer
	c.mu.Unlock()
	defer timer.Stop()
	for {
		select {
		case <-timer.C():
			c.mu.Lock()
			expired := c.health != HealthCritical
			c.health, c.output = HealthCritical, "ttl expired"
			c.passes, c.fails = 0, 0
			c.mu.Unlock()
			c.counts.ran(HealthCritical)
			if expired {
				c.counts.changed(HealthCritical)
				c.report(HealthCritical, "ttl expired")
			}
		case <-ctx.Done():
			return
		}
	}
}

// updateTTL sets the health of a TTL check and restarts its TTL.
func (c *checkRunner) updateTTL(health Health, note string) error {
	if c.def.TTL <= 0 {
		return ErrNotTTL
	}
	c.mu.Lock()
	if c.ttlTimer != nil {
		c.ttlTimer.Reset(c.def.TTL)
	}
	changed := c.health != health || c.output != note
	if c.health != health {
		c.counts.changed(health)
	}
	c.health, c.output = health, note
	c.mu.Unlock()
	c.counts.ran(health)
	if changed {
		c.report(health, note)
	}
	return nil
}
