//go:build unix

package testutil

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestRefusedAddr(t *testing.T) {
	addr := RefusedAddr(t)
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			t.Fatalf("dial %s succeeded", addr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial %s: %v, want connection refused", addr, err)
		}
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("%s could be bound by someone else", addr)
	}
}

func TestPortListen(t *testing.T) {
	p := ReservePort(t)
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		c.Close()
		t.Fatal("reserved port accepted before Listen")
	}
	ln := p.Listen()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("dial after Listen: %v", err)
	}
	c.Close()
	ln.Close()
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		c.Close()
		t.Fatal("port still accepts after the listener closed")
	}
}

func TestRefusedUDPAddr(t *testing.T) {
	addr := RefusedUDPAddr(t)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Each datagram draws an ICMP port unreachable; the next read or
	// write on the connected socket reports it. The deadline only bounds
	// a failure (a datagram that is kept instead).
	c.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 16)
	for range 3 {
		if _, err := c.Write([]byte("q")); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("write to %s: %v", addr, err)
		}
		if _, err := c.Read(buf); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("read from %s: %v, want connection refused", addr, err)
		}
	}
	if pc, err := net.ListenPacket("udp", addr); err == nil {
		pc.Close()
		t.Fatalf("%s could be bound by someone else", addr)
	}
}
