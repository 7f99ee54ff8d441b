package dnsserver

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/serf/coordinate"
)

// Catalog is what the server reads the cluster from; the agent implements
// it.
type Catalog interface {
	// DNS returns the current snapshot, or nil for an empty cluster. It
	// is called on every query, concurrently from many goroutines: it must
	// be safe for concurrent use, never block and be cheap (an atomic
	// load). The returned snapshot must never be modified.
	DNS() *Snapshot
}

// CatalogFunc adapts a function to Catalog, e.g.
// CatalogFunc(ptr.Load) for an atomic.Pointer[Snapshot].
type CatalogFunc func() *Snapshot

// DNS calls f.
func (f CatalogFunc) DNS() *Snapshot { return f() }

// Status is a member's state as memberlist reports it.
type Status uint8

// Member states. The zero value is never served.
const (
	StatusUnknown Status = iota
	StatusAlive
	StatusSuspect
	StatusFailed
	StatusLeft
)

var statusNames = [...]string{"unknown", "alive", "suspect", "failed", "left"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", s)
}

// ParseStatus reads "alive", "suspect", "failed" or "left".
func ParseStatus(s string) (Status, error) {
	for i, n := range statusNames[1:] {
		if s == n {
			return Status(i + 1), nil
		}
	}
	return StatusUnknown, fmt.Errorf("dnsserver: unknown member status %q", s)
}

// Health is a service instance's check state.
type Health uint8

// Health states. The zero value is never served.
const (
	HealthUnknown Health = iota
	HealthPassing
	HealthWarning
	HealthCritical
)

var healthNames = [...]string{"unknown", "passing", "warning", "critical"}

func (h Health) String() string {
	if int(h) < len(healthNames) {
		return healthNames[h]
	}
	return fmt.Sprintf("health(%d)", h)
}

// ParseHealth reads "passing", "warning" or "critical".
func ParseHealth(s string) (Health, error) {
	for i, n := range healthNames[1:] {
		if s == n {
			return Health(i + 1), nil
		}
	}
	return HealthUnknown, fmt.Errorf("dnsserver: unknown health %q", s)
}

// Node is one cluster member.
type Node struct {
	// Name is the member name; dots separate DNS labels
	// ("web-1.example.com" is answered at web-1.example.com.node.<domain>).
	Name string
	// Addr is the member's address (IPv4 or IPv6); invalid means none.
	Addr   netip.Addr
	Status Status
	// Meta becomes the TXT records of <node>.node, one "k=v" per key.
	Meta map[string]string
	// Coord is the node's network coordinate; nil when unknown.
	Coord *coordinate.Coordinate
}

// Instance is one registered service instance.
type Instance struct {
	// ID identifies the instance on its node (used only in messages).
	ID string
	// Service is the service name, one DNS label.
	Service string
	// Node is the Name of the node the instance runs on.
	Node string
	// Addr is the service address; invalid means the node's address.
	Addr netip.Addr
	Port uint16
	// Tags are labels that <tag>.<svc>.service filters on.
	Tags   []string
	Health Health
}

// Data is the input of NewSnapshot. NewSnapshot copies what it needs; the
// caller may reuse Data afterwards.
type Data struct {
	// Self is the name of the local node: its address is the NS glue
	// and its coordinate the origin of order = "nearest".
	Self string
	// SelfCoord overrides the Self node's Coord when not nil.
	SelfCoord *coordinate.Coordinate
	Nodes     []Node
	Instances []Instance
	// Serial is the SOA serial; 0 is answered as 1. Unix seconds of the
	// build are a good choice.
	Serial uint32
}

// Snapshot is an immutable, query-ready view of the cluster. Build it with
// NewSnapshot; it is safe for concurrent use.
type Snapshot struct {
	serial   uint32
	self     int32 // node index, -1 if unknown
	nodes    []nodeRec
	targets  []targetRec         // nodes first, then distinct service addresses
	nodeIdx  map[string]int32    // lower presentation name
	nodeENT  map[string]struct{} // proper suffixes of dotted node names
	services map[string]*service // lower label
	svcENT   map[string]struct{} // "_tcp", "_<tag>": empty non-terminals under service
	ptr      map[string][]int32  // reverse name -> nodes
	skipped  []string
}

type nodeRec struct {
	name  string  // lower presentation form, no trailing dot
	wire  int     // wire octets of name, root excluded
	ip    net.IP  // nil without an address
	serve uint8   // filter modes (see modeBit) that serve the node
	dist  float64 // estimated RTT from self in seconds; +Inf unknown
	txt   [][]string
}

// targetRec is what an SRV record points at: a node, or a service address
// that differs from its node's (answered as <hex>.addr.<domain>).
type targetRec struct {
	node int32  // node index; -1 for an address target
	hex  string // address targets only
	ip   net.IP
}

type service struct {
	all  *view
	tags map[string]*view // lower label
}

// view is the answer material for one service name form. Entries are in
// nearest-first order; the ones from *Tail on have no coordinate.
type view struct {
	srv      []srvEntry
	a, aaaa  []addrEntry
	srvTail  int
	aTail    int
	aaaaTail int
}

type srvEntry struct {
	target int32
	port   uint16
	serve  uint8
}

type addrEntry struct {
	ip    net.IP
	serve uint8
}

// Filter modes: the health filter depends on Config, which can change
// while a snapshot is in use, so every record carries the set of the four
// (only_passing, serve_suspect) combinations under which it is served.
func modeBit(onlyPassing, serveSuspect bool) uint8 {
	m := 0
	if onlyPassing {
		m |= 1
	}
	if !serveSuspect {
		m |= 2
	}
	return 1 << m
}

const (
	serveAll         = 0b1111
	serveIfSuspectOK = 0b0011 // modes 0 and 1: serve_suspect = true
	serveIfWarningOK = 0b0101 // modes 0 and 2: only_passing = false
)

func statusServe(s Status) uint8 {
	switch s {
	case StatusAlive:
		return serveAll
	case StatusSuspect:
		return serveIfSuspectOK
	}
	return 0
}

func healthServe(h Health) uint8 {
	switch h {
	case HealthPassing:
		return serveAll
	case HealthWarning:
		return serveIfWarningOK
	}
	return 0
}

// Skipped lists what NewSnapshot could not put into DNS (a name that is
// not a valid DNS label, an instance on an unknown node, ...), one
// human-readable line each, for the agent to log.
func (s *Snapshot) Skipped() []string { return slices.Clone(s.skipped) }

// Serial is the SOA serial answered.
func (s *Snapshot) Serial() uint32 { return s.serial }

// maxTXTPair bounds one node meta pair; a longer one would not fit the
// 64 KiB RDATA of a TXT record.
const maxTXTPair = 60000

// NewSnapshot builds a snapshot. It never fails: entries that cannot be
// answered in DNS are left out and listed by Skipped.
func NewSnapshot(d Data) *Snapshot {
	s := &Snapshot{
		serial:   max(d.Serial, 1),
		self:     -1,
		nodeIdx:  make(map[string]int32, len(d.Nodes)),
		nodeENT:  map[string]struct{}{},
		services: map[string]*service{},
		svcENT:   map[string]struct{}{},
		ptr:      map[string][]int32{},
	}
	skip := func(format string, args ...any) {
		s.skipped = append(s.skipped, fmt.Sprintf(format, args...))
	}

	var coords []*coordinate.Coordinate
	for _, n := range d.Nodes {
		key, wire, ok := nameKey(n.Name)
		if !ok {
			skip("node %q: not a valid DNS name", n.Name)
			continue
		}
		if _, dup := s.nodeIdx[key]; dup {
			skip("node %q: duplicate name", n.Name)
			continue
		}
		idx := int32(len(s.nodes))
		s.nodeIdx[key] = idx
		rec := nodeRec{name: key, wire: wire, serve: statusServe(n.Status), dist: math.Inf(1)}
		if a := n.Addr.Unmap().WithZone(""); a.IsValid() {
			rec.ip = net.IP(a.AsSlice())
			if r := reverseName(a); r != "" {
				s.ptr[r] = append(s.ptr[r], idx)
			}
		}
		rec.txt = metaTXT(n, skip)
		s.nodes = append(s.nodes, rec)
		coords = append(coords, n.Coord)
		for i := 0; i < len(key); i++ {
			switch key[i] {
			case '\\':
				i++
			case '.':
				s.nodeENT[key[i+1:]] = struct{}{}
			}
		}
		if n.Name == d.Self {
			s.self = idx
		}
	}
	for key := range s.nodeENT {
		// A suffix that is itself a node is not empty.
		if _, ok := s.nodeIdx[key]; ok {
			delete(s.nodeENT, key)
		}
	}
	origin := d.SelfCoord
	if origin == nil && s.self >= 0 {
		origin = coords[s.self]
	}
	for i := range s.nodes {
		s.nodes[i].dist = distance(origin, coords[i])
	}
	if s.self >= 0 {
		s.nodes[s.self].dist = 0
	}
	for i, n := range s.nodes {
		s.targets = append(s.targets, targetRec{node: int32(i), ip: n.ip})
	}
	s.buildServices(d.Instances, skip)
	return s
}

func metaTXT(n Node, skip func(string, ...any)) [][]string {
	keys := make([]string, 0, len(n.Meta))
	for k := range n.Meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var txt [][]string
	for _, k := range keys {
		if len(k)+1+len(n.Meta[k]) > maxTXTPair {
			skip("node %q: meta %q: longer than %d bytes", n.Name, k, maxTXTPair)
			continue
		}
		txt = append(txt, txtStrings(k, n.Meta[k]))
	}
	return txt
}

// distance is the RTT estimate in seconds, +Inf when either coordinate is
// missing, invalid or of another dimensionality (DistanceTo would panic).
func distance(from, to *coordinate.Coordinate) float64 {
	if from == nil || to == nil || !from.IsValid() || !to.IsValid() || !from.IsCompatibleWith(to) {
		return math.Inf(1)
	}
	return from.DistanceTo(to).Seconds()
}

// inst is an instance after validation, during the build only.
type inst struct {
	target int32
	node   int32
	ip     net.IP
	port   uint16
	serve  uint8
	dist   float64
}

func (s *Snapshot) buildServices(instances []Instance, skip func(string, ...any)) {
	type group struct {
		all  []inst
		tags map[string][]inst
	}
	groups := map[string]*group{}
	var order []string
	addrTargets := map[netip.Addr]int32{}
	for _, in := range instances {
		svc, _, ok := labelKey(in.Service)
		if !ok {
			skip("instance %q on %q: service name %q is not a valid DNS label", in.ID, in.Node, in.Service)
			continue
		}
		nkey, _, ok := nameKey(in.Node)
		ni, found := s.nodeIdx[nkey]
		if !ok || !found {
			skip("instance %q of %q: unknown node %q", in.ID, in.Service, in.Node)
			continue
		}
		node := s.nodes[ni]
		it := inst{target: ni, node: ni, ip: node.ip, port: in.Port,
			serve: node.serve & healthServe(in.Health), dist: node.dist}
		if a := in.Addr.Unmap().WithZone(""); a.IsValid() && !net.IP(a.AsSlice()).Equal(node.ip) {
			t, ok := addrTargets[a]
			if !ok {
				t = int32(len(s.targets))
				addrTargets[a] = t
				s.targets = append(s.targets, targetRec{node: -1, hex: addrHex(a), ip: net.IP(a.AsSlice())})
			}
			it.target = t
			it.ip = s.targets[t].ip
		}
		g := groups[svc]
		if g == nil {
			g = &group{tags: map[string][]inst{}}
			groups[svc] = g
			order = append(order, svc)
		}
		g.all = append(g.all, it)
		seen := map[string]bool{}
		for _, tag := range in.Tags {
			t, _, ok := labelKey(tag)
			if !ok {
				skip("instance %q of %q: tag %q is not a valid DNS label", in.ID, in.Service, tag)
				continue
			}
			if seen[t] {
				continue
			}
			seen[t] = true
			g.tags[t] = append(g.tags[t], it)
			s.svcENT["_"+t] = struct{}{}
		}
	}
	if len(groups) > 0 {
		s.svcENT["_tcp"] = struct{}{}
	}
	for _, name := range order {
		g := groups[name]
		sv := &service{all: s.buildView(g.all), tags: make(map[string]*view, len(g.tags))}
		for t, list := range g.tags {
			sv.tags[t] = s.buildView(list)
		}
		s.services[name] = sv
	}
}

// buildView dedupes (RFC 2181 §5: no duplicate records in an RRset) and
// sorts nearest first; ties break on the target's name so the order is
// deterministic.
func (s *Snapshot) buildView(list []inst) *view {
	v := &view{}
	type srvKey struct {
		target int32
		port   uint16
	}
	srvAt := map[srvKey]int{}
	var srvDist []float64
	type addrAcc struct {
		e    addrEntry
		dist float64
	}
	var addrs []addrAcc
	addrAt := map[string]int{}
	for _, it := range list {
		k := srvKey{it.target, it.port}
		if i, ok := srvAt[k]; ok {
			v.srv[i].serve |= it.serve
			srvDist[i] = min(srvDist[i], it.dist)
		} else {
			srvAt[k] = len(v.srv)
			v.srv = append(v.srv, srvEntry{target: it.target, port: it.port, serve: it.serve})
			srvDist = append(srvDist, it.dist)
		}
		if it.ip == nil {
			continue
		}
		if i, ok := addrAt[string(it.ip)]; ok {
			addrs[i].e.serve |= it.serve
			addrs[i].dist = min(addrs[i].dist, it.dist)
		} else {
			addrAt[string(it.ip)] = len(addrs)
			addrs = append(addrs, addrAcc{addrEntry{ip: it.ip, serve: it.serve}, it.dist})
		}
	}

	idx := make([]int, len(v.srv))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(srvDist[a], srvDist[b]); c != 0 {
			return c
		}
		if c := strings.Compare(s.targetKey(v.srv[a].target), s.targetKey(v.srv[b].target)); c != 0 {
			return c
		}
		return cmp.Compare(v.srv[a].port, v.srv[b].port)
	})
	sorted := make([]srvEntry, len(idx))
	v.srvTail = len(idx)
	for i, j := range idx {
		sorted[i] = v.srv[j]
		if math.IsInf(srvDist[j], 1) && v.srvTail == len(idx) {
			v.srvTail = i
		}
	}
	v.srv = sorted

	slices.SortFunc(addrs, func(a, b addrAcc) int {
		if c := cmp.Compare(a.dist, b.dist); c != 0 {
			return c
		}
		return bytes.Compare(a.e.ip, b.e.ip)
	})
	v.aTail, v.aaaaTail = -1, -1
	for _, a := range addrs {
		if len(a.e.ip) == net.IPv4len {
			if math.IsInf(a.dist, 1) && v.aTail < 0 {
				v.aTail = len(v.a)
			}
			v.a = append(v.a, a.e)
		} else {
			if math.IsInf(a.dist, 1) && v.aaaaTail < 0 {
				v.aaaaTail = len(v.aaaa)
			}
			v.aaaa = append(v.aaaa, a.e)
		}
	}
	if v.aTail < 0 {
		v.aTail = len(v.a)
	}
	if v.aaaaTail < 0 {
		v.aaaaTail = len(v.aaaa)
	}
	return v
}

func (s *Snapshot) targetKey(t int32) string {
	if r := s.targets[t]; r.node >= 0 {
		return s.nodes[r.node].name
	}
	return s.targets[t].hex
}

// emptySnapshot answers while the catalog has none yet.
var emptySnapshot = NewSnapshot(Data{})
