package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/internal/clock"
)

// Health checks of local service instances. Every check starts critical
// and becomes passing only after success_before_passing consecutive passes
// (default 1); it becomes critical after failures_before_critical
// consecutive failures (default 1). Warnings (HTTP 429) are reported as
// they come. A TTL check is critical unless refreshed within its TTL.

// Check defaults.
const (
	defaultCheckInterval = 10 * time.Second
	defaultCheckTimeout  = 5 * time.Second
	maxCheckOutput       = 256
)

// checkResult is one probe's outcome.
type checkResult struct {
	health string
	output string
}

// checkRunner runs one service's check and reports status changes.
type checkRunner struct {
	def    client.CheckDefinition
	clk    clock.Clock
	http   *http.Client
	report func(health, output string) // called on every status change

	mu sync.Mutex
	// health/output are the damped status; passes/fails count consecutive
	// raw results; ttlTimer re-arms on each TTL refresh. Guarded by mu.
	health   string
	output   string
	passes   int
	fails    int
	ttlTimer clock.Timer
}

func newCheckRunner(def client.CheckDefinition, clk clock.Clock, report func(string, string)) *checkRunner {
	if def.SuccessBeforePassing < 1 {
		def.SuccessBeforePassing = 1
	}
	if def.FailuresBeforeCritical < 1 {
		def.FailuresBeforeCritical = 1
	}
	if def.Interval <= 0 {
		def.Interval = client.Duration(defaultCheckInterval)
	}
	if def.Timeout <= 0 {
		def.Timeout = client.Duration(defaultCheckTimeout)
	}
	return &checkRunner{
		def:    def,
		clk:    clk,
		report: report,
		health: client.HealthCritical,
		output: "no check result yet",
		http: &http.Client{
			Timeout: def.Timeout.D(),
			// A check is about this URL, not where it redirects to.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// status returns the current damped health and output.
func (c *checkRunner) status() (string, string) {
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
	t := c.clk.NewTicker(c.def.Interval.D())
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
	ctx, cancel := context.WithTimeout(ctx, c.def.Timeout.D())
	defer cancel()
	switch {
	case c.def.TCP != "":
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.def.TCP)
		if err != nil {
			return checkResult{client.HealthCritical, "tcp: " + err.Error()}
		}
		conn.Close()
		return checkResult{client.HealthPassing, "tcp: connected to " + c.def.TCP}
	case c.def.HTTP != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.def.HTTP, nil)
		if err != nil {
			return checkResult{client.HealthCritical, "http: " + err.Error()}
		}
		req.Header.Set("User-Agent", "murmur-health-check")
		resp, err := c.http.Do(req)
		if err != nil {
			return checkResult{client.HealthCritical, "http: " + err.Error()}
		}
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
		out := fmt.Sprintf("http: GET %s: %s", c.def.HTTP, resp.Status)
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return checkResult{client.HealthPassing, out}
		case resp.StatusCode == http.StatusTooManyRequests:
			return checkResult{client.HealthWarning, out}
		}
		return checkResult{client.HealthCritical, out}
	}
	return checkResult{client.HealthCritical, "no check configured"}
}

// record applies one raw result through the damping counters.
func (c *checkRunner) record(r checkResult) {
	if len(r.output) > maxCheckOutput {
		r.output = r.output[:maxCheckOutput]
	}
	c.mu.Lock()
	next := c.health
	switch r.health {
	case client.HealthPassing:
		c.passes++
		c.fails = 0
		if c.passes >= c.def.SuccessBeforePassing {
			next = client.HealthPassing
		}
	case client.HealthWarning:
		c.passes, c.fails = 0, 0
		next = client.HealthWarning
	default:
		c.fails++
		c.passes = 0
		if c.fails >= c.def.FailuresBeforeCritical {
			next = client.HealthCritical
		}
	}
	changed := next != c.health
	c.health = next
	if next == r.health {
		c.output = r.output
	}
	c.mu.Unlock()
	if changed {
		c.report(next, r.output)
	}
}

// ErrNotTTL is returned when a TTL update names a check that is not a TTL
// check.
var ErrNotTTL = errors.New("agent: not a TTL check")

// runTTL turns the check critical whenever its TTL passes without a
// refresh.
func (c *checkRunner) runTTL(ctx context.Context) {
	c.mu.Lock()
	c.ttlTimer = c.clk.NewTimer(c.def.TTL.D())
	timer := c.ttlTimer
	c.mu.Unlock()
	defer timer.Stop()
	for {
		select {
		case <-timer.C():
			c.mu.Lock()
			expired := c.health != client.HealthCritical
			c.health, c.output = client.HealthCritical, "ttl expired"
			c.passes, c.fails = 0, 0
			c.mu.Unlock()
			if expired {
				c.report(client.HealthCritical, "ttl expired")
			}
		case <-ctx.Done():
			return
		}
	}
}

// updateTTL sets the health of a TTL check and restarts its TTL.
func (c *checkRunner) updateTTL(health, note string) error {
	if c.def.TTL <= 0 {
		return ErrNotTTL
	}
	c.mu.Lock()
	if c.ttlTimer != nil {
		c.ttlTimer.Reset(c.def.TTL.D())
	}
	changed := c.health != health || c.output != note
	c.health, c.output = health, note
	c.mu.Unlock()
	if changed {
		c.report(health, note)
	}
	return nil
}
