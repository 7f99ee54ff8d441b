package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/dnsserver"
	"github.com/murmurhq/murmur/keyring"
	"github.com/murmurhq/murmur/membership"
	"github.com/murmurhq/murmur/watch"
)

// Config is the agent's configuration. It maps one to one onto the TOML
// file (see LoadFile) and is validated by Validate. A zero field means
// "use the default" only where its comment says so; start from
// Default. New copies the Config, it never writes into the caller's.
type Config struct {
	// NodeName is this agent's unique name in the cluster. Default: the
	// host name. At most 128 bytes of letters, digits, '-', '_' and '.';
	// it becomes a DNS label (<node>.node.murmur).
	NodeName string `toml:"node_name"`
	// BindAddr is the IP:port gossip listens on, UDP and TCP. Default
	// "0.0.0.0:7946".
	BindAddr string `toml:"bind_addr"`
	// AdvertiseAddr is the IP:port other agents use to reach this one.
	// Default: empty, the bind address (or, when bound to 0.0.0.0, the
	// first private address of the host).
	AdvertiseAddr string `toml:"advertise_addr"`
	// Join lists HOST:PORT addresses of agents to join at start. They are
	// retried in the background with backoff until one answers.
	Join []string `toml:"join"`
	// DataDir holds the replicated store and the known peers. Required
	// unless Dev is set; with Dev and no DataDir everything is in memory.
	DataDir string `toml:"data_dir"`
	// LeaveTimeout bounds the graceful leave on SIGTERM/SIGINT. Default 5s.
	LeaveTimeout client.Duration `toml:"leave_timeout"`
	// ReapAfter is how long failed and left members are remembered (and
	// failed ones re-contacted) before they are forgotten. Default 24h.
	ReapAfter client.Duration `toml:"reap_after"`
	// ReconnectInterval is how often one failed member is re-contacted so
	// that the halves of a healed partition merge again. Default 30s
	// (lan/wan), 5s (local).
	ReconnectInterval client.Duration `toml:"reconnect_interval"`
	// Meta is this node's metadata (TXT record of <node>.node). Encoded it
	// must fit memberlist's 512-byte node meta limit together with the
	// agent's own header.
	Meta map[string]string `toml:"meta"`
	// Datacenter is the datacenter name the Consul-compatible API answers
	// for (a request with another ?dc= is refused, as Consul refuses an
	// unknown one). Letters, digits, '-', '_' and '.'. Default "dc1".
	Datacenter string `toml:"datacenter"`
	// Dev runs a single in-memory agent on loopback (agentd -dev).
	Dev bool `toml:"-"`

	Gossip    GossipConfig    `toml:"gossip"`
	HTTP      HTTPConfig      `toml:"http"`
	ConsulAPI ConsulAPIConfig `toml:"consul_api"`
	DNS       DNSConfig       `toml:"dns"`
	KV        KVConfig        `toml:"kv"`
	Log       LogConfig       `toml:"log"`
	// ACL is the HTTP API's access control (docs/security.md); tokens
	// are reloaded on SIGHUP.
	ACL acl.Config `toml:"acl"`

	// Services are registered on this agent at start ([[service]] tables).
	Services []client.ServiceDefinition `toml:"service"`

	// Watches run a handler when a key, a prefix, a service or the
	// member list changes ([[watch]] tables; docs/watches.md).
	Watches []watch.Definition `toml:"watch"`
}

// GossipConfig tunes memberlist. Profile picks the base timings; every
// pointer field left nil keeps the profile's value.
type GossipConfig struct {
	// Profile is "lan" (default), "wan" or "local" (memberlist's
	// DefaultLANConfig, DefaultWANConfig, DefaultLocalConfig).
	Profile string `toml:"profile"`
	// Key is the gossip encryption key: base64 of 16, 24 or 32 bytes
	// (AES-128/192/256-GCM). Every agent of a cluster needs the same key.
	// It seeds the keyring in data_dir (keyring.json) at the first start;
	// once that file exists it wins, so keys rotated with agentctl keyring
	// survive restarts (docs/security.md). Empty: gossip is not
	// encrypted, which Start refuses off loopback unless AllowPlaintext.
	Key string `toml:"key"`
	// AllowPlaintext lets an agent gossip unencrypted on a non-loopback
	// address (a lab on a network you trust). Default false: Start
	// refuses, because anyone who can reach the gossip port could then
	// join and write.
	AllowPlaintext bool `toml:"allow_plaintext"`
	// ProbeInterval between failure-detection probes (lan 1s).
	ProbeInterval *client.Duration `toml:"probe_interval"`
	// ProbeTimeout waits for an ack before indirect probes (lan 500ms).
	ProbeTimeout *client.Duration `toml:"probe_timeout"`
	// GossipInterval between gossip rounds (lan 200ms).
	GossipInterval *client.Duration `toml:"gossip_interval"`
	// GossipNodes is the fanout of a gossip round (lan 3).
	GossipNodes *int `toml:"gossip_nodes"`
	// PushPullInterval between full state exchanges (lan 30s).
	PushPullInterval *client.Duration `toml:"push_pull_interval"`
	// SuspicionMult scales the suspicion timeout (lan 4).
	SuspicionMult *int `toml:"suspicion_mult"`
	// RetransmitMult scales how often a broadcast is sent (lan 4).
	RetransmitMult *int `toml:"retransmit_mult"`
	// IndirectChecks is the number of peers asked to probe (lan 3).
	IndirectChecks *int `toml:"indirect_checks"`
	// TCPTimeout bounds stream connections (lan 10s).
	TCPTimeout *client.Duration `toml:"tcp_timeout"`
	// GossipToTheDeadTime keeps gossiping to dead nodes (lan 30s).
	GossipToTheDeadTime *client.Duration `toml:"gossip_to_the_dead_time"`
	// DeadNodeReclaimTime after which a dead node's name may be taken by
	// a node on another address (default 30s; memberlist's 0 would refuse
	// a restarted agent that comes back on a new address).
	DeadNodeReclaimTime *client.Duration `toml:"dead_node_reclaim_time"`
	// Compression: LZW-compress every gossip packet and stream this agent
	// sends (memberlist's EnableCompression). Default false (memberlist's
	// default is true): memberlist builds a fresh 64 KiB compressor for
	// every packet, which cost the DNS p99 under churn, and a gossip
	// packet is at most 1.4 KB either way. The price is on streams: a
	// push/pull at 50 members is 4× the bytes, a large sync 1.6×
	// (BENCHMARKS.md §3). Agents that differ interoperate: memberlist
	// decodes a compressed message whatever this says.
	Compression *bool `toml:"compression"`
}

// HTTPConfig is the HTTP API.
type HTTPConfig struct {
	// Addr is the IP:port of the HTTP API. Default "127.0.0.1:7947".
	// Empty string from code (not TOML) disables the API.
	Addr string `toml:"addr"`
	// Token is the management token: it may do everything (acl). With it
	// set and acl.default unset, requests without a token may only read.
	Token string `toml:"token"`
	// AllowedHosts are the host names a request's Host header may carry
	// besides IP literals, localhost and the TLS certificate's names;
	// others are 403 (DNS rebinding protection). Reloaded on SIGHUP.
	AllowedHosts []string `toml:"allowed_hosts"`
	// TLSCertFile and TLSKeyFile (PEM) serve the API over HTTPS. Re-read
	// on SIGHUP.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// TLSClientCAFile (PEM), when set, requires every client to present a
	// certificate signed by one of its CAs (mutual TLS).
	TLSClientCAFile string `toml:"tls_client_ca_file"`
	// MaxConns bounds the open connections (default 1024); one more is
	// answered 429 with Retry-After and closed.
	MaxConns int `toml:"max_conns"`
	// MaxConnsPerClient bounds the open connections from one IP address
	// (default 512).
	MaxConnsPerClient int `toml:"max_conns_per_client"`
	// MaxBlockingQueries bounds the blocking queries (?index=) waiting at
	// once (default 512); one more is answered 429 with Retry-After.
	MaxBlockingQueries int `toml:"max_blocking_queries"`
}

// ConsulAPIConfig is the Consul-compatible HTTP API (docs/consul-compat.md).
type ConsulAPIConfig struct {
	// Addr is the IP:port of the Consul-compatible API. Default empty:
	// off ("127.0.0.1:8500", Consul's port, under -dev). Writes need
	// http.token when it is set.
	Addr string `toml:"addr"`
}

// DNSConfig is the DNS server: its address plus dnsserver's settings
// (domain, TTLs, ordering, recursors; see docs/dns.md), which are keys of
// the same [dns] table.
type DNSConfig struct {
	// Addr is the IP:port the DNS server listens on, UDP and TCP. Default
	// "127.0.0.1:8600". Empty from code disables DNS.
	Addr string `toml:"addr"`
	dnsserver.Config
}

// KVConfig holds the replicated store's limits.
type KVConfig struct {
	// MaxKeyBytes is the longest key in bytes. Default 512.
	MaxKeyBytes int `toml:"max_key_bytes"`
	// MaxValueBytes is the largest value in bytes. Default 524288.
	MaxValueBytes int `toml:"max_value_bytes"`
	// TombstoneTTL is how long deletes are remembered. Default 24h.
	TombstoneTTL client.Duration `toml:"tombstone_ttl"`
	// SyncInterval is how often the store's summary (a few dozen bytes)
	// goes to one random peer, which syncs if the two differ: an update
	// that gossip and forwarding both missed is repaired within about
	// this long instead of at the next push/pull. Default 5s.
	SyncInterval client.Duration `toml:"sync_interval"`
	// MaxClockSkew bounds how far ahead of this agent's clock a replicated
	// version's wall time may be: versions beyond it are refused (not
	// applied, relayed or observed), and while this agent's own clock is
	// further than this from its peers' it refuses writes with 503.
	// Default 1m (0 means the default); below tombstone_ttl. See
	// docs/consistency.md.
	MaxClockSkew client.Duration `toml:"max_clock_skew"`
}

// LogConfig sets up logging of agentd (an embedding program passes its own
// *slog.Logger and this section is ignored).
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `toml:"level"`
	// JSON writes JSON lines instead of text.
	JSON bool `toml:"json"`
}

// Default addresses and limits.
const (
	DefaultBindAddr = "0.0.0.0:7946"
	DefaultHTTPAddr = "127.0.0.1:7947"
	DefaultDNSAddr  = "127.0.0.1:8600"
	// DevConsulAddr is consul_api.addr under -dev: Consul's own port, so
	// Consul tools find the agent with their defaults.
	DevConsulAddr = "127.0.0.1:8500"
	// DefaultDatacenter is Consul's default datacenter name.
	DefaultDatacenter = "dc1"

	maxNodeNameBytes = 128

	// MaxGossipPayload is the largest payload the agent broadcasts in one
	// gossip packet (agent.MaxGossipPayload): memberlist's 1400-byte UDP
	// buffer minus its compound, encryption and label overhead, minus the
	// type byte.
	MaxGossipPayload = 1200

	// HTTP limits (http.max_conns, http.max_conns_per_client,
	// http.max_blocking_queries); 0 in a Config means these.
	DefaultMaxConns           = 1024
	DefaultMaxConnsPerClient  = 512
	DefaultMaxBlockingQueries = 512
)

// Default returns the defaults every field comment names.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		NodeName:     sanitizeNodeName(host),
		Datacenter:   DefaultDatacenter,
		BindAddr:     DefaultBindAddr,
		LeaveTimeout: client.Duration(5 * time.Second),
		ReapAfter:    client.Duration(24 * time.Hour),
		Gossip:       GossipConfig{Profile: "lan"},
		HTTP: HTTPConfig{Addr: DefaultHTTPAddr, MaxConns: DefaultMaxConns,
			MaxConnsPerClient: DefaultMaxConnsPerClient, MaxBlockingQueries: DefaultMaxBlockingQueries},
		DNS: DNSConfig{Addr: DefaultDNSAddr, Config: dnsserver.DefaultConfig()},
		KV: KVConfig{
			MaxKeyBytes:   512,
			MaxValueBytes: 512 << 10,
			TombstoneTTL:  client.Duration(24 * time.Hour),
			SyncInterval:  client.Duration(5 * time.Second),
			MaxClockSkew:  client.Duration(time.Minute),
		},
		Log: LogConfig{Level: "info"},
	}
}

// Dev is what `agentd -dev` runs: one agent on loopback, in memory, with
// the fast "local" gossip profile.
func Dev() Config {
	c := Default()
	c.Dev = true
	c.BindAddr = "127.0.0.1:7946"
	c.Gossip.Profile = "local"
	c.ConsulAPI.Addr = DevConsulAddr
	if c.NodeName == "" {
		c.NodeName = "dev"
	}
	return c
}

// sanitizeNodeName turns a host name into a valid node name.
func sanitizeNodeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if validNodeRune(r) {
			return r
		}
		return '-'
	}, s)
	if len(s) > maxNodeNameBytes {
		s = s[:maxNodeNameBytes]
	}
	return s
}

func validNodeRune(r rune) bool {
	return r < unicode.MaxASCII && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
}

// Validate checks every field and returns all problems found, each naming
// its TOML key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.NodeName == "":
		bad("node_name", "must not be empty")
	case len(c.NodeName) > maxNodeNameBytes:
		bad("node_name", "%d bytes, at most %d", len(c.NodeName), maxNodeNameBytes)
	default:
		for _, r := range c.NodeName {
			if !validNodeRune(r) {
				bad("node_name", "%q has %q; use letters, digits, '-', '_' and '.'", c.NodeName, r)
				break
			}
		}
	}
	if _, err := parseHostPort(c.BindAddr, true); err != nil {
		bad("bind_addr", "%v", err)
	}
	if c.AdvertiseAddr != "" {
		if ap, err := parseHostPort(c.AdvertiseAddr, false); err != nil {
			bad("advertise_addr", "%v", err)
		} else if ap.Addr().IsUnspecified() {
			bad("advertise_addr", "%s is not an address others can reach", c.AdvertiseAddr)
		}
	}
	for i, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			bad(fmt.Sprintf("join[%d]", i), "%q: want HOST:PORT", j)
		}
	}
	if c.DataDir == "" && !c.Dev {
		bad("data_dir", "required (or run with -dev to keep everything in memory)")
	}
	if c.LeaveTimeout <= 0 {
		bad("leave_timeout", "must be positive")
	}
	if c.ReapAfter < 0 {
		bad("reap_after", "must not be negative")
	}
	if c.ReconnectInterval < 0 {
		bad("reconnect_interval", "must not be negative")
	}
	if _, err := membership.EncodeMeta(c.Meta); err != nil {
		bad("meta", "%v", err)
	}
	errs = append(errs, c.Gossip.validate()...)
	if c.HTTP.Addr != "" {
		if _, err := parseHostPort(c.HTTP.Addr, true); err != nil {
			bad("http.addr", "%v", err)
		}
	}
	switch {
	case c.Datacenter == "":
		bad("datacenter", "must not be empty (Consul's default is \"dc1\")")
	case len(c.Datacenter) > maxNodeNameBytes || strings.IndexFunc(c.Datacenter, func(r rune) bool { return !validNodeRune(r) }) >= 0:
		bad("datacenter", "%q: at most %d bytes of letters, digits, '-', '_' and '.'", c.Datacenter, maxNodeNameBytes)
	}
	if c.ConsulAPI.Addr != "" {
		if _, err := parseHostPort(c.ConsulAPI.Addr, true); err != nil {
			bad("consul_api.addr", "%v", err)
		}
	}
	errs = append(errs, c.validateSecurity()...)
	if c.DNS.Addr != "" {
		if _, err := parseHostPort(c.DNS.Addr, true); err != nil {
			bad("dns.addr", "%v", err)
		}
	}
	if err := c.DNS.Config.Validate(); err != nil {
		errs = append(errs, err) // names the key as dns.<key>
	}
	if maxKey := MaxGossipPayload - configsync.AnnounceOverhead; c.KV.MaxKeyBytes <= 0 || c.KV.MaxKeyBytes > maxKey {
		// A value too big for a packet is announced by key in one gossip
		// packet, so a key must leave room for the announcement.
		bad("kv.max_key_bytes", "%d: must be between 1 and %d", c.KV.MaxKeyBytes, maxKey)
	}
	if c.KV.MaxValueBytes <= 0 || c.KV.MaxValueBytes > configsync.MaxValueBytesCap {
		bad("kv.max_value_bytes", "%d: must be between 1 and %d", c.KV.MaxValueBytes, configsync.MaxValueBytesCap)
	}
	if c.KV.TombstoneTTL <= 0 {
		bad("kv.tombstone_ttl", "must be positive")
	}
	if c.KV.SyncInterval < client.Duration(100*time.Millisecond) {
		bad("kv.sync_interval", "%v: must be at least 100ms", c.KV.SyncInterval.D())
	}
	if s := c.KV.ClockSkew(); s < time.Millisecond || s >= c.KV.TombstoneTTL.D() {
		bad("kv.max_clock_skew", "%v: must be at least 1ms and below kv.tombstone_ttl (%v)", s, c.KV.TombstoneTTL.D())
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		bad("log.level", "%v", err)
	}
	ids := map[string]int{}
	for i, d := range c.Services {
		def, err := catalog.Normalize(httpapi.ToDefinition(d))
		if err != nil {
			bad(fmt.Sprintf("service[%d]", i), "%v", err)
			continue
		}
		if j, dup := ids[def.ID]; dup {
			bad(fmt.Sprintf("service[%d]", i), "id %q is already used by service[%d] (give each instance its own id)", def.ID, j)
		}
		ids[def.ID] = i
	}
	if err := watch.ValidateAll(c.Watches); err != nil {
		errs = append(errs, unjoin(err)...) // each names watch[i].field
	}
	return errors.Join(errs...)
}

func (g *GossipConfig) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("gossip.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch g.Profile {
	case "", "lan", "wan", "local":
	default:
		bad("profile", "%q: must be lan, wan or local", g.Profile)
	}
	if g.Key != "" {
		if _, err := keyring.DecodeKey(g.Key); err != nil {
			bad("key", "%v", err)
		}
	}
	positive := func(key string, d *client.Duration) {
		if d != nil && *d <= 0 {
			bad(key, "must be positive")
		}
	}
	positive("probe_interval", g.ProbeInterval)
	positive("probe_timeout", g.ProbeTimeout)
	positive("gossip_interval", g.GossipInterval)
	positive("push_pull_interval", g.PushPullInterval)
	positive("tcp_timeout", g.TCPTimeout)
	positive("gossip_to_the_dead_time", g.GossipToTheDeadTime)
	if g.DeadNodeReclaimTime != nil && *g.DeadNodeReclaimTime < 0 {
		bad("dead_node_reclaim_time", "must not be negative")
	}
	atLeast := func(key string, v *int, min int) {
		if v != nil && *v < min {
			bad(key, "%d: must be at least %d", *v, min)
		}
	}
	atLeast("gossip_nodes", g.GossipNodes, 1)
	atLeast("suspicion_mult", g.SuspicionMult, 1)
	atLeast("retransmit_mult", g.RetransmitMult, 1)
	atLeast("indirect_checks", g.IndirectChecks, 0)
	if g.ProbeInterval != nil && g.ProbeTimeout != nil && *g.ProbeTimeout >= *g.ProbeInterval {
		bad("probe_timeout", "%v must be shorter than probe_interval %v", g.ProbeTimeout.D(), g.ProbeInterval.D())
	}
	return errs
}

// ParseLevel maps a log level name to a slog.Level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "err":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q: must be debug, info, warn or error", s)
}

// parseHostPort parses a literal IP:port. Port 0 (pick a free port) is
// allowed only for addresses we bind.
func parseHostPort(s string, bind bool) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: want IP:PORT", s)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %q is not an IP address", s, host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: bad port %q", s, port)
	}
	if p == 0 && !bind {
		return netip.AddrPort{}, fmt.Errorf("%q: port 0 cannot be advertised", s)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(p)), nil
}

// Reconnect is ReconnectInterval or the profile's default.
func (c *Config) Reconnect() time.Duration {
	if c.ReconnectInterval > 0 {
		return c.ReconnectInterval.D()
	}
	if c.Gossip.Profile == "local" {
		return 5 * time.Second
	}
	return 30 * time.Second
}

// ClockSkew is kv.max_clock_skew with its default.
func (k KVConfig) ClockSkew() time.Duration {
	if k.MaxClockSkew == 0 {
		return time.Minute
	}
	return k.MaxClockSkew.D()
}
