package agent

import (
	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/catalog"
)

// The catalog (package catalog) owns services, checks and the cluster
// view; the agent wires it to the store, membership and DNS. The HTTP face
// converts the catalog's types to its wire types (httpapi.CatalogServices);
// the config's [[service]] tables, which have the wire shape, are
// converted here.

// Catalog is the agent's service catalog (nil before Start): register
// services with it, read the cluster from its Snapshot.
func (a *Agent) Catalog() *catalog.Catalog { return a.cat.Load() }

// catalogMembers gives the catalog the member table with coordinates.
type catalogMembers struct{ a *Agent }

func (m catalogMembers) Members() []catalog.Node {
	ms := m.a.members.List()
	for i := range ms {
		ms[i].Coord, _ = m.a.coords.Get(ms[i].Name, ms[i].Name == m.a.cfg.NodeName)
	}
	return ms
}

// toDefinition converts a [[service]] table.
func toDefinition(d client.ServiceDefinition) catalog.Definition { return httpapi.ToDefinition(d) }

func toDefinitions(ds []client.ServiceDefinition) []catalog.Definition {
	out := make([]catalog.Definition, len(ds))
	for i, d := range ds {
		out[i] = toDefinition(d)
	}
	return out
}
