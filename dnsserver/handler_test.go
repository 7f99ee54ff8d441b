package dnsserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

func TestHandlerSizes(t *testing.T) {
	big := NewSnapshot(bigData(40))
	s := newServer(t, DefaultConfig(), big)
	wide := DefaultConfig()
	wide.MaxUDPSize = 4096
	sw := newServer(t, wide, big)
	huge := newServer(t, DefaultConfig(), NewSnapshot(bigData(300)))

	cases := []struct {
		name    string
		srv     *Server
		req     *dns.Msg
		tcp     bool
		limit   int
		tc      bool
		answers int // -1: fewer than all
		extra   int // -1: don't care; -2: some but not all 40
		opt     bool
	}{
		{name: "A over UDP without EDNS: truncated", srv: s, req: query("big.service.murmur.", dns.TypeA), limit: 512, tc: true, answers: -1, extra: 0},
		{name: "A over UDP with EDNS 4096: complete", srv: s, req: withEDNS(query("big.service.murmur.", dns.TypeA), 4096), limit: 4096, answers: 40, opt: true},
		{name: "A over UDP with EDNS 1232: complete", srv: s, req: withEDNS(query("big.service.murmur.", dns.TypeA), 1232), limit: 1232, answers: 40, opt: true},
		{name: "EDNS below 512 counts as 512", srv: s, req: withEDNS(query("big.service.murmur.", dns.TypeA), 100), limit: 512, tc: true, answers: -1, opt: true},
		{name: "A over TCP: all 40", srv: s, req: query("big.service.murmur.", dns.TypeA), tcp: true, limit: maxTCPSize, answers: 40},
		{name: "SRV over UDP without EDNS: truncated, no glue", srv: s, req: query("big.service.murmur.", dns.TypeSRV), limit: 512, tc: true, answers: -1, extra: 0},
		{name: "SRV over UDP EDNS 2048, default cap: truncated at 1232", srv: s, req: withEDNS(query("big.service.murmur.", dns.TypeSRV), 2048), limit: 1232, tc: true, answers: -1, extra: 0, opt: true},
		{name: "SRV over UDP EDNS 1700, cap 4096: answers whole, glue trimmed, no TC", srv: sw, req: withEDNS(query("big.service.murmur.", dns.TypeSRV), 1700), limit: 1700, answers: 40, extra: -2, opt: true},
		{name: "SRV over UDP EDNS 4096, cap 4096: complete", srv: sw, req: withEDNS(query("big.service.murmur.", dns.TypeSRV), 4096), limit: 4096, answers: 40, extra: 40, opt: true},
		{name: "SRV over UDP EDNS 2048: answers whole, glue trimmed, no TC", srv: sw, req: withEDNS(query("big.service.murmur.", dns.TypeSRV), 2048), limit: 2048, answers: 40, extra: -2, opt: true},
		{name: "SRV over TCP: all answers and glue", srv: s, req: query("big.service.murmur.", dns.TypeSRV), tcp: true, limit: maxTCPSize, answers: 40, extra: 40},
		{name: "EDNS above our maximum is capped", srv: huge, req: withEDNS(query("big.service.murmur.", dns.TypeA), 65000), limit: DefaultMaxUDPSize, tc: true, answers: -1, opt: true},
		{name: "300 over TCP", srv: huge, req: query("big.service.murmur.", dns.TypeA), tcp: true, limit: maxTCPSize, answers: 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, size := serve(t, tc.srv, tc.req, tc.tcp)
			if size > tc.limit {
				t.Errorf("answer is %d bytes, limit %d", size, tc.limit)
			}
			if m.Truncated != tc.tc {
				t.Errorf("TC = %v, want %v", m.Truncated, tc.tc)
			}
			if m.Id != tc.req.Id || len(m.Question) != 1 || m.Question[0] != tc.req.Question[0] {
				t.Errorf("header or question lost: %v", m)
			}
			if m.Rcode != dns.RcodeSuccess || !m.Authoritative {
				t.Errorf("rcode %d AA %v", m.Rcode, m.Authoritative)
			}
			big, _ := tc.srv.zone.Load().services.Get("big")
			all := len(big.all.a)
			if tc.tc && size < tc.limit-64 {
				t.Errorf("truncated answer is only %d of %d bytes: it should be filled", size, tc.limit)
			}
			switch {
			case tc.answers >= 0 && len(m.Answer) != tc.answers:
				t.Errorf("%d answers, want %d", len(m.Answer), tc.answers)
			case tc.answers < 0 && (len(m.Answer) == 0 || len(m.Answer) >= all):
				t.Errorf("%d answers, want some but fewer than %d", len(m.Answer), all)
			}
			extra := 0
			for _, rr := range m.Extra {
				if rr.Header().Rrtype != dns.TypeOPT {
					extra++
				}
			}
			if tc.extra >= 0 && extra != tc.extra || tc.extra == -2 && (extra == 0 || extra >= 40) {
				t.Errorf("%d additional records, want %d", extra, tc.extra)
			}
			if (m.IsEdns0() != nil) != tc.opt {
				t.Errorf("OPT present %v, want %v", m.IsEdns0() != nil, tc.opt)
			}
			if tc.tc && size < tc.limit-64 {
				t.Errorf("truncated answer is only %d of %d bytes: it should be filled", size, tc.limit)
			}
		})
	}

	t.Run("over 64 KiB on TCP is truncated", func(t *testing.T) {
		s := newServer(t, DefaultConfig(), NewSnapshot(bigData(5000)))
		m, size := serve(t, s, query("big.service.murmur.", dns.TypeA), true)
		if !m.Truncated || size > maxTCPSize || len(m.Answer) < 4000 || len(m.Answer) >= 5000 {
			t.Errorf("TC %v, %d bytes, %d answers", m.Truncated, size, len(m.Answer))
		}
	})
}

func TestPackKeepsAnswersOverGlue(t *testing.T) {
	// Glue that does not fit is dropped without TC; answers first.
	snap := NewSnapshot(bigData(40))
	z := compile(nil, snap, mustCompile(t, DefaultConfig()))
	sc := newScratch(nil)
	z.resolve(sc, query("big.service.murmur.", dns.TypeSRV))
	full, err := sc.pack(&sc.msg, maxTCPSize)
	if err != nil {
		t.Fatal(err)
	}
	fullLen := len(full)
	for limit := 512; limit <= fullLen+16; limit += 97 {
		z.resolve(sc, query("big.service.murmur.", dns.TypeSRV))
		b, err := sc.pack(&sc.msg, limit)
		if err != nil {
			t.Fatal(err)
		}
		var m dns.Msg
		if err := m.Unpack(b); err != nil {
			t.Fatalf("limit %d: corrupt packet: %v", limit, err)
		}
		if len(b) > limit {
			t.Fatalf("limit %d: %d bytes", limit, len(b))
		}
		if m.Truncated != (len(m.Answer) < 40) {
			t.Errorf("limit %d: TC %v with %d answers", limit, m.Truncated, len(m.Answer))
		}
		if len(m.Answer) < 40 && len(m.Extra) > 0 {
			t.Errorf("limit %d: glue kept while answers were dropped", limit)
		}
		if limit >= fullLen && (len(m.Answer) != 40 || len(m.Extra) != 40) {
			t.Errorf("limit %d >= %d: %d answers %d extra", limit, fullLen, len(m.Answer), len(m.Extra))
		}
	}
}

func mustCompile(t testing.TB, c Config) *runConfig {
	t.Helper()
	rc, err := c.compile()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func TestHandlerBehaviour(t *testing.T) {
	t.Run("a response is never answered", func(t *testing.T) {
		s := newServer(t, DefaultConfig(), NewSnapshot(fixtureData()))
		req := query("murmur.", dns.TypeSOA)
		req.Response = true
		w := &recorder{}
		s.ServeDNS(w, req)
		s.ServeDNS(w, nil)
		if len(w.writes) != 0 {
			t.Errorf("answered a response")
		}
	})
	t.Run("out of zone without recursors is REFUSED", func(t *testing.T) {
		s := newServer(t, DefaultConfig(), NewSnapshot(fixtureData()))
		m, _ := serve(t, s, query("example.com.", dns.TypeA), false)
		if m.Rcode != dns.RcodeRefused || m.Authoritative || m.RecursionAvailable {
			t.Errorf("got %v", m)
		}
	})
	t.Run("nil snapshot from the catalog", func(t *testing.T) {
		s := newServer(t, DefaultConfig(), nil)
		m, _ := serve(t, s, query("murmur.", dns.TypeSOA), false)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Errorf("got %v", m)
		}
	})
	t.Run("snapshot swaps are seen by the next query", func(t *testing.T) {
		s := newServer(t, DefaultConfig(), NewSnapshot(fixtureData()))
		q := query("big.service.murmur.", dns.TypeA)
		if m, _ := serve(t, s, q, false); m.Rcode != dns.RcodeNameError {
			t.Fatalf("rcode %d before the swap", m.Rcode)
		}
		s.Update(NewSnapshot(bigData(3)))
		if m, _ := serve(t, s, q, false); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 3 {
			t.Fatalf("after the swap: %v", m)
		}
	})
	t.Run("SetConfig", func(t *testing.T) {
		s := newServer(t, DefaultConfig(), NewSnapshot(fixtureData()))
		cfg := DefaultConfig()
		cfg.Domain = "Consul."
		cfg.NodeTTL = 0
		if err := s.SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
		if m, _ := serve(t, s, query("web-1.node.consul.", dns.TypeA), false); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Errorf("new domain: %v", m)
		}
		if m, _ := serve(t, s, query("web-1.node.murmur.", dns.TypeA), false); m.Rcode != dns.RcodeRefused {
			t.Errorf("old domain: %v", m)
		}
		bad := cfg
		bad.Order = "closest"
		if err := s.SetConfig(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("SetConfig(bad) = %v", err)
		}
		if got := s.Config(); got.Domain != "Consul." || got.Order != OrderShuffle {
			t.Errorf("config after a failed SetConfig: %+v", got)
		}
	})
	t.Run("transport detection", func(t *testing.T) {
		cases := []struct {
			w    dns.ResponseWriter
			want bool
		}{
			{&recorder{tcp: true}, true},
			{&recorder{}, false},
			{&addrWriter{local: &net.TCPAddr{}}, true},
			{&addrWriter{local: &net.UnixAddr{Net: "unixgram"}}, false},
			{&addrWriter{}, false},
		}
		for i, c := range cases {
			if got := isTCP(c.w); got != c.want {
				t.Errorf("case %d: isTCP = %v", i, got)
			}
		}
	})
	t.Run("stats", func(t *testing.T) {
		s := newServer(t, DefaultConfig(), NewSnapshot(bigData(40)))
		serve(t, s, query("big.service.murmur.", dns.TypeA), false) // NOERROR, TC
		serve(t, s, query("x.murmur.", dns.TypeA), false)           // NXDOMAIN
		serve(t, s, query("x.murmur.", dns.TypeA), true)            // NXDOMAIN
		serve(t, s, query("example.", dns.TypeA), false)            // REFUSED
		v1 := withEDNS(query("murmur.", dns.TypeA), 1232)
		v1.IsEdns0().SetVersion(1)
		serve(t, s, v1, false) // BADVERS
		st := s.Stats()
		want := map[string]uint64{"NOERROR": 1, "NXDOMAIN": 2, "REFUSED": 1, "BADVERS": 1}
		if st.Queries != 5 || st.Truncated != 1 || fmt.Sprint(st.Responses) != fmt.Sprint(want) {
			t.Errorf("stats %+v, want 5 queries, 1 truncated, %v", st, want)
		}
		serve(t, s, query("big.service.murmur.", dns.TypeSRV), false)
		for range 9 {
			serve(t, s, query("murmur.", dns.TypeMX), false)
		}
		st = s.Stats()
		if st.Questions["A"] != 5 || st.Questions["SRV"] != 1 || st.Questions["OTHER"] != 9 || st.Questions["AAAA"] != 0 {
			t.Errorf("questions by type %v, want A 5, SRV 1, OTHER 9", st.Questions)
		}
		// 15 queries: the 8th has its latency measured.
		if st.Latency.Count != 1 || st.Latency.Buckets[5] != 1 || st.Latency.Sum <= 0 {
			t.Errorf("latency %+v, want 1 observation (one query in 8) under 5s", st.Latency)
		}
	})
}

// addrWriter is a ResponseWriter with arbitrary addresses.
type addrWriter struct {
	recorder
	local net.Addr
}

func (a *addrWriter) LocalAddr() net.Addr  { return a.local }
func (a *addrWriter) RemoteAddr() net.Addr { return nil }

func TestHandlerConcurrentSwaps(t *testing.T) {
	// Readers answer while snapshots and configs change under them; run
	// with -race. Every answer must be well formed.
	s := newServer(t, DefaultConfig(), NewSnapshot(fixtureData()))
	snaps := []*Snapshot{NewSnapshot(fixtureData()), NewSnapshot(bigData(50)), emptyCatalog}
	nearest := DefaultConfig()
	nearest.Order = OrderNearest
	nearest.MaxAnswers = 3
	cfgs := []Config{DefaultConfig(), nearest}
	names := []string{"web.service.murmur.", "big.service.murmur.", "web-1.node.murmur.", "murmur.", "x.murmur."}
	types := []uint16{dns.TypeA, dns.TypeSRV, dns.TypeANY, dns.TypeTXT, dns.TypeNS}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.Update(snaps[i%len(snaps)])
			if err := s.SetConfig(cfgs[i%len(cfgs)]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var readers sync.WaitGroup
	for g := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := range 500 {
				req := query(names[(i+g)%len(names)], types[i%len(types)])
				w := &recorder{tcp: i%2 == 0}
				s.ServeDNS(w, req)
				if len(w.writes) != 1 {
					t.Errorf("%d writes", len(w.writes))
					return
				}
				var m dns.Msg
				if err := m.Unpack(w.writes[0]); err != nil || m.Id != req.Id {
					t.Errorf("bad answer: %v", err)
					return
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()
}

// TestCompressedSizes pins the sizes of the 40-instance SRV answer: it is
// always name-compressed (it used to be packed plain unless that did not
// fit, 2x the bytes), byte for byte what miekg's compressing Pack makes,
// and without EDNS or over the default 1232-byte cap it is truncated with
// TC.
func TestCompressedSizes(t *testing.T) {
	s := newServer(t, DefaultConfig(), NewSnapshot(bigData(40)))
	q := query("big.service.murmur.", dns.TypeSRV)
	w := &recorder{tcp: true}
	s.ServeDNS(w, q)
	m, size := w.only(t)
	if len(m.Answer) != 40 || len(m.Extra) != 40 || m.Truncated {
		t.Fatalf("TCP: %d answers, %d extra, TC %v", len(m.Answer), len(m.Extra), m.Truncated)
	}
	m.Compress = true
	compressed, _ := m.Pack()
	m.Compress = false
	plain, _ := m.Pack()
	if !bytes.Equal(w.writes[0], compressed) {
		t.Fatalf("packed %d bytes, miekg's compressed Pack %d: not the same encoding", size, len(compressed))
	}
	if size*3 > len(plain)*2 {
		t.Fatalf("answer is %d bytes, uncompressed %d: compression missing", size, len(plain))
	}
	t.Logf("40 SRV + 40 glue: %d bytes compressed, %d plain", size, len(plain))
	for _, tc := range []struct {
		name  string
		req   *dns.Msg
		limit int
	}{
		{"UDP without EDNS", query("big.service.murmur.", dns.TypeSRV), 512},
		{"UDP with EDNS 4096 under the default cap", withEDNS(query("big.service.murmur.", dns.TypeSRV), 4096), DefaultMaxUDPSize},
	} {
		m, size := serve(t, s, tc.req, false)
		if !m.Truncated || size > tc.limit || size < tc.limit-64 {
			t.Errorf("%s: TC %v, %d bytes, want TC and close to %d", tc.name, m.Truncated, size, tc.limit)
		}
	}
}

// TestPackAllocatesNothing: resolving and packing a compressed answer
// reuse the scratch (its arenas, buffer and compression map). One scratch
// is used directly: under -race sync.Pool drops items at random, so the
// Server's pool would allocate where production does not.
func TestPackAllocatesNothing(t *testing.T) {
	s := newServer(t, DefaultConfig(), NewSnapshot(bigData(40)))
	z := s.zone.Load()
	sc := newScratch(nil)
	for _, req := range []*dns.Msg{
		withEDNS(query("big.service.murmur.", dns.TypeSRV), 4096),
		query("big.service.murmur.", dns.TypeA),
		query("nosuch.service.murmur.", dns.TypeA),
	} {
		run := func() {
			z.resolve(sc, req)
			if _, err := sc.pack(&sc.msg, udpLimit(sc.clientSize, sc.udpMax)); err != nil {
				t.Fatal(err)
			}
		}
		run() // warm the arenas
		if n := testing.AllocsPerRun(100, run); n > 0 {
			t.Errorf("%s %s: %.1f allocations per query, want 0", req.Question[0].Name, dns.TypeToString[req.Question[0].Qtype], n)
		}
	}
}
