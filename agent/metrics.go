package agent

import (
	"net/http"
	"strconv"
	"time"

	"github.com/murmurhq/murmur/configsync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/murmurhq/murmur/catalog"
)

// metrics exports the agent's counters in the Prometheus format at
// GET /metrics. Values are read from the parts' own Stats at scrape time,
// so nothing on a hot path (DNS queries, gossip) pays for metrics.
type metrics struct {
	reg  *prometheus.Registry
	http *prometheus.CounterVec
}

func newMetrics(a *Agent) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&agentCollector{a: a})
	reg.MustRegister(&securityCollector{a: a})
	m := &metrics{
		reg: reg,
		http: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murmur_http_requests_total",
			Help: "HTTP API requests answered, by route (the pattern matched) and status code.",
		}, []string{"route", "code"}),
	}
	reg.MustRegister(m.http)
	return m
}

// observeHTTP is httpapi's Options.Observe.
func (m *metrics) observeHTTP(route string, code int, _ time.Duration) {
	m.http.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	descMembers    = prometheus.NewDesc("murmur_members", "Cluster members known to this agent, by status.", []string{"status"}, nil)
	descKVKeys     = prometheus.NewDesc("murmur_kv_keys", "Live keys in the replicated store.", nil, nil)
	descKVTomb     = prometheus.NewDesc("murmur_kv_tombstones", "Tombstones (deleted keys not yet collected).", nil, nil)
	descKVIndex    = prometheus.NewDesc("murmur_kv_index", "This agent's modification index.", nil, nil)
	descKVSent     = prometheus.NewDesc("murmur_kv_messages_sent_total", "configsync messages handed to memberlist, by kind.", []string{"kind"}, nil)
	descKVSentB    = prometheus.NewDesc("murmur_kv_bytes_sent_total", "configsync bytes handed to memberlist, by kind.", []string{"kind"}, nil)
	descKVRecv     = prometheus.NewDesc("murmur_kv_messages_received_total", "configsync messages received, by kind.", []string{"kind"}, nil)
	descKVBad      = prometheus.NewDesc("murmur_kv_malformed_total", "configsync messages that failed to decode.", nil, nil)
	descKVSkew     = prometheus.NewDesc("murmur_kv_max_clock_skew_seconds", "Largest lead of an accepted version over the local clock.", nil, nil)
	descOffset     = prometheus.NewDesc("murmur_clock_offset_seconds", "Estimated wall-clock offset, from ping acks: of each member ahead of this agent, and for this agent itself ahead of the median of its peers (member=self name).", []string{"member"}, nil)
	descPruned     = prometheus.NewDesc("murmur_gossip_broadcasts_pruned_total", "Queued broadcasts dropped because a broadcast queue was full (anti-entropy repairs what they carried).", nil, nil)
	descKVLag      = prometheus.NewDesc("murmur_kv_propagation_seconds", "Time from a write (its version's wall time, on the writer's clock) to this agent applying it, by path (gossip: gossiped, forwarded or fetched; sync: anti-entropy). Includes clock skew between the agents.", []string{"path"}, nil)
	descBroadcasts = prometheus.NewDesc("murmur_gossip_broadcast_queue", "Messages waiting in the gossip broadcast queues (local: this agent's writes; relay: others').", []string{"queue"}, nil)
	descDNSQueries = prometheus.NewDesc("murmur_dns_queries_total", "DNS queries received.", nil, nil)
	descDNSResp    = prometheus.NewDesc("murmur_dns_responses_total", "DNS responses sent, by rcode.", []string{"rcode"}, nil)
	descDNSTrunc   = prometheus.NewDesc("murmur_dns_truncated_total", "DNS answers sent with TC.", nil, nil)
	descDNSBad     = prometheus.NewDesc("murmur_dns_malformed_total", "DNS packets that did not parse.", nil, nil)
	descDNSTypes   = prometheus.NewDesc("murmur_dns_queries_by_type_total", "DNS queries by question type (A, AAAA, SRV, PTR, TXT, SOA, NS, ANY, OTHER, NONE).", []string{"qtype"}, nil)
	descDNSLatency = prometheus.NewDesc("murmur_dns_query_duration_seconds", "Time from receiving a DNS query to sending its answer, measured on one query in 8.", nil, nil)

	descWatchRuns     = prometheus.NewDesc("murmur_watch_handler_runs_total", "Watch handler runs that ended, by watch.", []string{"watch", "type"}, nil)
	descWatchFailures = prometheus.NewDesc("murmur_watch_handler_failures_total", "Watch handler runs that failed (non-zero exit, timeout, could not start), by watch.", []string{"watch", "type"}, nil)
	descWatchTimeouts = prometheus.NewDesc("murmur_watch_handler_timeouts_total", "Watch handler runs killed after their timeout, by watch.", []string{"watch", "type"}, nil)
	descWatchSeconds  = prometheus.NewDesc("murmur_watch_handler_seconds_total", "Time watch handlers ran, by watch.", []string{"watch", "type"}, nil)
)

// Catalog metrics (package catalog's Stats).
var (
	descCatAge       = prometheus.NewDesc("murmur_catalog_age_seconds", "Time since the service catalog last changed (its snapshot was rebuilt).", nil, nil)
	descCatRebuild   = prometheus.NewDesc("murmur_catalog_rebuild_seconds", "Catalog rebuilds (the DNS zone compile included): count and total time.", nil, nil)
	descCatLast      = prometheus.NewDesc("murmur_catalog_last_rebuild_seconds", "Duration of the last catalog rebuild, DNS zone compile included.", nil, nil)
	descCatDecodes   = prometheus.NewDesc("murmur_catalog_decodes_total", "Service records decoded (one per changed record).", nil, nil)
	descCatBad       = prometheus.NewDesc("murmur_catalog_malformed_total", "Service records that did not decode and were ignored.", nil, nil)
	descCatInst      = prometheus.NewDesc("murmur_catalog_instances", "Service instances in the catalog.", nil, nil)
	descCatServices  = prometheus.NewDesc("murmur_catalog_services", "Services in the catalog.", nil, nil)
	descCheckRuns    = prometheus.NewDesc("murmur_check_runs_total", "Health check results of this agent's services, by raw result (a probe, a TTL update or expiry).", []string{"result"}, nil)
	descCheckChanges = prometheus.NewDesc("murmur_check_state_changes_total", "Changes of a check's health (after success_before_passing / failures_before_critical), by the new health.", []string{"to"}, nil)
	descCatReaped    = prometheus.NewDesc("murmur_catalog_reaped_total", "Records of reaped nodes this agent deleted (one agent deletes them).", nil, nil)
)

func collectCatalog(c *catalog.Catalog, now time.Time, ch chan<- prometheus.Metric) {
	st := c.Stats()
	ch <- prometheus.MustNewConstMetric(descCatAge, prometheus.GaugeValue, now.Sub(st.Built).Seconds())
	ch <- prometheus.MustNewConstSummary(descCatRebuild, st.Rebuilds, st.RebuildTime.Seconds(), nil)
	ch <- prometheus.MustNewConstMetric(descCatLast, prometheus.GaugeValue, st.LastRebuild.Seconds())
	ch <- prometheus.MustNewConstMetric(descCatDecodes, prometheus.CounterValue, float64(st.Decodes))
	ch <- prometheus.MustNewConstMetric(descCatBad, prometheus.CounterValue, float64(st.Malformed))
	ch <- prometheus.MustNewConstMetric(descCatInst, prometheus.GaugeValue, float64(st.Instances))
	ch <- prometheus.MustNewConstMetric(descCatServices, prometheus.GaugeValue, float64(st.Services))
	ch <- prometheus.MustNewConstMetric(descCatReaped, prometheus.CounterValue, float64(st.Reaped))
	for h, n := range st.CheckRuns {
		ch <- prometheus.MustNewConstMetric(descCheckRuns, prometheus.CounterValue, float64(n), h.String())
	}
	for h, n := range st.CheckChanges {
		ch <- prometheus.MustNewConstMetric(descCheckChanges, prometheus.CounterValue, float64(n), h.String())
	}
}

type agentCollector struct{ a *Agent }

func (c *agentCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[catalog.Status]float64{}
	for _, m := range c.a.Members() {
		counts[m.Status]++
	}
	for st := StatusAlive; st <= StatusLeft; st++ {
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, counts[st], st.String())
	}
	if s := c.a.store; s != nil {
		st := s.Stats()
		ch <- prometheus.MustNewConstMetric(descKVKeys, prometheus.GaugeValue, float64(st.Keys))
		ch <- prometheus.MustNewConstMetric(descKVTomb, prometheus.GaugeValue, float64(st.Tombstones))
		ch <- prometheus.MustNewConstMetric(descKVIndex, prometheus.CounterValue, float64(st.Index))
		for k, t := range st.Sent {
			ch <- prometheus.MustNewConstMetric(descKVSent, prometheus.CounterValue, float64(t.Messages), k.String())
			ch <- prometheus.MustNewConstMetric(descKVSentB, prometheus.CounterValue, float64(t.Bytes), k.String())
		}
		for k, t := range st.Received {
			ch <- prometheus.MustNewConstMetric(descKVRecv, prometheus.CounterValue, float64(t.Messages), k.String())
		}
		ch <- prometheus.MustNewConstMetric(descKVBad, prometheus.CounterValue, float64(st.Malformed))
		ch <- prometheus.MustNewConstMetric(descKVSkew, prometheus.GaugeValue, float64(st.MaxSkewMs)/1000)
		collectKVLoss(ch, st)
		for path, h := range s.PropagationLag() {
			ch <- prometheus.MustNewConstHistogram(descKVLag, h.Count, h.Sum, h.Buckets, path)
		}
	}
	ch <- prometheus.MustNewConstMetric(descPruned, prometheus.CounterValue, float64(c.a.del.pruned.Load()))
	for _, m := range c.a.Members() {
		if ms := c.a.clockOffsetMs(m.Name); ms != nil {
			ch <- prometheus.MustNewConstMetric(descOffset, prometheus.GaugeValue, float64(*ms)/1000, m.Name)
		}
	}
	ch <- prometheus.MustNewConstMetric(descBroadcasts, prometheus.GaugeValue, float64(c.a.del.local.NumQueued()), "local")
	ch <- prometheus.MustNewConstMetric(descBroadcasts, prometheus.GaugeValue, float64(c.a.del.relay.NumQueued()), "relay")
	sink.collect(c.a.cfg.NodeName, ch)
	if d := c.a.dns; d != nil {
		st := d.Stats()
		ch <- prometheus.MustNewConstMetric(descDNSQueries, prometheus.CounterValue, float64(st.Queries))
		for rc, n := range st.Responses {
			ch <- prometheus.MustNewConstMetric(descDNSResp, prometheus.CounterValue, float64(n), rc)
		}
		ch <- prometheus.MustNewConstMetric(descDNSTrunc, prometheus.CounterValue, float64(st.Truncated))
		ch <- prometheus.MustNewConstMetric(descDNSBad, prometheus.CounterValue, float64(st.Malformed))
		for qt, n := range st.Questions {
			ch <- prometheus.MustNewConstMetric(descDNSTypes, prometheus.CounterValue, float64(n), qt)
		}
		ch <- prometheus.MustNewConstHistogram(descDNSLatency, st.Latency.Count, st.Latency.Sum, st.Latency.Buckets)
	}
	for _, w := range c.a.WatchStats() {
		ch <- prometheus.MustNewConstMetric(descWatchRuns, prometheus.CounterValue, float64(w.Runs), w.Name, w.Type)
		ch <- prometheus.MustNewConstMetric(descWatchFailures, prometheus.CounterValue, float64(w.Failures), w.Name, w.Type)
		ch <- prometheus.MustNewConstMetric(descWatchTimeouts, prometheus.CounterValue, float64(w.Timeouts), w.Name, w.Type)
		ch <- prometheus.MustNewConstMetric(descWatchSeconds, prometheus.CounterValue, w.Seconds, w.Name, w.Type)
	}
	if cat := c.a.Catalog(); cat != nil {
		collectCatalog(cat, c.a.clk.Now(), ch)
	}
}

// The store's loss and durability counters (configsync.Stats), each with
// its help text; murmur_kv_<name>_total, or a gauge for Pending.
var (
	descKVPending = prometheus.NewDesc("murmur_kv_pending", "Keys changed by peers or GC not yet committed to disk.", nil, nil)
	kvLoss        = []struct {
		desc *prometheus.Desc
		get  func(configsync.Stats) uint64
	}{
		{kvCounterDesc("inbox_dropped", "Messages dropped because the store's inbox was full."), func(s configsync.Stats) uint64 { return s.InboxDropped }},
		{kvCounterDesc("outbox_dropped", "Reliable messages dropped because the store's outbox was full."), func(s configsync.Stats) uint64 { return s.OutboxDropped }},
		{kvCounterDesc("send_errors", "Failed reliable sends (each attempt)."), func(s configsync.Stats) uint64 { return s.SendErrors }},
		{kvCounterDesc("commit_errors", "Failed commits of changes to disk (retried)."), func(s configsync.Stats) uint64 { return s.CommitErrors }},
		{kvCounterDesc("rejected", "Entries refused here by the tombstone floor."), func(s configsync.Stats) uint64 { return s.Rejected }},
		{kvCounterDesc("dropped", "Entries dropped here on a peer's Reject."), func(s configsync.Stats) uint64 { return s.Dropped }},
		{kvCounterDesc("skew_rejected", "Versions refused for being more than kv.max_clock_skew ahead of the local clock."), func(s configsync.Stats) uint64 { return s.SkewRejected }},
		{kvCounterDesc("rejects_ignored", "Reject messages not honoured (implausible floor, or an item above it)."), func(s configsync.Stats) uint64 { return s.RejectsIgnored }},
		{kvCounterDesc("restamped", "Entries stamped again after the clock ran beyond kv.max_clock_skew."), func(s configsync.Stats) uint64 { return s.Restamped }},
		{kvCounterDesc("held_back", "Entries a joining store held back below the floor it heard."), func(s configsync.Stats) uint64 { return s.HeldBack }},
		{kvCounterDesc("transfers_deferred", "Full transfers to joining peers deferred because too many were queued."), func(s configsync.Stats) uint64 { return s.TransfersDeferred }},
		{kvCounterDesc("syncs", "Anti-entropy sessions and full transfers started here."), func(s configsync.Stats) uint64 { return s.Syncs }},
	}
)

func kvCounterDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("murmur_kv_"+name+"_total", help, nil, nil)
}

func collectKVLoss(ch chan<- prometheus.Metric, st configsync.Stats) {
	ch <- prometheus.MustNewConstMetric(descKVPending, prometheus.GaugeValue, float64(st.Pending))
	for _, l := range kvLoss {
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.CounterValue, float64(l.get(st)))
	}
}
