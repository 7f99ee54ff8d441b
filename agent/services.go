package agent

import (
	"github.com/murmurhq/murmur/catalog"
)

// The catalog (package catalog) owns services, checks and the cluster
// view; the agent wires it to the store, membership and DNS. The HTTP face
// converts the catalog's types to its wire types (httpapi.CatalogServices),
// and the config's [[service]] tables, which have the wire shape
// (httpapi.ToDefinitions).

// Catalog is the agent's service catalog (nil before Start): register
// services with it, read the cluster from its Snapshot.
func (a *Agent) Catalog() *catalog.Catalog { return a.cat.Load() }
