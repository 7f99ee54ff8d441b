package dnsserver

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestListenRetriesPortConflict: with port 0, a TCP port already taken
// (the kernel chose the UDP port alone) is given back and another tried;
// a fixed port is tried once.
func TestListenRetriesPortConflict(t *testing.T) {
	inUse := func(addr string) error {
		return &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	}
	var asked []string
	conflicts := 3
	tcp := func(addr string) (net.Listener, error) {
		asked = append(asked, addr)
		if len(asked) <= conflicts {
			return nil, inUse(addr)
		}
		return net.Listen("tcp", addr)
	}
	pc, ln, err := listen("127.0.0.1:0", tcp)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer pc.Close()
	defer ln.Close()
	// At least conflicts+1: the real bind after the simulated conflicts can
	// meet a real one (another test's TCP socket on the port UDP got), and
	// retrying it is what listen is for.
	if len(asked) < conflicts+1 {
		t.Fatalf("TCP tried %d times, want at least %d", len(asked), conflicts+1)
	}
	if pc.LocalAddr().String() != ln.Addr().String() {
		t.Fatalf("UDP on %s, TCP on %s: want the same port", pc.LocalAddr(), ln.Addr())
	}

	asked, conflicts = nil, 1000
	if _, _, err := listen("127.0.0.1:0", tcp); err == nil || len(asked) != ListenTries {
		t.Fatalf("always in use: %d tries, err %v; want %d and an error", len(asked), err, ListenTries)
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0") // a fixed port whose UDP side is taken
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	asked = nil
	_, _, err = listen(udp.LocalAddr().String(), tcp)
	if !errors.Is(err, syscall.EADDRINUSE) || len(asked) != 0 || !strings.HasPrefix(err.Error(), "dnsserver: listen udp "+udp.LocalAddr().String()) {
		t.Fatalf("fixed busy port: %v (tcp tried %d times)", err, len(asked))
	}
}
