package udptransport

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/murmurhq/murmur/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

const wait = 20 * time.Second

func newTransport(t *testing.T) *Transport {
	t.Helper()
	tr, err := New(Config{BindAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown() })
	return tr
}

func addrOf(tr *Transport) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tr.GetAutoBindPort()))
}

func recvPacket(t *testing.T, tr *Transport) *memberlist.Packet {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		return p
	case <-time.After(wait):
		t.Fatal("no packet")
		return nil
	}
}

// TestPacketsAreExactCopies: each packet reaches PacketCh as its own
// slice of exactly its bytes, so a later, shorter packet read into the
// same buffer does not change an earlier one memberlist still holds.
func TestPacketsAreExactCopies(t *testing.T) {
	a, b := newTransport(t), newTransport(t)
	big := bytes.Repeat([]byte("x"), 1400)
	small := []byte("hello")
	before := time.Now()
	if _, err := a.WriteToAddress(big, memberlist.Address{Addr: addrOf(b), Name: "b"}); err != nil {
		t.Fatal(err)
	}
	p1 := recvPacket(t, b)
	if _, err := a.WriteTo(small, addrOf(b)); err != nil {
		t.Fatal(err)
	}
	p2 := recvPacket(t, b)
	after := time.Now()
	if !bytes.Equal(p1.Buf, big) || !bytes.Equal(p2.Buf, small) {
		t.Fatalf("got %d and %q bytes, want 1400 x and %q", len(p1.Buf), p2.Buf, small)
	}
	if cap(p2.Buf) >= maxPacket {
		t.Fatalf("packet buffer has capacity %d: the read buffer, not a copy", cap(p2.Buf))
	}
	if p1.From.String() != addrOf(a) {
		t.Fatalf("From = %v, want %s", p1.From, addrOf(a))
	}
	for _, p := range []*memberlist.Packet{p1, p2} {
		if p.Timestamp.Before(before) || p.Timestamp.After(after) {
			t.Fatalf("timestamp %v outside [%v, %v]", p.Timestamp, before, after)
		}
	}
}

func TestStreams(t *testing.T) {
	a, b := newTransport(t), newTransport(t)
	c, err := a.DialAddressTimeout(memberlist.Address{Addr: addrOf(b), Name: "b"}, wait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var s net.Conn
	select {
	case s = <-b.StreamCh():
	case <-time.After(wait):
		t.Fatal("no stream")
	}
	defer s.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "ping" {
		t.Fatalf("read %q, %v", got, err)
	}
	c2, err := a.DialTimeout(addrOf(b), wait)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	select {
	case s2 := <-b.StreamCh():
		s2.Close()
	case <-time.After(wait):
		t.Fatal("no second stream")
	}
}

func TestFinalAdvertiseAddr(t *testing.T) {
	tr := newTransport(t)
	port := tr.GetAutoBindPort()
	if port == 0 {
		t.Fatal("no port picked")
	}
	tests := []struct {
		name     string
		ip       string
		port     int
		wantIP   string
		wantPort int
		wantLen  int
		wantErr  bool
	}{
		{"explicit IPv4 in 4-byte form", "10.1.2.3", 7946, "10.1.2.3", 7946, net.IPv4len, false},
		{"explicit IPv6", "fd00::1", 7000, "fd00::1", 7000, net.IPv6len, false},
		{"bound address and port", "", 0, "127.0.0.1", port, 0, false},
		{"not an address", "nope", 1, "", 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ip, p, err := tr.FinalAdvertiseAddr(tc.ip, tc.port)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %v:%d, want an error", ip, p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ip.Equal(net.ParseIP(tc.wantIP)) || p != tc.wantPort {
				t.Fatalf("got %v:%d, want %s:%d", ip, p, tc.wantIP, tc.wantPort)
			}
			if tc.wantLen != 0 && len(ip) != tc.wantLen {
				t.Fatalf("%v is %d bytes, want %d", ip, len(ip), tc.wantLen)
			}
		})
	}
}

// TestShutdown: idempotent, and not held up by a packet or a connection
// that nobody reads.
func TestShutdown(t *testing.T) {
	a, b := newTransport(t), newTransport(t)
	if _, err := a.WriteTo([]byte("unread"), addrOf(b)); err != nil {
		t.Fatal(err)
	}
	c, err := a.DialTimeout(addrOf(b), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		b.Shutdown()
		b.Shutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Shutdown blocked")
	}
	if _, err := net.Dial("tcp", addrOf(b)); err == nil {
		t.Fatal("TCP listener still open after Shutdown")
	}
}

func TestFixedPortInUse(t *testing.T) {
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	port := u.LocalAddr().(*net.UDPAddr).Port
	if tr, err := New(Config{BindAddr: "127.0.0.1", BindPort: port}); err == nil {
		tr.Shutdown()
		t.Fatalf("bound UDP port %d, which is taken", port)
	}
}

// TestMemberlistOverTransport: two memberlists over it join and exchange
// user messages by packet and by stream.
func TestMemberlistOverTransport(t *testing.T) {
	type node struct {
		ml  *memberlist.Memberlist
		msg chan []byte
	}
	start := func(name string) *node {
		tr := newTransport(t)
		n := &node{msg: make(chan []byte, 16)}
		c := memberlist.DefaultLocalConfig()
		c.Name = name
		c.Transport = tr
		c.BindAddr = "127.0.0.1"
		c.BindPort = tr.GetAutoBindPort()
		c.AdvertisePort = c.BindPort
		c.Delegate = msgDelegate(n.msg)
		c.Logger = nil
		c.LogOutput = io.Discard
		ml, err := memberlist.Create(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ml.Shutdown() })
		n.ml = ml
		return n
	}
	a, b := start("a"), start("b")
	if _, err := b.ml.Join([]string{a.ml.LocalNode().Address()}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, wait, "both members", func() bool { return a.ml.NumMembers() == 2 && b.ml.NumMembers() == 2 })
	var toB *memberlist.Node
	for _, m := range a.ml.Members() {
		if m.Name == "b" {
			toB = m
		}
	}
	for i, send := range []func([]byte) error{
		func(m []byte) error { return a.ml.SendBestEffort(toB, m) },
		func(m []byte) error { return a.ml.SendReliable(toB, m) },
	} {
		want := fmt.Appendf(nil, "message %d", i)
		if err := send(want); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-b.msg:
			if !bytes.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(wait):
			t.Fatalf("message %d not received", i)
		}
	}
}

type msgDelegate chan []byte

func (d msgDelegate) NodeMeta(int) []byte { return nil }
func (d msgDelegate) NotifyMsg(b []byte) {
	select {
	case d <- bytes.Clone(b):
	default:
	}
}
func (d msgDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d msgDelegate) LocalState(bool) []byte          { return nil }
func (d msgDelegate) MergeRemoteState([]byte, bool)   {}
