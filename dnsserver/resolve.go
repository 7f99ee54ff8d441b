package dnsserver

import (
	"math/rand/v2"
	"strings"

	"github.com/miekg/dns"

	"github.com/murmurhq/murmur/catalog"
)

// Resolve answers req from the catalog snapshot snap under cfg. It is
// pure: no sockets, clock or global randomness; rnd orders the answers
// (nil keeps the nearest-first order, which tests use for determinism).
// It never modifies req or snap.
//
// The response is complete: trimming to a UDP size is the transport's
// job (Server does it). Out-of-zone names are REFUSED here; Server
// forwards them instead when recursors are configured. An invalid cfg
// answers SERVFAIL. Resolve compiles snap for cfg on every call, which
// the Server does once per snapshot; it is meant for tests and tools.
func Resolve(snap *catalog.Snapshot, cfg Config, req *dns.Msg, rnd *rand.Rand) *dns.Msg {
	s := newScratch(rnd)
	rc, err := cfg.compile()
	if err != nil {
		s.reset()
		s.msg.SetRcode(req, dns.RcodeServerFailure)
		return &s.msg
	}
	if snap == nil {
		snap = emptyCatalog
	}
	compile(nil, snap, rc).resolve(s, req)
	return &s.msg
}

// resolve writes the response to req into s.msg. It reports whether the
// name is outside the zone (answered REFUSED, which the caller may
// replace by forwarding).
func (z *zone) resolve(s *scratch, req *dns.Msg) (outOfZone bool) {
	s.reset()
	s.udpMax = z.udpMax
	outOfZone = z.answer(s, req)
	if s.clientSize > 0 {
		s.msg.Extra = append(s.msg.Extra, &s.opt) // last, after any glue
	}
	s.keep()
	return outOfZone
}

func (z *zone) answer(s *scratch, req *dns.Msg) (outOfZone bool) {
	m := &s.msg
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionAvailable = z.ra
	if len(req.Question) == 1 {
		s.q[0] = req.Question[0]
		m.Question = s.q[:1]
	}
	version, optOK := s.readOPT(req, z.udpMax)
	if req.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		return false
	}
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	switch {
	case !optOK:
		// RFC 6891 §6.1.1: more than one OPT, an OPT outside the
		// additional section, or one whose owner is not the root.
		m.Rcode = dns.RcodeFormatError
		return false
	case version != 0:
		// RFC 6891 §6.1.3: we speak version 0 only, and say so in our OPT.
		m.Rcode = dns.RcodeBadVers
		return false
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
		return false
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeRefused
		return false
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		m.Rcode = dns.RcodeRefused // no zone transfers
		return false
	case dns.TypeMAILA, dns.TypeMAILB:
		m.Rcode = dns.RcodeNotImplemented // as BIND answers these meta qtypes
		return false
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY:
		m.Rcode = dns.RcodeFormatError // meta types that are no question, as BIND
		return false
	}

	name := strings.ToLower(q.Name) // no allocation when already lower case
	switch {
	case name == z.domain:
		z.apex(s, q)
	case hasLabelSuffix(name, z.dotDomain):
		z.inZone(s, q, name[:len(name)-len(z.dotDomain)])
	case isReverse(name):
		if !z.reverse(s, q, name) {
			if z.ra {
				m.Rcode = dns.RcodeRefused // replaced by the recursors' answer
				return true
			}
			z.nxdomain(s) // not a member: no such name here, and no recursion
		}
	default:
		m.Rcode = dns.RcodeRefused
		return true
	}
	return false
}

// readOPT prepares our OPT record when the request has one: our payload
// size, DO copied (RFC 3225 §3), version 0. It returns the client's EDNS
// version, and ok false when the request's OPT is malformed: more than
// one, one outside the additional section, or an owner other than the
// root (RFC 6891 §6.1.1).
func (s *scratch) readOPT(req *dns.Msg, udpMax int) (version uint8, ok bool) {
	for _, sec := range [...][]dns.RR{req.Answer, req.Ns} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				return 0, false
			}
		}
	}
	var opt *dns.OPT
	for _, rr := range req.Extra {
		if o, isOPT := rr.(*dns.OPT); isOPT {
			if opt != nil || o.Hdr.Name != "." {
				return 0, false
			}
			opt = o
		}
	}
	if opt == nil {
		return 0, true
	}
	s.clientSize = int(max(opt.UDPSize(), dns.MinMsgSize))
	s.opt = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: uint16(udpMax)}}
	if opt.Do() {
		s.opt.SetDo()
	}
	return opt.Version(), true
}

// nodata answers NOERROR with no records and the SOA for negative caching.
func (z *zone) nodata(s *scratch) {
	s.msg.Authoritative = true
	s.soaNS = *z.soa // the query's own copy: packing writes into records
	s.msg.Ns = append(s.msg.Ns, &s.soaNS)
}

func (z *zone) nxdomain(s *scratch) {
	s.msg.Rcode = dns.RcodeNameError
	z.nodata(s)
}

// done marks an authoritative answer, or NODATA when nothing was added.
func (z *zone) done(s *scratch) {
	s.msg.Authoritative = true
	if len(s.msg.Answer) == 0 {
		z.nodata(s)
	}
}

func (z *zone) apex(s *scratch, q dns.Question) {
	if q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeANY {
		s.soa = *z.soa
		s.soa.Hdr.Name = q.Name
		s.msg.Answer = append(s.msg.Answer, &s.soa)
	}
	if q.Qtype == dns.TypeNS || q.Qtype == dns.TypeANY {
		s.ns = z.ns
		s.ns.Hdr.Name = q.Name
		s.msg.Answer = append(s.msg.Answer, &s.ns)
		s.addGlue(z.nsName, z.selfIP, z.nodeTTL)
	}
	z.done(s)
}

// inZone answers a name below the apex; rel is the name without
// ".<domain>", lower case.
func (z *zone) inZone(s *scratch, q dns.Question, rel string) {
	head, last := cutLast(rel)
	switch last {
	case "service":
		if head == "" {
			z.nodata(s) // empty non-terminal (RFC 8020: never NXDOMAIN)
			return
		}
		z.service(s, q, head)
	case "node":
		if head == "" {
			z.nodata(s)
			return
		}
		z.node(s, q, head)
	case "addr":
		if head == "" {
			z.nodata(s)
			return
		}
		z.addr(s, q, head)
	case "ns":
		if head != "" {
			z.nxdomain(s)
			return
		}
		s.addIP(q.Name, z.selfIP, z.nodeTTL, q.Qtype)
		z.done(s)
	default:
		z.nxdomain(s)
	}
}

// service answers <svc>, <tag>.<svc>, _<svc>._tcp and _<svc>._<tag>
// (head is the part before ".service").
func (z *zone) service(s *scratch, q dns.Question, head string) {
	a, b := cutLast(head)
	var v *view
	switch {
	case a == "":
		if svc, _ := z.services.Get(b); svc != nil {
			v = svc.all
		} else if _, ok := z.svcENT[b]; ok {
			z.nodata(s)
			return
		}
	case lastDot(a) >= 0: // three or more labels
	case a[0] == '_' && b[0] == '_' && len(a) > 1: // RFC 2782
		if svc, _ := z.services.Get(a[1:]); svc != nil {
			if b == "_tcp" {
				v = svc.all
			} else {
				v = svc.tags[b[1:]]
			}
		}
	default:
		if svc, _ := z.services.Get(b); svc != nil {
			v = svc.tags[a]
		}
	}
	if v == nil {
		z.nxdomain(s)
		return
	}
	switch q.Qtype {
	case dns.TypeA:
		z.addrs(s, q.Name, v.a, v.aTail)
	case dns.TypeAAAA:
		z.addrs(s, q.Name, v.aaaa, v.aaaaTail)
	case dns.TypeANY:
		z.addrs(s, q.Name, v.a, v.aTail)
		z.addrs(s, q.Name, v.aaaa, v.aaaaTail)
	case dns.TypeSRV:
		z.srv(s, q.Name, v)
	}
	z.done(s)
}

// pick fills s.idx with the served entries among n (serve(i) gives the
// mask of entry i), in answer order, at most max of them. Entries from
// tail on have no coordinate.
func (z *zone) pick(s *scratch, n, tail int, serve func(int) uint8) {
	idx := s.idx[:0]
	tailPos := -1
	for i := 0; i < n; i++ {
		if serve(i)&z.bit == 0 {
			continue
		}
		if i >= tail && tailPos < 0 {
			tailPos = len(idx)
		}
		idx = append(idx, int32(i))
	}
	if tailPos < 0 {
		tailPos = len(idx)
	}
	k := len(idx)
	if z.max > 0 && k > z.max {
		k = z.max
	}
	if rnd := s.rnd; rnd != nil {
		from := 0
		if z.nearest {
			from = tailPos // only the entries without a coordinate
		}
		// Partial Fisher-Yates: only the first k positions are needed.
		for i := from; i < k; i++ {
			j := i + rnd.IntN(len(idx)-i)
			idx[i], idx[j] = idx[j], idx[i]
		}
	}
	s.idx = idx[:k]
}

func (z *zone) addrs(s *scratch, name string, list []addrEntry, tail int) {
	z.pick(s, len(list), tail, func(i int) uint8 { return list[i].serve })
	if len(list) == 0 {
		return
	}
	if len(list[0].ip) == 4 {
		s.a = reserve(s.a, len(s.idx))
		for _, i := range s.idx {
			s.addA(name, list[i].ip, z.svcTTL)
		}
		return
	}
	s.aaaa = reserve(s.aaaa, len(s.idx))
	for _, i := range s.idx {
		s.addAAAA(name, list[i].ip, z.svcTTL)
	}
}

// srv answers SRV records with their targets' addresses as additional
// records, each target once.
func (z *zone) srv(s *scratch, name string, v *view) {
	list := v.srv
	z.pick(s, len(list), v.srvTail, func(i int) uint8 { return list[i].serve })
	// seen dedupes glue: node targets by index, address targets after them.
	nn := int32(len(z.nodes))
	if words := (int(nn) + len(v.addrs) + 63) / 64; len(s.seen) < words {
		s.seen = make([]uint64, words)
	}
	bitOf := func(t int32) int32 {
		if t >= 0 {
			return t
		}
		return nn + ^t
	}
	s.srv = reserve(s.srv, len(s.idx))
	s.a = reserve(s.a, len(s.idx))
	s.aaaa = reserve(s.aaaa, len(s.idx))
	for _, i := range s.idx {
		e := list[i]
		target, ip, ttl := z.target(v, e.target)
		if target == "" {
			continue
		}
		s.srv = append(s.srv, dns.SRV{
			Hdr:      dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: z.svcTTL},
			Priority: 1,
			Weight:   1,
			Port:     e.port,
			Target:   target,
		})
		s.msg.Answer = append(s.msg.Answer, &s.srv[len(s.srv)-1])
		b := bitOf(e.target)
		w, bit := b/64, uint64(1)<<(b%64)
		if ip != nil && s.seen[w]&bit == 0 {
			s.seen[w] |= bit
			s.addGlue(target, ip, ttl)
		}
	}
	for _, i := range s.idx {
		b := bitOf(list[i].target)
		s.seen[b/64] &^= 1 << (b % 64)
	}
}

func (z *zone) node(s *scratch, q dns.Question, head string) {
	i, ok := z.nodeIdx[head]
	if !ok {
		if _, ent := z.nodeENT[head]; ent {
			z.nodata(s)
		} else {
			z.nxdomain(s)
		}
		return
	}
	n := &z.nodes[i]
	if n.serve&z.bit == 0 {
		z.nodata(s) // the node exists but is failed, left or filtered
		return
	}
	s.addIP(q.Name, n.ip, z.nodeTTL, q.Qtype)
	if (q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY) && len(n.txt) > 0 {
		s.txt = reserve(s.txt, len(n.txt))
		for _, t := range n.txt {
			s.txt = append(s.txt, dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: z.nodeTTL},
				Txt: t,
			})
			s.msg.Answer = append(s.msg.Answer, &s.txt[len(s.txt)-1])
		}
	}
	z.done(s)
}

// addr answers <hex>.addr: the SRV targets of instances whose address is
// not their node's. Any well-formed hex label is answered (the name is its
// own data, as in Consul).
func (z *zone) addr(s *scratch, q dns.Question, head string) {
	ip := parseAddrHex(head, &s.ipbuf)
	if ip == nil {
		z.nxdomain(s)
		return
	}
	s.addIP(q.Name, ip, z.svcTTL, q.Qtype)
	z.done(s)
}

// reverse answers a name under in-addr.arpa or ip6.arpa: PTR of a member
// address (NODATA for other types, and for a member that is not served),
// NODATA for the empty non-terminals above member addresses. It reports
// false when the name is none of these, for the caller to forward or deny.
func (z *zone) reverse(s *scratch, q dns.Question, name string) bool {
	nodes, member := z.ptr[name]
	if !member {
		if _, ent := z.revENT[name]; ent {
			z.nodata(s)
			return true
		}
		return false
	}
	if q.Qtype != dns.TypePTR && q.Qtype != dns.TypeANY {
		z.nodata(s)
		return true
	}
	s.ptr = reserve(s.ptr, len(nodes))
	for _, i := range nodes {
		target := z.nodes[i].fqdn
		if z.nodes[i].serve&z.bit == 0 || target == "" {
			continue
		}
		s.ptr = append(s.ptr, dns.PTR{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: z.nodeTTL},
			Ptr: target,
		})
		s.msg.Answer = append(s.msg.Answer, &s.ptr[len(s.ptr)-1])
	}
	z.done(s)
	return true
}
