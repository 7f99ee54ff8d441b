package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/murmurhq/murmur/acl"
)

// HostPolicy is the Host-header check against DNS rebinding: a web page on
// evil.example whose name is re-pointed at 127.0.0.1 reaches the API with
// "Host: evil.example". Allowed are IP literals, localhost and *.localhost
// (RFC 6761: always loopback), and the names set with Set (http.allowed_hosts
// and the DNS names of the served TLS certificate). Anything else is 403,
// reads included. A nil *HostPolicy allows only the built-in names. Safe
// for concurrent use; Set swaps the names atomically (reload).
type HostPolicy struct {
	names atomic.Pointer[map[string]bool]
}

// NewHostPolicy returns a policy that also allows names (case-insensitive,
// with or without a trailing dot).
func NewHostPolicy(names ...string) *HostPolicy {
	p := &HostPolicy{}
	p.Set(names...)
	return p
}

// Set replaces the extra allowed names.
func (p *HostPolicy) Set(names ...string) {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[normHost(n)] = true
	}
	p.names.Store(&m)
}

func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// Allowed reports whether a request with this Host header may be served.
// An empty Host (HTTP/1.0; no browser sends one) is allowed.
func (p *HostPolicy) Allowed(hostHeader string) bool {
	if hostHeader == "" {
		return true
	}
	host := hostHeader
	if h, _, err := net.SplitHostPort(hostHeader); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	host = normHost(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if p == nil {
		return false
	}
	m := p.names.Load()
	return m != nil && (*m)[host]
}

// Check answers 403 and returns false when r's Host is not allowed.
func (p *HostPolicy) Check(w http.ResponseWriter, r *http.Request) bool {
	if p.Allowed(r.Host) {
		return true
	}
	errorText(w, r, http.StatusForbidden, fmt.Sprintf(
		"httpapi: host %q is not allowed (DNS rebinding protection): use an IP address or localhost, or add the name to http.allowed_hosts", r.Host))
	return false
}

// Gate bounds how many blocking queries wait at once; beyond it they are
// answered 429 with Retry-After. Faces with blocking queries share one
// Gate. Safe for concurrent use.
type Gate struct {
	max   int64
	inUse atomic.Int64
	// refused counts queries turned away.
	refused atomic.Uint64
}

// NewGate returns a Gate of max concurrent queries (max ≤ 0: unlimited).
func NewGate(max int) *Gate { return &Gate{max: int64(max)} }

// Acquire takes a slot; it returns false when all are taken.
func (g *Gate) Acquire() bool {
	if g.max <= 0 {
		g.inUse.Add(1)
		return true
	}
	if g.inUse.Add(1) > g.max {
		g.inUse.Add(-1)
		g.refused.Add(1)
		return false
	}
	return true
}

// Release returns a slot taken by Acquire.
func (g *Gate) Release() { g.inUse.Add(-1) }

// InUse is how many blocking queries wait now.
func (g *Gate) InUse() int { return int(g.inUse.Load()) }

// Refused is how many blocking queries were turned away.
func (g *Gate) Refused() uint64 { return g.refused.Load() }

// Max is the limit (≤ 0: none).
func (g *Gate) Max() int { return int(g.max) }

// tooMany answers 429 with Retry-After.
func tooMany(w http.ResponseWriter, r *http.Request, retryAfter int, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	errorText(w, r, http.StatusTooManyRequests, msg)
}

// identityKey carries the request's *acl.Identity in its context.
type identityKey struct{}

// identity returns the identity ServeHTTP resolved for r.
func identity(r *http.Request) *acl.Identity {
	id, _ := r.Context().Value(identityKey{}).(*acl.Identity)
	return id
}

// resolve finds the identity of r's token. A token no one has is 401.
func (s *server) resolve(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	id, err := s.acl.Resolve(requestToken(r))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="murmur", error="invalid_token"`)
		if errors.Is(err, acl.ErrUnknownToken) {
			errorText(w, r, http.StatusUnauthorized, "httpapi: invalid token")
		} else {
			s.fail(w, r, err)
		}
		return r, false
	}
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, id)), true
}

// allow answers 401 (no token) or 403 (a token without the permission)
// and returns false when r's identity may not do need on name.
func (s *server) allow(w http.ResponseWriter, r *http.Request, kind acl.Kind, name string, need acl.Access) bool {
	return s.denied(w, r, identity(r).Allow(kind, name, need))
}

// allowPrefix is allow for every name under prefix.
func (s *server) allowPrefix(w http.ResponseWriter, r *http.Request, kind acl.Kind, prefix string, need acl.Access) bool {
	return s.denied(w, r, identity(r).AllowPrefix(kind, prefix, need))
}

// denied answers a permission error; it returns true when err is nil.
func (s *server) denied(w http.ResponseWriter, r *http.Request, err error) bool {
	if err == nil {
		return true
	}
	var de *acl.DeniedError
	if errors.As(err, &de) && de.Anonymous {
		w.Header().Set("WWW-Authenticate", `Bearer realm="murmur"`)
		errorText(w, r, http.StatusUnauthorized, "httpapi: missing token (send X-Murmur-Token or Authorization: Bearer): "+err.Error())
		return false
	}
	errorText(w, r, http.StatusForbidden, err.Error())
	return false
}

// someReadable answers 401/403 and returns false when id may read no name
// of kind at all: an empty listing would hide the reason.
func (s *server) someReadable(w http.ResponseWriter, r *http.Request, id *acl.Identity, kind acl.Kind) bool {
	if id.CanSomeUnder(kind, "", acl.Read) {
		return true
	}
	return s.denied(w, r, id.Allow(kind, "", acl.Read))
}

// guard wraps h with a check of one permission on the name taken from
// the request.
func (s *server) guard(kind acl.Kind, need acl.Access, name func(*http.Request) string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.allow(w, r, kind, name(r), need) {
			h(w, r)
		}
	}
}

// pathValue names a resource by a path wildcard.
func pathValue(wildcard string) func(*http.Request) string {
	return func(r *http.Request) string { return r.PathValue(wildcard) }
}

func noName(*http.Request) string { return "" }

// selfNode names the resource by this agent's node name.
func (s *server) selfNode(*http.Request) string {
	if s.mem == nil {
		return ""
	}
	if p := s.node.Load(); p != nil {
		return *p
	}
	n := s.mem.Self().Node
	s.node.Store(&n)
	return n
}

// ServiceNamer is implemented by a Services backend that can name the
// service of a local instance id. Deregistering an instance and updating
// its check then need service:write on that service name; without it they
// need service:write on every service.
type ServiceNamer interface {
	// ServiceName returns the service name of local instance id; false
	// when there is none. Called concurrently.
	ServiceName(id string) (string, bool)
}

// serviceOf names the service of the instance in the {id} wildcard.
func (s *server) serviceOf(r *http.Request) string {
	if n, ok := s.svc.(ServiceNamer); ok {
		if name, ok := n.ServiceName(r.PathValue("id")); ok {
			return name
		}
	}
	return ""
}
