package agent

import (
	"strings"
	"sync"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// memberlist's own statistics (probe and gossip timings, messages by kind,
// UDP/TCP bytes, health score) exist only as calls to the process-global
// hashicorp/go-metrics sink. ExportMemberlistMetrics installs a sink that
// keeps them per node (memberlist labels every metric with the agent's
// node name, see Config.memberlistConfig) so /metrics can export them.

// mlSink aggregates memberlist's metrics by node. It implements
// gometrics.MetricSink and is safe for concurrent use.
type mlSink struct {
	mu sync.Mutex
	// nodes maps a node name to its metrics; guarded by mu.
	nodes map[string]*mlNode
}

type mlNode struct {
	counters map[string]float64
	gauges   map[string]float64
	samples  map[string]*mlSample
}

type mlSample struct {
	count uint64
	sum   float64 // in the unit memberlist reports: milliseconds for timers
}

var (
	sinkOnce sync.Once
	sink     = &mlSink{nodes: map[string]*mlNode{}}
)

// ExportMemberlistMetrics makes memberlist's statistics appear in every
// agent's /metrics (murmur_memberlist_*). It replaces the process-wide
// go-metrics sink, so an embedding program that configures go-metrics
// itself should not call it; agentd does. Calling it again does nothing.
func ExportMemberlistMetrics() {
	sinkOnce.Do(func() {
		cfg := gometrics.DefaultConfig("")
		cfg.EnableHostname = false
		cfg.EnableHostnameLabel = false
		cfg.EnableRuntimeMetrics = false // it would start a goroutine of its own
		cfg.EnableServiceLabel = false
		_, _ = gometrics.NewGlobal(cfg, sink)
	})
}

func (s *mlSink) node(labels []gometrics.Label) *mlNode {
	name := ""
	for _, l := range labels {
		if l.Name == "node" {
			name = l.Value
		}
	}
	n := s.nodes[name]
	if n == nil {
		n = &mlNode{counters: map[string]float64{}, gauges: map[string]float64{}, samples: map[string]*mlSample{}}
		s.nodes[name] = n
	}
	return n
}

func mlKey(key []string) string { return strings.Join(key, "_") }

func (s *mlSink) SetGauge(key []string, val float32) { s.SetGaugeWithLabels(key, val, nil) }
func (s *mlSink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node(labels).gauges[mlKey(key)] = float64(val)
}
func (s *mlSink) EmitKey([]string, float32)             {}
func (s *mlSink) IncrCounter(key []string, val float32) { s.IncrCounterWithLabels(key, val, nil) }
func (s *mlSink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node(labels).counters[mlKey(key)] += float64(val)
}
func (s *mlSink) AddSample(key []string, val float32) { s.AddSampleWithLabels(key, val, nil) }
func (s *mlSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(labels)
	k := mlKey(key)
	x := n.samples[k]
	if x == nil {
		x = &mlSample{}
		n.samples[k] = x
	}
	x.count++
	x.sum += float64(val)
}

// forget drops a node's metrics (its agent shut down).
func (s *mlSink) forget(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.nodes, node)
}

var _ gometrics.MetricSink = (*mlSink)(nil)

// The memberlist metrics exported, by memberlist's key.
var (
	mlCounters = map[string]*prometheus.Desc{
		"memberlist_msg_alive":        prometheus.NewDesc("murmur_memberlist_alive_messages_total", "Alive messages memberlist processed.", nil, nil),
		"memberlist_msg_suspect":      prometheus.NewDesc("murmur_memberlist_suspect_messages_total", "Suspect messages memberlist processed.", nil, nil),
		"memberlist_msg_dead":         prometheus.NewDesc("murmur_memberlist_dead_messages_total", "Dead messages memberlist processed.", nil, nil),
		"memberlist_udp_sent":         prometheus.NewDesc("murmur_memberlist_udp_sent_bytes_total", "Bytes memberlist sent over UDP (gossip, probes).", nil, nil),
		"memberlist_udp_received":     prometheus.NewDesc("murmur_memberlist_udp_received_bytes_total", "Bytes memberlist received over UDP.", nil, nil),
		"memberlist_tcp_sent":         prometheus.NewDesc("murmur_memberlist_tcp_sent_bytes_total", "Bytes memberlist sent over TCP (push/pull, reliable messages).", nil, nil),
		"memberlist_tcp_accept":       prometheus.NewDesc("murmur_memberlist_tcp_accepts_total", "TCP connections memberlist accepted.", nil, nil),
		"memberlist_tcp_connect":      prometheus.NewDesc("murmur_memberlist_tcp_connects_total", "TCP connections memberlist opened.", nil, nil),
		"memberlist_degraded_probe":   prometheus.NewDesc("murmur_memberlist_degraded_probes_total", "Probes that found this node degraded (awareness).", nil, nil),
		"memberlist_degraded_timeout": prometheus.NewDesc("murmur_memberlist_degraded_timeouts_total", "Suspicion timeouts stretched because this node is degraded.", nil, nil),
	}
	mlGauges = map[string]*prometheus.Desc{
		"memberlist_health_score": prometheus.NewDesc("murmur_memberlist_health_score", "memberlist's awareness score: 0 is healthy, higher means this node is slow to answer probes.", nil, nil),
	}
	mlSamples = map[string]*prometheus.Desc{
		"memberlist_probeNode":    prometheus.NewDesc("murmur_memberlist_probe_seconds", "Duration of failure-detection probes.", nil, nil),
		"memberlist_gossip":       prometheus.NewDesc("murmur_memberlist_gossip_seconds", "Duration of gossip rounds.", nil, nil),
		"memberlist_pushPullNode": prometheus.NewDesc("murmur_memberlist_push_pull_seconds", "Duration of push/pull state exchanges.", nil, nil),
	}
)

// collect sends node's memberlist metrics; counters and samples that were
// never reported are sent as zero so the series exist from the start.
func (s *mlSink) collect(node string, ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[node]
	if n == nil {
		return // ExportMemberlistMetrics was not called
	}
	for k, d := range mlCounters {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, n.counters[k])
	}
	for k, d := range mlGauges {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, n.gauges[k])
	}
	for k, d := range mlSamples {
		x := n.samples[k]
		if x == nil {
			x = &mlSample{}
		}
		ch <- prometheus.MustNewConstSummary(d, x.count, x.sum/1000, nil) // milliseconds to seconds
	}
}
