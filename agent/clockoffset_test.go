package agent

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/internal/clock"
)

// An agent whose clock is 3 minutes ahead of its peers learns it from
// ping acks and refuses writes with 503 naming the offset; its peers show
// its offset in the member list and /metrics (configsync's tests cover
// the refusal of its versions).
func TestClockOffsetRefusesWrites(t *testing.T) {
	var agents []*Agent
	for _, name := range []string{"a", "b", "c"} {
		var opts []Option
		if name == "c" {
			opts = append(opts, WithClock(clock.Offset{By: 3 * time.Minute}))
		}
		agents = append(agents, startAgent(t, testConfig(name), opts...))
	}
	joinAll(t, agents)
	a, c := agents[0], agents[2]
	waitFor(t, 20*time.Second, "c to know its offset", func() bool {
		off, ok := c.clockOffset()
		return ok && off > 2*time.Minute
	})
	_, err := httpapi.StoreKV(c.Store()).Put(context.Background(), "k", []byte("v"), 0)
	if !errors.Is(err, configsync.ErrClockOffset) || httpapi.StatusCode(err) != 503 {
		t.Fatalf("put on the agent 3m ahead: %v (status %d); want ErrClockOffset, 503", err, httpapi.StatusCode(err))
	}
	if msg := err.Error(); !strings.Contains(msg, "ahead of its peers") || !strings.Contains(msg, "3m") {
		t.Fatalf("error %q does not name the offset", msg)
	}
	// Normal agents still write, once they heard from both peers.
	waitFor(t, 20*time.Second, "a to know its offset is small", func() bool {
		off, ok := a.clockOffset()
		return ok && off > -time.Minute && off < time.Minute
	})
	if _, err := httpapi.StoreKV(a.Store()).Put(context.Background(), "k", []byte("v"), 0); err != nil {
		t.Fatalf("put on a normal agent: %v", err)
	}
	waitFor(t, 20*time.Second, "a to see c's offset", func() bool {
		for _, m := range (apiMembership{a}).Members() {
			if m.Name == "c" && m.ClockOffsetMs != nil && *m.ClockOffsetMs > 170_000 && *m.ClockOffsetMs < 190_000 {
				return true
			}
		}
		return false
	})
	rec := httptest.NewRecorder()
	newMetrics(a).Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`murmur_clock_offset_seconds{member="c"} 1`, "murmur_kv_skew_rejected_total", "murmur_kv_inbox_dropped_total 0",
		"murmur_kv_outbox_dropped_total", "murmur_kv_send_errors_total", "murmur_kv_commit_errors_total", "murmur_kv_pending", "murmur_kv_unsynced", "murmur_kv_journal_writes_total", "murmur_kv_checkpoints_total",
		"murmur_kv_rejected_total", "murmur_kv_dropped_total", "murmur_gossip_broadcasts_pruned_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	st := (apiMembership{a}).Self().Stats
	for _, k := range []string{"kv_inbox_dropped", "kv_outbox_dropped", "kv_send_errors", "kv_commit_errors", "kv_pending", "kv_unsynced", "kv_journal_writes", "kv_checkpoints", "kv_rejected", "kv_dropped", "kv_skew_rejected", "gossip_broadcasts_pruned", "clock_offset_ms"} {
		if _, ok := st[k]; !ok {
			t.Errorf("/v1/agent/self stats lack %q: %v", k, st)
		}
	}
}
