package agent

import (
	"errors"
	"fmt"
	"slices"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/catalog"
)

// The catalog (package catalog) owns services, checks and the cluster
// view; the agent wires it to the store, membership and DNS, and converts
// between the catalog's types and the HTTP API's wire types here, at the
// one boundary where they meet.

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

// toDefinition converts a [[service]] table or an HTTP registration.
func toDefinition(d client.ServiceDefinition) catalog.Definition {
	out := catalog.Definition{ID: d.ID, Name: d.Name, Address: d.Address, Port: d.Port, Tags: d.Tags, Meta: d.Meta}
	if c := d.Check; c != nil {
		out.Check = &catalog.Check{TCP: c.TCP, HTTP: c.HTTP, TTL: c.TTL.D(), Interval: c.Interval.D(), Timeout: c.Timeout.D(),
			SuccessBeforePassing: c.SuccessBeforePassing, FailuresBeforeCritical: c.FailuresBeforeCritical}
	}
	return out
}

func toDefinitions(ds []client.ServiceDefinition) []catalog.Definition {
	out := make([]catalog.Definition, len(ds))
	for i, d := range ds {
		out[i] = toDefinition(d)
	}
	return out
}

// apiServices adapts the catalog to httpapi.Services.
type apiServices struct{ a *Agent }

var _ httpapi.Services = apiServices{}

func svcError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, catalog.ErrInvalidService), errors.Is(err, catalog.ErrNotTTL):
		return fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	case errors.Is(err, catalog.ErrUnknownService):
		return fmt.Errorf("%w: %w", httpapi.ErrNotFound, err)
	}
	return kvError(err)
}

func (s apiServices) Register(def client.ServiceDefinition) error {
	return svcError(s.a.Catalog().Register(toDefinition(def)))
}

func (s apiServices) Deregister(id string) error { return svcError(s.a.Catalog().Deregister(id)) }

func (s apiServices) UpdateTTL(id, health, note string) error {
	h, err := catalog.ParseHealth(health)
	if err != nil {
		return fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	}
	return svcError(s.a.Catalog().UpdateTTL(id, h, note))
}

func (s apiServices) Services() []client.ServiceSummary {
	snap := s.a.Catalog().Snapshot()
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

func (s apiServices) Service(name string, passingOnly bool) ([]client.ServiceInstance, error) {
	snap := s.a.Catalog().Snapshot()
	insts := snap.Service(name)
	if insts == nil {
		return nil, fmt.Errorf("%w: service %q", httpapi.ErrNotFound, name)
	}
	var out []client.ServiceInstance
	for _, in := range insts {
		if passingOnly && !snap.Passing(in) {
			continue
		}
		st := "unknown"
		if n, ok := snap.Node(in.Node); ok {
			st = n.Status.String()
		}
		addr := ""
		if a := snap.Address(in); a.IsValid() {
			addr = a.String()
		}
		out = append(out, client.ServiceInstance{
			ID: in.ID, Name: in.Service, Node: in.Node, Address: addr, Port: int(in.Port),
			Tags: in.Tags, Meta: in.Meta, Health: in.Health.String(), Output: in.Output, NodeStatus: st,
		})
	}
	return out, nil
}
