package dnsserver

import (
	"testing"

	"github.com/miekg/dns"
)

// The benchmarks drive the handler the way miekg's server does, through a
// ResponseWriter that packs and drops (discard), and compare it with a
// bare miekg/dns responder answering the same records from a fixed map:
// the floor any handler pays (reply message, question copy, Pack).
//
//	go test -run '^$' -bench . -benchmem ./dnsserver/

// benchQueries are the measured forms: a 3-instance service (A and SRV,
// shuffled, with glue) and an unknown name (NXDOMAIN + SOA).
var benchQueries = []struct {
	name  string
	qname string
	qtype uint16
}{
	{"A", "web.service.murmur.", dns.TypeA},
	{"SRV", "web.service.murmur.", dns.TypeSRV},
	{"NXDOMAIN", "nosuch.service.murmur.", dns.TypeA},
}

func benchSnapshot() *Snapshot {
	d := fixtureData()
	// Three passing instances on three alive nodes.
	d.Nodes[3].Status = StatusAlive
	d.Instances[1].Health = HealthPassing
	d.Instances = append(d.Instances[:4], d.Instances[5:]...)
	return NewSnapshot(d)
}

// bareResponder is the reference: what a minimal miekg/dns server does.
type bareResponder struct {
	answers map[string][]dns.RR // key: qname + qtype
	extra   map[string][]dns.RR
	soa     dns.RR
}

func newBareResponder(snap *Snapshot) *bareResponder {
	b := &bareResponder{answers: map[string][]dns.RR{}, extra: map[string][]dns.RR{}}
	for _, q := range benchQueries {
		m := Resolve(snap, DefaultConfig(), query(q.qname, q.qtype), nil)
		key := q.qname + dns.TypeToString[q.qtype]
		if m.Rcode == dns.RcodeSuccess {
			b.answers[key] = m.Answer
			b.extra[key] = m.Extra
		} else {
			b.soa = m.Ns[0]
		}
	}
	return b
}

func (b *bareResponder) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Compress = true // as Murmur always does
	key := r.Question[0].Name + dns.TypeToString[r.Question[0].Qtype]
	if rrs, ok := b.answers[key]; ok {
		m.Answer = rrs
		m.Extra = b.extra[key]
	} else {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{b.soa}
	}
	w.WriteMsg(m)
}

func BenchmarkQuery(b *testing.B) {
	snap := benchSnapshot()
	handlers := []struct {
		name string
		h    dns.Handler
	}{
		{"bare", newBareResponder(snap)},
		{"murmur", newServer(b, DefaultConfig(), snap)},
	}
	for _, q := range benchQueries {
		for _, h := range handlers {
			b.Run(q.name+"/"+h.name, func(b *testing.B) {
				req := query(q.qname, q.qtype)
				w := &discard{}
				b.ReportAllocs()
				for b.Loop() {
					h.h.ServeDNS(w, req)
				}
			})
		}
	}
}

// BenchmarkQueryWire adds what miekg's server does before the handler
// (unpacking the request into a new Msg), so the ratio is that of whole
// queries.
func BenchmarkQueryWire(b *testing.B) {
	snap := benchSnapshot()
	handlers := []struct {
		name string
		h    dns.Handler
	}{
		{"bare", newBareResponder(snap)},
		{"murmur", newServer(b, DefaultConfig(), snap)},
	}
	for _, q := range benchQueries {
		for _, h := range handlers {
			b.Run(q.name+"/"+h.name, func(b *testing.B) {
				wire, err := query(q.qname, q.qtype).Pack()
				if err != nil {
					b.Fatal(err)
				}
				w := &discard{}
				b.ReportAllocs()
				for b.Loop() {
					req := new(dns.Msg)
					if err := req.Unpack(wire); err != nil {
						b.Fatal(err)
					}
					h.h.ServeDNS(w, req)
				}
			})
		}
	}
}

// BenchmarkQueryParallel is the handler under all cores at once: shared
// counters and pools, no locks.
func BenchmarkQueryParallel(b *testing.B) {
	s := newServer(b, DefaultConfig(), benchSnapshot())
	req := query("web.service.murmur.", dns.TypeSRV)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discard{}
		for pb.Next() {
			s.ServeDNS(w, req)
		}
	})
}

// BenchmarkCompile is a full compile of 1000 nodes with one instance
// each (membership or config changes).
func BenchmarkCompile(b *testing.B) {
	snap := NewSnapshot(bigData(1000))
	rc := mustCompile(b, DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		compile(nil, snap, rc)
	}
}
