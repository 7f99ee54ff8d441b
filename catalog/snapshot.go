package catalog

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/murmurhq/murmur/internal/cowmap"
)

// Snapshot is an immutable view of the cluster: its members and every
// service instance with its health. The catalog publishes a new one on
// each change; readers (DNS, the HTTP faces) load it with one atomic read
// and never lock. Everything a Snapshot returns is shared and must not be
// modified.
//
// A new snapshot shares the unchanged parts of the one before (copy on
// write per service, and per shard of the services map, svcmap.go): one
// instance's health change costs work proportional to its service and
// its shard, not to the catalog.
type Snapshot struct {
	seq      uint64
	index    uint64
	serial   uint32
	built    time.Time
	self     string
	nodes    []Node // sorted by name
	nodeIdx  map[string]int
	services *cowmap.Map[[]Instance] // by lower-case name; sorted by node, id
	names    []string                // sorted keys of services
	count    int                     // instances
	changes  Changes
}

// Changes says what differs between a snapshot and the one published
// before it, so a consumer can update what it derived incrementally.
type Changes struct {
	// Seq of the snapshot these changes lead from (the previous one); a
	// consumer that did not see that one must rebuild in full.
	From uint64
	// Full: treat everything as changed (the first snapshot).
	Full bool
	// Nodes: a member was added, removed, or changed anything but its
	// coordinate.
	Nodes bool
	// Coords: a member's network coordinate changed.
	Coords bool
	// Services whose instances changed (lower-case names, sorted); a
	// service that is gone is listed and absent from the snapshot.
	Services []string
}

// Seq numbers the snapshots of one catalog, from 1.
func (s *Snapshot) Seq() uint64 { return s.seq }

// Index is the catalog's modification index (a blocking query's
// X-Consul-Index): it grows by one when a member comes, goes or changes
// anything but its coordinate, or when a service instance or its health
// changes, and stays put otherwise. It starts at 1 and is local to this
// agent.
func (s *Snapshot) Index() uint64 { return s.index }

// Changes describes the difference to the previous snapshot.
func (s *Snapshot) Changes() Changes { return s.changes }

// Serial is the DNS SOA serial: the Unix time in seconds of the newest
// write or delete in the replicated service catalog (or of the store's
// tombstone floor, when that is newer). It never goes back, survives
// restarts, and agents that hold the same catalog agree on it. Membership
// changes do not move it (agents see them at different moments).
func (s *Snapshot) Serial() uint32 { return s.serial }

// Built is when this snapshot was made, by the agent's clock.
func (s *Snapshot) Built() time.Time { return s.built }

// Self is the name of the local node.
func (s *Snapshot) Self() string { return s.self }

// Nodes returns every member, failed and left ones included until they
// are reaped, sorted by name.
func (s *Snapshot) Nodes() []Node { return s.nodes }

// Node returns the named member.
func (s *Snapshot) Node(name string) (Node, bool) {
	i, ok := s.nodeIdx[name]
	if !ok {
		return Node{}, false
	}
	return s.nodes[i], true
}

// ServiceNames returns the names of all services, sorted.
func (s *Snapshot) ServiceNames() []string { return s.names }

// Service returns the instances of the named service (any case), sorted
// by node and id; nil when there is none.
func (s *Snapshot) Service(name string) []Instance {
	if in, ok := s.services.Get(name); ok {
		return in
	}
	in, _ := s.services.Get(strings.ToLower(name))
	return in
}

// Len is the number of instances.
func (s *Snapshot) Len() int { return s.count }

// Passing reports whether in is passing on a live node: what
// ?passing queries and DNS (by default) serve.
func (s *Snapshot) Passing(in Instance) bool {
	n, ok := s.Node(in.Node)
	return ok && in.Health == HealthPassing && n.Status.Live()
}

// Address is the address clients reach in at: its own, or its node's
// (invalid when neither is known).
func (s *Snapshot) Address(in Instance) netip.Addr {
	if in.Addr.IsValid() {
		return in.Addr
	}
	n, _ := s.Node(in.Node)
	return n.Addr
}

// Build makes a standalone snapshot from nodes and instances (tests,
// tools); the catalog builds its snapshots incrementally instead. The
// inputs are copied where the snapshot keeps them.
func Build(self string, nodes []Node, instances []Instance, serial uint32) *Snapshot {
	s := &Snapshot{seq: 1, index: 1, serial: serial, self: self, changes: Changes{Full: true}}
	nodes = slices.Clone(nodes)
	for i := range nodes {
		nodes[i].Meta = maps.Clone(nodes[i].Meta)
	}
	s.setNodes(nodes)
	byName := map[string][]Instance{}
	for _, in := range instances {
		in.Service = strings.ToLower(in.Service)
		in.Tags = slices.Clone(in.Tags)
		in.Meta = maps.Clone(in.Meta)
		byName[in.Service] = append(byName[in.Service], in)
	}
	w := cowmap.NewWriter[[]Instance](nil)
	for name, list := range byName {
		sortInstances(list)
		setService(w, name, list)
		s.count += len(list)
	}
	s.services = w.Done()
	s.names = s.services.Keys()
	return s
}

func (s *Snapshot) setNodes(nodes []Node) {
	slices.SortFunc(nodes, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	s.nodes = nodes
	s.nodeIdx = make(map[string]int, len(nodes))
	for i, n := range nodes {
		s.nodeIdx[n.Name] = i
	}
}

func sortInstances(list []Instance) {
	slices.SortFunc(list, func(a, b Instance) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.ID, b.ID))
	})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
