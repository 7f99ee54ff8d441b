// Package metrics exports an agent's counters in the Prometheus format
// (GET /metrics): the store's (configsync), DNS (dnsserver), the catalog,
// members and clock offsets, the gossip queues, watches, the security
// counters, and memberlist's own statistics (ExportMemberlist).
//
// Values are read from the parts' own Stats at scrape time, through the
// small interfaces and functions of Sources, so nothing on a hot path
// (DNS queries, gossip) pays for metrics. The package never imports the
// agent or memberlist; docs/metrics.md lists every series.
//
// # What the caller (the agent) must do
//
//   - New with the Sources it has (nil fields export nothing), once the
//     parts exist; serve Handler at /metrics and give ObserveHTTP to the
//     HTTP API.
//   - Label its memberlist's metrics with node=<name>
//     (memberlist.Config.MetricLabels) and call Forget(name) when it shuts
//     down, so the memberlist sink drops its figures.
package metrics
