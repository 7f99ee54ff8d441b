package memnet

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// stream is one connection between two transports: a net.Pipe whose ends
// are wrapped in counting conns.
type stream struct {
	dialer, acceptor *Transport
	raw              [2]net.Conn // pipe ends: [0] dialer's, [1] acceptor's
	ends             [2]*conn    // counting wrappers of raw
	cutOnce          sync.Once
	cutCh            chan struct{} // closed when a fault or Shutdown cuts it
}

// cut closes both ends: reads and writes on either side fail at once.
func (s *stream) cut() {
	s.cutOnce.Do(func() {
		close(s.cutCh)
		_ = s.raw[0].Close()
		_ = s.raw[1].Close()
	})
}

// cutStreamsLocked closes every stream whose endpoints a fault now
// separates, so nothing crosses a new partition. Caller holds n.mu.
func (n *Network) cutStreamsLocked() {
	for s := range n.streams {
		if n.faults.cut(s.dialer.name, s.acceptor.name) {
			delete(n.streams, s)
			s.cut()
			s.dialer.stats.add(cStreamsCut, 1)
			n.linkLocked(s.dialer.name, s.acceptor.name).add(cStreamsCut, 1)
		}
	}
}

func (n *Network) forget(s *stream) {
	n.mu.Lock()
	delete(n.streams, s)
	n.mu.Unlock()
}

// dial opens a stream from t to addr. The stream is registered under n.mu
// in the same critical section that checks the faults, so a concurrent
// Partition or Shutdown either refuses it or cuts it.
func (n *Network) dial(t *Transport, addr string, timeout time.Duration) (net.Conn, error) {
	_, _, key, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	if t.down {
		n.mu.Unlock()
		return nil, fmt.Errorf("memnet: dial %s: %w", addr, ErrShutdown)
	}
	dest := n.byAddr[key]
	switch {
	case dest == nil:
		n.dialFailedLocked(t, nil)
		n.mu.Unlock()
		return nil, fmt.Errorf("memnet: dial %s: %w", addr, ErrNoRoute)
	case dest.down:
		n.dialFailedLocked(t, dest)
		n.mu.Unlock()
		return nil, fmt.Errorf("memnet: dial %s (%s): %w", addr, dest.name, ErrRefused)
	case n.faults.cut(t.name, dest.name):
		n.dialFailedLocked(t, dest)
		n.mu.Unlock()
		return nil, t.blackhole(addr, dest.name, timeout)
	}
	s := n.newStreamLocked(t, dest)
	n.streams[s] = struct{}{}
	n.mu.Unlock()

	local, remote := s.ends[0], s.ends[1]
	fail := func(err error) (net.Conn, error) {
		n.forget(s)
		s.cut()
		n.mu.Lock()
		n.dialFailedLocked(t, dest)
		n.mu.Unlock()
		return nil, fmt.Errorf("memnet: dial %s (%s): %w", addr, dest.name, err)
	}
	select {
	case dest.streamCh <- remote:
	default:
		if timeout <= 0 {
			return fail(ErrTimeout)
		}
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case dest.streamCh <- remote:
		case <-dest.done:
			return fail(ErrRefused)
		case <-t.done:
			return fail(ErrShutdown)
		case <-s.cutCh:
			return fail(ErrStreamCut)
		case <-timer.C:
			return fail(ErrTimeout)
		}
	}
	select {
	case <-s.cutCh: // cut while queued, e.g. by dest's Shutdown
		return fail(ErrStreamCut)
	default:
	}
	t.stats.add(cStreamsOpened, 1)
	dest.stats.add(cStreamsAccepted, 1)
	local.out.add(cStreamsOpened, 1)
	return local, nil
}

// blackhole waits out the dial timeout (or t's shutdown) like a SYN sent
// across a cut link, then fails.
func (t *Transport) blackhole(addr, peer string, timeout time.Duration) error {
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-t.done:
			return fmt.Errorf("memnet: dial %s (%s): %w", addr, peer, ErrShutdown)
		}
	}
	return fmt.Errorf("memnet: dial %s (%s): %w", addr, peer, ErrTimeout)
}

func (n *Network) dialFailedLocked(t, dest *Transport) {
	t.stats.add(cStreamsFailed, 1)
	if dest != nil {
		n.linkLocked(t.name, dest.name).add(cStreamsFailed, 1)
	}
}

// newStreamLocked builds the pipe and its counting ends. Caller holds n.mu.
func (n *Network) newStreamLocked(a, b *Transport) *stream {
	p0, p1 := net.Pipe()
	s := &stream{dialer: a, acceptor: b, raw: [2]net.Conn{p0, p1}, cutCh: make(chan struct{})}
	s.ends[0] = &conn{Conn: p0, nw: n, s: s, local: a.tcpAddr, remote: b.tcpAddr,
		node: a.stats, out: n.linkLocked(a.name, b.name), in: n.linkLocked(b.name, a.name)}
	s.ends[1] = &conn{Conn: p1, nw: n, s: s, local: b.tcpAddr, remote: a.tcpAddr,
		node: b.stats, out: n.linkLocked(b.name, a.name), in: n.linkLocked(a.name, b.name)}
	return s
}

// conn is one end of a stream. It counts the bytes that actually pass
// through the pipe: net.Pipe is unbuffered, so a Write returns only the
// bytes the peer has read.
type conn struct {
	net.Conn
	nw            *Network
	s             *stream
	local, remote net.Addr
	node          *counters // this end's node
	out, in       *counters // link this end → peer, peer → this end
}

func (c *conn) Read(b []byte) (int, error) {
	k, err := c.Conn.Read(b)
	if k > 0 {
		c.node.add(cStreamBytesReceived, uint64(k))
		c.in.add(cStreamBytesReceived, uint64(k))
	}
	return k, err
}

func (c *conn) Write(b []byte) (int, error) {
	k, err := c.Conn.Write(b)
	if k > 0 {
		c.node.add(cStreamBytesSent, uint64(k))
		c.out.add(cStreamBytesSent, uint64(k))
	}
	return k, err
}

// Close closes this end; the peer then reads io.EOF.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.nw.forget(c.s)
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }
