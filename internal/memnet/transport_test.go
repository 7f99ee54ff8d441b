package memnet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestAutomaticAddresses(t *testing.T) {
	nw := newNet(t, 1)
	a := mustTransport(t, nw, "a")
	b := mustTransport(t, nw, "b")
	if a.Addr() != "127.0.0.1:7946" || b.Addr() != "127.0.0.2:7946" {
		t.Fatalf("addresses %s, %s; want 127.0.0.1:7946, 127.0.0.2:7946", a.Addr(), b.Addr())
	}
	ip, port, err := a.FinalAdvertiseAddr("10.1.1.1", 9999) // ignored
	if err != nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) || len(ip) != net.IPv4len || port != 7946 {
		t.Fatalf("FinalAdvertiseAddr = %v (len %d), %d, %v", ip, len(ip), port, err)
	}

	// A restarted node reuses its address; fresh addresses skip it.
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	a2, err := nw.NewTransportAt("a", "127.0.0.1:7946")
	if err != nil {
		t.Fatalf("reuse address: %v", err)
	}
	defer a2.Shutdown()
	c := mustTransport(t, nw, "c")
	if c.Addr() != "127.0.0.3:7946" {
		t.Fatalf("c at %s, want 127.0.0.3:7946", c.Addr())
	}

	// The zero Network works and picks a seed.
	var zero Network
	z := mustTransport(t, &zero, "z")
	if z.Addr() != "127.0.0.1:7946" {
		t.Fatalf("zero network address %s", z.Addr())
	}
	_ = zero.Seed()
}

func TestNewTransportAtErrors(t *testing.T) {
	nw := newNet(t, 1)
	mustTransport(t, nw, "taken")
	if _, err := nw.NewTransportAt("held", "10.0.0.1:7946"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, node, addr string
		is               error  // sentinel, when there is one
		mention          string // the error must name the bad part
	}{
		{"empty name", "", "10.0.0.2:1", nil, "name"},
		{"name in use", "taken", "10.0.0.2:1", ErrNameInUse, "taken"},
		{"address in use", "x", "10.0.0.1:7946", ErrAddrInUse, "10.0.0.1:7946"},
		{"no port", "x", "10.0.0.2", nil, "10.0.0.2"},
		{"host name", "x", "example.com:80", nil, "example.com"},
		{"port zero", "x", "10.0.0.2:0", nil, "port"},
		{"port too big", "x", "10.0.0.2:65536", nil, "port"},
		{"port not a number", "x", "10.0.0.2:http", nil, "port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := nw.NewTransportAt(tc.node, tc.addr)
			if err == nil {
				_ = tr.Shutdown()
				t.Fatalf("NewTransportAt(%q, %q) succeeded", tc.node, tc.addr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.HasPrefix(err.Error(), "memnet: ") || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q should start with memnet: and mention %q", err, tc.mention)
			}
		})
	}
	// Addresses are canonical: an IPv4-mapped IPv6 form is the same host.
	tr, err := nw.NewTransportAt("mapped", "[::ffff:10.0.0.7]:80")
	if err != nil || tr.Addr() != "10.0.0.7:80" {
		t.Fatalf("mapped address: %v, %v", tr, err)
	}
	_ = tr.Shutdown()
}

func TestPacketDelivery(t *testing.T) {
	nw := newNet(t, 1)
	a := mustTransport(t, nw, "a")
	b := mustTransport(t, nw, "b")

	buf := []byte("hello")
	sent, err := a.WriteToAddress(buf, memberlist.Address{Addr: b.Addr(), Name: "not-b"})
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX") // the sender may reuse its buffer at once
	ps := drain(b)
	if len(ps) != 1 {
		t.Fatalf("b got %d packets, want 1", len(ps))
	}
	p := ps[0]
	if string(p.Buf) != "hello" {
		t.Errorf("payload %q, want hello", p.Buf)
	}
	if p.From.String() != a.Addr() {
		t.Errorf("From %v, want %s", p.From, a.Addr())
	}
	if _, ok := p.From.(*net.UDPAddr); !ok {
		t.Errorf("From is %T, want *net.UDPAddr", p.From)
	}
	if p.Timestamp.Before(sent) {
		t.Errorf("Timestamp %v before send time %v", p.Timestamp, sent)
	}

	// Unknown destinations drop silently, like UDP; bad addresses are errors.
	if _, err := a.WriteTo([]byte("x"), "127.9.9.9:1"); err != nil {
		t.Errorf("write to unknown address: %v", err)
	}
	if _, err := a.WriteTo([]byte("x"), "nowhere"); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("write to malformed address: %v", err)
	}

	s := nw.Stats()
	wantA := Counters{PacketsSent: 2, BytesSent: 6, PacketsDropped: 1, BytesDropped: 1}
	if s.Nodes["a"] != wantA {
		t.Errorf("a counters %+v, want %+v", s.Nodes["a"], wantA)
	}
	wantLink := Counters{PacketsSent: 1, BytesSent: 5, PacketsReceived: 1, BytesReceived: 5}
	if got := s.Links[Link{"a", "b"}]; got != wantLink {
		t.Errorf("link a→b %+v, want %+v", got, wantLink)
	}
	if got := s.Nodes["b"]; got.PacketsReceived != 1 || got.BytesReceived != 5 {
		t.Errorf("b counters %+v", got)
	}
	nw.ResetStats()
	if got := nw.Stats().Total(); got != (Counters{}) {
		t.Errorf("after ResetStats: %+v", got)
	}
}

func TestInboxOverflow(t *testing.T) {
	nw := newNet(t, 1)
	if err := nw.SetInboxSize(0); err == nil {
		t.Fatal("SetInboxSize(0) accepted")
	}
	if err := nw.SetInboxSize(2); err != nil {
		t.Fatal(err)
	}
	a := mustTransport(t, nw, "a")
	b := mustTransport(t, nw, "b")
	for range 5 {
		send(t, a, b, "p") // must not block although nobody reads
	}
	if got := len(drain(b)); got != 2 {
		t.Fatalf("delivered %d, want 2", got)
	}
	l := nw.Stats().Links[Link{"a", "b"}]
	if l.PacketsSent != 5 || l.PacketsReceived != 2 || l.PacketsDropped != 3 || l.PacketsOverflowed != 3 {
		t.Fatalf("link counters %+v", l)
	}
	send(t, a, b, "again") // room again after draining
	if got := len(drain(b)); got != 1 {
		t.Fatalf("after drain delivered %d, want 1", got)
	}
}

func TestStreamBytesExact(t *testing.T) {
	nw := newNet(t, 1)
	a := mustTransport(t, nw, "a")
	b := mustTransport(t, nw, "b")
	ca, cb := dial(t, a, b)
	if ca.LocalAddr().String() != a.Addr() || ca.RemoteAddr().String() != b.Addr() ||
		cb.LocalAddr().String() != b.Addr() || cb.RemoteAddr().String() != a.Addr() {
		t.Fatalf("addrs: a %v→%v, b %v→%v", ca.LocalAddr(), ca.RemoteAddr(), cb.LocalAddr(), cb.RemoteAddr())
	}

	big := bytes.Repeat([]byte("0123456789"), 1000) // 10,000 bytes, read in small chunks
	errc := make(chan error, 1)
	go func() {
		_, err := ca.Write(big)
		errc <- err
	}()
	got := make([]byte, len(big))
	for off := 0; off < len(got); {
		k, err := cb.Read(got[off:min(off+333, len(got))])
		if err != nil {
			t.Fatal(err)
		}
		off += k
	}
	if err := <-errc; err != nil || !bytes.Equal(got, big) {
		t.Fatalf("write err %v, equal %v", err, bytes.Equal(got, big))
	}
	if err := roundTrip(cb, ca, "reply"); err != nil {
		t.Fatal(err)
	}

	s := nw.Stats()
	if n := s.Nodes["a"]; n.StreamsOpened != 1 || n.StreamBytesSent != 10000 || n.StreamBytesReceived != 5 {
		t.Errorf("a %+v", n)
	}
	if n := s.Nodes["b"]; n.StreamsAccepted != 1 || n.StreamBytesSent != 5 || n.StreamBytesReceived != 10000 {
		t.Errorf("b %+v", n)
	}
	if l := s.Links[Link{"a", "b"}]; l.StreamsOpened != 1 || l.StreamBytesSent != 10000 || l.StreamBytesReceived != 10000 {
		t.Errorf("link a→b %+v", l)
	}
	if l := s.Links[Link{"b", "a"}]; l.StreamBytesSent != 5 || l.StreamBytesReceived != 5 {
		t.Errorf("link b→a %+v", l)
	}

	// Counters of open streams restart from zero.
	nw.ResetStats()
	if err := roundTrip(ca, cb, "abc"); err != nil {
		t.Fatal(err)
	}
	if n := nw.Stats().Nodes["a"]; n.StreamBytesSent != 3 || n.StreamsOpened != 0 {
		t.Errorf("after reset a %+v", n)
	}

	// Deadlines work.
	if err := cb.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past deadline: %v", err)
	}

	// Closing one end is a clean EOF for the other, and forgets the stream.
	if err := cb.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := ca.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after peer close: %v, want EOF", err)
	}
	nw.mu.Lock()
	open := len(nw.streams)
	nw.mu.Unlock()
	if open != 0 {
		t.Errorf("%d streams still registered", open)
	}
}

func TestDialErrors(t *testing.T) {
	type setup struct {
		nw   *Network
		a, b *Transport
	}
	cases := []struct {
		name    string
		prepare func(t *testing.T, s setup) string // returns the address to dial
		timeout time.Duration
		want    error
	}{
		{"unknown address", func(t *testing.T, s setup) string { return "127.9.9.9:7946" }, time.Second, ErrNoRoute},
		{"peer shut down", func(t *testing.T, s setup) string {
			_ = s.b.Shutdown()
			return s.b.Addr()
		}, time.Second, ErrRefused},
		{"self shut down", func(t *testing.T, s setup) string {
			_ = s.a.Shutdown()
			return s.b.Addr()
		}, time.Second, ErrShutdown},
		{"link cut", func(t *testing.T, s setup) string {
			if err := s.nw.Block("a", "b"); err != nil {
				t.Fatal(err)
			}
			return s.b.Addr()
		}, 10 * time.Millisecond, ErrTimeout},
		{"link cut, no timeout", func(t *testing.T, s setup) string {
			if err := s.nw.Isolate("b"); err != nil {
				t.Fatal(err)
			}
			return s.b.Addr()
		}, 0, ErrTimeout},
		{"backlog full", func(t *testing.T, s setup) string {
			for range streamBacklog { // b never accepts
				if _, err := s.a.DialTimeout(s.b.Addr(), time.Second); err != nil {
					t.Fatal(err)
				}
			}
			return s.b.Addr()
		}, 10 * time.Millisecond, ErrTimeout},
		{"malformed address", func(t *testing.T, s setup) string { return "b" }, time.Second, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nw := newNet(t, 1)
			s := setup{nw, mustTransport(t, nw, "a"), mustTransport(t, nw, "b")}
			addr := tc.prepare(t, s)
			c, err := s.a.DialTimeout(addr, tc.timeout)
			if err == nil {
				_ = c.Close()
				t.Fatal("dial succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if tc.want == ErrTimeout {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("%v is not a net.Error timeout", err)
				}
			}
		})
	}
}

// A dial waiting on a full backlog or a cut link ends when either side
// shuts down, not only at its timeout.
func TestDialAbortsOnShutdown(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  bool // wait on a cut link rather than on the backlog
		who  string
		want error
	}{
		{"backlog, peer shuts down", false, "b", ErrRefused},
		{"backlog, dialer shuts down", false, "a", ErrShutdown},
		{"cut link, dialer shuts down", true, "a", ErrShutdown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := newNet(t, 1)
			a := mustTransport(t, nw, "a")
			b := mustTransport(t, nw, "b")
			if tc.cut {
				if err := nw.Block("a", "b"); err != nil {
					t.Fatal(err)
				}
			} else {
				for range streamBacklog {
					if _, err := a.DialTimeout(b.Addr(), time.Second); err != nil {
						t.Fatal(err)
					}
				}
			}
			errc := make(chan error, 1)
			go func() {
				c, err := a.DialTimeout(b.Addr(), time.Hour)
				if c != nil {
					_ = c.Close()
				}
				errc <- err
			}()
			_ = map[string]*Transport{"a": a, "b": b}[tc.who].Shutdown()
			if err := <-errc; !errors.Is(err, tc.want) {
				t.Fatalf("dial error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	nw := newNet(t, 1)
	a := mustTransport(t, nw, "a")
	b := mustTransport(t, nw, "b")
	ca, cb := dial(t, a, b)
	if _, err := b.DialTimeout(a.Addr(), time.Second); err != nil { // left in a's backlog
		t.Fatal(err)
	}
	send(t, b, a, "queued")

	for range 2 {
		if err := a.Shutdown(); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	if _, err := cb.Read(make([]byte, 1)); err == nil {
		t.Error("b's end of the stream still open")
	}
	if _, err := ca.Write([]byte("x")); err == nil {
		t.Error("a's end of the stream still open")
	}
	if _, err := a.WriteTo([]byte("x"), b.Addr()); !errors.Is(err, ErrShutdown) {
		t.Errorf("write from shut-down transport: %v", err)
	}
	if _, err := a.DialTimeout(b.Addr(), time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("dial from shut-down transport: %v", err)
	}
	if _, err := b.DialTimeout(a.Addr(), time.Second); !errors.Is(err, ErrRefused) {
		t.Errorf("dial to shut-down transport: %v", err)
	}
	before := nw.Stats().Nodes["b"].PacketsDropped
	send(t, b, a, "lost")
	if got := nw.Stats().Nodes["b"].PacketsDropped; got != before+1 {
		t.Errorf("packet to shut-down transport: dropped %d, want %d", got, before+1)
	}
	if len(drain(a)) != 0 {
		t.Error("inbox of shut-down transport not emptied")
	}
	select {
	case <-a.StreamCh():
		t.Error("backlog of shut-down transport not emptied")
	default:
	}
	nw.mu.Lock()
	open := len(nw.streams)
	nw.mu.Unlock()
	if open != 0 {
		t.Errorf("%d streams still registered", open)
	}
}

// Fault controls, stats and shutdowns race with traffic; run under -race.
// At the end every packet is accounted for: sent + duplicated = received +
// dropped, on every link.
func TestConcurrentTrafficAndFaults(t *testing.T) {
	nw := newNet(t, 7)
	if err := nw.SetInboxSize(64); err != nil {
		t.Fatal(err)
	}
	names := []string{"a", "b", "c", "d"}
	trs := make([]*Transport, len(names))
	for i, n := range names {
		trs[i] = mustTransport(t, nw, n)
	}
	var readers, writers sync.WaitGroup
	stop := make(chan struct{})
	for _, tr := range trs {
		readers.Add(1)
		writers.Add(1)
		go func() { // reader: consume packets and echo streams
			defer readers.Done()
			for {
				select {
				case <-tr.PacketCh():
				case c := <-tr.StreamCh():
					go func() {
						_, _ = io.Copy(c, c)
						_ = c.Close()
					}()
				case <-stop:
					return
				}
			}
		}()
		go func() { // writer
			defer writers.Done()
			for i := range 300 {
				peer := trs[i%len(trs)]
				_, _ = tr.WriteTo([]byte("payload"), peer.Addr())
				if i%50 == 0 {
					if c, err := tr.DialTimeout(peer.Addr(), 20*time.Millisecond); err == nil {
						_ = c.SetDeadline(time.Now().Add(time.Second))
						if _, err := c.Write([]byte("ping")); err == nil {
							_, _ = io.ReadFull(c, make([]byte, 4))
						}
						_ = c.Close()
					}
				}
			}
		}()
	}
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		for i := range 200 {
			switch i % 8 {
			case 0:
				_ = nw.Partition([]string{"a", "b"}, []string{"c"})
			case 1:
				_ = nw.Block("a", "d")
			case 2:
				_ = nw.SetLossAll(0.2)
			case 3:
				_ = nw.SetDelayAll(time.Millisecond)
			case 4:
				_ = nw.SetDuplicate(0.3)
			case 5:
				_ = nw.Isolate("b")
			case 6:
				_ = nw.Stats()
				nw.Heal()
			case 7:
				_ = nw.SetDelayAll(0)
			}
		}
	}()
	<-faultsDone
	writers.Wait()
	for _, tr := range trs {
		_ = tr.Shutdown() // drops what is still in flight
	}
	close(stop)
	readers.Wait()

	s := nw.Stats()
	for l, c := range s.Links {
		if c.PacketsSent+c.PacketsDuplicated != c.PacketsReceived+c.PacketsDropped {
			t.Errorf("link %v: sent %d + dup %d != received %d + dropped %d",
				l, c.PacketsSent, c.PacketsDuplicated, c.PacketsReceived, c.PacketsDropped)
		}
	}
	tot := s.Total()
	if tot.PacketsSent != uint64(len(trs)*300) {
		t.Errorf("sent %d packets, want %d", tot.PacketsSent, len(trs)*300)
	}
}
