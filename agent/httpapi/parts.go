package httpapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/configsync"
)

// The one boundary between the parts' types (configsync records, catalog
// instances and nodes) and the wire types of agent/client: a backend made
// of the real parts converts here.

// StoreKV serves the KV API from a configsync store.
func StoreKV(s *configsync.Store) KV { return storeKV{s} }

// storeKV adapts the store to KV.
type storeKV struct{ s *configsync.Store }

func toKVPair(r configsync.Record) client.KVPair {
	return client.KVPair{
		Key:     r.Key,
		Value:   r.Value,
		Version: r.Version.String(),
		Origin:  r.Version.Node,
		Updated: time.UnixMilli(r.Version.Wall).UTC(),
		Index:   r.Index,
		Flags:   r.Flags,
	}
}

// kvError maps store errors onto the status sentinels.
func kvError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, configsync.ErrValueTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, configsync.ErrKeyTooLarge), errors.Is(err, configsync.ErrInvalidKey):
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	case errors.Is(err, configsync.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, configsync.ErrClosed), errors.Is(err, configsync.ErrClockOffset):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func (k storeKV) Get(key string) (client.KVPair, error) {
	r, err := k.s.Get(key)
	if err != nil {
		return client.KVPair{}, kvError(err)
	}
	return toKVPair(r), nil
}

func (k storeKV) List(prefix string) []client.KVPair {
	rs := k.s.List(prefix)
	out := make([]client.KVPair, len(rs))
	for i, r := range rs {
		out[i] = toKVPair(r)
	}
	return out
}

func (k storeKV) Keys(prefix string) []string { return k.s.Keys(prefix) }

func (k storeKV) Put(ctx context.Context, key string, value []byte, flags uint64) (client.KVPair, error) {
	r, err := k.s.Put(ctx, key, value, flags)
	if err != nil {
		return client.KVPair{}, kvError(err)
	}
	return toKVPair(r), nil
}

func (k storeKV) Delete(ctx context.Context, key string, recurse bool) (int, error) {
	if recurse {
		n, err := k.s.DeletePrefix(ctx, key)
		return n, kvError(err)
	}
	if _, err := k.s.Get(key); errors.Is(err, configsync.ErrNotFound) {
		return 0, nil
	}
	_, err := k.s.Delete(ctx, key)
	if err != nil {
		return 0, kvError(err)
	}
	return 1, nil
}

func (k storeKV) Index(prefix string) uint64 { return k.s.IndexOf(prefix) }

func (k storeKV) Wait(ctx context.Context, prefix string, index uint64) (uint64, error) {
	i, err := k.s.Wait(ctx, prefix, index)
	if errors.Is(err, configsync.ErrClosed) {
		return i, kvError(err)
	}
	return i, err
}

// CatalogServices serves the services API from a catalog; get returns the
// catalog (it is created after the HTTP handler may be).
func CatalogServices(get func() *catalog.Catalog) Services { return catalogServices{get} }

// catalogServices converts between the catalog's types and the wire types.
type catalogServices struct{ cat func() *catalog.Catalog }

var _ ServiceNamer = catalogServices{}

// ServiceName implements ServiceNamer: ACLs on deregistering an instance
// or updating its check name the instance's service.
func (s catalogServices) ServiceName(id string) (string, bool) {
	def, ok := s.cat().Local(id)
	return def.Name, ok
}

// ToDefinitions converts the config's [[service]] tables.
func ToDefinitions(ds []client.ServiceDefinition) []catalog.Definition {
	out := make([]catalog.Definition, len(ds))
	for i, d := range ds {
		out[i] = ToDefinition(d)
	}
	return out
}

// ToDefinition converts a wire registration (or a [[service]] table of that
// shape) to the catalog's.
func ToDefinition(d client.ServiceDefinition) catalog.Definition {
	out := catalog.Definition{ID: d.ID, Name: d.Name, Address: d.Address, Port: d.Port, Tags: d.Tags, Meta: d.Meta}
	if c := d.Check; c != nil {
		out.Check = &catalog.Check{TCP: c.TCP, HTTP: c.HTTP, TTL: c.TTL.D(), Interval: c.Interval.D(), Timeout: c.Timeout.D(),
			SuccessBeforePassing: c.SuccessBeforePassing, FailuresBeforeCritical: c.FailuresBeforeCritical}
	}
	return out
}

func svcError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, catalog.ErrInvalidService), errors.Is(err, catalog.ErrNotTTL):
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	case errors.Is(err, catalog.ErrUnknownService):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return kvError(err)
}

func (s catalogServices) Register(def client.ServiceDefinition) error {
	return svcError(s.cat().Register(ToDefinition(def)))
}

func (s catalogServices) Deregister(id string) error { return svcError(s.cat().Deregister(id)) }

func (s catalogServices) UpdateTTL(id, health, note string) error {
	h, err := catalog.ParseHealth(health)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return svcError(s.cat().UpdateTTL(id, h, note))
}

func (s catalogServices) Services() []client.ServiceSummary {
	snap := s.cat().Snapshot()
	out := make([]client.ServiceSummary, 0, len(snap.ServiceNames()))
	for _, name := range snap.ServiceNames() {
		sum := client.ServiceSummary{Name: name}
		for _, in := range snap.Service(name) {
			sum.Instances++
			if snap.Passing(in) {
				sum.Passing++
			}
			for _, t := range in.Tags {
				if !slices.Contains(sum.Tags, t) {
					sum.Tags = append(sum.Tags, t)
				}
			}
		}
		slices.Sort(sum.Tags)
		out = append(out, sum)
	}
	return out
}

func (s catalogServices) Service(name string, passingOnly bool) ([]client.ServiceInstance, error) {
	snap := s.cat().Snapshot()
	insts := snap.Service(name)
	if insts == nil {
		return nil, fmt.Errorf("%w: service %q", ErrNotFound, name)
	}
	var out []client.ServiceInstance
	for _, in := range insts {
		if passingOnly && !snap.Passing(in) {
			continue
		}
		out = append(out, clientInstance(snap, in))
	}
	return out, nil
}

// Instances converts every instance of snap, sorted by service name, node
// and id (the Consul face's catalog listing).
func Instances(snap *catalog.Snapshot) []client.ServiceInstance {
	out := make([]client.ServiceInstance, 0, snap.Len())
	for _, name := range snap.ServiceNames() {
		for _, in := range snap.Service(name) {
			out = append(out, clientInstance(snap, in))
		}
	}
	return out
}

// clientInstance is in as the API shows it: the address clients reach it
// at, and its node's status ("unknown" when the node is no member).
func clientInstance(snap *catalog.Snapshot, in catalog.Instance) client.ServiceInstance {
	st := "unknown"
	if n, ok := snap.Node(in.Node); ok {
		st = n.Status.String()
	}
	addr := ""
	if a := snap.Address(in); a.IsValid() {
		addr = a.String()
	}
	return client.ServiceInstance{
		ID: in.ID, Name: in.Service, Node: in.Node, Address: addr, Port: int(in.Port),
		Tags: in.Tags, Meta: in.Meta, Health: in.Health.String(), Output: in.Output, NodeStatus: st,
	}
}
