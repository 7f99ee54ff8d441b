package client

import (
	"encoding/json"
	"fmt"
	"time"
)

// This file is the wire contract of the HTTP API: agent/httpapi encodes
// these types and this package decodes them. Field names are the JSON
// names users see in `agentctl ... -json` and `curl`; change them only
// with the API version.

// Member is one cluster member as GET /v1/members returns it.
type Member struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	// Status is one of "alive", "suspect", "failed", "left".
	Status string            `json:"status"`
	Meta   map[string]string `json:"meta,omitempty"`
	// Protocol is the memberlist protocol version the member speaks.
	Protocol uint8 `json:"protocol"`
	// StatusSince is when the answering agent saw Status begin, by its
	// clock.
	StatusSince time.Time `json:"status_since,omitzero"`
	// RTTSeconds is the round trip from the answering agent to the
	// member, estimated from network coordinates; absent when either has
	// no coordinate yet.
	RTTSeconds *float64 `json:"rtt_seconds,omitempty"`
	// ClockOffsetMs is how far the member's wall clock is ahead of the
	// answering agent's (negative: behind), estimated from ping acks; for
	// the answering agent itself, how far its clock is ahead of the median
	// of its peers'. Absent while not measured. Beyond kv.max_clock_skew,
	// an agent refuses writes (503).
	ClockOffsetMs *int64 `json:"clock_offset_ms,omitempty"`
}

// Self is GET /v1/agent/self.
type Self struct {
	Node          string  `json:"node"`
	Version       string  `json:"version"`
	Address       string  `json:"address"`
	Port          uint16  `json:"port"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Config is a summary of the running configuration with secrets
	// (gossip key, HTTP token) replaced by a boolean "is set".
	Config map[string]any `json:"config"`
	// Stats holds small counters, e.g. "members", "kv_keys", "kv_index".
	Stats map[string]int64 `json:"stats,omitempty"`
}

// JoinRequest is the body of PUT /v1/agent/join.
type JoinRequest struct {
	Addresses []string `json:"addresses"`
}

// JoinResponse is the answer of PUT /v1/agent/join.
type JoinResponse struct {
	// Joined is how many of the addresses answered.
	Joined int `json:"joined"`
	// Failed has one line per address that did not answer, naming it and
	// why, when at least one other did (when none does, the request fails).
	Failed []string `json:"failed,omitempty"`
}

// KVPair is one key as GET /v1/kv/{key} returns it. Value is base64 in
// JSON (encoding/json's []byte rule).
type KVPair struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
	// Version is the hybrid logical clock of the write, "WALLMS.LOGICAL".
	Version string `json:"version"`
	// Origin is the node that made the write.
	Origin string `json:"origin"`
	// Updated is the wall time part of Version.
	Updated time.Time `json:"updated"`
	// Index is this agent's local modification index of the key.
	Index uint64 `json:"index"`
	Flags uint64 `json:"flags,omitempty"`
}

// KVDeleteResponse is the answer of DELETE /v1/kv/{key}.
type KVDeleteResponse struct {
	// Deleted is how many keys the delete removed.
	Deleted int `json:"deleted"`
}

// KVEvent is one line of a watch stream as `agentctl kv watch` prints it
// with -json: a key that changed, or was deleted.
type KVEvent struct {
	KVPair
	Deleted bool `json:"deleted,omitempty"`
}

// KVChange is one change the answering agent applied to its store, as
// GET /v1/agent/history lists them.
type KVChange struct {
	Key     string `json:"key"`
	Version string `json:"version"`
	Origin  string `json:"origin"`
	Index   uint64 `json:"index"`
	Deleted bool   `json:"deleted,omitempty"`
	// Seen is when the agent applied the change, by its clock.
	Seen time.Time `json:"seen"`
	// Path is how the change arrived: "local" (written on this agent),
	// "gossip" or "sync" (anti-entropy).
	Path string `json:"path"`
	// LagSeconds is Seen minus the wall time of Version: how long the
	// write took to get here, including the clock skew between writer
	// and reader.
	LagSeconds float64 `json:"lag_seconds"`
}

// Propagation is GET /v1/agent/propagation/{key}: which version of a key
// each live agent holds, asked over gossip.
type Propagation struct {
	Key string `json:"key"`
	// Version is the version asked about: the ?version parameter, or the
	// answering agent's own version of the key ("" when it has none).
	Version string `json:"version"`
	// Written is the wall time of Version.
	Written time.Time `json:"written,omitzero"`
	// Nodes has one line per live member, sorted by name.
	Nodes []NodeVersion `json:"nodes"`
}

// NodeVersion is one agent's answer in a Propagation.
type NodeVersion struct {
	Node string `json:"node"`
	// Version the node holds ("" when it has no such key, not even a
	// tombstone); Deleted when it is a tombstone.
	Version string `json:"version,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// Current is true when the node holds the asked version or a newer
	// one.
	Current bool `json:"current"`
	// Applied is when the node applied the version it holds, by its
	// clock; absent when that change is no longer in its recent history.
	Applied *time.Time `json:"applied,omitempty"`
	// Seconds is Applied minus Written when the node holds exactly the
	// asked version: how long the write took to reach it (clock skew
	// between the two agents included).
	Seconds *float64 `json:"seconds,omitempty"`
	// Error says why the node did not answer.
	Error string `json:"error,omitempty"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// Health states of a service instance.
const (
	HealthPassing  = "passing"
	HealthWarning  = "warning"
	HealthCritical = "critical"
)

// ServiceDefinition registers a service instance on an agent (body of
// PUT /v1/agent/service/register, and the [[service]] TOML table).
type ServiceDefinition struct {
	// ID is unique per agent; defaults to Name.
	ID      string            `json:"id,omitempty" toml:"id"`
	Name    string            `json:"name" toml:"name"`
	Address string            `json:"address,omitempty" toml:"address"`
	Port    int               `json:"port,omitempty" toml:"port"`
	Tags    []string          `json:"tags,omitempty" toml:"tags"`
	Meta    map[string]string `json:"meta,omitempty" toml:"meta"`
	Check   *CheckDefinition  `json:"check,omitempty" toml:"check"`
}

// CheckDefinition is a service's health check: exactly one of TCP, HTTP and
// TTL is set.
type CheckDefinition struct {
	// TCP is HOST:PORT to connect to.
	TCP string `json:"tcp,omitempty" toml:"tcp"`
	// HTTP is a URL to GET: 2xx passing, 429 warning, else critical.
	HTTP string `json:"http,omitempty" toml:"http"`
	// TTL: critical unless refreshed through /v1/agent/check/... in time.
	TTL      Duration `json:"ttl,omitempty" toml:"ttl"`
	Interval Duration `json:"interval,omitempty" toml:"interval"`
	Timeout  Duration `json:"timeout,omitempty" toml:"timeout"`
	// SuccessBeforePassing consecutive passes turn the check passing.
	SuccessBeforePassing int `json:"success_before_passing,omitempty" toml:"success_before_passing"`
	// FailuresBeforeCritical consecutive failures turn it critical.
	FailuresBeforeCritical int `json:"failures_before_critical,omitempty" toml:"failures_before_critical"`
}

// ServiceInstance is one instance as GET /v1/services/{name} returns it.
type ServiceInstance struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Node    string            `json:"node"`
	Address string            `json:"address"`
	Port    int               `json:"port"`
	Tags    []string          `json:"tags,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	// Health is passing, warning or critical.
	Health string `json:"health"`
	// Output is the last check output (error text, HTTP status).
	Output string `json:"output,omitempty"`
	// NodeStatus is the member status of Node (alive, suspect, ...).
	NodeStatus string `json:"node_status"`
}

// ServiceSummary is one line of GET /v1/services.
type ServiceSummary struct {
	Name      string   `json:"name"`
	Instances int      `json:"instances"`
	Passing   int      `json:"passing"`
	Tags      []string `json:"tags,omitempty"`
}

// Coordinate is a node's network coordinate (serf/coordinate's fields).
type Coordinate struct {
	Node       string    `json:"node"`
	Vec        []float64 `json:"vec"`
	Error      float64   `json:"error"`
	Adjustment float64   `json:"adjustment"`
	Height     float64   `json:"height"`
}

// RTT is GET /v1/rtt?from=A&to=B: the round trip estimated from network
// coordinates.
type RTT struct {
	From    string  `json:"from"`
	To      string  `json:"to"`
	Seconds float64 `json:"seconds"`
}

// Duration is a time.Duration that reads and writes as "10s" in JSON and
// TOML.
type Duration time.Duration

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads "1.5s", "300ms", ...
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON accepts a string ("10s") or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return d.UnmarshalText([]byte(s))
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid duration %s", b)
	}
	*d = Duration(n)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// KeyringRequest is the body of PUT /v1/keyring/{install,use,remove}.
type KeyringRequest struct {
	// Key is a gossip key: base64 of 16, 24 or 32 bytes.
	Key string `json:"key"`
}

// KeyringResponse is the answer of every /v1/keyring call: what the alive
// members answered. It is 200 when every member acknowledged, else 500
// with Error set and the same report.
type KeyringResponse struct {
	// Op is list, install, use or remove.
	Op string `json:"op"`
	// Members is how many members were asked (the alive and suspect ones,
	// this agent included).
	Members int `json:"members"`
	// Acked is how many answered that they did it (for list: answered).
	Acked int `json:"acked"`
	// Failed maps each member that did not acknowledge to why: its error,
	// or that it did not answer in time.
	Failed map[string]string `json:"failed,omitempty"`
	// Keys (list only) are the keys installed anywhere, with how many
	// members have each installed and as primary, sorted by key.
	Keys []KeyringKey `json:"keys,omitempty"`
	// Error summarises a failure (500 only).
	Error string `json:"error,omitempty"`
}

// KeyringKey is one key of a keyring list.
type KeyringKey struct {
	Key       string `json:"key"`
	Installed int    `json:"installed"`
	Primary   int    `json:"primary"`
}
