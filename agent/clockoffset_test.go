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
	"github.com/murmurhq/murmur/membership"
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
	newMetrics(a).handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`murmur_clock_offset_seconds{member="c"} 1`, "murmur_kv_skew_rejected_total", "murmur_kv_inbox_dropped_total 0",
		"murmur_kv_outbox_dropped_total", "murmur_kv_send_errors_total", "murmur_kv_commit_errors_total", "murmur_kv_pending",
		"murmur_kv_rejected_total", "murmur_kv_dropped_total", "murmur_gossip_broadcasts_pruned_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	st := (apiMembership{a}).Self().Stats
	for _, k := range []string{"kv_inbox_dropped", "kv_outbox_dropped", "kv_send_errors", "kv_commit_errors", "kv_pending", "kv_rejected", "kv_dropped", "kv_skew_rejected", "gossip_broadcasts_pruned", "clock_offset_ms"} {
		if _, ok := st[k]; !ok {
			t.Errorf("/v1/agent/self stats lack %q: %v", k, st)
		}
	}
}

func TestClockOffsetEstimate(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	o := newClockOffsets(func() time.Time { return now })
	if _, _, ok := o.selfOffset(); ok {
		t.Fatal("an estimate with no samples")
	}
	// Two peers: the one nearer our clock decides.
	o.observe("p", now.Add(-5*time.Millisecond).UnixMilli(), 10*time.Millisecond)
	o.observe("q", now.Add(2*time.Hour).UnixMilli(), 0)
	if off, n, ok := o.selfOffset(); !ok || off != 0 || n != 2 {
		t.Fatalf("self offset %v, %v; want 0 (p is 5ms behind at 10ms rtt)", off, ok)
	}
	if off, _ := o.peer("q"); off != 2*time.Hour {
		t.Fatalf("q offset %v", off)
	}
	o.observe("r", now.Add(2*time.Hour).UnixMilli(), 0)
	if off, _, _ := o.selfOffset(); off != -2*time.Hour {
		t.Fatalf("self offset %v with two of three peers 2h ahead; want -2h", off)
	}
	o.forget("q")
	o.forget("r")
	now = now.Add(offsetFresh)
	if _, _, ok := o.selfOffset(); ok {
		t.Fatal("a stale estimate still counts")
	}
}

// FuzzAckPayload: any ack payload (coordinate and clock) is either used
// or ignored, never a panic.
func FuzzAckPayload(f *testing.F) {
	a := &Agent{cfg: Config{NodeName: "self"}, clk: clock.Real{}, coords: membership.NewCoords(), offsets: newClockOffsets(time.Now)}
	f.Add(a.ackPayload())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a := &Agent{cfg: Config{NodeName: "self"}, clk: clock.Real{}, coords: membership.NewCoords(), offsets: newClockOffsets(time.Now)}
		a.coords.Observe("peer", time.Millisecond, a.observeAckClock("peer", time.Millisecond, b))
		a.offsets.selfOffset()
	})
}

// FuzzClockState: any push/pull clock sample is either used or ignored.
func FuzzClockState(f *testing.F) {
	a := &Agent{cfg: Config{NodeName: "self"}, clk: clock.Real{}, offsets: newClockOffsets(time.Now)}
	a.members = membership.NewTable(time.Now, func(membership.Event) {})
	f.Add(wallClockState{&Agent{cfg: Config{NodeName: "peer"}, clk: clock.Real{}}}.LocalState(false))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		wallClockState{a}.MergeRemoteState(b, true)
	})
}
