package watch

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

// Watch types.
const (
	TypeKey       = "key"
	TypeKeyPrefix = "keyprefix"
	TypeService   = "service"
	TypeMembers   = "members"
)

// Defaults of Definition.
const (
	DefaultTimeout  = 30 * time.Second
	DefaultDebounce = 100 * time.Millisecond
	// minMaxDelay is the least bound on how long a burst may postpone a
	// run (10 × Debounce otherwise).
	minMaxDelay = time.Second
)

// Definition is one watch: a [[watch]] table of the agent's config.
type Definition struct {
	// Name identifies the watch in logs and metrics. Default: TYPE:WHAT,
	// e.g. "key:app/mode", "members".
	Name string `toml:"name" json:"name,omitempty"`
	// Type is "key", "keyprefix", "service" or "members".
	Type string `toml:"type" json:"type"`
	// Key is the key of a "key" watch.
	Key string `toml:"key" json:"key,omitempty"`
	// Prefix is the prefix of a "keyprefix" watch ("" is every key).
	Prefix string `toml:"prefix" json:"prefix,omitempty"`
	// Service is the service name of a "service" watch.
	Service string `toml:"service" json:"service,omitempty"`
	// PassingOnly limits a "service" watch to passing instances on live
	// nodes. Default false: every instance, with its health.
	PassingOnly bool `toml:"passing_only" json:"passing_only,omitempty"`
	// Handler is the command and its arguments; it is run directly, not
	// through a shell.
	Handler []string `toml:"handler" json:"handler"`
	// Timeout kills a handler still running after it. Default 30s.
	Timeout client.Duration `toml:"timeout" json:"timeout,omitempty"`
	// Debounce is how long the state must stay unchanged before the
	// handler runs. Default 100ms.
	Debounce client.Duration `toml:"debounce" json:"debounce,omitempty"`
}

// ErrInvalid marks an invalid Definition; the message names the field.
var ErrInvalid = errors.New("watch: invalid definition")

// WithDefaults returns d with the defaults of unset fields filled in.
func (d Definition) WithDefaults() Definition {
	if d.Timeout == 0 {
		d.Timeout = client.Duration(DefaultTimeout)
	}
	if d.Debounce == 0 {
		d.Debounce = client.Duration(DefaultDebounce)
	}
	if d.Name == "" {
		switch d.Type {
		case TypeKey:
			d.Name = d.Type + ":" + d.Key
		case TypeKeyPrefix:
			d.Name = d.Type + ":" + d.Prefix
		case TypeService:
			d.Name = d.Type + ":" + d.Service
		default:
			d.Name = d.Type
		}
	}
	d.Handler = append([]string(nil), d.Handler...)
	return d
}

// Validate checks d; each error wraps ErrInvalid and names the field.
func (d Definition) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...)))
	}
	need := func(field, v string) {
		if v == "" {
			bad(field, "required for type %q", d.Type)
		}
	}
	unused := func(field, v string) {
		if v != "" {
			bad(field, "not used by type %q", d.Type)
		}
	}
	switch d.Type {
	case TypeKey:
		need("key", d.Key)
		unused("prefix", d.Prefix)
		unused("service", d.Service)
	case TypeKeyPrefix:
		unused("key", d.Key)
		unused("service", d.Service)
	case TypeService:
		need("service", d.Service)
		unused("key", d.Key)
		unused("prefix", d.Prefix)
	case TypeMembers:
		unused("key", d.Key)
		unused("prefix", d.Prefix)
		unused("service", d.Service)
	case "":
		bad("type", "required: key, keyprefix, service or members")
	default:
		bad("type", "%q: want key, keyprefix, service or members", d.Type)
	}
	if d.PassingOnly && d.Type != TypeService {
		bad("passing_only", "only for type %q", TypeService)
	}
	if len(d.Handler) == 0 || strings.TrimSpace(d.Handler[0]) == "" {
		bad("handler", `required: the command and its arguments, e.g. ["/usr/local/bin/reload", "--quiet"]`)
	}
	if d.Timeout < 0 {
		bad("timeout", "%v is negative", d.Timeout.D())
	}
	if d.Debounce < 0 {
		bad("debounce", "%v is negative", d.Debounce.D())
	}
	if d.Debounce.D() > time.Hour {
		bad("debounce", "%v is longer than an hour", d.Debounce.D())
	}
	return errors.Join(errs...)
}

// ValidateAll checks every definition and that names are unique; errors
// name the definition as watch[i].
func ValidateAll(defs []Definition) error {
	var errs []error
	names := map[string]int{}
	for i, d := range defs {
		if err := d.Validate(); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("watch[%d].%s", i, strings.TrimPrefix(e.Error(), ErrInvalid.Error()+": ")))
			}
			continue
		}
		name := d.WithDefaults().Name
		if j, dup := names[name]; dup {
			errs = append(errs, fmt.Errorf("watch[%d].name: %q is already used by watch[%d] (give one a name)", i, name, j))
		}
		names[name] = i
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (d Definition) maxDelay() time.Duration {
	return max(minMaxDelay, 10*d.Debounce.D())
}
