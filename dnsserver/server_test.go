package dnsserver

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/murmurhq/murmur/internal/testutil"
)

// liveness bounds waits that only a hang would exceed; tests never assert
// on how fast something happens.
const liveness = 30 * time.Second

type running struct {
	udp, tcp string
	cancel   context.CancelFunc
	done     chan error
}

// start binds loopback port 0 on UDP and TCP and runs s on them until
// the test ends.
func start(t *testing.T, s *Server) *running {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{udp: pc.LocalAddr().String(), tcp: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx, pc, ln) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(liveness):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

func exchange(t *testing.T, network, addr string, req *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: liveness, UDPSize: 512}
	m, _, err := c.Exchange(req, addr)
	if err != nil {
		t.Fatalf("%s exchange %s: %v", network, req.Question[0].Name, err)
	}
	if m.Id != req.Id {
		t.Fatalf("id %d, want %d", m.Id, req.Id)
	}
	return m
}

func TestServerLoopback(t *testing.T) {
	s := newServer(t, DefaultConfig(), NewSnapshot(bigData(40)))
	r := start(t, s)

	m := exchange(t, "udp", r.udp, query("node-001.node.murmur.", dns.TypeA))
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || !m.Authoritative {
		t.Errorf("UDP node A: %v", m)
	}
	m = exchange(t, "udp", r.udp, query("big.service.murmur.", dns.TypeA))
	if !m.Truncated || len(m.Answer) == 0 || len(m.Answer) >= 40 {
		t.Errorf("UDP 40 without EDNS: TC %v, %d answers", m.Truncated, len(m.Answer))
	}
	m = exchange(t, "tcp", r.tcp, query("big.service.murmur.", dns.TypeA))
	if m.Truncated || len(m.Answer) != 40 {
		t.Errorf("TCP 40: TC %v, %d answers", m.Truncated, len(m.Answer))
	}
	m = exchange(t, "udp", r.udp, withEDNS(query("big.service.murmur.", dns.TypeSRV), 4096))
	if !m.Truncated || len(m.Answer) == 0 || len(m.Answer) >= 40 {
		t.Errorf("UDP EDNS 4096 SRV 40 over the default 1232-byte cap: TC %v, %d answers", m.Truncated, len(m.Answer))
	}
	m = exchange(t, "udp", r.udp, query("example.com.", dns.TypeA))
	if m.Rcode != dns.RcodeRefused {
		t.Errorf("out of zone: %v", m)
	}

	// Several queries on one TCP connection (RFC 7766).
	c := &dns.Client{Net: "tcp", Timeout: liveness}
	conn, err := c.Dial(r.tcp)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		req := query("murmur.", dns.TypeSOA)
		m, _, err := c.ExchangeWithConn(req, conn)
		if err != nil || m.Rcode != dns.RcodeSuccess {
			t.Fatalf("query %d on one connection: %v %v", i, m, err)
		}
	}
	// An idle open connection must not hold up shutdown.
	defer conn.Close()

	// Garbage is dropped or answered FORMERR, and the server carries on.
	raw, err := net.Dial("udp", r.udp)
	if err != nil {
		t.Fatal(err)
	}
	raw.Write([]byte{1, 2, 3})
	raw.Write([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'b', 'r', 'o', 'k'})
	raw.Close()
	m = exchange(t, "udp", r.udp, query("murmur.", dns.TypeSOA))
	if m.Rcode != dns.RcodeSuccess {
		t.Errorf("after garbage: %v", m)
	}

	if err := r.stop(t); err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if st := s.Stats(); st.Queries < 8 || st.Malformed < 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestServerRunErrors(t *testing.T) {
	s := newServer(t, DefaultConfig(), nil)
	if err := s.Run(context.Background(), nil, nil); err == nil {
		t.Error("Run(nil, nil) succeeded")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, nil, ln) }()
	// A listener that dies under the server stops Run with its error.
	// Closing it before or after the accept loop started both count.
	ln.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run returned nil after its listener was closed")
		}
	case <-time.After(liveness):
		t.Fatal("Run did not return after its listener was closed")
	}
	cancel()
	if err := s.Run(context.Background(), nil, ln); !errors.Is(err, ErrRunTwice) {
		t.Errorf("second Run = %v, want ErrRunTwice", err)
	}
	bad := DefaultConfig()
	bad.Domain = ""
	if _, err := New(bad, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New with a bad config = %v", err)
	}
}

// upstream is a recursor for tests: example.com A 192.0.2.1, SERVFAIL for
// fail.example., 100 A records for many.example.
func upstream(t *testing.T) (udp, tcp string) {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		switch q := r.Question[0]; strings.ToLower(q.Name) {
		case "example.com.":
			rr, _ := dns.NewRR("example.com. 300 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		case "many.example.":
			for i := range 100 {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(198, 51, 100, byte(i))})
			}
		case "fail.example.":
			m.Rcode = dns.RcodeServerFailure
		default:
			m.Rcode = dns.RcodeNameError
		}
		if o := r.IsEdns0(); o != nil {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "ab"})
		}
		if w.RemoteAddr().Network() == "udp" {
			size := 512
			if o := r.IsEdns0(); o != nil {
				size = int(o.UDPSize())
			}
			m.Truncate(size)
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() { defer close(done); srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { srv.Shutdown(); <-done })
	}
	return pc.LocalAddr().String(), ln.Addr().String()
}

// blackhole is a recursor address that never answers (UDP and TCP on the
// same port number are not guaranteed, so it returns one per network).
func blackhole(t *testing.T) (udp, tcp string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // never accepted: reads block
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); ln.Close() })
	return pc.LocalAddr().String(), ln.Addr().String()
}

func TestServerRecursors(t *testing.T) {
	upUDP, upTCP := upstream(t)
	holeUDP, holeTCP := blackhole(t)
	closedUDP := testutil.RefusedUDPAddr(t) // ICMP refuses; no one else can take it

	cases := []struct {
		name      string
		recursors func(network string) []string
		network   string
		req       *dns.Msg
		rcode     int
		answers   int
		tc        bool
		// timeout is the recursor timeout: long where an upstream must
		// answer in time (a loaded machine must not fail the test),
		// short where only a black hole is asked.
		timeout time.Duration
	}{
		{name: "UDP forwarded", network: "udp", recursors: func(string) []string { return []string{upUDP} },
			req: query("example.com.", dns.TypeA), answers: 1},
		{name: "TCP forwarded over TCP", network: "tcp", recursors: func(string) []string { return []string{upTCP} },
			req: query("Example.COM.", dns.TypeA), answers: 1},
		{name: "upstream NXDOMAIN relayed", network: "udp", recursors: func(string) []string { return []string{upUDP} },
			req: query("nosuch.example.", dns.TypeA), rcode: dns.RcodeNameError},
		{name: "timeout then next recursor", network: "udp", recursors: func(string) []string { return []string{holeUDP, upUDP} },
			req: query("example.com.", dns.TypeA), answers: 1, timeout: 2 * time.Second},
		{name: "TCP timeout then next recursor", network: "tcp", recursors: func(string) []string { return []string{holeTCP, upTCP} },
			req: query("example.com.", dns.TypeA), answers: 1, timeout: 2 * time.Second},
		{name: "unreachable then next recursor", network: "udp", recursors: func(string) []string { return []string{closedUDP, upUDP} },
			req: query("example.com.", dns.TypeA), answers: 1},
		{name: "all time out: SERVFAIL", network: "udp", recursors: func(string) []string { return []string{holeUDP} },
			req: query("example.com.", dns.TypeA), rcode: dns.RcodeServerFailure, timeout: 100 * time.Millisecond},
		{name: "upstream SERVFAIL: SERVFAIL", network: "udp", recursors: func(string) []string { return []string{upUDP} },
			req: query("fail.example.", dns.TypeA), rcode: dns.RcodeServerFailure},
		{name: "large answer truncated over UDP", network: "udp", recursors: func(string) []string { return []string{upUDP} },
			req: query("many.example.", dns.TypeA), answers: -1, tc: true},
		{name: "large answer complete over TCP", network: "tcp", recursors: func(string) []string { return []string{upTCP} },
			req: query("many.example.", dns.TypeA), answers: 100},
		{name: "EDNS: our OPT replaces upstream's", network: "udp", recursors: func(string) []string { return []string{upUDP} },
			req: withEDNS(query("example.com.", dns.TypeA), 1232), answers: 1},
		{name: "in zone is never forwarded", network: "udp", recursors: func(string) []string { return []string{holeUDP} },
			req: query("murmur.", dns.TypeSOA), answers: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Recursors = tc.recursors(tc.network)
			cfg.RecursorTimeout = liveness
			if tc.timeout > 0 {
				cfg.RecursorTimeout = tc.timeout
			}
			s := newServer(t, cfg, NewSnapshot(fixtureData()))
			r := start(t, s)
			addr := r.udp
			if tc.network == "tcp" {
				addr = r.tcp
			}
			m := exchange(t, tc.network, addr, tc.req)
			if m.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
			}
			if !m.RecursionAvailable {
				t.Errorf("RA not set with recursors configured")
			}
			if tc.answers >= 0 && len(m.Answer) != tc.answers || tc.answers < 0 && len(m.Answer) == 0 {
				t.Errorf("%d answers, want %d", len(m.Answer), tc.answers)
			}
			if m.Truncated != tc.tc {
				t.Errorf("TC %v, want %v", m.Truncated, tc.tc)
			}
			if opt := m.IsEdns0(); (opt != nil) != (tc.req.IsEdns0() != nil) || opt != nil && (opt.UDPSize() != DefaultMaxUDPSize || len(opt.Option) != 0) {
				t.Errorf("OPT %v for a request with OPT %v", opt, tc.req.IsEdns0())
			}
			st := s.Stats()
			wantForwarded := uint64(1)
			if tc.req.Question[0].Name == "murmur." {
				wantForwarded = 0
			}
			if st.Forwarded != wantForwarded {
				t.Errorf("Forwarded = %d, want %d", st.Forwarded, wantForwarded)
			}
			if (tc.rcode == dns.RcodeServerFailure) != (st.ForwardFailed == 1) {
				t.Errorf("ForwardFailed = %d", st.ForwardFailed)
			}
		})
	}
}

func TestServerShutdownAbortsForward(t *testing.T) {
	holeUDP, _ := blackhole(t)
	cfg := DefaultConfig()
	cfg.Recursors = []string{holeUDP}
	cfg.RecursorTimeout = time.Hour // only the shutdown can end the exchange
	s := newServer(t, cfg, nil)
	r := start(t, s)

	answer := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Net: "udp", Timeout: liveness}
		m, _, _ := c.Exchange(query("example.com.", dns.TypeA), r.udp)
		answer <- m
	}()
	deadline := time.Now().Add(liveness)
	for s.Stats().Forwarded == 0 {
		if time.Now().After(deadline) {
			t.Fatal("query never reached the forwarder")
		}
		time.Sleep(time.Millisecond) // polling against a deadline
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run = %v", err)
	}
	m := <-answer
	if m == nil || m.Rcode != dns.RcodeServerFailure {
		t.Errorf("client got %v, want SERVFAIL sent on shutdown", m)
	}
}

// TestServedConn: a socket bound to one address is served without
// per-packet control messages; a wildcard socket keeps them.
func TestServedConn(t *testing.T) {
	for _, c := range []struct {
		addr  string
		bound bool
	}{{"127.0.0.1:0", true}, {"0.0.0.0:0", false}, {"[::1]:0", true}, {"[::]:0", false}} {
		pc, err := net.ListenPacket("udp", c.addr)
		if err != nil {
			t.Logf("%s: %v (no such family here)", c.addr, err)
			continue
		}
		_, isBound := servedConn(pc).(boundUDP)
		pc.Close()
		if isBound != c.bound {
			t.Errorf("%s: served as bound %v, want %v", c.addr, isBound, c.bound)
		}
	}
	if pc := (nonUDP{}); servedConn(pc) != net.PacketConn(pc) {
		t.Error("a PacketConn that is not a UDP socket must be served as it is")
	}
}

type nonUDP struct{ net.PacketConn }

// TestWildcardAnswersFromQueriedAddress: on a wildcard socket, an answer
// leaves from the address the query was sent to (127.0.0.2 here, not
// the 127.0.0.1 the kernel's route would pick), as resolvers require. A
// bound socket's answers come from its address in any case.
func TestWildcardAnswersFromQueriedAddress(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	s := newServer(t, DefaultConfig(), NewSnapshot(fixtureData()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, pc, nil) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(liveness):
			t.Error("Run did not return after cancel")
		}
	}()

	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: port}
	req, err := query("murmur.", dns.TypeSOA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	deadline := time.Now().Add(liveness)
	for {
		// Run may not have started reading yet; UDP is resent until an
		// answer comes or the deadline passes.
		if _, err := client.WriteToUDP(req, to); err != nil {
			t.Fatal(err)
		}
		client.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := client.ReadFromUDP(buf)
		if err == nil {
			m := new(dns.Msg)
			if err := m.Unpack(buf[:n]); err != nil || m.Rcode != dns.RcodeSuccess {
				t.Fatalf("answer %v, %v", m, err)
			}
			if !from.IP.Equal(to.IP) {
				t.Fatalf("the answer came from %v, want %v (the address queried)", from.IP, to.IP)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer from %v: %v", to, err)
		}
	}
}
