package agent

import (
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/config"
)

// The agent's configuration is package config's; these names keep the
// embedding API (agent.Config, agent.DefaultConfig, agent.LoadFile, ...).
type (
	Config          = config.Config
	GossipConfig    = config.GossipConfig
	HTTPConfig      = config.HTTPConfig
	ConsulAPIConfig = config.ConsulAPIConfig
	DNSConfig       = config.DNSConfig
	KVConfig        = config.KVConfig
	LogConfig       = config.LogConfig
)

// Default addresses and limits (package config).
const (
	DefaultBindAddr           = config.DefaultBindAddr
	DefaultHTTPAddr           = config.DefaultHTTPAddr
	DefaultDNSAddr            = config.DefaultDNSAddr
	DevConsulAddr             = config.DevConsulAddr
	DefaultDatacenter         = config.DefaultDatacenter
	DefaultMaxConns           = config.DefaultMaxConns
	DefaultMaxConnsPerClient  = config.DefaultMaxConnsPerClient
	DefaultMaxBlockingQueries = config.DefaultMaxBlockingQueries
)

// ErrConfig marks an error in a configuration file or value.
var ErrConfig = config.ErrConfig

// DefaultConfig returns the defaults every field comment names.
func DefaultConfig() Config { return config.Default() }

// DevConfig is what `agentd -dev` runs (config.Dev).
func DevConfig() Config { return config.Dev() }

// LoadFile reads the TOML file at path on top of base (config.LoadFile).
func LoadFile(path string, base Config) (Config, []byte, error) { return config.LoadFile(path, base) }

// ParseConfig is LoadFile for TOML already in memory.
func ParseConfig(data []byte, base Config) (Config, error) { return config.Parse(data, base) }

// ValidateWithSource is Validate with each problem's line (config).
func ValidateWithSource(cfg *Config, path string, data []byte) error {
	return config.ValidateWithSource(cfg, path, data)
}

// ParseLevel maps a log level name to a slog.Level.
func ParseLevel(s string) (slog.Level, error) { return config.ParseLevel(s) }

// memberlistConfig builds a fresh memberlist.Config from the profile and
// overrides. memberlist writes into the Config it is given, so every call
// returns a new one.
func memberlistConfig(c *Config) *memberlist.Config {
	var mc *memberlist.Config
	switch c.Gossip.Profile {
	case "wan":
		mc = memberlist.DefaultWANConfig()
	case "local":
		mc = memberlist.DefaultLocalConfig()
	default:
		mc = memberlist.DefaultLANConfig()
	}
	g := &c.Gossip
	setD := func(dst *time.Duration, v *client.Duration) {
		if v != nil {
			*dst = v.D()
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setD(&mc.ProbeInterval, g.ProbeInterval)
	setD(&mc.ProbeTimeout, g.ProbeTimeout)
	setD(&mc.GossipInterval, g.GossipInterval)
	setD(&mc.PushPullInterval, g.PushPullInterval)
	setD(&mc.TCPTimeout, g.TCPTimeout)
	setD(&mc.GossipToTheDeadTime, g.GossipToTheDeadTime)
	setI(&mc.GossipNodes, g.GossipNodes)
	setI(&mc.SuspicionMult, g.SuspicionMult)
	setI(&mc.RetransmitMult, g.RetransmitMult)
	setI(&mc.IndirectChecks, g.IndirectChecks)
	mc.DeadNodeReclaimTime = 30 * time.Second
	setD(&mc.DeadNodeReclaimTime, g.DeadNodeReclaimTime)
	mc.EnableCompression = false
	if g.Compression != nil {
		mc.EnableCompression = *g.Compression
	}
	return mc
}
