package dnsserver

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const soa = "murmur. 0 IN SOA ns.murmur. hostmaster.murmur. 42 3600 600 86400 0"

type resolveCase struct {
	name  string
	req   *dns.Msg
	cfg   func(*Config)
	rcode int
	aa    bool
	ra    bool
	ans   []string
	auth  []string
	extra []string // without the OPT record
	opt   bool     // an OPT record is expected
}

func runResolveCases(t *testing.T, snap *Snapshot, cases []resolveCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			before := tc.req.Copy()
			m := Resolve(snap, cfg, tc.req, nil)
			if !slices.EqualFunc([]*dns.Msg{before}, []*dns.Msg{tc.req}, func(a, b *dns.Msg) bool { return a.String() == b.String() }) {
				t.Errorf("Resolve modified the request")
			}
			if m.Rcode != tc.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
			}
			if m.Id != tc.req.Id || !m.Response || m.Opcode != tc.req.Opcode {
				t.Errorf("header id=%d response=%v opcode=%d, want id=%d response opcode=%d", m.Id, m.Response, m.Opcode, tc.req.Id, tc.req.Opcode)
			}
			if m.Authoritative != tc.aa {
				t.Errorf("AA = %v, want %v", m.Authoritative, tc.aa)
			}
			if m.RecursionAvailable != tc.ra {
				t.Errorf("RA = %v, want %v", m.RecursionAvailable, tc.ra)
			}
			if tc.req.Opcode == dns.OpcodeQuery && m.RecursionDesired != tc.req.RecursionDesired {
				t.Errorf("RD not echoed")
			}
			if len(tc.req.Question) == 1 && (len(m.Question) != 1 || m.Question[0] != tc.req.Question[0]) {
				t.Errorf("question = %v, want %v", m.Question, tc.req.Question)
			}
			var extra []dns.RR
			var opts int
			for _, rr := range m.Extra {
				if rr.Header().Rrtype == dns.TypeOPT {
					opts++
					continue
				}
				extra = append(extra, rr)
			}
			if want := map[bool]int{true: 1}[tc.opt]; opts != want {
				t.Errorf("%d OPT records, want %d", opts, want)
			}
			check := func(section string, got []dns.RR, want []string) {
				t.Helper()
				want = slices.Sorted(slices.Values(want))
				if g := rrStrings(got); !slices.Equal(g, want) {
					t.Errorf("%s:\n got %q\nwant %q", section, g, want)
				}
			}
			check("answer", m.Answer, tc.ans)
			check("authority", m.Ns, tc.auth)
			check("additional", extra, tc.extra)
			if _, err := m.Pack(); err != nil {
				t.Errorf("answer does not pack: %v", err)
			}
		})
	}
}

func TestResolveServices(t *testing.T) {
	snap := NewSnapshot(fixtureData())
	webSRV := []string{
		"web.service.murmur. 0 IN SRV 1 1 80 web-1.node.murmur.",
		"web.service.murmur. 0 IN SRV 1 1 8080 web-1.node.murmur.",
		"web.service.murmur. 0 IN SRV 1 1 80 web-2.node.murmur.",
		"web.service.murmur. 0 IN SRV 1 1 80 web-3.node.murmur.",
	}
	webGlue := []string{
		"web-1.node.murmur. 0 IN A 10.0.0.1",
		"web-2.node.murmur. 0 IN A 10.0.0.2",
		"web-3.node.murmur. 0 IN A 10.0.0.3",
	}
	runResolveCases(t, snap, []resolveCase{
		{name: "A healthy instances, deduped, failed node left out", req: query("web.service.murmur.", dns.TypeA),
			aa: true, ans: []string{"web.service.murmur. 0 IN A 10.0.0.1", "web.service.murmur. 0 IN A 10.0.0.2", "web.service.murmur. 0 IN A 10.0.0.3"}},
		{name: "A only_passing drops warning", req: query("web.service.murmur.", dns.TypeA), cfg: func(c *Config) { c.OnlyPassing = true },
			aa: true, ans: []string{"web.service.murmur. 0 IN A 10.0.0.1", "web.service.murmur. 0 IN A 10.0.0.3"}},
		{name: "A serve_suspect=false drops suspect node", req: query("web.service.murmur.", dns.TypeA), cfg: func(c *Config) { c.ServeSuspect = false },
			aa: true, ans: []string{"web.service.murmur. 0 IN A 10.0.0.1", "web.service.murmur. 0 IN A 10.0.0.2"}},
		{name: "A only passing on alive nodes", req: query("web.service.murmur.", dns.TypeA), cfg: func(c *Config) { c.ServeSuspect = false; c.OnlyPassing = true },
			aa: true, ans: []string{"web.service.murmur. 0 IN A 10.0.0.1"}},
		{name: "SRV with targets in additional, each once", req: query("web.service.murmur.", dns.TypeSRV),
			aa: true, ans: webSRV, extra: webGlue},
		{name: "case-insensitive, owner keeps the query's case", req: query("WeB.SeRvIcE.MURMUR.", dns.TypeA), cfg: func(c *Config) { c.ServeSuspect = false; c.OnlyPassing = true },
			aa: true, ans: []string{"WeB.SeRvIcE.MURMUR. 0 IN A 10.0.0.1"}},
		{name: "tag filter", req: query("primary.web.service.murmur.", dns.TypeSRV),
			aa: true, ans: []string{"primary.web.service.murmur. 0 IN SRV 1 1 80 web-1.node.murmur."}, extra: webGlue[:1]},
		{name: "tag filter is case-insensitive", req: query("V1.web.service.murmur.", dns.TypeA),
			aa: true, ans: []string{"V1.web.service.murmur. 0 IN A 10.0.0.1", "V1.web.service.murmur. 0 IN A 10.0.0.2"}},
		{name: "RFC 2782 _tcp is every instance", req: query("_web._tcp.service.murmur.", dns.TypeSRV),
			aa: true, ans: []string{
				"_web._tcp.service.murmur. 0 IN SRV 1 1 80 web-1.node.murmur.",
				"_web._tcp.service.murmur. 0 IN SRV 1 1 8080 web-1.node.murmur.",
				"_web._tcp.service.murmur. 0 IN SRV 1 1 80 web-2.node.murmur.",
				"_web._tcp.service.murmur. 0 IN SRV 1 1 80 web-3.node.murmur.",
			}, extra: webGlue},
		{name: "RFC 2782 with a tag", req: query("_web._v1.service.murmur.", dns.TypeSRV),
			aa: true, ans: []string{
				"_web._v1.service.murmur. 0 IN SRV 1 1 80 web-1.node.murmur.",
				"_web._v1.service.murmur. 0 IN SRV 1 1 80 web-2.node.murmur.",
			}, extra: webGlue[:2]},
		{name: "RFC 2782 unknown tag", req: query("_web._nope.service.murmur.", dns.TypeSRV), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "RFC 2782 unknown service", req: query("_nope._tcp.service.murmur.", dns.TypeSRV), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "unknown tag", req: query("nosuch.web.service.murmur.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "unknown service", req: query("nosuch.service.murmur.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "too many labels", req: query("a.primary.web.service.murmur.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "no healthy instance is NODATA", req: query("down.service.murmur.", dns.TypeA), aa: true, auth: []string{soa}},
		{name: "tag with no healthy instance is NODATA", req: query("primary.web.service.murmur.", dns.TypeA),
			cfg: func(c *Config) { c.OnlyPassing = true }, aa: true, ans: []string{"primary.web.service.murmur. 0 IN A 10.0.0.1"}},
		{name: "type without records is NODATA", req: query("web.service.murmur.", dns.TypeTXT), aa: true, auth: []string{soa}},
		{name: "AAAA of a v4-only service is NODATA", req: query("web.service.murmur.", dns.TypeAAAA), aa: true, auth: []string{soa}},
		{name: "AAAA service", req: query("db.service.murmur.", dns.TypeAAAA), aa: true, ans: []string{"db.service.murmur. 0 IN AAAA fd00::1"}},
		{name: "SRV target with dotted node name and AAAA glue", req: query("db.service.murmur.", dns.TypeSRV), aa: true,
			ans: []string{"db.service.murmur. 0 IN SRV 1 1 5432 db-1.example.com.node.murmur."}, extra: []string{"db-1.example.com.node.murmur. 0 IN AAAA fd00::1"}},
		{name: "ANY gives the address records", req: query("web.service.murmur.", dns.TypeANY), cfg: func(c *Config) { c.ServeSuspect = false },
			aa: true, ans: []string{"web.service.murmur. 0 IN A 10.0.0.1", "web.service.murmur. 0 IN A 10.0.0.2"}},
		{name: "service address becomes an addr target", req: query("api.service.murmur.", dns.TypeSRV), aa: true,
			ans: []string{"api.service.murmur. 0 IN SRV 1 1 9000 c0a80105.addr.murmur."}, extra: []string{"c0a80105.addr.murmur. 0 IN A 192.168.1.5"}},
		{name: "A of a service address", req: query("api.service.murmur.", dns.TypeA), aa: true, ans: []string{"api.service.murmur. 0 IN A 192.168.1.5"}},
		{name: "TTLs", req: query("web.service.murmur.", dns.TypeSRV), cfg: func(c *Config) {
			c.ServiceTTL, c.NodeTTL, c.OnlyPassing, c.ServeSuspect = 10*time.Second, 5*time.Second, true, false
		}, aa: true, ans: []string{"web.service.murmur. 10 IN SRV 1 1 80 web-1.node.murmur.", "web.service.murmur. 10 IN SRV 1 1 8080 web-1.node.murmur."},
			extra: []string{"web-1.node.murmur. 5 IN A 10.0.0.1"}},
		{name: "negative TTL is the SOA minimum and TTL", req: query("nosuch.service.murmur.", dns.TypeA), cfg: func(c *Config) { c.NegativeTTL = 30 * time.Second },
			rcode: dns.RcodeNameError, aa: true, auth: []string{"murmur. 30 IN SOA ns.murmur. hostmaster.murmur. 42 3600 600 86400 30"}},
		{name: "max_answers", req: query("web.service.murmur.", dns.TypeA), cfg: func(c *Config) { c.MaxAnswers = 1; c.Order = OrderNearest },
			aa: true, ans: []string{"web.service.murmur. 0 IN A 10.0.0.2"}},
		{name: "other domain", req: query("web.service.Consul.Example.", dns.TypeA), cfg: func(c *Config) { c.Domain = "CONSUL.example"; c.ServeSuspect = false; c.OnlyPassing = true },
			aa: true, ans: []string{"web.service.Consul.Example. 0 IN A 10.0.0.1"}},
		{name: "old domain after a change is out of zone", req: query("web.service.murmur.", dns.TypeA), cfg: func(c *Config) { c.Domain = "consul." },
			rcode: dns.RcodeRefused},
	})
}

func TestResolveNodesAndZone(t *testing.T) {
	snap := NewSnapshot(fixtureData())
	runResolveCases(t, snap, []resolveCase{
		{name: "node A", req: query("web-1.node.murmur.", dns.TypeA), aa: true, ans: []string{"web-1.node.murmur. 0 IN A 10.0.0.1"}},
		{name: "node A any case", req: query("WEB-1.Node.Murmur.", dns.TypeA), aa: true, ans: []string{"WEB-1.Node.Murmur. 0 IN A 10.0.0.1"}},
		{name: "node AAAA of v4 node is NODATA", req: query("web-1.node.murmur.", dns.TypeAAAA), aa: true, auth: []string{soa}},
		{name: "node TXT is sorted meta", req: query("self.node.murmur.", dns.TypeTXT), aa: true,
			ans: []string{`self.node.murmur. 0 IN TXT "az=a"`, `self.node.murmur. 0 IN TXT "role=dns"`}},
		{name: "node TXT without meta is NODATA", req: query("web-1.node.murmur.", dns.TypeTXT), aa: true, auth: []string{soa}},
		{name: "node ANY", req: query("self.node.murmur.", dns.TypeANY), aa: true,
			ans: []string{"self.node.murmur. 0 IN A 127.0.0.1", `self.node.murmur. 0 IN TXT "az=a"`, `self.node.murmur. 0 IN TXT "role=dns"`}},
		{name: "dotted node name", req: query("db-1.example.com.node.murmur.", dns.TypeAAAA), aa: true, ans: []string{"db-1.example.com.node.murmur. 0 IN AAAA fd00::1"}},
		{name: "empty non-terminal under node", req: query("example.com.node.murmur.", dns.TypeA), aa: true, auth: []string{soa}},
		{name: "failed node is NODATA", req: query("web-4.node.murmur.", dns.TypeA), aa: true, auth: []string{soa}},
		{name: "left node is NODATA", req: query("gone.node.murmur.", dns.TypeA), aa: true, auth: []string{soa}},
		{name: "suspect node", req: query("web-3.node.murmur.", dns.TypeA), aa: true, ans: []string{"web-3.node.murmur. 0 IN A 10.0.0.3"}},
		{name: "suspect node not served", req: query("web-3.node.murmur.", dns.TypeA), cfg: func(c *Config) { c.ServeSuspect = false }, aa: true, auth: []string{soa}},
		{name: "unknown node", req: query("nosuch.node.murmur.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "node TTL", req: query("web-1.node.murmur.", dns.TypeA), cfg: func(c *Config) { c.NodeTTL = time.Minute },
			aa: true, ans: []string{"web-1.node.murmur. 60 IN A 10.0.0.1"}},

		{name: "addr A", req: query("0a000001.addr.murmur.", dns.TypeA), aa: true, ans: []string{"0a000001.addr.murmur. 0 IN A 10.0.0.1"}},
		{name: "addr AAAA", req: query("fd000000000000000000000000000001.addr.murmur.", dns.TypeAAAA), aa: true,
			ans: []string{"fd000000000000000000000000000001.addr.murmur. 0 IN AAAA fd00::1"}},
		{name: "addr of other family is NODATA", req: query("0a000001.addr.murmur.", dns.TypeAAAA), aa: true, auth: []string{soa}},
		{name: "addr not hex", req: query("0a00000g.addr.murmur.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "addr wrong length", req: query("0a0000.addr.murmur.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},

		{name: "PTR v4", req: query("1.0.0.10.in-addr.arpa.", dns.TypePTR), aa: true, ans: []string{"1.0.0.10.in-addr.arpa. 0 IN PTR web-1.node.murmur."}},
		{name: "PTR v6", req: query("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR), aa: true,
			ans: []string{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 0 IN PTR db-1.example.com.node.murmur."}},
		{name: "PTR of a failed member is NODATA", req: query("4.0.0.10.in-addr.arpa.", dns.TypePTR), aa: true, auth: []string{soa}},
		// A resolver turns REFUSED into SERVFAIL (Go: "server misbehaving"):
		// without recursors, a stranger's reverse name does not exist here.
		{name: "PTR of a stranger is NXDOMAIN", req: query("99.99.99.10.in-addr.arpa.", dns.TypePTR), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "PTR of a stranger with recursors is forwarded", req: query("99.99.99.10.in-addr.arpa.", dns.TypePTR),
			cfg: func(c *Config) { c.Recursors = []string{"127.0.0.1:1"} }, rcode: dns.RcodeRefused, ra: true},
		{name: "A of a member reverse name is NODATA", req: query("1.0.0.10.in-addr.arpa.", dns.TypeA), aa: true, auth: []string{soa}},
		{name: "above member reverse names is NODATA", req: query("0.0.10.in-addr.arpa.", dns.TypePTR), aa: true, auth: []string{soa}},
		{name: "v6 above member reverse names is NODATA", req: query("d.f.ip6.arpa.", dns.TypePTR), aa: true, auth: []string{soa}},
		{name: "A of a stranger reverse name is NXDOMAIN", req: query("9.9.9.9.in-addr.arpa.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},

		{name: "meta qtype OPT is FORMERR", req: query("murmur.", dns.TypeOPT), rcode: dns.RcodeFormatError},
		{name: "meta qtype TKEY is FORMERR", req: query("web.service.murmur.", dns.TypeTKEY), rcode: dns.RcodeFormatError},
		{name: "meta qtype TSIG is FORMERR", req: query("example.com.", dns.TypeTSIG), rcode: dns.RcodeFormatError},
		{name: "meta qtype MAILA is NOTIMP", req: query("web.service.murmur.", dns.TypeMAILA), rcode: dns.RcodeNotImplemented},
		{name: "meta qtype MAILB is NOTIMP", req: query("murmur.", dns.TypeMAILB), rcode: dns.RcodeNotImplemented},
		{name: "OPT with a non-root owner is FORMERR", req: optOwner("x."), rcode: dns.RcodeFormatError},
		{name: "OPT in the answer section is FORMERR", req: optInAnswer(), rcode: dns.RcodeFormatError},

		{name: "apex SOA", req: query("murmur.", dns.TypeSOA), aa: true, ans: []string{soa}},
		{name: "apex SOA any case", req: query("MURMUR.", dns.TypeSOA), aa: true,
			ans: []string{"MURMUR. 0 IN SOA ns.murmur. hostmaster.murmur. 42 3600 600 86400 0"}},
		{name: "apex NS with glue", req: query("murmur.", dns.TypeNS), aa: true, ans: []string{"murmur. 0 IN NS ns.murmur."}, extra: []string{"ns.murmur. 0 IN A 127.0.0.1"}},
		{name: "apex ANY", req: query("murmur.", dns.TypeANY), aa: true, ans: []string{soa, "murmur. 0 IN NS ns.murmur."}, extra: []string{"ns.murmur. 0 IN A 127.0.0.1"}},
		{name: "apex A is NODATA", req: query("murmur.", dns.TypeA), aa: true, auth: []string{soa}},
		{name: "ns A", req: query("ns.murmur.", dns.TypeA), aa: true, ans: []string{"ns.murmur. 0 IN A 127.0.0.1"}},
		{name: "ns AAAA is NODATA", req: query("ns.murmur.", dns.TypeAAAA), aa: true, auth: []string{soa}},
		{name: "below ns", req: query("x.ns.murmur.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "service. is an empty non-terminal", req: query("service.murmur.", dns.TypeA), aa: true, auth: []string{soa}},
		{name: "node. is an empty non-terminal", req: query("node.murmur.", dns.TypeA), aa: true, auth: []string{soa}},
		{name: "addr. is an empty non-terminal", req: query("addr.murmur.", dns.TypeA), aa: true, auth: []string{soa}},
		{name: "_tcp.service. is an empty non-terminal", req: query("_tcp.service.murmur.", dns.TypeSRV), aa: true, auth: []string{soa}},
		{name: "_<tag>.service. is an empty non-terminal", req: query("_v1.service.murmur.", dns.TypeSRV), aa: true, auth: []string{soa}},
		{name: "unknown name in zone", req: query("foo.murmur.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "escaped dot is not a label boundary", req: query(`web\.service.murmur.`, dns.TypeA), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "escaped dot before the domain is out of zone", req: query(`foo\.murmur.`, dns.TypeA), rcode: dns.RcodeRefused},
		{name: "out of zone", req: query("example.com.", dns.TypeA), rcode: dns.RcodeRefused},
		{name: "root", req: query(".", dns.TypeNS), rcode: dns.RcodeRefused},
		{name: "out of zone with recursors: RA", req: query("example.com.", dns.TypeA), cfg: func(c *Config) { c.Recursors = []string{"127.0.0.1"} },
			rcode: dns.RcodeRefused, ra: true},
		{name: "in zone with recursors: RA", req: query("murmur.", dns.TypeSOA), cfg: func(c *Config) { c.Recursors = []string{"127.0.0.1"} },
			aa: true, ra: true, ans: []string{soa}},
	})
}

func TestResolveProtocol(t *testing.T) {
	snap := NewSnapshot(fixtureData())
	noRD := query("murmur.", dns.TypeSOA)
	noRD.RecursionDesired = false
	notify := query("murmur.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	update := query("murmur.", dns.TypeSOA)
	update.Opcode = dns.OpcodeUpdate
	status := new(dns.Msg)
	status.Opcode = dns.OpcodeStatus
	noQ := new(dns.Msg)
	twoQ := query("murmur.", dns.TypeSOA)
	twoQ.Question = append(twoQ.Question, dns.Question{Name: "ns.murmur.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	ednsV1 := withEDNS(query("murmur.", dns.TypeSOA), 1232)
	ednsV1.IsEdns0().SetVersion(1)
	twoOPT := withEDNS(withEDNS(query("murmur.", dns.TypeSOA), 1232), 1232)
	chaos := query("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	classANY := query("murmur.", dns.TypeSOA)
	classANY.Question[0].Qclass = dns.ClassANY
	do := withEDNS(query("murmur.", dns.TypeSOA), 1232)
	do.IsEdns0().SetDo()

	runResolveCases(t, snap, []resolveCase{
		{name: "RD clear is echoed", req: noRD, aa: true, ans: []string{soa}},
		{name: "NOTIFY is NOTIMP", req: notify, rcode: dns.RcodeNotImplemented},
		{name: "UPDATE is NOTIMP", req: update, rcode: dns.RcodeNotImplemented},
		{name: "STATUS without question is NOTIMP", req: status, rcode: dns.RcodeNotImplemented},
		{name: "no question is FORMERR", req: noQ, rcode: dns.RcodeFormatError},
		{name: "two questions is FORMERR", req: twoQ, rcode: dns.RcodeFormatError},
		{name: "EDNS version 1 is BADVERS", req: ednsV1, rcode: dns.RcodeBadVers, opt: true},
		{name: "two OPT records is FORMERR", req: twoOPT, rcode: dns.RcodeFormatError},
		{name: "CHAOS class is REFUSED", req: chaos, rcode: dns.RcodeRefused},
		{name: "class ANY is answered", req: classANY, aa: true, ans: []string{soa}},
		{name: "AXFR is REFUSED", req: query("murmur.", dns.TypeAXFR), rcode: dns.RcodeRefused},
		{name: "IXFR is REFUSED", req: query("murmur.", dns.TypeIXFR), rcode: dns.RcodeRefused},
		{name: "OPT echoed", req: withEDNS(query("murmur.", dns.TypeSOA), 1232), aa: true, ans: []string{soa}, opt: true},
		{name: "OPT echoed on NXDOMAIN", req: withEDNS(query("x.murmur.", dns.TypeA), 1232), rcode: dns.RcodeNameError, aa: true, auth: []string{soa}, opt: true},
		{name: "OPT after the glue", req: withEDNS(query("murmur.", dns.TypeNS), 1232), aa: true,
			ans: []string{"murmur. 0 IN NS ns.murmur."}, extra: []string{"ns.murmur. 0 IN A 127.0.0.1"}, opt: true},
		{name: "DO copied", req: do, aa: true, ans: []string{soa}, opt: true},
	})

	t.Run("OPT details", func(t *testing.T) {
		m := Resolve(snap, DefaultConfig(), do, nil)
		opt := m.IsEdns0()
		if opt == nil || !opt.Do() || opt.Version() != 0 || opt.UDPSize() != DefaultMaxUDPSize {
			t.Fatalf("OPT = %v, want DO, version 0, udp %d", opt, DefaultMaxUDPSize)
		}
		if m.Extra[len(m.Extra)-1] != opt {
			t.Errorf("OPT is not the last additional record")
		}
		m = Resolve(snap, DefaultConfig(), ednsV1, nil)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		var back dns.Msg
		if err := back.Unpack(b); err != nil {
			t.Fatal(err)
		}
		if back.Rcode != dns.RcodeBadVers || back.IsEdns0().Version() != 0 {
			t.Errorf("BADVERS on the wire: rcode %d, version %d", back.Rcode, back.IsEdns0().Version())
		}
	})
	t.Run("invalid config is SERVFAIL", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Order = "random"
		if m := Resolve(snap, cfg, query("murmur.", dns.TypeSOA), nil); m.Rcode != dns.RcodeServerFailure {
			t.Errorf("rcode %d, want SERVFAIL", m.Rcode)
		}
	})
	t.Run("nil snapshot answers the apex", func(t *testing.T) {
		m := Resolve(nil, DefaultConfig(), query("murmur.", dns.TypeNS), nil)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || len(m.Extra) != 0 {
			t.Errorf("got %v", m)
		}
		m = Resolve(nil, DefaultConfig(), query("web.service.murmur.", dns.TypeA), nil)
		if m.Rcode != dns.RcodeNameError {
			t.Errorf("rcode %d, want NXDOMAIN", m.Rcode)
		}
	})
}

// answerOrder returns the answer's A addresses (or SRV targets:ports) in
// order.
func answerOrder(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.SRV:
			out = append(out, r.Target)
		}
	}
	return out
}

func TestResolveOrder(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(uint64(seed), 1))
	snap := NewSnapshot(fixtureData())
	nearest := DefaultConfig()
	nearest.Order = OrderNearest

	t.Run("nearest without randomness", func(t *testing.T) {
		// web-2 (2 ms) before web-1 (10 ms) before web-3 (no coordinate).
		m := Resolve(snap, nearest, query("web.service.murmur.", dns.TypeA), nil)
		if got, want := answerOrder(m), []string{"10.0.0.2", "10.0.0.1", "10.0.0.3"}; !slices.Equal(got, want) {
			t.Errorf("order %v, want %v", got, want)
		}
		m = Resolve(snap, nearest, query("web.service.murmur.", dns.TypeSRV), nil)
		if got, want := answerOrder(m), []string{"web-2.node.murmur.", "web-1.node.murmur.", "web-1.node.murmur.", "web-3.node.murmur."}; !slices.Equal(got, want) {
			t.Errorf("order %v, want %v", got, want)
		}
	})
	t.Run("nearest keeps coordinates first under shuffling", func(t *testing.T) {
		for range 50 {
			m := Resolve(snap, nearest, query("web.service.murmur.", dns.TypeA), rnd)
			if got := answerOrder(m); !slices.Equal(got[:2], []string{"10.0.0.2", "10.0.0.1"}) {
				t.Fatalf("order %v (seed %d)", got, seed)
			}
		}
	})
	t.Run("nodes without coordinates are shuffled", func(t *testing.T) {
		d := bigData(8) // no coordinates at all
		d.Self = ""     // the local node would be nearest
		s := NewSnapshot(d)
		first := map[string]bool{}
		for range 200 {
			m := Resolve(s, nearest, query("big.service.murmur.", dns.TypeA), rnd)
			first[answerOrder(m)[0]] = true
		}
		if len(first) < 2 {
			t.Errorf("always the same first answer (seed %d)", seed)
		}
	})
	t.Run("shuffle varies and keeps the set", func(t *testing.T) {
		s := NewSnapshot(bigData(8))
		first := map[string]int{}
		for range 400 {
			m := Resolve(s, DefaultConfig(), query("big.service.murmur.", dns.TypeA), rnd)
			got := answerOrder(m)
			if len(got) != 8 || len(slices.Compact(slices.Sorted(slices.Values(got)))) != 8 {
				t.Fatalf("answer %v is not the 8 addresses (seed %d)", got, seed)
			}
			first[got[0]]++
		}
		// Each of 8 addresses should come first about 50 times in 400;
		// 10 is far in the tail of the binomial (p < 1e-9).
		for a, n := range first {
			if n < 10 {
				t.Errorf("%s first only %d times in 400 (seed %d)", a, n, seed)
			}
		}
		if len(first) != 8 {
			t.Errorf("only %d distinct first answers (seed %d)", len(first), seed)
		}
	})
	t.Run("max_answers with shuffle picks from all", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxAnswers = 2
		s := NewSnapshot(bigData(8))
		seen := map[string]bool{}
		for range 200 {
			m := Resolve(s, cfg, query("big.service.murmur.", dns.TypeSRV), rnd)
			if len(m.Answer) != 2 || len(m.Extra) != 2 {
				t.Fatalf("%d answers %d extra, want 2 and 2 (seed %d)", len(m.Answer), len(m.Extra), seed)
			}
			for _, a := range answerOrder(m) {
				seen[a] = true
			}
		}
		if len(seen) != 8 {
			t.Errorf("only %d of 8 instances ever answered (seed %d)", len(seen), seed)
		}
	})
}

// optOwner is a query whose OPT record is owned by name.
func optOwner(name string) *dns.Msg {
	m := withEDNS(query("murmur.", dns.TypeSOA), 1232)
	m.Extra[0].Header().Name = name
	return m
}

// optInAnswer is a query with an OPT record in its answer section.
func optInAnswer() *dns.Msg {
	m := query("murmur.", dns.TypeSOA)
	m.Answer = []dns.RR{&dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}}}
	return m
}
