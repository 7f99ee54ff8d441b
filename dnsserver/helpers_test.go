package dnsserver

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/serf/coordinate"
	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/murmurhq/murmur/catalog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a dns.ResponseWriter that keeps what the handler wrote
// (coredns's dnstest.Recorder, reduced). It is safe for concurrent use.
type recorder struct {
	tcp bool

	mu     sync.Mutex
	writes [][]byte
}

var (
	udpClient = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	tcpClient = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
)

func (r *recorder) LocalAddr() net.Addr {
	if r.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8600}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8600}
}

func (r *recorder) RemoteAddr() net.Addr {
	if r.tcp {
		return tcpClient
	}
	return udpClient
}

func (r *recorder) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = r.Write(b)
	return err
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, slices.Clone(b))
	return len(b), nil
}

func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

// only returns the single answer written, unpacked, and its size.
func (r *recorder) only(t testing.TB) (*dns.Msg, int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.writes) != 1 {
		t.Fatalf("handler wrote %d messages, want 1", len(r.writes))
	}
	m := new(dns.Msg)
	if err := m.Unpack(r.writes[0]); err != nil {
		t.Fatalf("answer does not unpack: %v", err)
	}
	return m, len(r.writes[0])
}

// discard is a ResponseWriter for benchmarks: WriteMsg packs like
// miekg's, Write drops.
type discard struct{ recorder }

func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteMsg(m *dns.Msg) error {
	_, err := m.Pack()
	return err
}

func coord(x float64) *coordinate.Coordinate {
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	c.Vec[0] = x
	return c
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// fixture is the cluster most table tests query.
//
//	self    127.0.0.1  alive    coord 0    meta az=a role=dns
//	web-1   10.0.0.1   alive    coord 0.010
//	web-2   10.0.0.2   alive    coord 0.002
//	web-3   10.0.0.3   suspect  (no coordinate)
//	web-4   10.0.0.4   failed
//	db-1.example.com fd00::1 alive
//	gone    10.0.0.9   left
func fixtureData() Data {
	return Data{
		Self:   "self",
		Serial: 42,
		Nodes: []Node{
			{Name: "self", Addr: addr("127.0.0.1"), Status: StatusAlive, Meta: map[string]string{"role": "dns", "az": "a"}, Coord: coord(0)},
			{Name: "web-1", Addr: addr("10.0.0.1"), Status: StatusAlive, Coord: coord(0.010)},
			{Name: "web-2", Addr: addr("10.0.0.2"), Status: StatusAlive, Coord: coord(0.002)},
			{Name: "web-3", Addr: addr("10.0.0.3"), Status: StatusSuspect},
			{Name: "web-4", Addr: addr("10.0.0.4"), Status: StatusFailed},
			{Name: "db-1.example.com", Addr: addr("fd00::1"), Status: StatusAlive},
			{Name: "gone", Addr: addr("10.0.0.9"), Status: StatusLeft},
		},
		Instances: []Instance{
			{ID: "web-a", Service: "web", Node: "web-1", Port: 80, Tags: []string{"primary", "v1"}, Health: HealthPassing},
			{ID: "web-b", Service: "web", Node: "web-2", Port: 80, Tags: []string{"v1"}, Health: HealthWarning},
			{ID: "web-c", Service: "web", Node: "web-3", Port: 80, Health: HealthPassing},
			{ID: "web-d", Service: "web", Node: "web-4", Port: 80, Health: HealthPassing},
			{ID: "web-e", Service: "web", Node: "web-1", Port: 8080, Health: HealthPassing},
			{ID: "db", Service: "db", Node: "db-1.example.com", Port: 5432, Tags: []string{"primary"}, Health: HealthPassing},
			{ID: "api", Service: "api", Node: "web-2", Addr: addr("192.168.1.5"), Port: 9000, Health: HealthPassing},
			{ID: "down", Service: "down", Node: "web-1", Port: 1, Health: HealthCritical},
		},
	}
}

// bigData is a service "big" with n passing instances, one per node.
func bigData(n int) Data {
	d := Data{Self: "node-000"}
	for i := range n {
		name := fmt.Sprintf("node-%03d", i)
		d.Nodes = append(d.Nodes, Node{Name: name, Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Status: StatusAlive})
		d.Instances = append(d.Instances, Instance{ID: "big", Service: "big", Node: name, Port: 7000, Health: HealthPassing})
	}
	return d
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func withEDNS(m *dns.Msg, size uint16) *dns.Msg {
	m.SetEdns0(size, false)
	return m
}

// rrStrings renders records one per line with single spaces, sorted,
// so that tests compare sets.
func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

func newServer(t testing.TB, cfg Config, snap *Snapshot) *Server {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Update(snap)
	return s
}

// Shorthands for the catalog types zones are compiled from.
type (
	Node     = catalog.Node
	Instance = catalog.Instance
	Snapshot = catalog.Snapshot
)

const (
	StatusAlive    = catalog.StatusAlive
	StatusSuspect  = catalog.StatusSuspect
	StatusFailed   = catalog.StatusFailed
	StatusLeft     = catalog.StatusLeft
	HealthPassing  = catalog.HealthPassing
	HealthWarning  = catalog.HealthWarning
	HealthCritical = catalog.HealthCritical
)

// Data describes a cluster for NewSnapshot.
type Data struct {
	Self string
	// SelfCoord, when set, is the coordinate of the Self node.
	SelfCoord *coordinate.Coordinate
	Nodes     []Node
	Instances []Instance
	Serial    uint32
}

// NewSnapshot builds a standalone catalog snapshot of d.
func NewSnapshot(d Data) *Snapshot {
	nodes := slices.Clone(d.Nodes)
	for i := range nodes {
		if d.SelfCoord != nil && nodes[i].Name == d.Self {
			nodes[i].Coord = d.SelfCoord
		}
	}
	return catalog.Build(d.Self, nodes, d.Instances, d.Serial)
}

// skipped lists what the zone of snap leaves out.
func skipped(snap *Snapshot) []string {
	rc, _ := DefaultConfig().compile()
	return compile(nil, snap, rc).skippedAll()
}

// serve sends req through the handler as the given transport and returns
// the single answer and its size on the wire.
func serve(t testing.TB, s *Server, req *dns.Msg, tcp bool) (*dns.Msg, int) {
	t.Helper()
	w := &recorder{tcp: tcp}
	s.ServeDNS(w, req)
	return w.only(t)
}
