package agent

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/dnsserver"
)

// Catalog is an immutable view of the cluster: members, service instances
// and their health. The agent rebuilds it on every membership, service or
// health change and publishes it with an atomic pointer, so readers (the
// DNS hot path, the HTTP API) never lock.
type Catalog struct {
	// Members by name, including failed and left ones until reaped.
	Members map[string]Member
	// Instances sorted by service name, node and id.
	Instances []Instance
	// Built is when the view was made (agent clock).
	Built time.Time
	// Index grows by one whenever Members or Instances change, and only
	// then (a rebuild for fresh coordinates keeps it); it starts at 1. It
	// is the catalog's blocking-query index (X-Consul-Index).
	Index uint64
	dns   *dnsserver.Snapshot
	// changed is closed when a view with a greater Index replaces this
	// one; views with the same Index share it.
	changed chan struct{}
}

// Instance is one service instance in the catalog.
type Instance struct {
	ID, Service, Node string
	// Addr is the service address, or the node's when none was given.
	Addr   netip.Addr
	Port   int
	Tags   []string
	Meta   map[string]string
	Health string
	Output string
}

// Catalog returns the current view (never nil once the agent started).
func (a *Agent) Catalog() *Catalog { return a.catalog.Load() }

// DNS implements dnsserver.Catalog.
func (a *Agent) DNS() *dnsserver.Snapshot {
	if c := a.catalog.Load(); c != nil {
		return c.dns
	}
	return nil
}

var _ dnsserver.Catalog = (*Agent)(nil)

// catalogState is the rebuild machinery.
type catalogState struct {
	kick   chan struct{}
	serial atomic.Uint32
	// skipped is what the last DNS snapshot left out, to log changes
	// only; touched by the catalog loop alone.
	skipped []string
}

// kickCatalog asks for a rebuild; it never blocks and coalesces.
func (a *Agent) kickCatalog() {
	select {
	case a.cat.kick <- struct{}{}:
	default:
	}
}

// catalogLoop rebuilds the catalog whenever membership or the service
// namespace changes, and every coordinateRefresh for RTT ordering.
func (a *Agent) catalogLoop(ctx context.Context) {
	const coordinateRefresh = 5 * time.Second
	sub := a.store.Subscribe(svcPrefix)
	defer sub.Close()
	t := a.clk.NewTicker(coordinateRefresh)
	defer t.Stop()
	for {
		a.rebuildCatalog()
		select {
		case <-a.cat.kick:
		case <-sub.C():
		case <-t.C():
		case <-ctx.Done():
			return
		}
	}
}

func (a *Agent) rebuildCatalog() {
	members := a.Members()
	c := &Catalog{Members: make(map[string]Member, len(members)), Built: a.clk.Now()}
	nodes := make([]dnsserver.Node, 0, len(members))
	for _, m := range members {
		c.Members[m.Name] = m
		co, _ := a.coords.get(m.Name, m.Name == a.cfg.NodeName)
		nodes = append(nodes, dnsserver.Node{
			Name: m.Name, Addr: m.Addr, Status: dnsStatus(m.Status), Meta: userMeta(m.Meta), Coord: co,
		})
	}
	var insts []dnsserver.Instance
	for _, rec := range a.store.List(svcPrefix) {
		node, id, ok := strings.Cut(strings.TrimPrefix(rec.Key, svcPrefix), "/")
		if !ok {
			continue
		}
		var r serviceRecord
		if err := json.Unmarshal(rec.Value, &r); err != nil || r.Name == "" {
			a.log.Debug("ignoring malformed service record", "key", rec.Key, "err", err)
			continue
		}
		in := Instance{ID: id, Service: r.Name, Node: node, Port: r.Port, Tags: r.Tags, Meta: r.Meta, Health: r.Health, Output: r.Output}
		if addr, err := netip.ParseAddr(r.Address); err == nil {
			in.Addr = addr
		} else if m, ok := c.Members[node]; ok {
			in.Addr = m.Addr
		}
		c.Instances = append(c.Instances, in)
		h, err := dnsserver.ParseHealth(r.Health)
		if err != nil {
			h = dnsserver.HealthCritical
		}
		di := dnsserver.Instance{ID: id, Service: r.Name, Node: node, Port: uint16(r.Port), Tags: r.Tags, Health: h}
		if addr, err := netip.ParseAddr(r.Address); err == nil {
			di.Addr = addr
		}
		insts = append(insts, di)
	}
	slices.SortFunc(c.Instances, func(x, y Instance) int {
		return strings.Compare(x.Service+"\x00"+x.Node+"\x00"+x.ID, y.Service+"\x00"+y.Node+"\x00"+y.ID)
	})
	c.dns = dnsserver.NewSnapshot(dnsserver.Data{
		Self:      a.cfg.NodeName,
		Nodes:     nodes,
		Instances: insts,
		Serial:    a.cat.serial.Add(1),
	})
	if sk := c.dns.Skipped(); !slices.Equal(sk, a.cat.skipped) {
		a.cat.skipped = sk
		for _, why := range sk {
			a.log.Warn("not answerable in DNS", "reason", why)
		}
	}
	prev := a.catalog.Load()
	if prev != nil && reflect.DeepEqual(prev.Members, c.Members) && reflect.DeepEqual(prev.Instances, c.Instances) {
		c.Index, c.changed = prev.Index, prev.changed
	} else {
		c.Index, c.changed = 1, make(chan struct{})
		if prev != nil {
			c.Index = prev.Index + 1
		}
	}
	a.catalog.Store(c)
	if prev != nil && prev.changed != c.changed {
		close(prev.changed)
	}
}

// WaitCatalog blocks until the catalog's Index exceeds index or ctx ends,
// and returns the current view (with ctx's error when ctx ended the
// wait). Waiting costs no work per change: all waiters sleep on one
// channel that the next change closes.
func (a *Agent) WaitCatalog(ctx context.Context, index uint64) (*Catalog, error) {
	for {
		c := a.catalog.Load()
		if c == nil {
			return nil, ErrNotRunning
		}
		if c.Index > index {
			return c, nil
		}
		select {
		case <-c.changed:
		case <-ctx.Done():
			return c, ctx.Err()
		}
	}
}

func dnsStatus(s Status) dnsserver.Status {
	switch s {
	case StatusAlive:
		return dnsserver.StatusAlive
	case StatusSuspect:
		return dnsserver.StatusSuspect
	case StatusFailed:
		return dnsserver.StatusFailed
	case StatusLeft:
		return dnsserver.StatusLeft
	}
	return dnsserver.StatusUnknown
}

// live reports whether instances on a node in status s are served.
func live(s Status) bool { return s == StatusAlive || s == StatusSuspect }

// Services summarises the catalog by service name.
func (c *Catalog) Services() []client.ServiceSummary {
	var out []client.ServiceSummary
	for _, in := range c.Instances {
		if len(out) == 0 || out[len(out)-1].Name != in.Service {
			out = append(out, client.ServiceSummary{Name: in.Service})
		}
		s := &out[len(out)-1]
		s.Instances++
		if m, known := c.Members[in.Node]; known && in.Health == client.HealthPassing && live(m.Status) {
			s.Passing++
		}
		for _, t := range in.Tags {
			if !slices.Contains(s.Tags, t) {
				s.Tags = append(s.Tags, t)
			}
		}
	}
	for i := range out {
		slices.Sort(out[i].Tags)
	}
	return out
}

// Service returns the instances of name; passingOnly keeps passing ones on
// live nodes. ok is false when no instance of the service exists.
func (c *Catalog) Service(name string, passingOnly bool) (out []client.ServiceInstance, ok bool) {
	for _, in := range c.Instances {
		if !strings.EqualFold(in.Service, name) {
			continue
		}
		ok = true
		m, known := c.Members[in.Node]
		if passingOnly && (in.Health != client.HealthPassing || !known || !live(m.Status)) {
			continue
		}
		out = append(out, c.clientInstance(in))
	}
	return out, ok
}

// AllInstances returns every instance in the API's form, sorted by
// service name, node and id.
func (c *Catalog) AllInstances() []client.ServiceInstance {
	out := make([]client.ServiceInstance, len(c.Instances))
	for i, in := range c.Instances {
		out[i] = c.clientInstance(in)
	}
	return out
}

func (c *Catalog) clientInstance(in Instance) client.ServiceInstance {
	st := "unknown"
	if m, known := c.Members[in.Node]; known {
		st = m.Status.String()
	}
	addr := ""
	if in.Addr.IsValid() {
		addr = in.Addr.String()
	}
	return client.ServiceInstance{
		ID: in.ID, Name: in.Service, Node: in.Node, Address: addr, Port: in.Port,
		Tags: in.Tags, Meta: in.Meta, Health: in.Health, Output: in.Output, NodeStatus: st,
	}
}
