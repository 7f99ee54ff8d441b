package consulapi

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
)

// Catalog and health: both read the same catalog and block on its index.
// Every instance shows two checks, as a Consul agent's would: the node's
// "serfHealth" (passing while the node is alive or suspect, critical
// once it failed or left) and the instance's own "service:<id>" carrying
// the health Murmur tracks for it.

const (
	serfCheckID   = "serfHealth"
	serfCheckName = "Serf Health Status"
	checkPrefix   = "service:"
)

// view is one read of the catalog with the request's filters applied.
type view struct {
	s       *server
	f       *filter
	members map[string]client.Member
	// nodeMeta is ?node-meta as key → value; every pair must match.
	nodeMeta map[string]string
}

// catalogRead is the preamble of a catalog read: scope, the permission
// the route needs (perm), block, set the index, and return a view taken
// after the index was read.
func (s *server) catalogRead(w http.ResponseWriter, r *http.Request, perm error) (*view, bool) {
	if err := cmpErr(s.scope(r), perm); err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	q := r.URL.Query()
	b, err := blockingParams(q)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	v := &view{s: s, f: newFilter(r)}
	for _, nm := range q["node-meta"] {
		k, val, ok := strings.Cut(nm, ":")
		if !ok || k == "" {
			s.fail(w, r, badRequest("invalid node-meta %q: want KEY:VALUE", nm))
			return nil, false
		}
		if v.nodeMeta == nil {
			v.nodeMeta = map[string]string{}
		}
		v.nodeMeta[k] = val
	}
	if err := s.block(r, b, func(ctx context.Context, index uint64) error {
		_, err := s.cat.WaitCatalog(ctx, index)
		return err
	}); err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	setIndex(w, s.cat.CatalogIndex())
	ms := s.cat.Members()
	v.members = make(map[string]client.Member, len(ms))
	for _, m := range ms {
		v.members[m.Name] = m
	}
	return v, true
}

// write answers out, saying whether the filter left something out.
func (v *view) write(w http.ResponseWriter, r *http.Request, out any) {
	v.f.mark(w)
	writeJSON(w, r, out)
}

// nodeOK reports whether the node passes ?node-meta and the identity may
// read it.
func (v *view) nodeOK(name string) bool {
	if !v.f.keep(acl.KindAgent, name) {
		return false
	}
	if len(v.nodeMeta) == 0 {
		return true
	}
	m := v.members[name]
	for k, val := range v.nodeMeta {
		if got, ok := m.Meta[k]; !ok || got != val {
			return false
		}
	}
	return true
}

// listed reports whether a member is in the catalog: Consul deregisters
// the nodes that left, and keeps failed ones with a critical serfHealth.
func listed(m client.Member) bool { return m.Status != "left" }

func (v *view) node(name string) node {
	m := v.members[name]
	n := node{Node: name, Address: m.Address, Datacenter: v.s.dc, Meta: m.Meta,
		TaggedAddresses: map[string]string{}}
	if m.Address != "" {
		n.TaggedAddresses["lan"] = m.Address
		n.TaggedAddresses["wan"] = m.Address
	}
	if n.Meta == nil {
		n.Meta = map[string]string{}
	}
	return n
}

// live is the node status in which serfHealth passes. It agrees with the
// backend's notion of a live node (alive or suspect).
func live(status string) bool { return status == "alive" || status == "suspect" }

func (v *view) serfCheck(name string) healthCheck {
	m, ok := v.members[name]
	c := healthCheck{Node: name, CheckID: serfCheckID, Name: serfCheckName, ServiceTags: []string{}}
	switch {
	case ok && live(m.Status):
		c.Status, c.Output = client.HealthPassing, "Agent alive and reachable"
	case ok && m.Status == "left":
		c.Status, c.Output = client.HealthCritical, "Agent left the cluster"
	default:
		c.Status, c.Output = client.HealthCritical, "Agent not live or unreachable"
	}
	return c
}

func serviceCheck(in client.ServiceInstance) healthCheck {
	return healthCheck{
		Node: in.Node, CheckID: checkPrefix + in.ID, Name: "Service '" + in.Name + "' check",
		Status: in.Health, Output: in.Output, ServiceID: in.ID, ServiceName: in.Name,
		ServiceTags: tagsOf(in),
	}
}

func tagsOf(in client.ServiceInstance) []string {
	if in.Tags == nil {
		return []string{}
	}
	return in.Tags
}

func (v *view) agentService(in client.ServiceInstance) agentService {
	meta := in.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	return agentService{ID: in.ID, Service: in.Name, Tags: tagsOf(in), Meta: meta, Port: in.Port,
		Address: in.Address, Weights: weights{Passing: 1, Warning: 1}, Datacenter: v.s.dc}
}

func (v *view) entry(in client.ServiceInstance) serviceEntry {
	return serviceEntry{
		Node:    v.node(in.Node),
		Service: v.agentService(in),
		Checks:  []healthCheck{v.serfCheck(in.Node), serviceCheck(in)},
	}
}

// hasTags reports whether in carries every tag (Consul's ?tag=a&tag=b).
func hasTags(in client.ServiceInstance, tags []string) bool {
	for _, t := range tags {
		if !slices.Contains(in.Tags, t) {
			return false
		}
	}
	return true
}

// instances of name with the request's filters; unknown services are an
// empty list, as in Consul.
func (v *view) instances(w http.ResponseWriter, r *http.Request, name string, passingOnly bool) ([]client.ServiceInstance, bool) {
	insts, err := v.s.cat.Service(name, passingOnly)
	if err != nil {
		if code, _ := v.s.explain(err); code != http.StatusNotFound {
			v.s.fail(w, r, err)
			return nil, false
		}
	}
	tags := r.URL.Query()["tag"]
	out := insts[:0:0]
	for _, in := range insts {
		if hasTags(in, tags) && v.nodeOK(in.Node) {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b client.ServiceInstance) int {
		return strings.Compare(a.Node+"\x00"+a.ID, b.Node+"\x00"+b.ID)
	})
	return out, true
}

func (s *server) catalogServices(w http.ResponseWriter, r *http.Request) {
	v, ok := s.catalogRead(w, r, allowSome(r, acl.KindService, ""))
	if !ok {
		return
	}
	out := map[string][]string{}
	for _, in := range s.cat.Instances() {
		if !v.f.keep(acl.KindService, in.Name) || !v.nodeOK(in.Node) {
			continue
		}
		tags, seen := out[in.Name]
		if !seen {
			tags = []string{}
		}
		for _, t := range in.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		out[in.Name] = tags
	}
	for _, tags := range out {
		slices.Sort(tags)
	}
	v.write(w, r, out)
}

func (s *server) catalogService(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, ok := s.catalogRead(w, r, allow(r, acl.KindService, name, acl.Read))
	if !ok {
		return
	}
	insts, ok := v.instances(w, r, name, false)
	if !ok {
		return
	}
	out := make([]catalogService, 0, len(insts))
	for _, in := range insts {
		n := v.node(in.Node)
		out = append(out, catalogService{
			Node: n.Node, Address: n.Address, Datacenter: s.dc, TaggedAddresses: n.TaggedAddresses,
			NodeMeta: n.Meta, ServiceID: in.ID, ServiceName: in.Name, ServiceAddress: in.Address,
			ServiceTags: tagsOf(in), ServiceMeta: v.agentService(in).Meta, ServicePort: in.Port,
			ServiceWeights: weights{Passing: 1, Warning: 1},
		})
	}
	v.write(w, r, out)
}

// nodes returns the catalog's nodes that pass the filters, sorted.
func (v *view) nodes() []string {
	var out []string
	for name, m := range v.members {
		if listed(m) && v.nodeOK(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (s *server) catalogNodes(w http.ResponseWriter, r *http.Request) {
	v, ok := s.catalogRead(w, r, allowSome(r, acl.KindAgent, ""))
	if !ok {
		return
	}
	out := []node{}
	for _, name := range v.nodes() {
		out = append(out, v.node(name))
	}
	v.write(w, r, out)
}

func (s *server) catalogNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("node")
	v, ok := s.catalogRead(w, r, allow(r, acl.KindAgent, name, acl.Read))
	if !ok {
		return
	}
	if m, known := v.members[name]; !known || !listed(m) {
		v.write(w, r, nil) // Consul answers null for an unknown node
		return
	}
	out := catalogNode{Node: v.node(name), Services: map[string]agentService{}}
	for _, in := range s.cat.Instances() {
		if in.Node == name && v.f.keep(acl.KindService, in.Name) {
			out.Services[in.ID] = v.agentService(in)
		}
	}
	v.write(w, r, out)
}

func (s *server) datacenters(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, []string{s.dc})
}

func (s *server) healthService(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, ok := s.catalogRead(w, r, allow(r, acl.KindService, name, acl.Read))
	if !ok {
		return
	}
	insts, ok := v.instances(w, r, name, queryBool(r.URL.Query(), "passing"))
	if !ok {
		return
	}
	out := make([]serviceEntry, 0, len(insts))
	for _, in := range insts {
		out = append(out, v.entry(in))
	}
	v.write(w, r, out)
}

func (s *server) healthChecks(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, ok := s.catalogRead(w, r, allow(r, acl.KindService, name, acl.Read))
	if !ok {
		return
	}
	insts, ok := v.instances(w, r, name, false)
	if !ok {
		return
	}
	out := make([]healthCheck, 0, len(insts))
	for _, in := range insts {
		out = append(out, serviceCheck(in))
	}
	v.write(w, r, out)
}

func (s *server) healthNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("node")
	v, ok := s.catalogRead(w, r, allow(r, acl.KindAgent, name, acl.Read))
	if !ok {
		return
	}
	out := []healthCheck{}
	if m, known := v.members[name]; known && listed(m) {
		out = append(out, v.serfCheck(name))
		for _, in := range s.cat.Instances() {
			if in.Node == name && v.f.keep(acl.KindService, in.Name) {
				out = append(out, serviceCheck(in))
			}
		}
	}
	v.write(w, r, out)
}

var checkStates = []string{"any", client.HealthPassing, client.HealthWarning, client.HealthCritical}

func (s *server) healthState(w http.ResponseWriter, r *http.Request) {
	state := r.PathValue("state")
	if !slices.Contains(checkStates, state) {
		s.fail(w, r, badRequest("invalid check state %q: want any, passing, warning or critical", state))
		return
	}
	v, ok := s.catalogRead(w, r, allowSome(r, acl.KindService, ""))
	if !ok {
		return
	}
	var all []healthCheck
	for _, name := range v.nodes() {
		all = append(all, v.serfCheck(name))
	}
	for _, in := range s.cat.Instances() {
		if v.f.keep(acl.KindService, in.Name) && v.nodeOK(in.Node) {
			all = append(all, serviceCheck(in))
		}
	}
	out := []healthCheck{}
	for _, c := range all {
		if state == "any" || c.Status == state {
			out = append(out, c)
		}
	}
	v.write(w, r, out)
}
