package httpapitest

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
)

// AddInstances adds instances of other nodes to the catalog.
func (b *Backend) AddInstances(insts ...client.ServiceInstance) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remote = append(b.remote, insts...)
}

// Registered returns the local definition registered as id, as it was
// given (an empty ID stays empty).
func (b *Backend) Registered(id string) (client.ServiceDefinition, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.local[id]
	return d, ok
}

// Register implements httpapi.Services. A local instance starts passing,
// or critical when its check is a TTL check.
func (b *Backend) Register(def client.ServiceDefinition) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failure("Register"); err != nil {
		return err
	}
	id := def.ID
	if id == "" {
		id = def.Name
	}
	health := client.HealthPassing
	if def.Check != nil && def.Check.TTL != 0 {
		health = client.HealthCritical
	}
	addr := def.Address
	if addr == "" {
		addr = b.self.Address
	}
	b.local[id] = def
	b.health[id] = client.ServiceInstance{ID: id, Name: def.Name, Node: b.self.Node, Address: addr,
		Port: def.Port, Tags: def.Tags, Meta: def.Meta, Health: health, NodeStatus: "alive"}
	return nil
}

// ServiceName implements httpapi.ServiceNamer.
func (b *Backend) ServiceName(id string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.local[id]
	return d.Name, ok
}

var _ httpapi.ServiceNamer = (*Backend)(nil)

// Deregister implements httpapi.Services.
func (b *Backend) Deregister(id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failure("Deregister"); err != nil {
		return err
	}
	if _, ok := b.local[id]; !ok {
		return fmt.Errorf("%w: httpapitest: no service with id %q", httpapi.ErrNotFound, id)
	}
	delete(b.local, id)
	delete(b.health, id)
	return nil
}

// UpdateTTL implements httpapi.Services.
func (b *Backend) UpdateTTL(id, health, note string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failure("UpdateTTL"); err != nil {
		return err
	}
	def, ok := b.local[id]
	if !ok {
		return fmt.Errorf("%w: httpapitest: no service with id %q", httpapi.ErrNotFound, id)
	}
	if def.Check == nil || def.Check.TTL == 0 {
		return fmt.Errorf("%w: httpapitest: service %q has no TTL check", httpapi.ErrBadRequest, id)
	}
	inst := b.health[id]
	inst.Health, inst.Output = health, note
	b.health[id] = inst
	return nil
}

func (b *Backend) catalogLocked() []client.ServiceInstance {
	out := slices.Clone(b.remote)
	for _, inst := range b.health {
		out = append(out, inst)
	}
	return out
}

// Services implements httpapi.Services.
func (b *Backend) Services() []client.ServiceSummary {
	b.mu.Lock()
	defer b.mu.Unlock()
	byName := map[string]*client.ServiceSummary{}
	for _, inst := range b.catalogLocked() {
		s := byName[inst.Name]
		if s == nil {
			s = &client.ServiceSummary{Name: inst.Name}
			byName[inst.Name] = s
		}
		s.Instances++
		if inst.Health == client.HealthPassing && inst.NodeStatus == "alive" {
			s.Passing++
		}
		for _, t := range inst.Tags {
			if !slices.Contains(s.Tags, t) {
				s.Tags = append(s.Tags, t)
			}
		}
	}
	out := make([]client.ServiceSummary, 0, len(byName))
	for _, s := range byName {
		slices.Sort(s.Tags)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(x, y client.ServiceSummary) int { return cmp.Compare(x.Name, y.Name) })
	return out
}

// Service implements httpapi.Services.
func (b *Backend) Service(name string, passingOnly bool) ([]client.ServiceInstance, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failure("Service"); err != nil {
		return nil, err
	}
	var out []client.ServiceInstance
	known := false
	for _, inst := range b.catalogLocked() {
		if inst.Name != name {
			continue
		}
		known = true
		if passingOnly && (inst.Health != client.HealthPassing || inst.NodeStatus != "alive") {
			continue
		}
		out = append(out, inst)
	}
	if !known {
		return nil, fmt.Errorf("%w: httpapitest: unknown service %q", httpapi.ErrNotFound, name)
	}
	return out, nil
}
