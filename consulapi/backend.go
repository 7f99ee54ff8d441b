package consulapi

import (
	"context"

	"github.com/murmurhq/murmur/agent/client"
)

// The face consumes the same backend operations as the native HTTP API
// (agent/httpapi): the agent hands both faces the same adapters, so the
// two are two encodings of one backend. Every method may be called
// concurrently from HTTP handlers.

// KV is the replicated store. Put and Delete return after the write is
// durable.
type KV interface {
	// Get returns one live key; an error the Explain function maps to
	// 404 when it is absent.
	Get(key string) (client.KVPair, error)
	// List returns the live pairs under prefix, sorted by key.
	List(prefix string) []client.KVPair
	// Keys returns the live keys under prefix, sorted.
	Keys(prefix string) []string
	// Put writes key.
	Put(ctx context.Context, key string, value []byte, flags uint64) (client.KVPair, error)
	// Delete deletes key, or every key under the prefix key when recurse.
	Delete(ctx context.Context, key string, recurse bool) (int, error)
	// Index returns the current modification index under prefix.
	Index(prefix string) uint64
	// Wait blocks until the index under prefix is greater than index or
	// ctx is done.
	Wait(ctx context.Context, prefix string, index uint64) (uint64, error)
}

// Catalog is the cluster's members and service instances, with an index
// that grows whenever either changes.
type Catalog interface {
	// CatalogIndex is the catalog's modification index: it grows when a
	// member, a service instance or an instance's health changes, and
	// stays put otherwise. It is at least 1.
	CatalogIndex() uint64
	// WaitCatalog blocks until CatalogIndex exceeds index or ctx is done,
	// and returns the index then.
	WaitCatalog(ctx context.Context, index uint64) (uint64, error)
	// Instances returns every service instance in the cluster, sorted by
	// service name, node and id; NodeStatus is the member status of the
	// instance's node ("unknown" when the node is not a member).
	Instances() []client.ServiceInstance
	// Service returns the instances of one service, only passing ones on
	// live nodes when passingOnly; an error the Explain function maps to
	// 404 when the service is unknown. It is the native API's rule of
	// what "passing" means, so both faces agree.
	Service(name string, passingOnly bool) ([]client.ServiceInstance, error)
	// Members returns all known members including failed and left ones.
	Members() []client.Member
	// Coordinates returns the network coordinate of every member known.
	Coordinates() []client.Coordinate
}

// Agent is the local agent: who it is and its local services.
type Agent interface {
	// Self describes this agent.
	Self() client.Self
	// Register adds or replaces a local service instance; a bad
	// definition is an error naming the field.
	Register(def client.ServiceDefinition) error
	// Deregister removes a local instance.
	Deregister(id string) error
	// UpdateTTL sets the health of a TTL check; health is one of
	// client.HealthPassing, HealthWarning, HealthCritical.
	UpdateTTL(id, health, note string) error
}

// Hosts decides which Host headers are answered (DNS rebinding
// protection); the agent passes the native API's policy. Allowed is called
// concurrently.
type Hosts interface {
	Allowed(host string) bool
}

// Gate bounds the blocking queries waiting at once; the agent passes the
// native API's, so the limit is the agent's, whichever face the queries
// come through. Methods are called concurrently.
type Gate interface {
	// Acquire takes a slot; false when all are taken.
	Acquire() bool
	// Release returns a slot.
	Release()
}
