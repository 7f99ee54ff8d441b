package agent

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/murmurhq/murmur/catalog"
)

// metrics exports the agent's counters in the Prometheus format at
// GET /metrics. Values are read from the parts' own Stats at scrape time,
// so nothing on a hot path (DNS queries, gossip) pays for metrics.
type metrics struct {
	reg *prometheus.Registry
}

func newMetrics(a *Agent) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&agentCollector{a: a})
	reg.MustRegister(&securityCollector{a: a})
	return &metrics{reg: reg}
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
	descKVSkew     = prometheus.NewDesc("murmur_kv_max_clock_skew_seconds", "Largest lead of a received version over the local clock.", nil, nil)
	descDNSQueries = prometheus.NewDesc("murmur_dns_queries_total", "DNS queries received.", nil, nil)
	descDNSResp    = prometheus.NewDesc("murmur_dns_responses_total", "DNS responses sent, by rcode.", []string{"rcode"}, nil)
	descDNSTrunc   = prometheus.NewDesc("murmur_dns_truncated_total", "DNS answers sent with TC.", nil, nil)
	descDNSBad     = prometheus.NewDesc("murmur_dns_malformed_total", "DNS packets that did not parse.", nil, nil)
)

// Catalog metrics (package catalog's Stats).
var (
	descCatAge      = prometheus.NewDesc("murmur_catalog_age_seconds", "Time since the service catalog last changed (its snapshot was rebuilt).", nil, nil)
	descCatRebuild  = prometheus.NewDesc("murmur_catalog_rebuild_seconds", "Catalog rebuilds (the DNS zone compile included): count and total time.", nil, nil)
	descCatLast     = prometheus.NewDesc("murmur_catalog_last_rebuild_seconds", "Duration of the last catalog rebuild, DNS zone compile included.", nil, nil)
	descCatDecodes  = prometheus.NewDesc("murmur_catalog_decodes_total", "Service records decoded (one per changed record).", nil, nil)
	descCatBad      = prometheus.NewDesc("murmur_catalog_malformed_total", "Service records that did not decode and were ignored.", nil, nil)
	descCatInst     = prometheus.NewDesc("murmur_catalog_instances", "Service instances in the catalog.", nil, nil)
	descCatServices = prometheus.NewDesc("murmur_catalog_services", "Services in the catalog.", nil, nil)
	descCatReaped   = prometheus.NewDesc("murmur_catalog_reaped_total", "Records of reaped nodes this agent deleted (one agent deletes them).", nil, nil)
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
	}
	if d := c.a.dns; d != nil {
		st := d.Stats()
		ch <- prometheus.MustNewConstMetric(descDNSQueries, prometheus.CounterValue, float64(st.Queries))
		for rc, n := range st.Responses {
			ch <- prometheus.MustNewConstMetric(descDNSResp, prometheus.CounterValue, float64(n), rc)
		}
		ch <- prometheus.MustNewConstMetric(descDNSTrunc, prometheus.CounterValue, float64(st.Truncated))
		ch <- prometheus.MustNewConstMetric(descDNSBad, prometheus.CounterValue, float64(st.Malformed))
	}
	if cat := c.a.Catalog(); cat != nil {
		collectCatalog(cat, c.a.clk.Now(), ch)
	}
}
