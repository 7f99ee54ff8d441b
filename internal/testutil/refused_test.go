//go:build unix

package testutil

import (
	"errors"
	"net"
	"syscall"
	"testing"
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
