package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/dnsserver"
	"github.com/murmurhq/murmur/watch"
)

// The series and how each is read; docs/metrics.md lists them for users.

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

func collectCatalog(ch chan<- prometheus.Metric, st catalog.Stats, now time.Time) {
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

func collectMembers(ch chan<- prometheus.Metric, members []catalog.Node, offsetMs func(string) *int64) {
	counts := map[catalog.Status]float64{}
	for _, m := range members {
		counts[m.Status]++
	}
	for st := catalog.StatusAlive; st <= catalog.StatusLeft; st++ {
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, counts[st], st.String())
	}
	if offsetMs == nil {
		return
	}
	for _, m := range members {
		if ms := offsetMs(m.Name); ms != nil {
			ch <- prometheus.MustNewConstMetric(descOffset, prometheus.GaugeValue, float64(*ms)/1000, m.Name)
		}
	}
}

func collectKV(ch chan<- prometheus.Metric, s KV) {
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

func collectDNS(ch chan<- prometheus.Metric, st dnsserver.Stats) {
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

func collectWatches(ch chan<- prometheus.Metric, ws []watch.Stats) {
	for _, w := range ws {
		ch <- prometheus.MustNewConstMetric(descWatchRuns, prometheus.CounterValue, float64(w.Runs), w.Name, w.Type)
		ch <- prometheus.MustNewConstMetric(descWatchFailures, prometheus.CounterValue, float64(w.Failures), w.Name, w.Type)
		ch <- prometheus.MustNewConstMetric(descWatchTimeouts, prometheus.CounterValue, float64(w.Timeouts), w.Name, w.Type)
		ch <- prometheus.MustNewConstMetric(descWatchSeconds, prometheus.CounterValue, w.Seconds, w.Name, w.Type)
	}
}

// The store's loss and durability counters (configsync.Stats), each with
// its help text; murmur_kv_<name>_total, or a gauge for Pending and
// Unsynced.
var (
	descKVPending  = prometheus.NewDesc("murmur_kv_pending", "Keys changed by peers or GC not yet written to the journal or the database.", nil, nil)
	descKVUnsynced = prometheus.NewDesc("murmur_kv_unsynced", "Keys written to the journal and not yet checkpointed: what a machine crash could lose.", nil, nil)
	kvLoss         = []struct {
		desc *prometheus.Desc
		get  func(configsync.Stats) uint64
	}{
		{kvCounterDesc("inbox_dropped", "Messages dropped because the store's inbox was full."), func(s configsync.Stats) uint64 { return s.InboxDropped }},
		{kvCounterDesc("outbox_dropped", "Reliable messages dropped because the store's outbox was full."), func(s configsync.Stats) uint64 { return s.OutboxDropped }},
		{kvCounterDesc("send_errors", "Failed reliable sends (each attempt)."), func(s configsync.Stats) uint64 { return s.SendErrors }},
		{kvCounterDesc("commit_errors", "Failed commits of changes to disk (retried)."), func(s configsync.Stats) uint64 { return s.CommitErrors }},
		{kvCounterDesc("journal_writes", "Background commits of changes learned from peers written to the journal."), func(s configsync.Stats) uint64 { return s.Journaled }},
		{kvCounterDesc("checkpoints", "Commits to the database of what was journaled and pending (fsynced)."), func(s configsync.Stats) uint64 { return s.Checkpoints }},
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

// KVCounters are the store's counters by name, as /v1/agent/self
// (prefixed kv_) and /metrics (murmur_kv_<name>_total, gauges without
// _total) show them.
func KVCounters(s configsync.Stats) map[string]int64 {
	return map[string]int64{
		"keys":               int64(s.Keys),
		"tombstones":         int64(s.Tombstones),
		"index":              int64(s.Index),
		"pending":            int64(s.Pending),
		"unsynced":           int64(s.Unsynced),
		"journal_writes":     int64(s.Journaled),
		"checkpoints":        int64(s.Checkpoints),
		"malformed":          int64(s.Malformed),
		"inbox_dropped":      int64(s.InboxDropped),
		"outbox_dropped":     int64(s.OutboxDropped),
		"send_errors":        int64(s.SendErrors),
		"commit_errors":      int64(s.CommitErrors),
		"rejected":           int64(s.Rejected),
		"dropped":            int64(s.Dropped),
		"skew_rejected":      int64(s.SkewRejected),
		"rejects_ignored":    int64(s.RejectsIgnored),
		"restamped":          int64(s.Restamped),
		"held_back":          int64(s.HeldBack),
		"transfers_deferred": int64(s.TransfersDeferred),
		"syncs":              int64(s.Syncs),
		"max_skew_ms":        s.MaxSkewMs,
	}
}

func kvCounterDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("murmur_kv_"+name+"_total", help, nil, nil)
}

func collectKVLoss(ch chan<- prometheus.Metric, st configsync.Stats) {
	ch <- prometheus.MustNewConstMetric(descKVPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(descKVUnsynced, prometheus.GaugeValue, float64(st.Unsynced))
	for _, l := range kvLoss {
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.CounterValue, float64(l.get(st)))
	}
}

// Security counters: remote-caused errors and the log lines held back,
// HTTP connection and blocking-query limits, and the keyring.
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

func collectSecurity(ch chan<- prometheus.Metric, s Security) {
	for comp, n := range s.RemoteErrors {
		ch <- prometheus.MustNewConstMetric(descRemoteErrors, prometheus.CounterValue, float64(n), comp)
	}
	ch <- prometheus.MustNewConstMetric(descLogSuppressed, prometheus.CounterValue, float64(s.LogSuppressed))
	ch <- prometheus.MustNewConstMetric(descHTTPConns, prometheus.GaugeValue, float64(s.ConnsOpen))
	ch <- prometheus.MustNewConstMetric(descHTTPRefused, prometheus.CounterValue, float64(s.ConnsRefused), "429")
	ch <- prometheus.MustNewConstMetric(descHTTPRefused, prometheus.CounterValue, float64(s.ConnsDropped), "closed")
	ch <- prometheus.MustNewConstMetric(descBlocking, prometheus.GaugeValue, float64(s.Blocking))
	ch <- prometheus.MustNewConstMetric(descBlockingRef, prometheus.CounterValue, float64(s.BlockingRefused))
	ch <- prometheus.MustNewConstMetric(descKeyringKeys, prometheus.GaugeValue, float64(s.KeyringKeys))
	ch <- prometheus.MustNewConstMetric(descKeyringDrop, prometheus.CounterValue, float64(s.KeyringDropped))
	ch <- prometheus.MustNewConstMetric(descKeyringBad, prometheus.CounterValue, float64(s.KeyringMalformed))
}
