package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/configsync"
)

type fakeKV struct{}

func (fakeKV) Stats() configsync.Stats { return configsync.Stats{Keys: 3, InboxDropped: 2} }
func (fakeKV) PropagationLag() map[string]configsync.Histogram {
	return map[string]configsync.Histogram{}
}

// The exporter reads each source it has at scrape time and leaves out
// the ones it has not.
func TestExporter(t *testing.T) {
	off := int64(1500)
	e := New(Sources{
		Node: "n1",
		Members: func() []catalog.Node {
			return []catalog.Node{{Name: "n1", Status: catalog.StatusAlive}, {Name: "n2", Status: catalog.StatusFailed}}
		},
		ClockOffsetMs: func(string) *int64 { return &off },
		KV:            fakeKV{},
		Gossip:        func() Gossip { return Gossip{Pruned: 7, Local: 1} },
		Security:      func() Security { return Security{KeyringKeys: 2, RemoteErrors: map[string]uint64{"memberlist": 4}} },
	})
	e.ObserveHTTP("GET /v1/kv/{key...}", 404, time.Millisecond)
	rec := httptest.NewRecorder()
	e.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`murmur_members{status="alive"} 1`, `murmur_members{status="failed"} 1`,
		`murmur_clock_offset_seconds{member="n2"} 1.5`, "murmur_kv_keys 3", "murmur_kv_inbox_dropped_total 2",
		"murmur_gossip_broadcasts_pruned_total 7", `murmur_gossip_broadcast_queue{queue="local"} 1`,
		"murmur_keyring_keys 2", `murmur_remote_errors_total{component="memberlist"} 4`,
		`murmur_http_requests_total{code="404",route="GET /v1/kv/{key...}"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "murmur_dns_queries_total") || strings.Contains(body, "murmur_catalog_age_seconds") {
		t.Error("series of a source the exporter was not given")
	}
	c := Sources{Node: "n1", Members: func() []catalog.Node { return []catalog.Node{{Name: "n1", Status: catalog.StatusAlive}} },
		ClockOffsetMs: func(string) *int64 { return &off }, KV: fakeKV{}}.Counters()
	if c["members"] != 1 || c["members_alive"] != 1 || c["clock_offset_ms"] != 1500 || c["kv_keys"] != 3 || c["kv_inbox_dropped"] != 2 {
		t.Errorf("counters %v", c)
	}
}
