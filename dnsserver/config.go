package dnsserver

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config is the [dns] table of the agent's TOML file, less the listen
// address (the agent binds the sockets). Start from DefaultConfig; New and
// SetConfig copy it and never write into the caller's value.
type Config struct {
	// Domain is the zone the server is authoritative for, in any case,
	// with or without the trailing dot. Default "murmur.".
	Domain string `toml:"domain"`
	// NodeTTL is the TTL of node records: A/AAAA/TXT of <node>.node, PTR,
	// the NS record and its glue, and the SRV targets' addresses. Whole
	// seconds, 0 to 2^31-1. Default 0: resolvers do not cache, so a node
	// that fails is gone from the next answer (Consul's default).
	NodeTTL time.Duration `toml:"node_ttl"`
	// ServiceTTL is the TTL of service records (A/AAAA/SRV of
	// <svc>.service and the <hex>.addr targets). Whole seconds. Default 0,
	// for the same reason.
	ServiceTTL time.Duration `toml:"service_ttl"`
	// NegativeTTL is how long resolvers may cache NXDOMAIN and NODATA: it
	// is the SOA MINIMUM field and the TTL of the SOA record (RFC 2308).
	// Whole seconds. Default 0, so a service registered a moment ago is
	// found at once.
	NegativeTTL time.Duration `toml:"negative_ttl"`
	// MaxAnswers caps the records of one type in an answer (A, AAAA or
	// SRV), after ordering. 0 (default) means no cap beyond the packet
	// size. A capped answer is complete, not truncated: TC is not set.
	MaxAnswers int `toml:"max_answers"`
	// OnlyPassing serves only instances whose health is passing. Default
	// false: passing and warning are served; critical never is.
	OnlyPassing bool `toml:"only_passing"`
	// ServeSuspect serves instances on nodes memberlist suspects. Default
	// true: suspicion is usually a lost probe or a pause that is refuted
	// within seconds, and a suspect that really died is declared failed
	// after the suspicion timeout and leaves DNS then; dropping suspects
	// would make answers flap on every lost packet. Failed and left nodes
	// are never served.
	ServeSuspect bool `toml:"serve_suspect"`
	// Order is "shuffle" (default: a new random order per query, which
	// spreads load) or "nearest" (ascending round trip time estimated
	// from network coordinates; nodes without a coordinate come last, in
	// random order).
	Order string `toml:"order"`
	// Recursors are upstream DNS servers, "IP" or "IP:port" (port 53 by
	// default), asked in turn for names outside Domain. Empty (default):
	// such names are REFUSED, so the agent is never an open resolver.
	Recursors []string `toml:"recursors"`
	// RecursorTimeout bounds the exchange with one recursor. Default 2s.
	RecursorTimeout time.Duration `toml:"recursor_timeout"`
	// MaxUDPSize caps UDP answers in bytes whatever a client advertises,
	// and is the payload size our OPT record advertises; a bigger answer
	// is truncated with TC and the client retries over TCP. 512 to 65535;
	// default 1232 (DNS flag day 2020: no IP fragmentation). 0 means the
	// default.
	MaxUDPSize int `toml:"max_udp_size"`
}

// Orders accepted by Config.Order.
const (
	OrderShuffle = "shuffle"
	OrderNearest = "nearest"
)

// DefaultDomain is the zone served unless Config.Domain says otherwise.
const DefaultDomain = "murmur."

// DefaultConfig returns the defaults each field comment names.
func DefaultConfig() Config {
	return Config{
		Domain:          DefaultDomain,
		ServeSuspect:    true,
		Order:           OrderShuffle,
		RecursorTimeout: 2 * time.Second,
		MaxUDPSize:      DefaultMaxUDPSize,
	}
}

// ErrInvalidConfig is matched (errors.Is) by every error Validate returns.
var ErrInvalidConfig = errors.New("dnsserver: invalid config")

// ConfigError is one invalid [dns] setting. Key is the TOML key, e.g.
// "dns.order".
type ConfigError struct {
	Key string
	Msg string
}

func (e *ConfigError) Error() string { return "dnsserver: " + e.Key + ": " + e.Msg }

// Is makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Validate reports every invalid setting, each error naming its TOML key.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// runConfig is a validated Config with its derived, normalised values.
// The Server swaps it atomically; zones are cached per *runConfig.
type runConfig struct {
	Config
	domain    string   // lower-case, fully qualified
	recursors []string // "ip:port"
	maxUDP    int      // MaxUDPSize, or the default for 0
}

func (c Config) compile() (*runConfig, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	rc := &runConfig{Config: c}
	rc.Recursors = append([]string(nil), c.Recursors...)

	switch d := c.Domain; {
	case d == "":
		bad("dns.domain", "must not be empty")
	case d == ".":
		bad("dns.domain", "must not be the root")
	default:
		if _, ok := dns.IsDomainName(d); !ok || strings.HasPrefix(d, ".") {
			bad("dns.domain", "%q is not a valid domain name", d)
		} else {
			rc.domain = dns.CanonicalName(d)
		}
	}
	ttl := func(key string, d time.Duration) {
		switch {
		case d < 0:
			bad(key, "must not be negative, got %v", d)
		case d%time.Second != 0:
			bad(key, "must be a whole number of seconds, got %v", d)
		case d > math.MaxInt32*time.Second:
			bad(key, "must be at most %ds (RFC 2181), got %v", math.MaxInt32, d)
		}
	}
	ttl("dns.node_ttl", c.NodeTTL)
	ttl("dns.service_ttl", c.ServiceTTL)
	ttl("dns.negative_ttl", c.NegativeTTL)
	if c.MaxAnswers < 0 || c.MaxAnswers > math.MaxUint16 {
		bad("dns.max_answers", "must be between 0 (no limit) and %d, got %d", math.MaxUint16, c.MaxAnswers)
	}
	if c.Order != OrderShuffle && c.Order != OrderNearest {
		bad("dns.order", "must be %q or %q, got %q", OrderShuffle, OrderNearest, c.Order)
	}
	for i, r := range c.Recursors {
		addr, err := parseRecursor(r)
		if err != nil {
			bad("dns.recursors", "entry %d %q: %v", i, r, err)
			continue
		}
		rc.recursors = append(rc.recursors, addr)
	}
	if c.RecursorTimeout <= 0 {
		bad("dns.recursor_timeout", "must be positive, got %v", c.RecursorTimeout)
	}
	switch rc.maxUDP = c.MaxUDPSize; {
	case rc.maxUDP == 0:
		rc.maxUDP = DefaultMaxUDPSize
	case rc.maxUDP < dns.MinMsgSize || rc.maxUDP > dns.MaxMsgSize:
		bad("dns.max_udp_size", "must be between %d and %d bytes, got %d", dns.MinMsgSize, dns.MaxMsgSize, c.MaxUDPSize)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rc, nil
}

// parseRecursor accepts "IP" and "IP:port" ("[IPv6]:port") and returns
// "ip:port". Host names are refused: resolving them would need DNS.
func parseRecursor(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return "", errors.New("port must not be 0")
		}
		return ap.String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", errors.New(`must be "IP" or "IP:port"`)
	}
	return netip.AddrPortFrom(a, 53).String(), nil
}

// ttlSeconds converts a validated TTL.
func ttlSeconds(d time.Duration) uint32 { return uint32(d / time.Second) }

// String renders the config for logs.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("domain=" + c.Domain)
	b.WriteString(" node_ttl=" + c.NodeTTL.String())
	b.WriteString(" service_ttl=" + c.ServiceTTL.String())
	b.WriteString(" negative_ttl=" + c.NegativeTTL.String())
	b.WriteString(" max_answers=" + strconv.Itoa(c.MaxAnswers))
	b.WriteString(" only_passing=" + strconv.FormatBool(c.OnlyPassing))
	b.WriteString(" serve_suspect=" + strconv.FormatBool(c.ServeSuspect))
	b.WriteString(" order=" + c.Order)
	b.WriteString(" recursors=[" + strings.Join(c.Recursors, ",") + "]")
	b.WriteString(" recursor_timeout=" + c.RecursorTimeout.String())
	b.WriteString(" max_udp_size=" + strconv.Itoa(c.MaxUDPSize))
	return b.String()
}
