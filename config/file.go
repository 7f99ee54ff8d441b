package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// ErrConfig marks an error in a configuration file or value. Its text
// keeps the "agent: " of the package it came from: agentd prints it, and
// docs and scripts quote those lines.
var ErrConfig = errors.New("agent: invalid configuration")

// LoadFile reads the TOML file at path on top of base (normally
// DefaultConfig). It does not validate: flags may still change the result,
// so call Validate, or ValidateWithSource, after them. An unknown key or a
// value of the wrong type is an error wrapping ErrConfig that names the
// file, the key and, where it can be found, the line. It also returns the
// file's bytes for ValidateWithSource.
func LoadFile(path string, base Config) (Config, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg, err := parseConfig(data, base)
	if err != nil {
		return base, nil, inFile(path, err)
	}
	return cfg, data, nil
}

// inFile wraps each problem in err (one per line when there are several)
// as an ErrConfig naming the file, so that every line a user reads says
// where it comes from.
func inFile(path string, err error) error {
	var out []error
	for _, e := range unjoin(err) {
		out = append(out, fmt.Errorf("%w: %s: %w", ErrConfig, path, e))
	}
	return errors.Join(out...)
}

// Parse is LoadFile for TOML already in memory.
func Parse(data []byte, base Config) (Config, error) {
	cfg, err := parseConfig(data, base)
	if err != nil {
		return base, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return cfg, nil
}

func parseConfig(data []byte, base Config) (Config, error) {
	cfg := base.Clone()
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			if pe.LastKey != "" {
				return base, fmt.Errorf("line %d: %s: %s", pe.Position.Line, pe.LastKey, pe.Message)
			}
			return base, fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return base, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		var errs []error
		var tables []string // unknown tables: their keys are not reported again
		for _, k := range und {
			key := k.String()
			if slices.ContainsFunc(tables, func(t string) bool { return strings.HasPrefix(key, t+".") }) {
				continue
			}
			switch md.Type(k...) {
			case "Hash":
				tables = append(tables, key)
				errs = append(errs, fmt.Errorf("%sunknown table [%s]%s", linePrefix(data, key), key, suggest(key)))
			case "ArrayHash":
				tables = append(tables, key)
				errs = append(errs, fmt.Errorf("%sunknown table [[%s]]%s", linePrefix(data, key), key, suggest(key)))
			default:
				errs = append(errs, fmt.Errorf("%sunknown key %q%s", linePrefix(data, key), key, suggest(key)))
			}
		}
		return base, errors.Join(errs...)
	}
	return cfg, nil
}

// ValidateWithSource validates cfg and, for each problem, adds the line of
// the offending key in the TOML data (from LoadFile) the config came from.
func ValidateWithSource(cfg *Config, path string, data []byte) error {
	err := cfg.Validate()
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range unjoin(err) {
		key, _, _ := strings.Cut(e.Error(), ":")
		out = append(out, fmt.Errorf("%s%w", linePrefix(data, key), e))
	}
	return inFile(path, errors.Join(out...))
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// linePrefix returns "line N: " for the line that sets key (dotted, as
// toml.Key.String prints it) in data, or "" when it cannot be found. The
// decoder does not export key positions, so this scans for the last key
// piece after the header of its table.
func linePrefix(data []byte, key string) string {
	var index int
	if k, rest, ok := strings.Cut(key, "["); ok && (k == "service" || k == "watch") {
		// service[i], watch[i].field: the header of the i-th table.
		if _, err := fmt.Sscanf(rest, "%d]", &index); err == nil {
			n := 0
			for i, line := range strings.Split(string(data), "\n") {
				if strings.TrimSpace(line) == "[["+k+"]]" {
					if n == index {
						return fmt.Sprintf("line %d: ", i+1)
					}
					n++
				}
			}
		}
	}
	key, _, _ = strings.Cut(key, "[") // join[0] -> join
	pieces := strings.Split(key, ".")
	last := pieces[len(pieces)-1]
	table := strings.Join(pieces[:len(pieces)-1], ".")
	assign := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(last) + `"?\s*=`)
	header := regexp.MustCompile(`^\s*\[\[?\s*([^\]]*?)\s*\]\]?`)
	current := ""
	for i, line := range strings.Split(string(data), "\n") {
		if m := header.FindStringSubmatch(line); m != nil {
			current = m[1]
			if current == key { // the key is a table: its header
				return fmt.Sprintf("line %d: ", i+1)
			}
			continue
		}
		if current == table && assign.MatchString(line) {
			return fmt.Sprintf("line %d: ", i+1)
		}
	}
	return ""
}

// Clone returns a deep copy so that decoding into it or validating it can
// never touch the caller's slices and maps.
func (c Config) Clone() Config {
	out := c
	out.Join = append([]string(nil), c.Join...)
	if c.Meta != nil {
		out.Meta = make(map[string]string, len(c.Meta))
		for k, v := range c.Meta {
			out.Meta[k] = v
		}
	}
	out.Services = append(out.Services[:0:0], c.Services...)
	out.HTTP.AllowedHosts = append([]string(nil), c.HTTP.AllowedHosts...)
	out.ACL.Tokens = append(out.ACL.Tokens[:0:0], c.ACL.Tokens...)
	for i := range out.ACL.Tokens {
		out.ACL.Tokens[i].Rules = append(out.ACL.Tokens[i].Rules[:0:0], c.ACL.Tokens[i].Rules...)
	}
	out.Watches = append(out.Watches[:0:0], c.Watches...)
	for i := range out.Watches {
		out.Watches[i].Handler = append([]string(nil), out.Watches[i].Handler...)
	}
	g := &out.Gossip
	g.ProbeInterval = clonePtr(g.ProbeInterval)
	g.ProbeTimeout = clonePtr(g.ProbeTimeout)
	g.GossipInterval = clonePtr(g.GossipInterval)
	g.GossipNodes = clonePtr(g.GossipNodes)
	g.PushPullInterval = clonePtr(g.PushPullInterval)
	g.SuspicionMult = clonePtr(g.SuspicionMult)
	g.RetransmitMult = clonePtr(g.RetransmitMult)
	g.IndirectChecks = clonePtr(g.IndirectChecks)
	g.TCPTimeout = clonePtr(g.TCPTimeout)
	g.GossipToTheDeadTime = clonePtr(g.GossipToTheDeadTime)
	g.DeadNodeReclaimTime = clonePtr(g.DeadNodeReclaimTime)
	g.Compression = clonePtr(g.Compression)
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Changed compares two configs through their TOML form and returns the
// dotted keys whose values differ, sorted (what a reload must apply).
func Changed(old, new Config) []string {
	o, n := flatten(old), flatten(new)
	var keys []string
	for k, v := range n {
		if !reflect.DeepEqual(o[k], v) {
			keys = append(keys, k)
		}
	}
	for k := range o {
		if _, ok := n[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func flatten(c Config) map[string]any {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return map[string]any{"<unencodable>": err.Error()}
	}
	var m map[string]any
	if _, err := toml.Decode(buf.String(), &m); err != nil {
		return map[string]any{"<undecodable>": err.Error()}
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if sub, ok := v.(map[string]any); ok {
			for k, x := range sub {
				walk(prefix+k+".", x)
			}
			return
		}
		out[prefix[:len(prefix)-1]] = fmt.Sprint(v)
	}
	walk("", m)
	return out
}
