package memnet

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Transport is one node's attachment to a Network. It implements
// memberlist.NodeAwareTransport; all methods are safe for concurrent use.
type Transport struct {
	nw      *Network
	name    string
	addr    string // canonical "IP:port"
	ip      net.IP
	port    int
	udpAddr *net.UDPAddr // From of packets it sends
	tcpAddr *net.TCPAddr // local/remote address of its streams
	stats   *counters    // node counters of name

	// packetCh and streamCh are never closed: memberlist reads them until
	// its own shutdown and would take a nil value for a message.
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{} // closed by Shutdown
	shutOnce sync.Once

	// Guarded by nw.mu.
	down    bool
	pending map[*delayed]struct{} // delayed packets addressed to this transport
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// Name returns the node name the transport was created with.
func (t *Transport) Name() string { return t.name }

// Addr returns the transport's "IP:port"; pass it to memberlist Join.
func (t *Transport) Addr() string { return t.addr }

// FinalAdvertiseAddr returns the transport's own address whatever memberlist
// asks for: no other address is reachable on the Network.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

// WriteTo sends b to addr as one datagram; see WriteToAddress.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a copy of b to a.Addr (a.Name is ignored: packets
// are routed by address, like UDP). It never blocks. As with UDP, a packet
// that is lost, cut, addressed to a dead or unknown node or finds the
// receiver's inbox full is dropped silently and counted. It fails only for
// a malformed address or when t is shut down.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	return now, t.nw.send(t, b, a.Addr)
}

// PacketCh returns the inbox. It is buffered (see SetInboxSize) and never
// closed; packets stamped with their delivery time.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout opens a stream to addr; see DialAddressTimeout.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to a.Addr (a.Name is ignored). It fails
// at once with ErrNoRoute or ErrRefused when no live transport has the
// address. Across a cut link it waits out timeout and fails with ErrTimeout,
// like a TCP SYN into a black hole; it does the same when the peer's
// stream backlog stays full. timeout <= 0 means no waiting. The returned
// conn supports deadlines and counts its bytes.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.nw.dial(t, a.Addr, timeout)
}

// StreamCh returns incoming streams. It is buffered and never closed.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown detaches the transport, like a process exit: its open streams
// are closed, packets in flight to it are dropped, dials to its address are
// refused and its own sends fail with ErrShutdown. Its name and address may
// then be reused by a new transport. Idempotent; always returns nil.
func (t *Transport) Shutdown() error {
	t.shutOnce.Do(func() { t.nw.shutdown(t) })
	return nil
}

func (n *Network) shutdown(t *Transport) {
	n.mu.Lock()
	t.down = true
	close(t.done)
	for d := range t.pending {
		d.stop()
		n.dropLocked(d.from, t, len(d.buf), noReason)
	}
	clear(t.pending)
	for s := range n.streams {
		if s.dialer == t || s.acceptor == t {
			delete(n.streams, s)
			s.cut()
		}
	}
	n.mu.Unlock()
	// Release what nobody will read. Streams in the backlog are already
	// closed above: each was registered before it was queued.
	for {
		select {
		case c := <-t.streamCh:
			_ = c.Close()
		case <-t.packetCh:
		default:
			return
		}
	}
}
