package dnsserver

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/serf/coordinate"
	"github.com/miekg/dns"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/internal/cowmap"
)

// zone is everything the query path reads: a catalog snapshot compiled
// under one runConfig into lookup maps and ready-made names, so a query
// only copies. It is immutable once published. A new catalog snapshot
// that changed some services rebuilds only those (update); a change of
// members, of the config, or a gap in the snapshots rebuilds it all.
type zone struct {
	rc  *runConfig
	cat *catalog.Snapshot // compiled from

	domain    string // "murmur."
	dotDomain string // ".murmur."
	bit       uint8  // modeBit of the health filter
	nearest   bool
	max       int
	udpMax    int  // cap of UDP answers
	ra        bool // recursion available
	nodeTTL   uint32
	svcTTL    uint32

	soa    *dns.SOA // owner = domain, for the authority section
	ns     dns.NS   // template; owner set per query
	nsName string
	selfIP net.IP

	self     int32 // node index, -1 if unknown
	nodes    []nodeRec
	nodeIdx  map[string]int32      // lower presentation name
	nodeENT  map[string]struct{}   // proper suffixes of dotted node names
	ptr      map[string][]int32    // reverse name -> nodes
	revENT   map[string]struct{}   // reverse names above member addresses
	services *cowmap.Map[*service] // lower label; copied by shards on change
	svcENT   map[string]int        // "_tcp", "_<tag>": empty non-terminals under service, with how many services make each
	skipped  []string              // nodes left out
	// svcSkipped lists, per service with any, what it leaves out.
	svcSkipped map[string][]string
}

type nodeRec struct {
	name  string  // lower presentation form, no trailing dot
	fqdn  string  // <name>.node.<domain>; "" when too long for DNS
	ip    net.IP  // nil without an address
	serve uint8   // filter modes (see modeBit) that serve the node
	dist  float64 // estimated RTT from self in seconds; +Inf unknown
	txt   [][]string
}

// service is one service's answer material. Its SRV records point at
// nodes (target >= 0, a node index) or at addresses of instances that
// differ from their node's (target < 0: ^index into addrs, answered as
// <hex>.addr.<domain>).
type service struct {
	all   *view
	tags  map[string]*view // lower label
	addrs []addrTarget
}

type addrTarget struct {
	fqdn string // "" when too long for DNS
	ip   net.IP
}

// view is the answer material for one service name form. Entries are in
// nearest-first order; the ones from *Tail on have no coordinate.
type view struct {
	srv      []srvEntry
	a, aaaa  []addrEntry
	srvTail  int
	aTail    int
	aaaaTail int
	addrs    []addrTarget // the service's
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

// Filter modes: every record carries the set of the four (only_passing,
// serve_suspect) combinations under which it is served, and the zone
// answers with the bit of its config.
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

func statusServe(s catalog.Status) uint8 {
	switch s {
	case catalog.StatusAlive:
		return serveAll
	case catalog.StatusSuspect:
		return serveIfSuspectOK
	}
	return 0
}

func healthServe(h catalog.Health) uint8 {
	switch h {
	case catalog.HealthPassing:
		return serveAll
	case catalog.HealthWarning:
		return serveIfWarningOK
	}
	return 0
}

// maxTXTPair bounds one node meta pair; a longer one would not fit the
// 64 KiB RDATA of a TXT record.
const maxTXTPair = 60000

// compile builds a zone from snap under rc, reusing prev where the
// snapshot's Changes allow: only the changed services are rebuilt. prev
// may be nil.
func compile(prev *zone, snap *catalog.Snapshot, rc *runConfig) *zone {
	ch := snap.Changes()
	if prev == nil || prev.rc != rc || prev.cat.Seq() != ch.From || ch.Full || ch.Nodes || (ch.Coords && rc.Order == OrderNearest) {
		return compileFull(snap, rc)
	}
	z := *prev
	z.cat = snap
	if snap.Serial() != prev.cat.Serial() {
		z.soa = z.newSOA(snap.Serial())
	}
	if len(ch.Services) == 0 {
		return &z
	}
	w := cowmap.NewWriter(prev.services)
	z.svcENT = maps.Clone(prev.svcENT)
	z.svcSkipped = maps.Clone(prev.svcSkipped)
	for _, name := range ch.Services {
		z.setService(w, name, snap.Service(name))
	}
	z.services = w.Done()
	return &z
}

func compileFull(snap *catalog.Snapshot, rc *runConfig) *zone {
	z := &zone{
		rc:        rc,
		cat:       snap,
		domain:    rc.domain,
		dotDomain: "." + rc.domain,
		bit:       modeBit(rc.OnlyPassing, rc.ServeSuspect),
		nearest:   rc.Order == OrderNearest,
		max:       rc.MaxAnswers,
		udpMax:    rc.maxUDP,
		ra:        len(rc.recursors) > 0,
		nodeTTL:   ttlSeconds(rc.NodeTTL),
		svcTTL:    ttlSeconds(rc.ServiceTTL),
		nsName:    "ns." + rc.domain,
		self:      -1,
		nodeIdx:   map[string]int32{},
		nodeENT:   map[string]struct{}{},
		ptr:       map[string][]int32{},
		revENT:    map[string]struct{}{},
		svcENT:    map[string]int{},

		svcSkipped: map[string][]string{},
	}
	z.soa = z.newSOA(snap.Serial())
	z.ns = dns.NS{Hdr: dns.RR_Header{Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: z.nodeTTL}, Ns: z.nsName}
	z.compileNodes(snap)
	w := cowmap.NewWriter[*service](nil)
	for _, name := range snap.ServiceNames() {
		z.setService(w, name, snap.Service(name))
	}
	z.services = w.Done()
	return z
}

func (z *zone) newSOA(serial uint32) *dns.SOA {
	negTTL := ttlSeconds(z.rc.NegativeTTL)
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: z.domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: negTTL},
		Ns:      z.nsName,
		Mbox:    "hostmaster." + z.domain,
		Serial:  max(serial, 1),
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  negTTL,
	}
}

func (z *zone) compileNodes(snap *catalog.Snapshot) {
	skip := func(format string, args ...any) { z.skipped = append(z.skipped, fmt.Sprintf(format, args...)) }
	domainWire := len(z.domain) // presentation length bounds wire length from above
	if w, err := dnsNameWire(z.domain); err == nil {
		domainWire = w
	}
	var coords []*coordinate.Coordinate
	for _, n := range snap.Nodes() {
		key, wire, ok := nameKey(n.Name)
		if !ok {
			skip("node %q: not a valid DNS name", n.Name)
			continue
		}
		if _, dup := z.nodeIdx[key]; dup {
			skip("node %q: duplicate name", n.Name)
			continue
		}
		idx := int32(len(z.nodes))
		z.nodeIdx[key] = idx
		rec := nodeRec{name: key, serve: statusServe(n.Status), dist: math.Inf(1)}
		if wire+len("node")+1+domainWire <= maxNameWire {
			rec.fqdn = key + ".node." + z.domain
		}
		if a := n.Addr.Unmap().WithZone(""); a.IsValid() {
			rec.ip = net.IP(a.AsSlice())
			if r := reverseName(a); r != "" {
				z.ptr[r] = append(z.ptr[r], idx)
				for p := r; ; {
					_, p, _ = strings.Cut(p, ".")
					if !isReverse(p) {
						break
					}
					z.revENT[p] = struct{}{}
				}
			}
		}
		rec.txt = metaTXT(n, skip)
		z.nodes = append(z.nodes, rec)
		coords = append(coords, n.Coord)
		for i := 0; i < len(key); i++ {
			switch key[i] {
			case '\\':
				i++
			case '.':
				z.nodeENT[key[i+1:]] = struct{}{}
			}
		}
		if n.Name == snap.Self() {
			z.self = idx
		}
	}
	for r := range z.ptr {
		delete(z.revENT, r) // a member's own reverse name is not empty
	}
	for key := range z.nodeENT {
		// A suffix that is itself a node is not empty.
		if _, ok := z.nodeIdx[key]; ok {
			delete(z.nodeENT, key)
		}
	}
	if z.self >= 0 {
		origin := coords[z.self]
		for i := range z.nodes {
			z.nodes[i].dist = distance(origin, coords[i])
		}
		z.nodes[z.self].dist = 0
		if ip := z.nodes[z.self].ip; ip != nil {
			z.selfIP = ip
		}
	}
}

func metaTXT(n catalog.Node, skip func(string, ...any)) [][]string {
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

// setService replaces (or with no instances removes) service name in w,
// the next version of z's services, in z's svcENT and svcSkipped, which z
// owns, and keeps svcENT counted.
func (z *zone) setService(w *cowmap.Writer[*service], name string, instances []catalog.Instance) {
	delete(z.svcSkipped, name)
	key, _, ok := labelKey(name)
	if !ok {
		// The catalog only holds valid labels; a tool's Build may not.
		if len(instances) > 0 {
			z.svcSkipped[name] = []string{fmt.Sprintf("%d instances: service name %q is not a valid DNS label", len(instances), name)}
		}
		return
	}
	if old, _ := w.Get(key); old != nil {
		z.countENT(old, -1)
		w.Delete(key)
	}
	if len(instances) == 0 {
		return
	}
	svc, skipped := z.buildService(instances)
	if len(skipped) > 0 {
		z.svcSkipped[name] = skipped
	}
	if svc != nil {
		w.Set(key, svc)
		z.countENT(svc, 1)
	}
}

func (z *zone) countENT(svc *service, d int) {
	names := append(make([]string, 0, 1+len(svc.tags)), "_tcp")
	for t := range svc.tags {
		names = append(names, "_"+t)
	}
	for _, n := range names {
		if z.svcENT[n] += d; z.svcENT[n] <= 0 {
			delete(z.svcENT, n)
		}
	}
}

// skippedAll lists what the zone leaves out, one line each.
func (z *zone) skippedAll() []string {
	out := slices.Clone(z.skipped)
	for _, name := range sortedKeys(z.svcSkipped) {
		out = append(out, z.svcSkipped[name]...)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// inst is an instance after validation, during the build only.
type inst struct {
	target int32
	ip     net.IP
	port   uint16
	serve  uint8
	dist   float64
}

// buildService compiles the instances of one service (nil when none is
// answerable) and says what it left out.
func (z *zone) buildService(instances []catalog.Instance) (*service, []string) {
	svc := &service{tags: map[string]*view{}}
	var skipped []string
	skip := func(format string, args ...any) { skipped = append(skipped, fmt.Sprintf(format, args...)) }
	domainWire := len(z.domain)
	if w, err := dnsNameWire(z.domain); err == nil {
		domainWire = w
	}
	var all []inst
	tags := map[string][]inst{}
	addrAt := map[netip.Addr]int32{}
	for _, in := range instances {
		nkey, _, ok := nameKey(in.Node)
		ni, found := z.nodeIdx[nkey]
		if !ok || !found {
			skip("instance %q of %q: unknown node %q", in.ID, in.Service, in.Node)
			continue
		}
		node := z.nodes[ni]
		it := inst{target: ni, ip: node.ip, port: in.Port,
			serve: node.serve & healthServe(in.Health), dist: node.dist}
		if a := in.Addr.Unmap().WithZone(""); a.IsValid() && !net.IP(a.AsSlice()).Equal(node.ip) {
			i, ok := addrAt[a]
			if !ok {
				i = int32(len(svc.addrs))
				addrAt[a] = i
				t := addrTarget{ip: net.IP(a.AsSlice())}
				if hex := addrHex(a); len(hex)+1+len("addr")+1+domainWire <= maxNameWire {
					t.fqdn = hex + ".addr." + z.domain
				}
				svc.addrs = append(svc.addrs, t)
			}
			it.target = ^i
			it.ip = svc.addrs[i].ip
		}
		all = append(all, it)
		seen := map[string]bool{}
		for _, tag := range in.Tags {
			t, _, ok := labelKey(tag)
			if !ok {
				skip("instance %q of %q: tag %q is not a valid DNS label", in.ID, in.Service, tag)
				continue
			}
			if !seen[t] {
				seen[t] = true
				tags[t] = append(tags[t], it)
			}
		}
	}
	if len(all) == 0 {
		return nil, skipped
	}
	svc.all = z.buildView(svc, all)
	for t, list := range tags {
		svc.tags[t] = z.buildView(svc, list)
	}
	return svc, skipped
}

// buildView dedupes (RFC 2181 §5: no duplicate records in an RRset) and
// sorts nearest first; ties break on the target's name so the order is
// deterministic.
func (z *zone) buildView(svc *service, list []inst) *view {
	v := &view{addrs: svc.addrs}
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
		if c := strings.Compare(z.targetKey(v, v.srv[a].target), z.targetKey(v, v.srv[b].target)); c != 0 {
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

// target returns the name and address of an SRV target.
func (z *zone) target(v *view, t int32) (fqdn string, ip net.IP, ttl uint32) {
	if t >= 0 {
		n := &z.nodes[t]
		return n.fqdn, n.ip, z.nodeTTL
	}
	a := &v.addrs[^t]
	return a.fqdn, a.ip, z.svcTTL
}

func (z *zone) targetKey(v *view, t int32) string {
	if t >= 0 {
		return z.nodes[t].name
	}
	return v.addrs[^t].fqdn
}

// dnsNameWire is the wire length of a fully qualified presentation name.
func dnsNameWire(name string) (int, error) {
	var buf [maxNameWire + 1]byte
	return dns.PackDomainName(name, buf[:], 0, nil, false)
}
