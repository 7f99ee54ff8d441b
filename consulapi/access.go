package consulapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/murmurhq/murmur/acl"
)

// Permissions. Each route asks the request's identity, resolved once in
// ServeHTTP, for what Murmur's ACL model calls it (docs/security.md):
// keys are kind kv, services kind service, nodes kind agent. Listings
// leave out what the identity may not read.

type identityKey struct{}

// allowAll is the resolver when no ACL is configured.
type allowAll struct{}

func (allowAll) Resolve(string) (*acl.Identity, error) {
	var l acl.Live // the zero Live allows everything
	return l.Resolve("")
}

func identity(r *http.Request) *acl.Identity {
	id, _ := r.Context().Value(identityKey{}).(*acl.Identity)
	return id
}

// denied turns an ACL denial into Consul's 403 "Permission denied: ...".
func denied(err error) error {
	if err == nil {
		return nil
	}
	return errStatus{http.StatusForbidden, fmt.Errorf("Permission denied: %s", strings.TrimPrefix(err.Error(), "acl: permission denied: "))}
}

// allow: the identity may do need on the named resource.
func allow(r *http.Request, kind acl.Kind, name string, need acl.Access) error {
	return denied(identity(r).Allow(kind, name, need))
}

// allowPrefix: the identity may do need on every name under prefix.
func allowPrefix(r *http.Request, kind acl.Kind, prefix string, need acl.Access) error {
	return denied(identity(r).AllowPrefix(kind, prefix, need))
}

// allowSome: the identity may read some names under prefix, so that a
// filtered listing is not an empty answer that hides the reason.
func allowSome(r *http.Request, kind acl.Kind, prefix string) error {
	if identity(r).CanSomeUnder(kind, prefix, acl.Read) {
		return nil
	}
	return allow(r, kind, prefix, acl.Read)
}

// filter reads a listing for one request: keep reports whether the
// identity may read a name, and remembers that something was left out.
type filter struct {
	id      *acl.Identity
	dropped bool
}

func newFilter(r *http.Request) *filter { return &filter{id: identity(r)} }

func (f *filter) keep(kind acl.Kind, name string) bool {
	if f.id.Can(kind, name, acl.Read) {
		return true
	}
	f.dropped = true
	return false
}

// mark sets Consul's header when something was left out; call it before
// writing the answer.
func (f *filter) mark(w http.ResponseWriter) {
	if f.dropped {
		w.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
	}
}
