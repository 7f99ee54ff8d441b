package catalog

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Definition registers a service instance on this agent (a [[service]]
// table, an HTTP or Consul registration: each face converts its own wire
// form into this).
type Definition struct {
	// ID is unique on this agent; it defaults to Name as given.
	ID string
	// Name is the service name, one DNS label; Normalize lower-cases it.
	Name    string
	Address string
	Port    int
	Tags    []string
	Meta    map[string]string
	// Check is the instance's health check; nil: always passing.
	Check *Check
}

// Check is a health check: exactly one of TCP, HTTP and TTL is set.
type Check struct {
	// TCP is HOST:PORT to connect to.
	TCP string
	// HTTP is a URL to GET: 2xx passing, 429 warning, else critical.
	HTTP string
	// TTL: critical unless refreshed (UpdateTTL) within TTL.
	TTL time.Duration
	// Interval between probes of a TCP or HTTP check; 0 means 10s.
	Interval time.Duration
	// Timeout of one probe; 0 means 5s.
	Timeout time.Duration
	// SuccessBeforePassing consecutive passes turn the check passing
	// (default 1); FailuresBeforeCritical consecutive failures turn it
	// critical (default 1).
	SuccessBeforePassing   int
	FailuresBeforeCritical int
}

// Limits of a definition.
const (
	// MinCheckInterval is the shortest check interval and TTL accepted: a
	// check every nanosecond would spin the agent.
	MinCheckInterval = time.Second
	maxServiceID     = 128
	maxLabel         = 63
	maxTags          = 64
	maxSvcMeta       = 64
	defaultInterval  = 10 * time.Second
	defaultTimeout   = 5 * time.Second
)

// Errors callers branch on.
var (
	// ErrInvalidService: a definition failed validation; the message
	// names the field.
	ErrInvalidService = errors.New("catalog: invalid service definition")
	// ErrUnknownService: no local instance has that id.
	ErrUnknownService = errors.New("catalog: unknown service id")
	// ErrNotTTL: a TTL update for an instance whose check is not a TTL
	// check.
	ErrNotTTL = errors.New("catalog: not a TTL check")
)

// Normalize checks def and returns it with its defaults filled in: ID
// from Name, Name lower-cased, slices and maps copied. Errors wrap
// ErrInvalidService and name the field.
func Normalize(def Definition) (Definition, error) {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidService, field, fmt.Sprintf(format, args...))
	}
	if err := checkLabel(def.Name); err != nil {
		return def, bad("name", "%v", err)
	}
	if def.ID == "" {
		def.ID = def.Name
	}
	def.Name = strings.ToLower(def.Name)
	if len(def.ID) > maxServiceID || strings.ContainsAny(def.ID, "/ ") || hasControl(def.ID) {
		return def, bad("id", "%q: at most %d bytes, no '/', spaces or control characters", def.ID, maxServiceID)
	}
	if def.Port < 0 || def.Port > 65535 {
		return def, bad("port", "%d is not a port", def.Port)
	}
	if def.Address != "" {
		if _, err := netip.ParseAddr(def.Address); err != nil {
			return def, bad("address", "%q is not an IP address", def.Address)
		}
	}
	if len(def.Tags) > maxTags {
		return def, bad("tags", "%d tags, at most %d", len(def.Tags), maxTags)
	}
	for _, tag := range def.Tags {
		if err := checkLabel(tag); err != nil {
			return def, bad("tags", "%v", err)
		}
	}
	if len(def.Meta) > maxSvcMeta {
		return def, bad("meta", "%d keys, at most %d", len(def.Meta), maxSvcMeta)
	}
	for k, v := range def.Meta {
		if k == "" || len(k) > 128 || len(v) > 512 || hasControl(k) || hasControl(v) {
			return def, bad("meta", "key %q: keys 1-128 and values up to 512 bytes, no control characters", k)
		}
	}
	def.Tags = slices.Clone(def.Tags)
	if def.Meta != nil {
		m := make(map[string]string, len(def.Meta))
		for k, v := range def.Meta {
			m[k] = v
		}
		def.Meta = m
	}
	if def.Check == nil {
		return def, nil
	}
	c := *def.Check
	def.Check = &c
	return def, c.validate(bad)
}

func (c *Check) validate(bad func(field, format string, args ...any) error) error {
	kinds := 0
	for _, set := range []bool{c.TCP != "", c.HTTP != "", c.TTL != 0} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return bad("check", "exactly one of tcp, http and ttl must be set")
	}
	if c.TCP != "" {
		if _, err := netip.ParseAddrPort(c.TCP); err != nil {
			if h, p, ok := strings.Cut(c.TCP, ":"); !ok || h == "" || p == "" {
				return bad("check.tcp", "%q: want HOST:PORT", c.TCP)
			}
		}
	}
	if c.HTTP != "" {
		u, err := url.Parse(c.HTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("check.http", "%q: want an http:// or https:// URL", c.HTTP)
		}
	}
	// Refused rather than clamped (Consul clamps with a warning): a
	// registration that says 1ns and runs every second would surprise.
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"check.ttl", c.TTL}, {"check.interval", c.Interval}} {
		if d.v != 0 && d.v < MinCheckInterval {
			return bad(d.field, "%v is below the minimum of %v", d.v, MinCheckInterval)
		}
	}
	if c.Timeout < 0 {
		return bad("check.timeout", "%v must not be negative", c.Timeout)
	}
	if c.SuccessBeforePassing < 0 {
		return bad("check.success_before_passing", "%d must not be negative", c.SuccessBeforePassing)
	}
	if c.FailuresBeforeCritical < 0 {
		return bad("check.failures_before_critical", "%d must not be negative", c.FailuresBeforeCritical)
	}
	return nil
}

// checkLabel accepts a DNS label: letters, digits and '-', 1 to 63 bytes,
// not starting or ending with '-'.
func checkLabel(s string) error {
	if s == "" || len(s) > maxLabel {
		return fmt.Errorf("%q must be 1 to %d bytes", s, maxLabel)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%q: use letters, digits and '-' (it is a DNS label)", s)
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return fmt.Errorf("%q must not start or end with '-'", s)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
