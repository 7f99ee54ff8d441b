package httpapi

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
)

func (s *server) register(w http.ResponseWriter, r *http.Request) {
	// Refuse before reading the body when no service could be written.
	if id := identity(r); !id.CanSomeUnder(acl.KindService, "", acl.Write) {
		s.denied(w, r, id.Allow(acl.KindService, "", acl.Write))
		return
	}
	var def client.ServiceDefinition
	if err := s.readJSON(w, r, "ServiceDefinition", &def); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := validateDefinition(def); err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.allow(w, r, acl.KindService, def.Name, acl.Write) {
		return
	}
	if err := s.svc.Register(def); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, struct{}{})
}

// validateDefinition rejects what no backend could accept, naming the
// field; the agent applies its own, stricter rules after it.
func validateDefinition(def client.ServiceDefinition) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: httpapi: service definition: "+format, append([]any{ErrBadRequest}, args...)...)
	}
	if def.Name == "" {
		return bad("name is required")
	}
	if def.Port < 0 || def.Port > 65535 {
		return bad("port %d is out of range 0-65535", def.Port)
	}
	c := def.Check
	if c == nil {
		return nil
	}
	kinds := 0
	for _, set := range []bool{c.TCP != "", c.HTTP != "", c.TTL != 0} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return bad("check needs exactly one of check.tcp, check.http and check.ttl, got %d", kinds)
	}
	for _, d := range []struct {
		name string
		v    client.Duration
	}{{"check.ttl", c.TTL}, {"check.interval", c.Interval}, {"check.timeout", c.Timeout}} {
		if d.v < 0 {
			return bad("%s %s is negative", d.name, d.v.D())
		}
	}
	if c.SuccessBeforePassing < 0 {
		return bad("check.success_before_passing %d is negative", c.SuccessBeforePassing)
	}
	if c.FailuresBeforeCritical < 0 {
		return bad("check.failures_before_critical %d is negative", c.FailuresBeforeCritical)
	}
	return nil
}

func (s *server) deregister(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.Deregister(r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, struct{}{})
}

// check returns the handler of PUT /v1/agent/check/{pass,warn,fail}/{id}.
func (s *server) check(health string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.svc.UpdateTTL(r.PathValue("id"), health, r.URL.Query().Get("note")); err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, r, http.StatusOK, struct{}{})
	}
}

func (s *server) services(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	if !s.someReadable(w, r, id, acl.KindService) {
		return
	}
	out := filter(slices.Clone(s.svc.Services()), func(x client.ServiceSummary) bool { return id.Can(acl.KindService, x.Name, acl.Read) })
	if out == nil {
		out = []client.ServiceSummary{}
	}
	slices.SortFunc(out, func(a, b client.ServiceSummary) int { return cmp.Compare(a.Name, b.Name) })
	writeJSON(w, r, http.StatusOK, out)
}

func (s *server) service(w http.ResponseWriter, r *http.Request) {
	passing, err := queryBool(r.URL.Query(), "passing")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	insts, err := s.svc.Service(r.PathValue("name"), passing)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := slices.Clone(insts)
	if out == nil {
		out = []client.ServiceInstance{}
	}
	slices.SortFunc(out, func(a, b client.ServiceInstance) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.ID, b.ID))
	})
	writeJSON(w, r, http.StatusOK, out)
}
