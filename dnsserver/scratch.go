package dnsserver

import (
	"math/rand/v2"
	"net"

	"github.com/miekg/dns"
)

// scratch is the per-query working memory: the response and arenas for
// the records copied into it. The Server pools scratches, so a query
// allocates nothing once the pool is warm. A scratch is used by one
// goroutine at a time; the response it holds is valid until the next use.
type scratch struct {
	msg   dns.Msg
	q     [1]dns.Question
	opt   dns.OPT
	soa   dns.SOA
	ns    dns.NS
	ans   []dns.RR
	auth  []dns.RR
	extra []dns.RR
	a     []dns.A
	aaaa  []dns.AAAA
	srv   []dns.SRV
	txt   []dns.TXT
	ptr   []dns.PTR
	idx   []int32
	seen  []uint64 // bitset over snapshot targets
	ipbuf [16]byte
	buf   []byte         // pack buffer, maxTCPSize
	comp  map[string]int // compression map of the pack
	tmp   []dns.RR
	soaNS dns.SOA    // the SOA of a negative answer
	rnd   *rand.Rand // nil: no shuffling

	// Set by resolve for the transport:
	clientSize int // EDNS0 UDP payload size the client advertised, 0 without OPT
	udpMax     int // our cap of UDP answers (dns.max_udp_size)
}

func newScratch(rnd *rand.Rand) *scratch {
	return &scratch{rnd: rnd, buf: make([]byte, maxTCPSize)}
}

func (s *scratch) reset() {
	s.msg = dns.Msg{
		Question: s.q[:0],
		Answer:   s.ans[:0],
		Ns:       s.auth[:0],
		Extra:    s.extra[:0],
	}
	s.a, s.aaaa, s.srv, s.txt, s.ptr = s.a[:0], s.aaaa[:0], s.srv[:0], s.txt[:0], s.ptr[:0]
	s.idx = s.idx[:0]
	s.clientSize = 0
}

// keep stores the (possibly grown) section slices back for reuse.
func (s *scratch) keep() {
	if cap(s.msg.Answer) > cap(s.ans) {
		s.ans = s.msg.Answer[:0]
	}
	if cap(s.msg.Ns) > cap(s.auth) {
		s.auth = s.msg.Ns[:0]
	}
	if cap(s.msg.Extra) > cap(s.extra) {
		s.extra = s.msg.Extra[:0]
	}
}

// The arenas hand out records whose addresses stay valid for the query:
// reserve grows an arena before any record is taken from it, so appends
// never move records already handed out.

func reserve[T any](arena []T, n int) []T {
	if cap(arena)-len(arena) < n {
		grown := make([]T, len(arena), len(arena)+max(n, cap(arena)))
		copy(grown, arena)
		return grown
	}
	return arena
}

func (s *scratch) addA(name string, ip net.IP, ttl uint32) {
	s.a = append(s.a, dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip})
	s.msg.Answer = append(s.msg.Answer, &s.a[len(s.a)-1])
}

func (s *scratch) addAAAA(name string, ip net.IP, ttl uint32) {
	s.aaaa = append(s.aaaa, dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: ip})
	s.msg.Answer = append(s.msg.Answer, &s.aaaa[len(s.aaaa)-1])
}

// addGlue adds ip as an A or AAAA record of name to the additional
// section.
func (s *scratch) addGlue(name string, ip net.IP, ttl uint32) {
	switch len(ip) {
	case net.IPv4len:
		s.a = reserve(s.a, 1)
		s.a = append(s.a, dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip})
		s.msg.Extra = append(s.msg.Extra, &s.a[len(s.a)-1])
	case net.IPv6len:
		s.aaaa = reserve(s.aaaa, 1)
		s.aaaa = append(s.aaaa, dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: ip})
		s.msg.Extra = append(s.msg.Extra, &s.aaaa[len(s.aaaa)-1])
	}
}

// addIP answers ip as A or AAAA depending on its length and qtype; it
// reports whether it answered.
func (s *scratch) addIP(name string, ip net.IP, ttl uint32, qtype uint16) bool {
	switch {
	case ip == nil:
		return false
	case len(ip) == net.IPv4len && (qtype == dns.TypeA || qtype == dns.TypeANY):
		s.a = reserve(s.a, 1)
		s.addA(name, ip, ttl)
		return true
	case len(ip) == net.IPv6len && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
		s.aaaa = reserve(s.aaaa, 1)
		s.addAAAA(name, ip, ttl)
		return true
	}
	return false
}
