package acl

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
)

// Kind is the kind of resource a rule governs.
type Kind uint8

// Kinds. The names are the values of a rule's kind in TOML.
const (
	// KindKV: keys of the replicated store; the name is the key.
	KindKV Kind = iota + 1
	// KindService: registering, deregistering and reading service
	// instances, and updating their checks; the name is the service name.
	KindService
	// KindAgent: reading members, coordinates, this agent's description
	// and metrics, and making it join or leave; the name is a node name.
	KindAgent
	// KindKeyring: listing (read) and changing (write) the gossip keyring.
	// It has no names: its rules take no prefix.
	KindKeyring

	numKinds = int(KindKeyring) + 1
)

var kindNames = [...]string{KindKV: "kv", KindService: "service", KindAgent: "agent", KindKeyring: "keyring"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind reads a kind name; "" is KindKV.
func ParseKind(s string) (Kind, error) {
	if s == "" {
		return KindKV, nil
	}
	for k, n := range kindNames {
		if n != "" && n == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("%q: want kv, service, agent or keyring", s)
}

// Access is what a rule allows. Write implies read.
type Access uint8

// Accesses, ordered: a greater one covers the smaller.
const (
	Deny Access = iota
	Read
	Write
)

func (a Access) String() string {
	switch a {
	case Deny:
		return "deny"
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return fmt.Sprintf("access(%d)", uint8(a))
}

// ParseAccess reads "deny", "read" or "write".
func ParseAccess(s string) (Access, error) {
	switch s {
	case "deny":
		return Deny, nil
	case "read":
		return Read, nil
	case "write":
		return Write, nil
	}
	return 0, fmt.Errorf("%q: want read, write or deny", s)
}

// Defaults: the values of acl.default.
const (
	DefaultAllow = "allow"
	DefaultRead  = "read"
	DefaultDeny  = "deny"
)

// Config is the [acl] table of the agent's configuration.
type Config struct {
	// Default is what a request without a token may do: "allow" (read
	// and write everything), "read" (read everything) or "deny"
	// (nothing). Empty means the caller's default; New takes it as
	// "allow" (the agent decides it from its HTTP address and tokens,
	// see docs/security.md).
	Default string `toml:"default"`
	// Tokens are the named tokens ([[acl.token]]).
	Tokens []TokenConfig `toml:"token"`
}

// TokenConfig is one [[acl.token]].
type TokenConfig struct {
	// Name identifies the token in errors and logs; unique.
	Name string `toml:"name"`
	// Secret is what a request presents; unique, never logged.
	Secret string `toml:"secret"`
	// Rules grant the token's permissions; the longest matching prefix of
	// a kind wins.
	Rules []RuleConfig `toml:"rules"`
}

// RuleConfig is one rule: { kind = "kv", prefix = "app/", access = "read" }.
type RuleConfig struct {
	// Kind is kv (default), service, agent or keyring.
	Kind string `toml:"kind"`
	// Prefix of the names the rule covers; "" covers all. Keyring rules
	// take none.
	Prefix string `toml:"prefix"`
	// Access is read, write or deny.
	Access string `toml:"access"`
}

// Errors callers branch on.
var (
	// ErrUnknownToken: a request presented a secret no token has.
	ErrUnknownToken = errors.New("acl: unknown token")
	// ErrDenied is wrapped by every *DeniedError.
	ErrDenied = errors.New("acl: permission denied")
)

// Reserved identity names.
const (
	AnonymousName  = "anonymous"
	ManagementName = "management"
)

// Resolver maps a request's secret to its identity. Faces depend on this
// interface; *Authorizer and *Live implement it. Resolve is safe for
// concurrent use.
type Resolver interface {
	// Resolve returns the identity of secret: the anonymous identity for
	// "", ErrUnknownToken when no token has that secret.
	Resolve(secret string) (*Identity, error)
}

var (
	_ Resolver = (*Authorizer)(nil)
	_ Resolver = (*Live)(nil)
)

// Authorizer resolves secrets to identities. It is immutable and safe for
// concurrent use.
type Authorizer struct {
	anonymous  *Identity
	management *Identity
	// mgmtSum is the SHA-256 of the management secret; nil when none.
	mgmtSum *[sha256.Size]byte
	tokens  []token
	dflt    string
}

type token struct {
	sum [sha256.Size]byte
	id  *Identity
}

// New builds an Authorizer from cfg and the management secret (http.token;
// "" for none). Errors name the TOML key (acl.token[1].rules[0].access).
func New(cfg Config, management string) (*Authorizer, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	a := &Authorizer{dflt: cfg.Default}
	var all Access
	switch cfg.Default {
	case "", DefaultAllow:
		all, a.dflt = Write, DefaultAllow
	case DefaultRead:
		all = Read
	case DefaultDeny:
		all = Deny
	default:
		bad("acl.default", "%q: want allow, read or deny", cfg.Default)
	}
	a.anonymous = &Identity{name: AnonymousName, anonymous: true, fallback: all, dflt: a.dflt}
	a.management = &Identity{name: ManagementName, fallback: Write, dflt: a.dflt}
	if management != "" {
		sum := sha256.Sum256([]byte(management))
		a.mgmtSum = &sum
	}
	names := map[string]int{}
	secrets := map[[sha256.Size]byte]int{}
	for i, tc := range cfg.Tokens {
		key := fmt.Sprintf("acl.token[%d]", i)
		switch {
		case tc.Name == "":
			bad(key+".name", "required")
		case tc.Name == AnonymousName || tc.Name == ManagementName:
			bad(key+".name", "%q is reserved", tc.Name)
		default:
			if j, dup := names[tc.Name]; dup {
				bad(key+".name", "%q is already the name of acl.token[%d]", tc.Name, j)
			}
			names[tc.Name] = i
		}
		sum := sha256.Sum256([]byte(tc.Secret))
		switch {
		case tc.Secret == "":
			bad(key+".secret", "required")
		case a.mgmtSum != nil && sum == *a.mgmtSum:
			bad(key+".secret", "equals http.token (the management token); give each token its own secret")
		default:
			if j, dup := secrets[sum]; dup {
				bad(key+".secret", "equals the secret of acl.token[%d]; give each token its own secret", j)
			}
			secrets[sum] = i
		}
		id := &Identity{name: tc.Name, fallback: all, dflt: a.dflt}
		for j, rc := range tc.Rules {
			rkey := fmt.Sprintf("%s.rules[%d]", key, j)
			kind, err := ParseKind(rc.Kind)
			if err != nil {
				bad(rkey+".kind", "%v", err)
				continue
			}
			acc, err := ParseAccess(rc.Access)
			if err != nil {
				bad(rkey+".access", "%v", err)
				continue
			}
			if kind == KindKeyring && rc.Prefix != "" {
				bad(rkey+".prefix", "keyring rules take no prefix")
				continue
			}
			for _, r := range id.rules[kind] {
				if r.prefix == rc.Prefix {
					bad(rkey+".prefix", "%s prefix %q already has a rule in this token", kind, rc.Prefix)
				}
			}
			id.rules[kind] = append(id.rules[kind], rule{prefix: rc.Prefix, access: acc})
		}
		for k := range id.rules {
			// Longest prefix first: the first match wins.
			slices.SortFunc(id.rules[k], func(x, y rule) int { return len(y.prefix) - len(x.prefix) })
		}
		a.tokens = append(a.tokens, token{sum: sum, id: id})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// Default is the effective acl.default: allow, read or deny.
func (a *Authorizer) Default() string { return a.dflt }

// Resolve implements Resolver. Every token's hash is compared, with no
// early exit, so the time taken does not depend on which one matched.
func (a *Authorizer) Resolve(secret string) (*Identity, error) {
	if secret == "" {
		return a.anonymous, nil
	}
	sum := sha256.Sum256([]byte(secret))
	var found *Identity
	if a.mgmtSum != nil && subtle.ConstantTimeCompare(sum[:], a.mgmtSum[:]) == 1 {
		found = a.management
	}
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 {
			found = a.tokens[i].id
		}
	}
	if found == nil {
		return nil, ErrUnknownToken
	}
	return found, nil
}

// Live holds the current Authorizer and swaps it atomically (on reload).
// The zero value resolves every secret to an identity that may do
// everything (no ACLs configured). Safe for concurrent use.
type Live struct {
	p atomic.Pointer[Authorizer]
}

// NewLive returns a Live holding a.
func NewLive(a *Authorizer) *Live {
	l := &Live{}
	l.Set(a)
	return l
}

// Set replaces the Authorizer; requests resolved afterwards use a.
func (l *Live) Set(a *Authorizer) { l.p.Store(a) }

// Get returns the current Authorizer (nil when none was set).
func (l *Live) Get() *Authorizer { return l.p.Load() }

// Resolve implements Resolver with the current Authorizer.
func (l *Live) Resolve(secret string) (*Identity, error) {
	a := l.p.Load()
	if a == nil {
		return allowAll, nil
	}
	return a.Resolve(secret)
}

var allowAll = &Identity{name: AnonymousName, anonymous: true, fallback: Write, dflt: DefaultAllow}

// Identity is who a request is, and what it may do. Immutable.
type Identity struct {
	name      string
	anonymous bool
	// fallback applies to names no rule matches.
	fallback Access
	// dflt is acl.default, for messages.
	dflt  string
	rules [numKinds][]rule
}

type rule struct {
	prefix string
	access Access
}

// Name is the token's name, "anonymous" or "management".
func (id *Identity) Name() string { return id.name }

// Anonymous reports whether the request carried no token.
func (id *Identity) Anonymous() bool { return id.anonymous }

// Access is what id may do on the named resource: the longest matching
// rule of its kind, else the default.
func (id *Identity) Access(kind Kind, name string) Access {
	if int(kind) >= numKinds {
		return Deny
	}
	for _, r := range id.rules[kind] {
		if strings.HasPrefix(name, r.prefix) {
			return r.access
		}
	}
	return id.fallback
}

// Can reports whether id may do need on the named resource.
func (id *Identity) Can(kind Kind, name string, need Access) bool {
	return id.Access(kind, name) >= need
}

// Allow returns nil when id may do need on the named resource, else a
// *DeniedError.
func (id *Identity) Allow(kind Kind, name string, need Access) error {
	if id.Can(kind, name, need) {
		return nil
	}
	return &DeniedError{Identity: id.name, Anonymous: id.anonymous, Default: id.dflt, Kind: kind, Name: name, Need: need}
}

// AllowPrefix returns nil when id may do need on every name that starts
// with prefix: the rule for prefix itself allows it and no longer rule
// under prefix takes it away. For recursive deletes.
func (id *Identity) AllowPrefix(kind Kind, prefix string, need Access) error {
	err := &DeniedError{Identity: id.name, Anonymous: id.anonymous, Default: id.dflt, Kind: kind, Name: prefix, Need: need, Prefix: true}
	if !id.Can(kind, prefix, need) {
		return err
	}
	if int(kind) < numKinds {
		// Rules are longest first: the last offender is the broadest one.
		found := false
		for _, r := range id.rules[kind] {
			if len(r.prefix) > len(prefix) && strings.HasPrefix(r.prefix, prefix) && r.access < need {
				err.Name, found = r.prefix, true
			}
		}
		if found {
			return err
		}
	}
	return nil
}

// CanSomeUnder reports whether id may do need on at least some names that
// start with prefix: the prefix itself, or a longer rule under it. A
// listing that filters per name asks it first.
func (id *Identity) CanSomeUnder(kind Kind, prefix string, need Access) bool {
	if id.Can(kind, prefix, need) {
		return true
	}
	if int(kind) < numKinds {
		for _, r := range id.rules[kind] {
			if strings.HasPrefix(r.prefix, prefix) && r.access >= need {
				return true
			}
		}
	}
	return false
}

// DeniedError names a missing permission (never a secret).
type DeniedError struct {
	// Identity is the token name, or "anonymous".
	Identity  string
	Anonymous bool
	// Default is acl.default, named in anonymous denials.
	Default string
	Kind    Kind
	// Name is the key, service or node (empty for the keyring).
	Name string
	Need Access
	// Prefix: the permission was asked for every name under Name.
	Prefix bool
}

func (e *DeniedError) Error() string {
	what := fmt.Sprintf("%s:%s", e.Kind, e.Need)
	if e.Kind != KindKeyring {
		if e.Prefix {
			what += fmt.Sprintf(" on every name under %q", e.Name)
		} else {
			what += fmt.Sprintf(" on %q", e.Name)
		}
	}
	if e.Anonymous {
		return fmt.Sprintf("acl: permission denied: a request without a token lacks %s (acl.default is %q); send a token", what, e.Default)
	}
	return fmt.Sprintf("acl: permission denied: token %q lacks %s", e.Identity, what)
}

// Unwrap makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Unwrap() error { return ErrDenied }
