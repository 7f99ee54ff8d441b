package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// metricValue returns the value of the series name with the given labels
// in a's registry (a counter, gauge, or a histogram's or summary's
// count), and whether it exists.
func metricValue(t *testing.T, a *Agent, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := a.metrics.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			case dto.MetricType_SUMMARY:
				return float64(m.GetSummary().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func TestMetricsMove(t *testing.T) {
	ExportMemberlistMetrics()
	c := newMemCluster(t, 3, 31)
	a, b := c.agents[0], c.agents[1]
	val := func(ag *Agent, name string, labels map[string]string) float64 {
		v, _ := metricValue(t, ag, name, labels)
		return v
	}
	keys := val(a, "murmur_kv_keys", nil)
	sent := val(a, "murmur_kv_messages_sent_total", map[string]string{"kind": "update"})
	lag := val(b, "murmur_kv_propagation_seconds", map[string]string{"path": "gossip"}) + val(b, "murmur_kv_propagation_seconds", map[string]string{"path": "sync"})
	if _, err := a.Store().Put(context.Background(), "app/metric", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if got := val(a, "murmur_kv_keys", nil); got != keys+1 {
		t.Errorf("murmur_kv_keys %v after a put, want %v", got, keys+1)
	}
	if got := val(a, "murmur_kv_messages_sent_total", map[string]string{"kind": "update"}); got <= sent {
		t.Errorf("update messages sent %v, not above %v", got, sent)
	}
	waitFor(t, 10*time.Second, "b to count the write's propagation", func() bool {
		return val(b, "murmur_kv_propagation_seconds", map[string]string{"path": "gossip"})+
			val(b, "murmur_kv_propagation_seconds", map[string]string{"path": "sync"}) > lag
	})
	waitFor(t, 15*time.Second, "3 alive members counted", func() bool { // a loaded machine may make one suspect a while
		return val(a, "murmur_members", map[string]string{"status": "alive"}) == 3
	})
	if _, ok := metricValue(t, a, "murmur_gossip_broadcast_queue", map[string]string{"queue": "local"}); !ok {
		t.Error("no broadcast queue gauge")
	}
	waitFor(t, 10*time.Second, "memberlist's probes to be counted", func() bool {
		return val(a, "murmur_memberlist_probe_seconds", nil) > 0 && val(a, "murmur_memberlist_udp_sent_bytes_total", nil) > 0
	})
	// A garbage message is dropped and counted.
	bad := val(b, "murmur_kv_malformed_total", nil)
	b.Store().HandleMessage([]byte{0xff, 0xff, 0xff})
	waitFor(t, 10*time.Second, "the malformed message counted", func() bool {
		return val(b, "murmur_kv_malformed_total", nil) == bad+1
	})
	c.net.Isolate("n3")
	waitFor(t, 15*time.Second, "a failed member counted", func() bool {
		return val(a, "murmur_members", map[string]string{"status": "failed"}) == 1
	})

	// HTTP requests by route and code.
	h := a.httpHandler(a.metrics.handler())
	for _, target := range []string{"/v1/kv/app/metric", "/v1/kv/nope", "/v1/kv/nope"} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Host = "127.0.0.1" // the Host check refuses example.com
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if got := val(a, "murmur_http_requests_total", map[string]string{"route": "GET /v1/kv/{key...}", "code": "404"}); got != 2 {
		t.Errorf("404s on the KV route: %v, want 2", got)
	}
	if got := val(a, "murmur_http_requests_total", map[string]string{"route": "GET /v1/kv/{key...}", "code": "200"}); got != 1 {
		t.Errorf("200s on the KV route: %v, want 1", got)
	}
}
