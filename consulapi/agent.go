package consulapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
)

func (v *view) member(m client.Member) agentMember {
	tags := map[string]string{"dc": v.s.dc, "role": "node"}
	for k, val := range m.Meta {
		tags[k] = val
	}
	st := serfAlive
	switch m.Status {
	case "failed":
		st = serfFailed
	case "left":
		st = serfLeft
	}
	return agentMember{Name: m.Name, Addr: m.Address, Port: m.Port, Tags: tags, Status: st,
		ProtocolMin: 1, ProtocolMax: m.Protocol, ProtocolCur: m.Protocol}
}

func (s *server) agentSelf(w http.ResponseWriter, r *http.Request) {
	self := s.agent.Self()
	v, ok := s.catalogRead(w, r, allow(r, acl.KindAgent, self.Node, acl.Read))
	if !ok {
		return
	}
	m, known := v.members[self.Node]
	if !known {
		m = client.Member{Name: self.Node, Address: self.Address, Port: self.Port, Status: "alive"}
	}
	meta := m.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	v.write(w, r, map[string]any{
		"Config": map[string]any{
			"Datacenter":        s.dc,
			"PrimaryDatacenter": s.dc,
			"NodeName":          self.Node,
			"NodeID":            "",
			"Server":            false,
			"Version":           self.Version,
			"Revision":          "murmur",
		},
		"Member": v.member(m),
		"Meta":   meta,
	})
}

func (s *server) agentMembers(w http.ResponseWriter, r *http.Request) {
	v, ok := s.catalogRead(w, r, allowSome(r, acl.KindAgent, ""))
	if !ok {
		return
	}
	out := []agentMember{}
	if queryBool(r.URL.Query(), "wan") {
		v.write(w, r, out) // no servers, so no WAN pool
		return
	}
	names := make([]string, 0, len(v.members))
	for name := range v.members {
		if v.f.keep(acl.KindAgent, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		out = append(out, v.member(v.members[name]))
	}
	v.write(w, r, out)
}

// localInstance returns this agent's instance id (ok false when none).
func (s *server) localInstance(id string) (client.ServiceInstance, bool) {
	for _, in := range s.local() {
		if in.ID == id {
			return in, true
		}
	}
	return client.ServiceInstance{}, false
}

// local returns the instances registered on this agent.
func (s *server) local() []client.ServiceInstance {
	self := s.agent.Self().Node
	var out []client.ServiceInstance
	for _, in := range s.cat.Instances() {
		if in.Node == self {
			out = append(out, in)
		}
	}
	return out
}

func (s *server) agentServices(w http.ResponseWriter, r *http.Request) {
	v, ok := s.catalogRead(w, r, allowSome(r, acl.KindService, ""))
	if !ok {
		return
	}
	out := map[string]agentService{}
	for _, in := range s.local() {
		if v.f.keep(acl.KindService, in.Name) {
			out[in.ID] = v.agentService(in)
		}
	}
	v.write(w, r, out)
}

func (s *server) agentService(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	in, found := s.localInstance(id)
	v, ok := s.catalogRead(w, r, allow(r, acl.KindService, in.Name, acl.Read))
	if !ok {
		return
	}
	if !found {
		plain(w, http.StatusNotFound, fmt.Sprintf("unknown service ID: %s", id))
		return
	}
	v.write(w, r, v.agentService(in))
}

func (s *server) agentChecks(w http.ResponseWriter, r *http.Request) {
	v, ok := s.catalogRead(w, r, allowSome(r, acl.KindService, ""))
	if !ok {
		return
	}
	out := map[string]healthCheck{}
	for _, in := range s.local() {
		if v.f.keep(acl.KindService, in.Name) {
			c := serviceCheck(in)
			out[c.CheckID] = c
		}
	}
	v.write(w, r, out)
}

// write is the preamble of a write: scope, then the permission it needs.
func (s *server) write(w http.ResponseWriter, r *http.Request, perm error) bool {
	if err := cmpErr(s.scope(r), perm); err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

// serviceOf names the service of local instance id ("" when there is
// none: writing to an unknown id then needs service:write everywhere, as
// on the native API).
func (s *server) serviceOf(id string) string {
	in, _ := s.localInstance(id)
	return in.Name
}

// decode reads a JSON body into v, refusing unknown fields so that a
// misspelt one is an error that names it.
func (s *server) decode(w http.ResponseWriter, r *http.Request, what string, v any) error {
	b, err := s.readBody(w, r, "request body")
	if err != nil {
		return err
	}
	return decodeJSON(b, what, v)
}

func decodeJSON(b []byte, what string, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return badRequest("request body is empty, want a JSON %s", what)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("Request decode failed: invalid JSON %s: %v", what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("Request decode failed: invalid JSON %s: trailing data after the object", what)
	}
	return nil
}

func (s *server) register(w http.ResponseWriter, r *http.Request) {
	if !s.write(w, r, nil) {
		return
	}
	// ?replace-existing-checks needs nothing: a registration always
	// replaces the instance and its one check.
	var reg registration
	if err := s.decode(w, r, "service registration", &reg); err != nil {
		s.fail(w, r, err)
		return
	}
	def, status, err := reg.definition()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := allow(r, acl.KindService, def.Name, acl.Write); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.agent.Register(def); err != nil {
		s.fail(w, r, err)
		return
	}
	if status != "" {
		id := def.ID
		if id == "" {
			id = def.Name
		}
		if err := s.agent.UpdateTTL(id, status, ""); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusOK) // Consul answers an empty 200
}

// rawField holds a field Murmur refuses when it is set.
type rawField = json.RawMessage

func isSet(f rawField) bool { return len(f) > 0 && string(f) != "null" }

// definition converts a Consul registration into Murmur's, refusing by
// name what Murmur cannot do. status is the initial status of a TTL
// check ("" for none).
func (reg registration) definition() (def client.ServiceDefinition, status string, err error) {
	unsupported := func(field, why string) error {
		return badRequest("service registration: %s is not supported: %s", field, why)
	}
	switch {
	case reg.Kind != "":
		return def, "", unsupported("Kind", "Murmur has no Connect proxies or gateways")
	case isSet(reg.Proxy), isSet(reg.Connect):
		return def, "", unsupported("Proxy/Connect", "Murmur has no service mesh")
	case isSet(reg.Ports), reg.SocketPath != "", isSet(reg.AI), isSet(reg.Locality):
		return def, "", unsupported("Ports/SocketPath/AI/Locality", "an instance is one address and one port")
	case reg.Namespace != "" && reg.Namespace != "default", reg.Partition != "" && reg.Partition != "default":
		return def, "", unsupported("Namespace/Partition", "Murmur has neither")
	}
	def = client.ServiceDefinition{ID: reg.ID, Name: reg.Name, Address: reg.Address, Port: reg.Port, Tags: reg.Tags, Meta: reg.Meta}
	checks := slices.DeleteFunc(slices.Clone(reg.Checks), func(c *checkDef) bool { return c == nil })
	if reg.Check != nil {
		checks = append([]*checkDef{reg.Check}, checks...)
	}
	switch len(checks) {
	case 0:
		return def, "", nil
	case 1:
	default:
		return def, "", unsupported("more than one check", "a Murmur instance has one check (tcp, http or ttl)")
	}
	c := checks[0]
	switch {
	case len(c.ScriptArgs) > 0 || len(c.Args) > 0:
		return def, "", unsupported("Check.ScriptArgs", "Murmur runs no scripts; use a tcp, http or ttl check")
	case c.DockerContainerID != "", c.GRPC != "", c.UDP != "", c.H2PING != "", c.AliasNode != "", c.AliasService != "":
		return def, "", unsupported("this check type", "Murmur checks are tcp, http or ttl")
	case c.DeregisterCriticalServiceAfter != "":
		return def, "", unsupported("Check.DeregisterCriticalServiceAfter", "a critical instance stays registered and leaves DNS and ?passing answers")
	case c.TCPUseTLS, c.TLSServerName != "", c.TLSSkipVerify, isSet(c.Header), c.Method != "" && c.Method != http.MethodGet, c.Body != "":
		return def, "", unsupported("TLS, headers, method or body of a check", "Murmur's http check is a plain GET and its tcp check a plain connect")
	case c.FailuresBeforeWarning != 0:
		return def, "", unsupported("Check.FailuresBeforeWarning", "use FailuresBeforeCritical")
	}
	if c.CheckID != "" && c.CheckID != checkPrefix+idOr(reg) {
		return def, "", unsupported(fmt.Sprintf("Check.CheckID %q", c.CheckID), fmt.Sprintf("a Murmur instance's check is named %s%s", checkPrefix, idOr(reg)))
	}
	cd := &client.CheckDefinition{TCP: c.TCP, HTTP: c.HTTP,
		SuccessBeforePassing: c.SuccessBeforePassing, FailuresBeforeCritical: c.FailuresBeforeCritical}
	for _, d := range []struct {
		name string
		v    string
		to   *client.Duration
	}{{"Check.TTL", c.TTL, &cd.TTL}, {"Check.Interval", c.Interval, &cd.Interval}, {"Check.Timeout", c.Timeout, &cd.Timeout}} {
		if d.v == "" {
			continue
		}
		dur, perr := time.ParseDuration(d.v)
		if perr != nil {
			return def, "", badRequest("service registration: %s %q: want a duration like 10s", d.name, d.v)
		}
		*d.to = client.Duration(dur)
	}
	def.Check = cd
	if c.Status != "" {
		if !slices.Contains(checkStates[1:], c.Status) {
			return def, "", badRequest("service registration: Check.Status %q: want passing, warning or critical", c.Status)
		}
		if cd.TTL > 0 {
			status = c.Status // other checks find their status by probing
		}
	}
	return def, status, nil
}

func idOr(reg registration) string {
	if reg.ID != "" {
		return reg.ID
	}
	return reg.Name
}

func (s *server) deregister(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.write(w, r, allow(r, acl.KindService, s.serviceOf(id), acl.Write)) {
		return
	}
	if err := s.agent.Deregister(id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// checkService maps a Consul check id onto the instance it belongs to:
// "service:<id>", or Murmur's own bare instance id.
func checkService(checkID string) string { return strings.TrimPrefix(checkID, checkPrefix) }

func (s *server) checkTTL(health string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !s.write(w, r, allow(r, acl.KindService, s.serviceOf(checkService(id)), acl.Write)) {
			return
		}
		if err := s.agent.UpdateTTL(checkService(id), health, r.URL.Query().Get("note")); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

func (s *server) checkUpdate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.write(w, r, allow(r, acl.KindService, s.serviceOf(checkService(id)), acl.Write)) {
		return
	}
	var u checkUpdate
	if err := s.decode(w, r, "check update", &u); err != nil {
		s.fail(w, r, err)
		return
	}
	if !slices.Contains(checkStates[1:], u.Status) {
		s.fail(w, r, badRequest("check update: Status %q: want passing, warning or critical", u.Status))
		return
	}
	if err := s.agent.UpdateTTL(checkService(id), u.Status, u.Output); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// statusLeader answers this agent's own gossip address: Murmur has no
// leader, every agent answers reads from its own replica, so "the server
// that answers for this agent" is the agent itself. Tools that wait for
// a non-empty leader proceed at once.
func (s *server) statusLeader(w http.ResponseWriter, r *http.Request) {
	self := s.agent.Self()
	if err := cmpErr(s.scope(r), allow(r, acl.KindAgent, self.Node, acl.Read)); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, r, net.JoinHostPort(self.Address, strconv.Itoa(int(self.Port))))
}

// statusPeers answers the gossip addresses of the live members: every
// agent holds a full replica, so every live member is a peer.
func (s *server) statusPeers(w http.ResponseWriter, r *http.Request) {
	if err := cmpErr(s.scope(r), allowSome(r, acl.KindAgent, "")); err != nil {
		s.fail(w, r, err)
		return
	}
	f := newFilter(r)
	out := []string{}
	for _, m := range s.cat.Members() {
		if live(m.Status) && f.keep(acl.KindAgent, m.Name) {
			out = append(out, net.JoinHostPort(m.Address, strconv.Itoa(int(m.Port))))
		}
	}
	slices.Sort(out)
	f.mark(w)
	writeJSON(w, r, out)
}

func (s *server) coordinateNodes(w http.ResponseWriter, r *http.Request) {
	v, ok := s.catalogRead(w, r, allowSome(r, acl.KindAgent, ""))
	if !ok {
		return
	}
	cs := s.cat.Coordinates()
	out := make([]coordinateEntry, 0, len(cs))
	for _, c := range cs {
		if !v.f.keep(acl.KindAgent, c.Node) {
			continue
		}
		out = append(out, coordinateEntry{Node: c.Node, Coord: coord{Vec: c.Vec, Error: c.Error, Adjustment: c.Adjustment, Height: c.Height}})
	}
	slices.SortFunc(out, func(a, b coordinateEntry) int { return strings.Compare(a.Node, b.Node) })
	v.write(w, r, out)
}
