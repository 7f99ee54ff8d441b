package dnsserver_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/dnsserver"
	"github.com/murmurhq/murmur/internal/testutil"
)

type members []catalog.Node

func (m members) Members() []catalog.Node { return m }

// recorder keeps the one answer ServeDNS writes.
type recorder struct{ m *dns.Msg }

func (r *recorder) WriteMsg(m *dns.Msg) error { r.m = m.Copy(); return nil }
func (r *recorder) Write(b []byte) (int, error) {
	r.m = new(dns.Msg)
	return len(b), r.m.Unpack(b)
}
func (*recorder) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (*recorder) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353} }
func (*recorder) Close() error         { return nil }
func (*recorder) TsigStatus() error    { return nil }
func (*recorder) TsigTimersOnly(bool)  {}
func (*recorder) Hijack()              {}

// TestIncrementalZoneMatchesFullCompile drives a real catalog through
// registrations, health changes and deletes; after each, the server's
// zone (recompiled only for the changed services) answers exactly as a
// zone compiled from scratch from the same snapshot.
func TestIncrementalZoneMatchesFullCompile(t *testing.T) {
	st, err := configsync.Open(configsync.Config{Node: "n0", SyncInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = st.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; st.Close() }()

	srv, err := dnsserver.New(dnsserver.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ms := members{}
	for i := range 4 {
		ms = append(ms, catalog.Node{Name: fmt.Sprintf("n%d", i), Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), Status: catalog.StatusAlive})
	}
	c, err := catalog.New(catalog.Config{Node: "n0", Store: st, Members: ms, OnSnapshot: srv.Update})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	cdone := make(chan struct{})
	go func() { _ = c.Run(cctx); close(cdone) }()
	defer func() { ccancel(); <-cdone }()

	put := func(node, svc, id string, h string, tags ...string) {
		v := fmt.Sprintf(`{"id":%q,"name":%q,"port":80,"health":%q,"tags":[%s]}`, id, svc, h, quoteAll(tags))
		if _, err := st.Put(context.Background(), catalog.Key(node, id), []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	steps := []func(){
		func() { put("n1", "web", "w1", "passing", "v1") },
		func() { put("n2", "web", "w2", "passing", "v2") },
		func() { put("n3", "db", "d1", "passing", "primary") },
		func() { put("n2", "web", "w2", "critical", "v2") },
		func() { put("n1", "api", "a1", "warning") },
		func() { put("n2", "web", "w2", "passing", "v1", "v3") },
		func() { _, _ = st.Delete(context.Background(), catalog.Key("n3", "d1")) },
		func() { put("n1", "web", "w1", "passing") },
		func() { put("n1", "api", "w1", "passing", "v1") }, // the instance moves to another service
		func() { _, _ = st.Delete(context.Background(), catalog.Key("n1", "a1")) },
	}
	queries := []string{"web", "v1.web", "v2.web", "v3.web", "_web._v1", "db", "primary.db", "api", "_v1", "_primary", "_tcp"}
	for i, step := range steps {
		before := c.Snapshot().Seq()
		step()
		testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("step %d in the catalog", i), func() bool { return c.Snapshot().Seq() > before })
		// Let the catalog settle on this step's snapshot.
		testutil.WaitFor(t, 10*time.Second, "quiet", func() bool {
			s := c.Snapshot()
			time.Sleep(20 * time.Millisecond) // poll interval
			return c.Snapshot() == s
		})
		snap := c.Snapshot()
		if ch := snap.Changes(); i > 0 && (ch.Full || ch.Nodes) {
			t.Fatalf("step %d: changes %+v, want an incremental snapshot", i, ch)
		}
		for _, q := range queries {
			for _, qt := range []uint16{dns.TypeA, dns.TypeSRV} {
				name := q + ".service.murmur."
				req := new(dns.Msg)
				req.SetQuestion(name, qt)
				var w recorder
				srv.ServeDNS(&w, req)
				full := dnsserver.Resolve(snap, dnsserver.DefaultConfig(), req, nil)
				if got, want := answer(w.m), answer(full); got != want {
					t.Fatalf("step %d, %s %s:\nincremental %s\nfull        %s", i, name, dns.TypeToString[qt], got, want)
				}
			}
		}
	}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ",")
}

// answer renders a response as a comparable string: rcode and sorted
// records of every section.
func answer(m *dns.Msg) string {
	var rrs []string
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			rrs = append(rrs, strings.Join(strings.Fields(rr.String()), " "))
		}
	}
	slices.Sort(rrs)
	return dns.RcodeToString[m.Rcode] + " " + strings.Join(rrs, " | ")
}
