package agent

import "github.com/prometheus/client_golang/prometheus"

// securityCollector exports the security counters: remote-caused errors
// and the log lines held back, HTTP connection and blocking-query limits,
// and the keyring. Read at scrape time.
type securityCollector struct{ a *Agent }

var (
	descRemoteErrors  = prometheus.NewDesc("murmur_remote_errors_total", "Errors caused by bytes from a remote address (garbage packets, failed handshakes), by component.", []string{"component"}, nil)
	descLogSuppressed = prometheus.NewDesc("murmur_log_lines_suppressed_total", "Log lines held back by the per-source rate limit (summarised every 10s).", nil, nil)
	descHTTPConns     = prometheus.NewDesc("murmur_http_connections", "Open HTTP API connections.", nil, nil)
	descHTTPRefused   = prometheus.NewDesc("murmur_http_connections_refused_total", "HTTP connections over http.max_conns or http.max_conns_per_client, by outcome (answered 429, or closed unanswered).", []string{"outcome"}, nil)
	descBlocking      = prometheus.NewDesc("murmur_http_blocking_queries", "Blocking queries waiting.", nil, nil)
	descBlockingRef   = prometheus.NewDesc("murmur_http_blocking_queries_refused_total", "Blocking queries answered 429 (http.max_blocking_queries).", nil, nil)
	descKeyringKeys   = prometheus.NewDesc("murmur_keyring_keys", "Keys in this agent's gossip keyring (0: gossip not encrypted).", nil, nil)
	descKeyringDrop   = prometheus.NewDesc("murmur_keyring_requests_dropped_total", "Keyring requests from members not acted on (queue full, replayed, stale, or gossip not encrypted).", nil, nil)
	descKeyringBad    = prometheus.NewDesc("murmur_keyring_malformed_total", "Keyring messages that did not decode.", nil, nil)
)

func (c *securityCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *securityCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.sec
	for comp, n := range s.remote.counts() {
		ch <- prometheus.MustNewConstMetric(descRemoteErrors, prometheus.CounterValue, float64(n), comp)
	}
	_, held := s.remote.lim.Stats()
	ch <- prometheus.MustNewConstMetric(descLogSuppressed, prometheus.CounterValue, float64(held))
	cs := s.conns.Stats()
	ch <- prometheus.MustNewConstMetric(descHTTPConns, prometheus.GaugeValue, float64(cs.Open))
	ch <- prometheus.MustNewConstMetric(descHTTPRefused, prometheus.CounterValue, float64(cs.Refused), "429")
	ch <- prometheus.MustNewConstMetric(descHTTPRefused, prometheus.CounterValue, float64(cs.Dropped), "closed")
	ch <- prometheus.MustNewConstMetric(descBlocking, prometheus.GaugeValue, float64(s.gate.InUse()))
	ch <- prometheus.MustNewConstMetric(descBlockingRef, prometheus.CounterValue, float64(s.gate.Refused()))
	ch <- prometheus.MustNewConstMetric(descKeyringKeys, prometheus.GaugeValue, float64(len(s.keys.keys())))
	ch <- prometheus.MustNewConstMetric(descKeyringDrop, prometheus.CounterValue, float64(s.keys.dropped.Load()))
	ch <- prometheus.MustNewConstMetric(descKeyringBad, prometheus.CounterValue, float64(s.keys.malformed.Load()))
}
