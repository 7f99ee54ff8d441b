package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/dnsserver"
	"github.com/murmurhq/murmur/watch"
)

// KV is the replicated store (a *configsync.Store). Called concurrently.
type KV interface {
	Stats() configsync.Stats
	PropagationLag() map[string]configsync.Histogram
}

// DNS is the DNS face (a *dnsserver.Server). Called concurrently.
type DNS interface {
	Stats() dnsserver.Stats
}

// Catalog is the service catalog (a *catalog.Catalog). Called
// concurrently.
type Catalog interface {
	Stats() catalog.Stats
}

// Gossip is the state of the agent's broadcast queues.
type Gossip struct {
	// Pruned counts queued broadcasts dropped because a queue was full.
	Pruned uint64
	// Local and Relay are the broadcasts waiting in each queue.
	Local, Relay int
}

// Security is the agent's security counters at one instant.
type Security struct {
	// RemoteErrors counts errors caused by remote bytes, by component.
	RemoteErrors map[string]uint64
	// LogSuppressed counts log lines held back by the rate limit.
	LogSuppressed uint64
	// ConnsOpen, ConnsRefused (answered 429) and ConnsDropped (closed
	// unanswered) are the HTTP connection limits' figures.
	ConnsOpen                  int
	ConnsRefused, ConnsDropped uint64
	// Blocking and BlockingRefused are the blocking queries waiting and
	// answered 429.
	Blocking        int
	BlockingRefused uint64
	// KeyringKeys is the number of gossip keys (0: not encrypted);
	// KeyringDropped and KeyringMalformed count keyring requests not
	// acted on and that did not decode.
	KeyringKeys                      int
	KeyringDropped, KeyringMalformed uint64
}

// Sources are what the exporter reads at scrape time. Every field is
// optional; the functions are called concurrently.
type Sources struct {
	// Node is the agent's name: its memberlist metrics are filed under it.
	Node string
	// Now reads the clock (the catalog's age); nil is time.Now.
	Now     func() time.Time
	Members func() []catalog.Node
	// ClockOffsetMs is a member's estimated clock offset, nil if unknown.
	ClockOffsetMs func(node string) *int64
	KV            KV
	DNS           DNS
	Catalog       Catalog
	Gossip        func() Gossip
	Watches       func() []watch.Stats
	Security      func() Security
}

// Exporter is an agent's Prometheus registry. Safe for concurrent use.
type Exporter struct {
	reg  *prometheus.Registry
	http *prometheus.CounterVec
}

// New returns an exporter of src, the Go runtime and the process.
func New(src Sources) *Exporter {
	if src.Now == nil {
		src.Now = time.Now
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&collector{src})
	e := &Exporter{
		reg: reg,
		http: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murmur_http_requests_total",
			Help: "HTTP API requests answered, by route (the pattern matched) and status code.",
		}, []string{"route", "code"}),
	}
	reg.MustRegister(e.http)
	return e
}

// ObserveHTTP counts an HTTP request (httpapi's Options.Observe).
func (e *Exporter) ObserveHTTP(route string, code int, _ time.Duration) {
	e.http.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

// Handler serves the metrics in the Prometheus text format.
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{})
}

// Gatherer is the registry, for tests that read single series.
func (e *Exporter) Gatherer() prometheus.Gatherer { return e.reg }

type collector struct{ src Sources }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src
	if s.Members != nil {
		members := s.Members()
		collectMembers(ch, members, s.ClockOffsetMs)
	}
	if s.KV != nil {
		collectKV(ch, s.KV)
	}
	if s.Gossip != nil {
		g := s.Gossip()
		ch <- prometheus.MustNewConstMetric(descPruned, prometheus.CounterValue, float64(g.Pruned))
		ch <- prometheus.MustNewConstMetric(descBroadcasts, prometheus.GaugeValue, float64(g.Local), "local")
		ch <- prometheus.MustNewConstMetric(descBroadcasts, prometheus.GaugeValue, float64(g.Relay), "relay")
	}
	sink.collect(s.Node, ch)
	if s.DNS != nil {
		collectDNS(ch, s.DNS.Stats())
	}
	if s.Watches != nil {
		collectWatches(ch, s.Watches())
	}
	if s.Catalog != nil {
		collectCatalog(ch, s.Catalog.Stats(), s.Now())
	}
	if s.Security != nil {
		collectSecurity(ch, s.Security())
	}
}

// Counters are the figures /v1/agent/self shows, by name: members by
// status, this agent's clock offset, pruned broadcasts and the store's
// counters (prefixed kv_, see KVCounters).
func (s Sources) Counters() map[string]int64 {
	st := map[string]int64{}
	if s.Members != nil {
		ms := s.Members()
		for _, m := range ms {
			st["members_"+m.Status.String()]++
		}
		st["members"] = int64(len(ms))
	}
	if s.ClockOffsetMs != nil {
		if off := s.ClockOffsetMs(s.Node); off != nil {
			st["clock_offset_ms"] = *off
		}
	}
	if s.Gossip != nil {
		st["gossip_broadcasts_pruned"] = int64(s.Gossip().Pruned)
	}
	if s.KV != nil {
		for name, v := range KVCounters(s.KV.Stats()) {
			st["kv_"+name] = v
		}
	}
	return st
}
