package httpapi

import (
	"context"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

// Membership is the agent's cluster face. Methods are called concurrently
// from HTTP handlers.
type Membership interface {
	// Members returns all known members including failed and left ones, in
	// any order.
	Members() []client.Member
	// Self describes this agent.
	Self() client.Self
	// Join contacts addrs and returns how many answered. The error names
	// each address that did not answer and why; it is non-nil when none
	// did, and may be non-nil with n > 0 when only some did (then its
	// Unwrap() []error, or its lines, are the per-address failures).
	Join(ctx context.Context, addrs []string) (int, error)
	// Leave leaves the cluster gracefully; the agent shuts down afterwards
	// on its own.
	Leave(ctx context.Context) error
	// Coordinates returns the network coordinate of every member known.
	Coordinates() []client.Coordinate
	// RTT estimates the round trip between two nodes; the error wraps
	// ErrNotFound when a node has no coordinate.
	RTT(from, to string) (time.Duration, error)
}

// KV is the replicated store. Methods are called concurrently from HTTP
// handlers. Put and Delete return after the write is durable.
type KV interface {
	// Get returns one live key; ErrNotFound when absent or deleted.
	Get(key string) (client.KVPair, error)
	// List returns the live pairs under prefix, sorted by key.
	List(prefix string) []client.KVPair
	// Keys returns the live keys under prefix, sorted.
	Keys(prefix string) []string
	// Put writes key; invalid keys wrap ErrBadRequest, values over the
	// limit ErrTooLarge.
	Put(ctx context.Context, key string, value []byte, flags uint64) (client.KVPair, error)
	// Delete deletes key, or every key under the prefix key when recurse,
	// and returns how many it deleted.
	Delete(ctx context.Context, key string, recurse bool) (int, error)
	// Index returns the current modification index under prefix.
	Index(prefix string) uint64
	// Wait blocks until the index under prefix is greater than index or
	// ctx is done, and returns the current index under prefix. It returns
	// ctx's error when ctx ended the wait.
	Wait(ctx context.Context, prefix string, index uint64) (uint64, error)
}

// Services is the local service registry and the cluster catalog. Methods
// are called concurrently from HTTP handlers.
type Services interface {
	// Register adds or replaces a local service instance; a bad definition
	// wraps ErrBadRequest and names the field.
	Register(def client.ServiceDefinition) error
	// Deregister removes a local instance; ErrNotFound for an unknown id.
	Deregister(id string) error
	// UpdateTTL sets the health of a TTL check; health is one of
	// client.HealthPassing, HealthWarning, HealthCritical. ErrNotFound for
	// an unknown id, ErrBadRequest when the check is not a TTL check.
	UpdateTTL(id, health, note string) error
	// Services summarises every service in the cluster catalog.
	Services() []client.ServiceSummary
	// Service returns the instances of one service, only passing ones on
	// live nodes when passingOnly; ErrNotFound when the service is unknown.
	Service(name string, passingOnly bool) ([]client.ServiceInstance, error)
}
