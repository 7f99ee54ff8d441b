package dnsserver

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzHandler feeds arbitrary bytes to the handler the way miekg's server
// does: whatever unpacks as a message is handled, over UDP and over TCP.
// The handler must not panic, must answer every query exactly once (and
// never a response) with a well-formed message of the request's id that
// fits the transport.
//
//	go test -run '^$' -fuzz FuzzHandler -fuzztime 30s ./dnsserver/
func FuzzHandler(f *testing.F) {
	seeds := []*dns.Msg{
		query("web.service.murmur.", dns.TypeA),
		query("_web._tcp.service.murmur.", dns.TypeSRV),
		query("primary.web.service.murmur.", dns.TypeANY),
		query("self.node.murmur.", dns.TypeTXT),
		query("1.0.0.10.in-addr.arpa.", dns.TypePTR),
		query("c0a80105.addr.murmur.", dns.TypeA),
		query("murmur.", dns.TypeNS),
		query("example.com.", dns.TypeA),
		withEDNS(query("big.service.murmur.", dns.TypeSRV), 1232),
		withEDNS(withEDNS(query("murmur.", dns.TypeSOA), 4096), 512),
	}
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	d := fixtureData()
	big := bigData(60)
	d.Nodes = append(d.Nodes, big.Nodes...)
	d.Instances = append(d.Instances, big.Instances...)
	s, err := New(DefaultConfig(), nil)
	if err != nil {
		f.Fatal(err)
	}
	s.Update(NewSnapshot(d))

	f.Fuzz(func(t *testing.T, b []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(b); err != nil {
			return // miekg's server answers FORMERR or drops it before the handler
		}
		for _, tcp := range []bool{false, true} {
			w := &recorder{tcp: tcp}
			s.ServeDNS(w, req)
			if req.Response {
				if len(w.writes) != 0 {
					t.Fatalf("answered a response")
				}
				continue
			}
			m, size := w.only(t)
			if m.Id != req.Id || !m.Response {
				t.Fatalf("answer id %d response %v for request id %d", m.Id, m.Response, req.Id)
			}
			limit := maxTCPSize
			if !tcp {
				limit = udpLimit(0, DefaultMaxUDPSize)
				if o := req.IsEdns0(); o != nil {
					limit = udpLimit(int(o.UDPSize()), DefaultMaxUDPSize)
				}
			}
			if size > limit {
				t.Fatalf("answer of %d bytes over a limit of %d", size, limit)
			}
		}
	})
}
