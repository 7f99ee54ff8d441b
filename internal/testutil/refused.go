//go:build unix

package testutil

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

// Port is a loopback TCP port held for one test by a socket that is bound
// but not listening: connecting to it is refused, and nothing else can
// take the port until the test ends or Listen hands it over. Unlike
// listening on port 0 and closing, there is no window in which a stranger
// can bind it.
type Port struct {
	t    testing.TB
	fd   int
	addr string
}

// ReservePort binds a TCP socket to 127.0.0.1:0 without listening and
// holds it until the test ends.
func ReservePort(t testing.TB) *Port {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("testutil: socket: %v", err)
	}
	p := &Port{t: t, fd: fd}
	t.Cleanup(p.release)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("testutil: bind 127.0.0.1:0: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("testutil: getsockname: %v", err)
	}
	p.addr = fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	return p
}

// RefusedAddr returns a loopback TCP address where connections are
// refused for the whole test (see Port).
func RefusedAddr(t testing.TB) string {
	t.Helper()
	return ReservePort(t).Addr()
}

// Addr is "127.0.0.1:PORT".
func (p *Port) Addr() string { return p.addr }

// Listen starts listening on the held port and returns the listener;
// closing it frees the port. Call it at most once.
func (p *Port) Listen() net.Listener {
	p.t.Helper()
	if p.fd < 0 {
		p.t.Fatalf("testutil: %s listened on twice", p.addr)
	}
	if err := syscall.Listen(p.fd, syscall.SOMAXCONN); err != nil {
		p.t.Fatalf("testutil: listen on %s: %v", p.addr, err)
	}
	f := os.NewFile(uintptr(p.fd), p.addr)
	p.fd = -1                      // f owns it now
	ln, err := net.FileListener(f) // a dup; f's copy closes below
	f.Close()
	if err != nil {
		p.t.Fatalf("testutil: listener on %s: %v", p.addr, err)
	}
	p.t.Cleanup(func() { ln.Close() })
	return ln
}

func (p *Port) release() {
	if p.fd >= 0 {
		syscall.Close(p.fd)
		p.fd = -1
	}
}

// RefusedUDPAddr returns a loopback UDP address where datagrams are
// refused (ICMP port unreachable, so a connected sender reads
// ECONNREFUSED) for the whole test. A UDP socket bound to the port and
// connected to another address holds it: the kernel delivers it only
// datagrams from that address (127.0.0.1:9, which sends none), answers
// every other sender as if nothing were bound, and lets no one else bind
// the port.
func RefusedUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
	if err != nil {
		t.Fatalf("testutil: hold a UDP port: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String()
}
