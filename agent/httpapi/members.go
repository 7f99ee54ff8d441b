package httpapi

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
)

// memberStatuses are the values of ?status= on GET /v1/members.
var memberStatuses = []string{"alive", "suspect", "failed", "left"}

func (s *server) members(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(memberStatuses, status) {
		s.fail(w, r, fmt.Errorf("%w: httpapi: unknown status %q in status parameter (want %s)",
			ErrBadRequest, status, strings.Join(memberStatuses, ", ")))
		return
	}
	id := identity(r)
	if !s.someReadable(w, r, id, acl.KindAgent) || !s.waitMembers(w, r) {
		return
	}
	all := s.mem.Members()
	out := make([]client.Member, 0, len(all))
	for _, m := range all {
		if (status == "" || m.Status == status) && id.Can(acl.KindAgent, m.Name, acl.Read) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b client.Member) int { return cmp.Compare(a.Name, b.Name) })
	writeJSON(w, r, http.StatusOK, out)
}

func (s *server) self(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, s.mem.Self())
}

func (s *server) join(w http.ResponseWriter, r *http.Request) {
	var req client.JoinRequest
	if err := s.readJSON(w, r, "JoinRequest", &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Addresses) == 0 {
		s.fail(w, r, fmt.Errorf("%w: httpapi: addresses is empty, want at least one HOST:PORT", ErrBadRequest))
		return
	}
	for i, a := range req.Addresses {
		if strings.TrimSpace(a) == "" {
			s.fail(w, r, fmt.Errorf("%w: httpapi: addresses[%d] is empty", ErrBadRequest, i))
			return
		}
	}
	n, err := s.mem.Join(r.Context(), req.Addresses)
	if err != nil && n == 0 {
		s.fail(w, r, err)
		return
	}
	resp := client.JoinResponse{Joined: n}
	if err != nil {
		resp.Failed = perAddress(err)
	}
	writeJSON(w, r, http.StatusOK, resp)
}

// perAddress lists a partly failed join's error one line per address: the
// errors it unwraps to, or its lines.
func perAddress(err error) []string {
	var out []string
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		for _, e := range multi.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	for line := range strings.Lines(err.Error()) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func (s *server) leave(w http.ResponseWriter, r *http.Request) {
	if err := s.mem.Leave(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, struct{}{})
}

func (s *server) coordinates(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	if !s.someReadable(w, r, id, acl.KindAgent) {
		return
	}
	cs := filter(slices.Clone(s.mem.Coordinates()), func(c client.Coordinate) bool { return id.Can(acl.KindAgent, c.Node, acl.Read) })
	if cs == nil {
		cs = []client.Coordinate{}
	}
	slices.SortFunc(cs, func(a, b client.Coordinate) int { return cmp.Compare(a.Node, b.Node) })
	writeJSON(w, r, http.StatusOK, cs)
}

func (s *server) rtt(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	to := q.Get("to")
	if to == "" {
		s.fail(w, r, fmt.Errorf("%w: httpapi: missing to parameter (the node to estimate the round trip to)", ErrBadRequest))
		return
	}
	from := q.Get("from")
	if from == "" {
		from = s.selfNode(r)
	}
	if !s.allow(w, r, acl.KindAgent, from, acl.Read) || !s.allow(w, r, acl.KindAgent, to, acl.Read) {
		return
	}
	d, err := s.mem.RTT(from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, client.RTT{From: from, To: to, Seconds: d.Seconds()})
}
