package dnsserver

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/serf/coordinate"
	"github.com/miekg/dns"
)

func TestSnapshotSkips(t *testing.T) {
	d := Data{
		Self: "A",
		Nodes: []Node{
			{Name: "A", Addr: addr("10.0.0.1"), Status: StatusAlive, Meta: map[string]string{"big": strings.Repeat("x", maxTXTPair)}},
			{Name: "a", Addr: addr("10.0.0.2"), Status: StatusAlive}, // same name in DNS
			{Name: "", Status: StatusAlive},
			{Name: "bad..name", Status: StatusAlive},
			{Name: strings.Repeat("x", 64), Status: StatusAlive},
			{Name: "mapped", Addr: addr("::ffff:10.0.0.3"), Status: StatusAlive},
			{Name: "noaddr", Status: StatusAlive},
		},
		Instances: []Instance{
			{ID: "1", Service: "web", Node: "nosuch", Health: HealthPassing},
			{ID: "2", Service: "we.b", Node: "a", Health: HealthPassing}, // a dot inside the label is fine
			{ID: "3", Service: "", Node: "a", Health: HealthPassing},
			{ID: "4", Service: "web", Node: "a", Tags: []string{"", "ok", "OK"}, Health: HealthPassing},
			{ID: "5", Service: "web", Node: "noaddr", Port: 1, Health: HealthPassing},
		},
	}
	s := NewSnapshot(d)
	sk := skipped(s)
	skipped := strings.Join(sk, "\n")
	for _, want := range []string{`node "a": duplicate`, `node "": not a valid`, `node "bad..name"`, `node "xxxx`, `meta "big"`,
		`unknown node "nosuch"`, `service name ""`, `tag ""`} {
		if !strings.Contains(skipped, want) {
			t.Errorf("Skipped() lacks %q:\n%s", want, skipped)
		}
	}
	if len(sk) != 8 {
		t.Errorf("%d skipped, want 8:\n%s", len(sk), skipped)
	}
	cfg := DefaultConfig()
	m := Resolve(s, cfg, query(`we\.b.service.murmur.`, dns.TypeA), nil)
	if len(m.Answer) != 1 {
		t.Errorf("escaped service label: %v", m)
	}
	m = Resolve(s, cfg, query("mapped.node.murmur.", dns.TypeA), nil)
	if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "10.0.0.3" {
		t.Errorf("4in6 node address: %v", m)
	}
	m = Resolve(s, cfg, query("ok.web.service.murmur.", dns.TypeA), nil)
	if len(m.Answer) != 1 {
		t.Errorf("tag deduped case-insensitively: %v", m)
	}
	// An instance on a node without an address still has its SRV record,
	// without glue, and no A record.
	m = Resolve(s, cfg, query("web.service.murmur.", dns.TypeSRV), nil)
	if len(m.Answer) != 2 || len(m.Extra) != 1 {
		t.Errorf("SRV with an address-less node: %v", m)
	}
	m = Resolve(s, cfg, query("web.service.murmur.", dns.TypeA), nil)
	if len(m.Answer) != 1 {
		t.Errorf("A with an address-less node: %v", m)
	}
	m = Resolve(s, cfg, query("noaddr.node.murmur.", dns.TypeA), nil)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 {
		t.Errorf("node without address is NODATA: %v", m)
	}
}

func TestSnapshotDoesNotKeepInput(t *testing.T) {
	d := fixtureData()
	s := NewSnapshot(d)
	d.Nodes[0].Meta["role"] = "changed"
	d.Instances[0].Tags[0] = "changed"
	d.Nodes[1].Name = "changed"
	m := Resolve(s, DefaultConfig(), query("self.node.murmur.", dns.TypeTXT), nil)
	if got := rrStrings(m.Answer); !slices.Contains(got, `self.node.murmur. 0 IN TXT "role=dns"`) {
		t.Errorf("TXT follows the caller's map: %v", got)
	}
	m = Resolve(s, DefaultConfig(), query("primary.web.service.murmur.", dns.TypeA), nil)
	if len(m.Answer) != 1 {
		t.Errorf("tag follows the caller's slice: %v", m)
	}
}

func TestSnapshotTXT(t *testing.T) {
	long := strings.Repeat("v", 600)
	d := Data{Nodes: []Node{{Name: "n", Status: StatusAlive, Meta: map[string]string{"b": `back\slash "q"`, "a": long}}}}
	m := Resolve(NewSnapshot(d), DefaultConfig(), query("n.node.murmur.", dns.TypeTXT), nil)
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var back dns.Msg
	if err := back.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if len(back.Answer) != 2 {
		t.Fatalf("answer %v", back.Answer)
	}
	first := back.Answer[0].(*dns.TXT).Txt
	if len(first) != 3 || strings.Join(first, "") != "a="+long {
		t.Errorf("long value split as %d strings", len(first))
	}
	// On the wire the bytes are the raw ones; the unpacked presentation
	// escapes them again.
	if got := back.Answer[1].(*dns.TXT).Txt; len(got) != 1 || got[0] != `b=back\\slash \"q\"` {
		t.Errorf("escaped value %q", got)
	}
}

func TestSnapshotCoordinates(t *testing.T) {
	bad := coord(0)
	bad.Vec[1] = math.NaN()
	short := coordinate.NewCoordinate(&coordinate.Config{Dimensionality: 2, HeightMin: 1e-5})
	d := Data{
		Self: "self",
		Nodes: []Node{
			{Name: "self", Addr: addr("10.0.0.1"), Status: StatusAlive}, // no coordinate: still nearest
			{Name: "far", Addr: addr("10.0.0.2"), Status: StatusAlive, Coord: coord(0.5)},
			{Name: "near", Addr: addr("10.0.0.3"), Status: StatusAlive, Coord: coord(0.1)},
			{Name: "nan", Addr: addr("10.0.0.4"), Status: StatusAlive, Coord: bad},
			{Name: "2d", Addr: addr("10.0.0.5"), Status: StatusAlive, Coord: short},
		},
		SelfCoord: coord(0),
	}
	for _, n := range d.Nodes {
		d.Instances = append(d.Instances, Instance{ID: n.Name, Service: "s", Node: n.Name, Port: 1, Health: HealthPassing})
	}
	cfg := DefaultConfig()
	cfg.Order = OrderNearest
	m := Resolve(NewSnapshot(d), cfg, query("s.service.murmur.", dns.TypeA), nil)
	got := answerOrder(m)
	if want := []string{"10.0.0.1", "10.0.0.3", "10.0.0.2"}; len(got) != 5 || !slices.Equal(got[:3], want) {
		t.Errorf("order %v, want %v then the two without usable coordinates", got, want)
	}
}

func TestNames(t *testing.T) {
	t.Run("labelKey", func(t *testing.T) {
		for raw, want := range map[string]string{"Web": "web", "a.b": `a\.b`, "sp ace": `sp\ ace`, "\x00": `\000`, "é": `\195\169`} {
			if got, _, ok := labelKey(raw); !ok || got != want {
				t.Errorf("labelKey(%q) = %q %v, want %q", raw, got, ok, want)
			}
		}
		for _, raw := range []string{"", strings.Repeat("a", 64)} {
			if _, _, ok := labelKey(raw); ok {
				t.Errorf("labelKey(%q) accepted", raw)
			}
		}
	})
	t.Run("nameKey", func(t *testing.T) {
		if k, w, ok := nameKey("Web-1.Example.com"); !ok || k != "web-1.example.com" || w != 18 {
			t.Errorf("nameKey = %q %d %v", k, w, ok)
		}
		long := strings.Repeat(strings.Repeat("a", 63)+".", 4)
		if _, _, ok := nameKey(long[:len(long)-1]); ok {
			t.Errorf("256-octet name accepted")
		}
	})
	t.Run("label splitting respects escapes", func(t *testing.T) {
		cases := []struct{ in, head, last string }{
			{"a.b.c", "a.b", "c"},
			{`a\.b`, "", `a\.b`},
			{`a\\.b`, `a\\`, "b"},
			{`a\046b.c`, `a\046b`, "c"},
			{"", "", ""},
		}
		for _, c := range cases {
			if h, l := cutLast(c.in); h != c.head || l != c.last {
				t.Errorf("cutLast(%q) = %q, %q", c.in, h, l)
			}
		}
		if !hasLabelSuffix("x.murmur.", ".murmur.") || hasLabelSuffix(`x\.murmur.`, ".murmur.") || hasLabelSuffix("murmur.", ".murmur.") {
			t.Error("hasLabelSuffix")
		}
	})
	t.Run("addr hex", func(t *testing.T) {
		var buf [16]byte
		for _, a := range []string{"10.1.2.3", "2001:db8::1"} {
			ip := netip.MustParseAddr(a)
			if got := parseAddrHex(addrHex(ip), &buf); got.String() != a {
				t.Errorf("round trip %s: %v", a, got)
			}
		}
		for _, bad := range []string{"", "0a00000", "0a0000010", "0A000001", "zz000001"} {
			if parseAddrHex(bad, &buf) != nil {
				t.Errorf("parseAddrHex(%q) accepted", bad)
			}
		}
	})
	t.Run("udpLimit", func(t *testing.T) {
		for in, want := range map[int]int{0: 512, 100: 512, 512: 512, 1232: 1232, 4096: 4096, 65535: 4096} {
			if got := udpLimit(in, 4096); got != want {
				t.Errorf("udpLimit(%d) = %d, want %d", in, got, want)
			}
		}
	})
}

func TestLongNames(t *testing.T) {
	// A node whose name fits alone but not under .node.<domain> keeps
	// its instances' addresses but cannot be an SRV target or a PTR.
	long := strings.Repeat(strings.Repeat("a", 60)+".", 3) + strings.Repeat("b", 60) // 244 octets
	d := Data{
		Nodes:     []Node{{Name: long, Addr: addr("10.9.9.9"), Status: StatusAlive}},
		Instances: []Instance{{ID: "x", Service: "s", Node: long, Port: 1, Health: HealthPassing}},
	}
	s := NewSnapshot(d)
	if sk := skipped(s); len(sk) != 0 {
		t.Fatalf("skipped %v", sk)
	}
	cfg := DefaultConfig()
	if m := Resolve(s, cfg, query("s.service.murmur.", dns.TypeA), nil); len(m.Answer) != 1 {
		t.Errorf("A: %v", m)
	}
	if m := Resolve(s, cfg, query("s.service.murmur.", dns.TypeSRV), nil); len(m.Answer) != 0 || m.Rcode != dns.RcodeSuccess {
		t.Errorf("SRV: %v", m)
	}
	if m := Resolve(s, cfg, query("9.9.9.10.in-addr.arpa.", dns.TypePTR), nil); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
		t.Errorf("PTR: %v", m)
	}
}
